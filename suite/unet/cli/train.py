"""``suite train``: a thin adapter over :func:`suite.unet.train.train`."""

from __future__ import annotations

from pathlib import Path

import click

from suite.cli import main
from suite.unet.data import LAYOUTS
from suite.unet.distribute import STRATEGIES
from suite.unet.train import LOSSES, LR_SCHEDULES
from suite.common.cli_utils import backbone_option, compute_options, echo_json, max_pixels_option, output_options, say, weights_option

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def _floats(ctx, param, value):
    if value is None or value in ("none", "balanced"):
        return value
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter("expected none, balanced or comma-separated numbers, e.g. 0.5,1,2") from None


def _auto_int(ctx, param, value):
    if value == "auto":
        return value
    try:
        v = int(value)
    except ValueError:
        raise click.BadParameter("expected auto or a number of epochs") from None
    if v < 0:
        raise click.BadParameter("expected auto or a number >= 0")
    return v


def _ints(ctx, param, value):
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected comma-separated integers, e.g. 128,64,32,16,8") from None


@main.command()
@click.option("--images", required=True, type=_DIR, help="Images folder, or an Oxford-IIIT Pet / Pascal VOC root.")
@click.option("--masks", type=_DIR, help="Masks folder: PNG class indices, paired with images by basename.")
@click.option("--num-classes", required=True, type=click.IntRange(2, 65535), help="Number of classes, background included.")
@click.option("--layout", type=click.Choice(LAYOUTS), default="auto", show_default=True)
@click.option("--split", default=None, help="VOC split to train on (ImageSets/Segmentation/<split>.txt) [train].")
@click.option("--val-images", type=_DIR, help="Validation images (else --val-split of the training set).")
@click.option("--val-masks", type=_DIR, help="Validation masks.")
@click.option("--val-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Fraction held out for validation, seeded [0.15].")
@click.option("--binary", is_flag=True, help="Masks are 0/255: map them to 0/1.")
@click.option("--ignore-index", default=255, show_default=True, type=int, help="Mask label skipped by loss and metrics.")
@click.option("--class-names", default=None, help="Comma-separated class names, stored in the model.")
@backbone_option(default="vgg16", allow_none=True, help="Encoder from the backbone registry; none = the paper's U-Net.")
@weights_option()
@click.option("--decoder-filters", callback=_ints, default=None,
              help="Decoder widths, deepest first, comma-separated [256,128,64,32,16].")
@click.option("--encoder-filters", callback=_ints, default=None,
              help="Paper U-Net (--backbone none) encoder widths, comma-separated [64,128,256,512,1024].")
@click.option("--batch-norm/--no-batch-norm", default=None,
              help="BatchNorm after decoder (and paper encoder) convolutions [on for backbones, off for none].")
@click.option("--image-size", default=128, show_default=True, type=click.IntRange(16, 8192),
              help="Training crop side (capped at the median image size).")
@click.option("--resize-mode", type=click.Choice(["crop", "resize"]), default="crop", show_default=True,
              help="crop: random windows at the original scale; resize: scale every image to --image-size.")
@click.option("--epochs", default=50, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(1), help="Images per batch (per replica).")
@click.option("--lr", default=2e-3, show_default=True, type=click.FloatRange(0, min_open=True), help="Peak learning rate (Adam).")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="cosine", show_default=True)
@click.option("--loss", type=click.Choice(LOSSES), default="ce+dice", show_default=True)
@click.option("--class-weights", callback=_floats, default="balanced", show_default=True, metavar="none|balanced|W0,W1,...",
              help="Per-class loss weights (balanced = sqrt median frequency).")
@click.option("--augment/--no-augment", default=True, show_default=True, help="Mask-safe random geometry and colour.")
@click.option("--freeze-encoder-epochs", default="auto", show_default=True, callback=_auto_int,
              help="Train the decoder alone this many epochs, then fine-tune everything at lr/10 "
                   "(auto: half the epochs with pretrained encoder weights, else 0).")
@click.option("--patience", default=15, show_default=True, type=click.IntRange(0), help="Early stopping on val mIoU (0 = off).")
@click.option("--time-budget", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
              help="Seconds for the whole schedule: frozen phase, fine-tuning and LR decay all fit in it; the best model is kept.")
@click.option("--steps-per-epoch", type=click.IntRange(1), default=None, help="Batches per epoch [one pass].")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("model.keras"),
              show_default=True, help="Where to write the best model (.keras).")
@click.option("--logdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="CSV log, curves.png, TensorBoard, backups [<output>_logs].")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from the backup in --logdir.")
@click.option("--overwrite", is_flag=True, help="Replace --output and discard an old backup.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--strategy", type=click.Choice(STRATEGIES), default="default", show_default=True,
              help="mirrored: all local GPUs; multiworker: MultiWorkerMirroredStrategy from TF_CONFIG.")
@click.option("--no-tensorboard", is_flag=True, help="Skip TensorBoard logs.")
@click.option("--strict", is_flag=True,
              help="Stop on the first unusable pair instead of skipping it (skipped pairs make the exit status 1).")
@max_pixels_option()
@compute_options
@output_options()
def train(images, masks, num_classes, layout, split, val_images, val_masks, val_split, binary, ignore_index, class_names,
          backbone, weights, decoder_filters, encoder_filters, batch_norm, image_size, resize_mode, epochs, batch_size, lr, lr_schedule, loss,
          class_weights, augment, freeze_encoder_epochs, patience, time_budget, steps_per_epoch, out, logdir, resume,
          overwrite, seed, strategy, no_tensorboard, strict, max_pixels, as_json):
    """Train a U-Net on image/mask folders (or Oxford-IIIT Pet / Pascal VOC) and keep the best by val mIoU.

    Unusable pairs (an unreadable image, labels outside the classes, a mask of
    another size) are left out with a one-line reason each and listed in
    <logdir>/skipped.json; the exit status is then 1 (--strict stops instead).
    A NaN loss stops the run, keeping the last good model, with exit status 3.

    \b
    Example:
      suite train --images data/images --masks data/masks --num-classes 3 --epochs 30
    """
    from suite.common.cli_utils import INTERRUPT_HINT
    from suite.unet.train import train as run

    click.get_current_context().meta[INTERRUPT_HINT] = (
        "The last finished epoch is backed up; run the same command with --resume to continue from it."
    )

    if (val_images is None) != (val_masks is None) and layout == "folders":
        raise click.UsageError("--val-images and --val-masks go together")
    names = [n.strip() for n in class_names.split(",")] if class_names else None
    if names is not None and len(names) != num_classes:
        raise click.BadParameter(f"{len(names)} names for {num_classes} classes", param_hint="--class-names")
    result = run(
        images, masks, num_classes, layout=layout, split=split, val_images=val_images, val_masks=val_masks,
        val_split=val_split, binary=binary, ignore_index=ignore_index, class_names=names,
        backbone=None if backbone.lower() == "none" else backbone.lower(), weights=weights,
        decoder_filters=decoder_filters, encoder_filters=encoder_filters, batch_norm=batch_norm, image_size=image_size, resize_mode=resize_mode, epochs=epochs,
        batch_size=batch_size, lr=lr, lr_schedule=lr_schedule, loss=loss, class_weights=class_weights,
        augment=augment, freeze_encoder_epochs=freeze_encoder_epochs, patience=patience or None,
        time_budget=time_budget, steps_per_epoch=steps_per_epoch, out=out, logdir=logdir, resume=resume,
        overwrite=overwrite, seed=seed, strategy=strategy, tensorboard=not no_tensorboard, strict=strict,
        max_pixels=max_pixels,
    )
    if as_json:
        echo_json({
            "model": result.model_path, "best_miou": result.best_miou, "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "stopped": result.stopped, "train_seconds": round(result.train_seconds, 2),
            "logdir": result.logdir, "skipped": result.skipped, "history": result.history, "message": result.message,
        })
    else:
        say(result.message)
    if result.stopped == "nan":
        raise SystemExit(3)
    if result.skipped:
        # The model is usable, but a script should know that part of the data was not.
        click.echo(f"{len(result.skipped)} unusable pair(s) were left out (see {result.logdir / 'skipped.json'})", err=True)
        raise SystemExit(1)
