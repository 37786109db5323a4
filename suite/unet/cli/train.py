"""``suite train``: a thin adapter over :func:`suite.unet.training.train`.

The training options come from :class:`suite.unet.options.TrainOptions`
(names, defaults, types, choices and help); this module adds only what is not
a hyperparameter: the data folders, the class names and the output paths.
"""

from __future__ import annotations

from pathlib import Path

import click

from suite.cli import main
from suite.common.ui.cli import compute_options, echo_json, output_options, say
from suite.common.options import click_options
from suite.common.ui.outputs import OutputFile
from suite.unet.cli.params import parse_class_names, warn_ignore_index_is_a_class
from suite.unet.options import TrainOptions

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@main.command()
@click.option("--images", required=True, type=_DIR, help="Images folder, or an Oxford-IIIT Pet / Pascal VOC root.")
@click.option("--masks", type=_DIR, help="Masks folder: PNG class indices, paired with images by basename.")
@click.option("--num-classes", required=True, type=click.IntRange(2, 65535), help="Number of classes, background included.")
@click.option("--val-images", type=_DIR, help="Validation images (else --val-split of the training set).")
@click.option("--val-masks", type=_DIR, help="Validation masks.")
@click.option("--class-names", default=None, help="Comma-separated class names, stored in the model.")
@click_options(TrainOptions)
@click.option("-o", "--output", "out", type=OutputFile((".keras",), what="model"), default=Path("model.keras"),
              show_default=True, help="Where to write the best model (.keras).")
@click.option("--logdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="CSV log, curves.png, TensorBoard, backups, options.json [<output>_logs].")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from the backup in --logdir.")
@click.option("--overwrite", is_flag=True, help="Replace --output and discard an old backup.")
@compute_options(auto_mixed_precision=True)
@output_options()
def train(images, masks, num_classes, val_images, val_masks, class_names, out, logdir, resume, overwrite, as_json,
          **options):
    """Train a U-Net on image/mask folders (or Oxford-IIIT Pet / Pascal VOC) and keep the best by val mIoU.

    Unusable pairs (an unreadable image, labels outside the classes, a mask of
    another size) are left out with a one-line reason each and listed in
    <logdir>/skipped.json; the exit status is then 1 (--strict stops instead).
    A NaN loss stops the run, keeping the last good model, with exit status 3.

    \b
    Example:
      suite train --images data/images --masks data/masks --num-classes 3 --epochs 30
    """
    from suite.common.ui.cli import INTERRUPT_HINT
    from suite.unet.training import train as run

    click.get_current_context().meta[INTERRUPT_HINT] = (
        "The last finished epoch is backed up; run the same command with --resume to continue from it."
    )
    opts = TrainOptions(**options)
    if (val_images is None) != (val_masks is None) and opts.layout == "folders":
        raise click.UsageError("--val-images and --val-masks go together")
    if val_masks is not None and val_images is None:
        raise click.UsageError("--val-masks needs --val-images DIR")
    if val_images is not None and val_masks is None and opts.layout == "auto":
        from suite.unet.data import DatasetError, detect_layout

        try:
            detect_layout(val_images)  # an Oxford-IIIT Pet or VOC root needs no masks folder
        except DatasetError:
            raise click.UsageError(f"--val-images {val_images} needs --val-masks DIR (or point it at an "
                                   "Oxford-IIIT Pet or Pascal VOC root)") from None
    if isinstance(opts.class_weights, list) and len(opts.class_weights) != num_classes:
        raise click.BadParameter(f"{len(opts.class_weights)} weights for --num-classes {num_classes}; give one "
                                 "per class, or balanced, or none", param_hint="'--class-weights'")
    names = parse_class_names(class_names, num_classes)
    warn_ignore_index_is_a_class(opts.ignore_index, num_classes)
    result = run(images, masks, num_classes, options=opts, val_images=val_images, val_masks=val_masks,
                 class_names=names, out=out, logdir=logdir, resume=resume, overwrite=overwrite)
    if as_json:
        echo_json({
            "model": result.model_path, "best_miou": result.best_miou, "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run, "stopped": result.stopped, "train_seconds": round(result.train_seconds, 2),
            "logdir": result.logdir, "skipped": result.skipped, "history": result.history, "message": result.message,
            "options": result.options,
        })
    else:
        say(result.message)
    if result.stopped == "nan":
        raise SystemExit(3)
    if result.skipped:
        # The model is usable, but a script should know that part of the data was not.
        click.echo(f"{len(result.skipped)} unusable pair(s) were left out (see {result.logdir / 'skipped.json'})", err=True)
        raise SystemExit(1)
