"""Training a U-Net on image/mask folders: Keras ``compile`` and ``fit`` with callbacks.

:func:`train` is the one public entry point (``suite train`` is a thin adapter
over it). It

* reads any supported layout (:mod:`suite.unet.data`) and checks every mask
  up front, so a bad label fails in seconds rather than after an hour;
* streams batches through a ``tf.data`` pipeline (:mod:`suite.unet.tfdata`)
  with mask-safe augmentation (:mod:`suite.unet.augment`);
* keeps the best model by validation mIoU in ``out`` (written atomically),
  backs up the training state every epoch in ``logdir`` so ``resume`` goes on
  at the same epoch with the same optimizer state, stops early, logs CSV and
  TensorBoard, draws training curves, and stops with a message on NaN while
  keeping the last good checkpoint;
* optionally trains the decoder first on a frozen encoder, then fine-tunes
  everything at a lower learning rate;
* can stop on a wall-clock budget, with the learning rate following a cosine
  over that budget;
* runs under ``tf.distribute`` strategies (mirrored GPUs, multi-worker).
"""

from __future__ import annotations

import json
import importlib.util
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from suite.common.image_io import DEFAULT_MAX_PIXELS
from suite.common.log import note
from suite.unet.distribute import STRATEGIES, make_strategy  # noqa: F401 - STRATEGIES is public here too
from suite.unet.train_logs import plot_curves, read_csv_log  # noqa: F401 - public here too

LR_SCHEDULES = ("cosine", "constant")
#: The names of :func:`suite.unet.losses.get_loss`, here without importing Keras (tested equal).
LOSSES = ("ce", "dice", "focal", "ce+dice")
CLASS_WEIGHTING = ("none", "balanced")

#: Defaults chosen by measurement (see docs/unet_train.md, benchmarks/bench_unet_quality.py).
DEFAULTS = dict(
    backbone="vgg16",
    image_size=128,
    batch_size=4,
    lr=2e-3,
    loss="ce+dice",
    epochs=50,
    lr_schedule="cosine",
    warmup_epochs=1,
    decoder_filters=(256, 128, 64, 32, 16),
    freeze_encoder_epochs="auto",
    freeze_fraction=0.5,
    class_weights="balanced",
    finetune_lr_factor=0.1,
    patience=15,
    val_split=0.15,
)


class TrainingError(RuntimeError):
    """Training could not run or had to stop; ``str(err)`` says why in one line."""


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model_path: The best model by validation mIoU (``None`` if no epoch finished cleanly).
        best_miou: Its validation mIoU.
        best_epoch: Its epoch (1-based).
        epochs_run: Epochs completed in total (including those before a resume).
        stopped: ``"completed"``, ``"early_stopping"``, ``"time_budget"`` or ``"nan"``.
        history: Per-epoch logs (``loss``, ``miou``, ``val_loss``, ``val_miou``, ``lr``...).
        logdir: Where the CSV log, curves PNG, TensorBoard files and backups are.
        message: One line for the user.
        train_seconds: Wall-clock time spent in ``fit``.
        skipped: ``[{"image", "mask", "reason"}]`` for the pairs left out.
    """

    model_path: Path | None
    best_miou: float | None
    best_epoch: int | None
    epochs_run: int
    stopped: str
    history: list = field(default_factory=list)
    logdir: Path | None = None
    message: str = ""
    train_seconds: float = 0.0
    skipped: list = field(default_factory=list)


# --------------------------------------------------------------------------- train

def _resolve_class_weights(class_weights, stats, num_classes):
    if class_weights is None or class_weights == "none":
        return None
    if class_weights == "balanced":
        from suite.unet.losses import class_weights_from_counts

        return [float(v) for v in class_weights_from_counts(stats.class_pixels)]
    w = [float(v) for v in class_weights]
    if len(w) != num_classes:
        raise ValueError(f"Expected {num_classes} class weights. Received: class_weights={class_weights}")
    return w


def _has_pretrained_weights(backbone, weights) -> bool:
    from suite.common.backbones import get_backbone_spec
    from suite.common.weights import WeightsError, resolve_weights

    if weights is None or str(weights).lower() == "none":
        return False
    if str(weights).lower() == "imagenet":
        return True
    try:
        return resolve_weights(get_backbone_spec(backbone), weights).kind != "none"
    except WeightsError:
        return False


def _backup_epoch(backup_dir: Path):
    meta = backup_dir / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return None


def _report_skipped(skipped, logdir, show: int = 10):
    """One line per skipped pair (the first ``show``), and all of them in ``<logdir>/skipped.json``."""
    from suite.common.image_io import save_json

    for item in skipped[:show]:
        note(f"skipped {item['reason']}")
    listing = Path(logdir) / "skipped.json"
    try:
        save_json(skipped, listing, overwrite=True)
    except OSError as e:
        note(f"warning: cannot write {listing} ({e.strerror or e})")
        listing = None
    more = f"; {len(skipped) - show} more" if len(skipped) > show else ""
    where = f", all listed in {listing}" if listing is not None else ""
    note(f"warning: {len(skipped)} unusable pair(s) left out of training{more}{where}")


@dataclass(frozen=True)
class Phase:
    """One ``fit`` of the schedule: 1 = encoder frozen (or the only phase), 2 = fine-tuning."""

    number: int
    first_epoch: int
    last_epoch: int
    lr: float
    deadline: float | None = None  # seconds on the run's clock when it must end (time budget)


def plan_phases(epochs, freeze_epochs, lr, finetune_lr_factor, time_budget=None, freeze_fraction=None) -> list[Phase]:
    """The frozen phase (if any) and the fine-tuning phase, by epochs and, with a budget, by time.

    With ``time_budget`` the last phase ends at the budget; with
    ``freeze_fraction`` too (``freeze_encoder_epochs="auto"``), the frozen
    phase ends at that share of the budget (or after its epochs, whichever
    comes first), so the fine-tuning always gets its share.
    """
    if not freeze_epochs:
        return [Phase(1, 0, epochs, lr, time_budget)]
    frozen_end = time_budget * freeze_fraction if time_budget and freeze_fraction is not None else time_budget
    phases = [Phase(1, 0, freeze_epochs, lr, frozen_end)]
    if freeze_epochs < epochs:
        phases.append(Phase(2, freeze_epochs, epochs, lr * finetune_lr_factor, time_budget))
    return phases


def train(
    images,
    masks=None,
    num_classes: int = 2,
    *,
    layout: str = "auto",
    split: str | None = None,
    val_images=None,
    val_masks=None,
    val_split: float | None = None,
    binary: bool = False,
    ignore_index: int = 255,
    class_names=None,
    backbone: str | None = DEFAULTS["backbone"],
    weights="auto",
    decoder_filters=None,
    encoder_filters=None,
    batch_norm: bool | None = None,
    image_size: int = DEFAULTS["image_size"],
    resize_mode: str = "crop",
    epochs: int = DEFAULTS["epochs"],
    batch_size: int = DEFAULTS["batch_size"],
    lr: float = DEFAULTS["lr"],
    lr_schedule: str = DEFAULTS["lr_schedule"],
    warmup_epochs: int = DEFAULTS["warmup_epochs"],
    loss: str = DEFAULTS["loss"],
    class_weights=DEFAULTS["class_weights"],
    augment: bool = True,
    augment_options: dict | None = None,
    freeze_encoder_epochs: int | str = DEFAULTS["freeze_encoder_epochs"],
    finetune_lr_factor: float = DEFAULTS["finetune_lr_factor"],
    freeze_fraction: float = DEFAULTS["freeze_fraction"],
    patience: int | None = DEFAULTS["patience"],
    time_budget: float | None = None,
    out="model.keras",
    logdir=None,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    strategy: str = "default",
    steps_per_epoch: int | None = None,
    progress: bool = True,
    callbacks=None,
    tensorboard: bool = True,
    strict: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> TrainResult:
    """Trains a U-Net on image/mask pairs and keeps the best model by validation mIoU.

    Args:
        images: Images folder, or an Oxford-IIIT Pet / Pascal VOC root.
        masks: Masks folder (``.png`` class indices, paired by basename).
        num_classes: Number of classes, including the background.
        layout: ``"auto"``, ``"folders"``, ``"oxford-pet"`` or ``"voc"``.
        split: VOC split for training (default ``train``; validation uses ``val``).
        val_images: Validation images (or data set root); else ``val_split``.
        val_masks: Validation masks.
        val_split: Fraction of the training pairs held out (seeded) when no
            validation set is given; default 0.15 (VOC: the ``val`` split).
        binary: Masks are 0/255; map them to 0/1.
        ignore_index: Label skipped by loss and metrics (padding and
            out-of-image pixels from augmentation get it too).
        class_names: Optional names, stored in the model.
        backbone: ``"vgg16"``, ``"vgg19"``, ``"mobilenetv2"`` or ``None`` (paper U-Net).
        weights: Encoder weights (``auto`` = cached ImageNet, else the embedded weights (VGG16, MobileNetV2), else none).
        decoder_filters: Decoder widths, deepest first (default: the model's).
        encoder_filters: Paper U-Net encoder widths (``backbone=None`` only;
            default 64-128-256-512-1024).
        batch_norm: BatchNorm in the decoder (and paper encoder); default: the model's.
        image_size: Side of the training crops. With ``resize_mode="crop"``
            it is capped at the median image size (rounded up to the
            stride), so small images are not padded needlessly.
        resize_mode: ``"crop"`` (random windows at the original scale) or ``"resize"``.
        epochs: Maximum epochs (early stopping and ``time_budget`` may end sooner).
        batch_size: Images per batch (per replica under a distribution strategy).
        lr: Peak learning rate (Adam).
        lr_schedule: ``"cosine"`` (warm-up, then cosine to 1% over the run or
            the time budget) or ``"constant"``.
        warmup_epochs: Linear warm-up length for the epoch cosine.
        loss: ``"ce"``, ``"dice"``, ``"focal"`` or ``"ce+dice"``.
        class_weights: ``"balanced"`` (the default: square root of
            median frequency, capped; :func:`suite.unet.losses.class_weights_from_counts`)
            ``None``/``"none"``, or one weight per class; the loss weighs each pixel by its class.
        augment: Mask-safe random geometry and colour.
        augment_options: Keyword arguments for :class:`suite.unet.augment.SegmentationAugmenter`.
        freeze_encoder_epochs: Train only the decoder for this many epochs,
            then unfreeze and fine-tune at ``lr * finetune_lr_factor``.
            ``"auto"``: half the epochs when the encoder has pretrained
            weights (so a short or time-limited run trains the decoder on
            the pretrained features), else 0.
        finetune_lr_factor: Learning-rate factor for the fine-tuning phase.
        freeze_fraction: With ``time_budget`` and ``freeze_encoder_epochs="auto"``,
            the share of the budget spent on the frozen phase (the rest
            fine-tunes), so the whole schedule fits in the budget.
        patience: Early-stopping patience in epochs on validation mIoU (``None``: off).
        time_budget: Seconds for the whole schedule (frozen phase, fine-tuning,
            each with its warm-up and cosine decay), checked each batch; the
            best model by validation mIoU is kept.
        out: The best model, a ``.keras`` file (written atomically).
        logdir: CSV log, curves, TensorBoard and backups; default ``<out stem>_logs``.
        resume: Continue an interrupted run from the backup in ``logdir``.
        overwrite: Replace an existing ``out`` and discard an old backup.
        seed: Seeds weights, the validation split, shuffling and augmentation.
        strategy: ``"default"``, ``"mirrored"`` or ``"multiworker"`` (``TF_CONFIG``).
        steps_per_epoch: Batches per epoch (default: one pass over the training set).
        progress: Rich progress bars.
        callbacks: Extra Keras callbacks.
        tensorboard: Write TensorBoard logs.
        strict: Stop on the first unusable pair (unreadable image, bad labels,
            size mismatch) instead of skipping it; skipped pairs are listed
            one line each and in ``<logdir>/skipped.json``.
        max_pixels: Refuse image and mask files with more pixels than this
            (decompression bombs); ``None`` disables the check.

    Returns:
        A :class:`TrainResult`; ``skipped`` lists the pairs left out.

    Raises:
        suite.unet.data.DatasetError: no usable pair, or any bad pair with ``strict``.
        suite.common.image_io.OutputExistsError: ``out`` exists without ``overwrite``/``resume``.
        TrainingError: an old backup without ``resume``/``overwrite``; NaN before any good epoch.

    Example:
        >>> result = train("data/images", "data/masks", num_classes=3, epochs=20)
        >>> result.best_miou
    """
    if num_classes < 2:
        raise ValueError(f"Expected num_classes >= 2 (use 2 for binary masks). Received: num_classes={num_classes}")
    if epochs < 1:
        raise ValueError(f"Expected epochs >= 1. Received: epochs={epochs}")
    auto_freeze = freeze_encoder_epochs == "auto"
    if auto_freeze:
        freeze_encoder_epochs = epochs // 2 if backbone is not None and _has_pretrained_weights(backbone, weights) else 0
    if not 0 <= freeze_encoder_epochs <= epochs:
        raise ValueError(f"Expected 0 <= freeze_encoder_epochs <= epochs. Received: freeze_encoder_epochs={freeze_encoder_epochs}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"Expected lr_schedule in {LR_SCHEDULES}. Received: lr_schedule={lr_schedule!r}")
    if backbone is None and freeze_encoder_epochs:
        raise ValueError("freeze_encoder_epochs needs a pretrained backbone; the paper U-Net has none to freeze")
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        # A declared dependency, but a trimmed environment may lack it: train anyway, and say so.
        note("TensorBoard logs are off: the tensorboard package is not installed (pip install tensorboard)")
        tensorboard = False
    t_start = time.monotonic()
    from suite.common.image_io import OutputExistsError, ensure_writable_folder
    from suite.unet import data as sdata

    out = Path(out)
    logdir = Path(logdir) if logdir is not None else out.with_name(out.stem + "_logs")
    backup_root = logdir / "backup"
    if out.exists() and not (overwrite or resume):
        raise OutputExistsError(out)
    if backup_root.exists() and any(backup_root.rglob("training_metadata.json")) and not resume:
        if overwrite:
            shutil.rmtree(backup_root)
        else:
            raise TrainingError(
                f"{logdir} holds the backup of an interrupted run: add --resume to continue it, or --overwrite to start over"
            )
    if resume and not backup_root.exists():
        note(f"nothing to resume in {logdir}; starting a new run")
    ensure_writable_folder(out.parent)  # a read-only destination fails now, not after the last epoch
    ensure_writable_folder(logdir)

    # ---- data
    # Every pair is decoded and checked once; unusable ones are skipped with a
    # reason each (strict: any of them stops the run), so one damaged file in a
    # folder of thousands does not cost the whole job.
    def usable(src, what):
        stats = sdata.check_source(src, num_classes, ignore_index, progress=progress, skip_bad=not strict, what=what)
        return src.subset(stats.kept), stats

    limit = dict(max_pixels=max_pixels)
    train_src = sdata.open_source(images, masks, layout=layout, split=split, binary=binary, ignore_index=ignore_index, **limit)
    train_src, train_stats = usable(train_src, "training pairs")
    skipped = list(train_stats.bad)
    if val_images is not None or (train_src.layout == "voc" and val_split is None):
        if val_images is not None:
            val_src = sdata.open_source(val_images, val_masks, layout=layout, split=split or "val", binary=binary,
                                        ignore_index=ignore_index, **limit)
        else:
            val_src = sdata.open_source(images, layout="voc", split="val", ignore_index=ignore_index, **limit)
        val_src, val_stats = usable(val_src, "validation pairs")
        skipped += val_stats.bad
    else:
        train_idx, val_idx = sdata.split_indices(len(train_src), val_split or DEFAULTS["val_split"], seed=seed)
        val_src, val_stats = train_src.subset(val_idx), train_stats.subset(val_idx)
        train_src, train_stats = train_src.subset(train_idx), train_stats.subset(train_idx)
    if skipped:
        _report_skipped(skipped, logdir)
    weights_per_class = _resolve_class_weights(class_weights, train_stats, num_classes)

    import keras

    keras.utils.set_random_seed(seed)
    import tensorflow as tf

    from suite.unet.augment import SegmentationAugmenter
    from suite.unet.losses import get_loss
    from suite.unet.metrics import segmentation_metrics
    from suite.unet.model import build_unet, set_encoder_trainable
    from suite.unet.tfdata import make_dataset

    dist, is_chief, worker = make_strategy(strategy)
    replicas = dist.num_replicas_in_sync
    global_batch = batch_size * replicas
    if strategy != "default":
        note(f"{strategy} strategy: worker {worker}{' (chief)' if is_chief else ''}, "
             f"{replicas} replicas in sync, global batch {global_batch}")
    if not is_chief:
        # Other workers keep their own logs and backups; only the chief writes `out` and the curves.
        logdir = logdir / "workers" / f"worker{worker}"
        backup_root = logdir / "backup"

    # ---- model
    with dist.scope():
        model = build_unet(backbone=backbone, num_classes=num_classes, weights=weights,
                           freeze_encoder=freeze_encoder_epochs > 0, decoder_filters=decoder_filters,
                           encoder_filters=encoder_filters, batch_norm=batch_norm,
                           class_names=list(class_names) if class_names else None)

    if not freeze_encoder_epochs and backbone is not None and _has_pretrained_weights(backbone, weights):
        set_encoder_trainable(model, True)  # fine-tuned from the start: pretrained BatchNorm statistics kept

    # ---- pipeline
    stride = int(getattr(model, "stride", 32))
    if resize_mode == "crop":
        # Crops no larger than a typical image: padding small images up to the
        # largest one would spend most of a step on ignored pixels.
        mh, mw = (int(np.median([s[i] for s in train_stats.sizes])) for i in (0, 1))
        cap = lambda s: int(math.ceil(s / stride) * stride)  # noqa: E731
        crop = (min(image_size, cap(mh)), min(image_size, cap(mw)))
    else:
        crop = (image_size, image_size)
    crop = tuple(max(stride, int(math.ceil(c / stride) * stride)) for c in crop)
    aug = SegmentationAugmenter(ignore_index=ignore_index, seed=seed, **(augment_options or {})) if augment else None
    train_ds = make_dataset(train_src, crop, global_batch, training=True, augmenter=aug, ignore_index=ignore_index,
                            resize_mode=resize_mode, seed=seed, sizes=train_stats.sizes,
                            drop_remainder=len(train_src) >= global_batch)
    val_ds = make_dataset(val_src, crop, global_batch, training=False, ignore_index=ignore_index,
                          resize_mode=resize_mode, seed=seed, sizes=val_stats.sizes)
    if strategy == "multiworker":
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_ds, val_ds = train_ds.with_options(options), val_ds.with_options(options)
    n_batches = max(1, len(train_src) // global_batch) if len(train_src) >= global_batch else 1
    if steps_per_epoch:
        train_ds = train_ds.repeat()
        n_batches = int(steps_per_epoch)


    from suite.unet import callbacks as classes
    guard = classes.NanGuard()
    logdir.mkdir(parents=True, exist_ok=True)
    csv_path, curves_path = logdir / "log.csv", logdir / "curves.png"
    if not resume and csv_path.exists():
        csv_path.unlink()
    previous = read_csv_log(csv_path) if resume else []
    prev_best = max((r["val_miou"] for r in previous if math.isfinite(r.get("val_miou", float("nan")))), default=None)
    ckpt = classes.BestCheckpoint(out, "val_miou", guard, best=prev_best if out.exists() else None, is_chief=is_chief)
    rich = classes.RichProgress(epochs, n_batches) if progress and is_chief else None

    def compile_for(phase_lr):
        with dist.scope():
            model.compile(
                optimizer=keras.optimizers.Adam(learning_rate=phase_lr),
                loss=get_loss(loss, num_classes=num_classes, ignore_index=ignore_index, class_weights=weights_per_class),
                metrics=segmentation_metrics(num_classes, ignore_index),
            )

    def callbacks_for(ph: Phase):
        backup = classes.SafeBackupAndRestore(str(backup_root / f"phase{ph.number}"), guard, double_checkpoint=True,
                                                 delete_checkpoint=False)
        cbs = [guard, backup]
        if ph.deadline is not None:
            budget = classes.TimeBudget(ph.deadline, start=t_fit)
            cbs.append(budget)
            if lr_schedule == "cosine":
                begin = min(budget.elapsed(), ph.deadline)
                cbs.append(classes.TimeCosine(budget, ph.lr, begin=begin, end=ph.deadline))
        elif lr_schedule == "cosine":
            cbs.append(classes.EpochCosine(ph.lr, n_batches, ph.first_epoch, ph.last_epoch,
                                              warmup_epochs if ph.number == 1 else 0))
        cbs += [classes.LogLearningRate(), ckpt]
        if patience:
            cbs.append(keras.callbacks.EarlyStopping(monitor="val_miou", mode="max", patience=patience))
        cbs.append(keras.callbacks.CSVLogger(str(csv_path), append=True))
        cbs.append(classes.CurvesPlot(csv_path, curves_path, is_chief=is_chief))
        if tensorboard and is_chief:
            cbs.append(keras.callbacks.TensorBoard(str(logdir / "tensorboard"), write_graph=False))
        if rich is not None:
            cbs.append(rich)
        return cbs + list(callbacks or [])

    phases = plan_phases(epochs, freeze_encoder_epochs, lr, finetune_lr_factor, time_budget,
                         freeze_fraction if auto_freeze else None)
    if resume and len(phases) == 2 and _backup_epoch(backup_root / "phase2") is not None:
        phases = phases[1:]

    if strategy == "multiworker":
        from suite.unet.distribute import work_around_multiworker_build

        work_around_multiworker_build(model, dist, train_ds, compile_for, lr)

    stopped = "completed"
    history = []
    t_fit = time.monotonic()
    try:
        for i, ph in enumerate(phases):
            if i and ph.deadline is not None and time.monotonic() - t_fit >= ph.deadline:
                stopped = "time_budget"  # the earlier phase used the whole budget
                break
            # A phase that ended at its deadline hands over at the epoch it reached.
            first = ph.first_epoch if i == 0 or ph.deadline is None else phases[0].first_epoch + len(history)
            if ph.number == 2:
                set_encoder_trainable(model, True)
                note(f"epoch {first + 1}: encoder unfrozen; fine-tuning everything at lr {ph.lr:g}")
            compile_for(ph.lr)
            cbs = callbacks_for(ph)
            hist = model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=ph.last_epoch,
                initial_epoch=first,
                steps_per_epoch=n_batches if steps_per_epoch else None,
                callbacks=cbs,
                verbose=0,
                shuffle=False,  # the pipeline shuffles
            )
            history.extend(hist.history and [dict(zip(hist.history, v)) for v in zip(*hist.history.values())])
            if guard.tripped is not None:
                stopped = "nan"
                break
            tripped = any(isinstance(c, classes.TimeBudget) and c.tripped for c in cbs)
            if tripped and i == len(phases) - 1:
                stopped = "time_budget"
                break
            if model.stop_training and not tripped:
                stopped = "early_stopping"
                break
    finally:
        if rich is not None:
            rich.close()

    rows = read_csv_log(csv_path)
    if is_chief and rows:
        plot_curves(rows, curves_path)
    epochs_run = len(rows)
    best_epoch = ckpt.best_epoch
    if best_epoch is None and prev_best is not None:
        best_epoch = next((int(r["epoch"]) + 1 for r in rows if r.get("val_miou") == prev_best), None)
    model_path = out if out.exists() and is_chief else (out if ckpt.best is not None else None)
    train_seconds = time.monotonic() - t_start
    if stopped == "nan":
        ep, batch = guard.tripped
        keep = f"the last good model (epoch {best_epoch}, val mIoU {ckpt.best:.4f}) is kept in {out}" if ckpt.best is not None else "no epoch finished cleanly, so no model was saved"
        where = f"epoch {ep}, batch {batch}" if batch is not None else f"epoch {ep} (validation)"
        message = f"training stopped: the loss became NaN at {where} (try a lower --lr); {keep}"
    else:
        why = {"completed": "finished", "early_stopping": f"stopped early (no val mIoU gain in {patience} epochs)",
               "time_budget": f"used its time budget ({time_budget or 0:g} s)"}[stopped]
        message = (f"training {why} after {epochs_run} epoch(s); best val mIoU {ckpt.best:.4f} at epoch {best_epoch}; "
                   f"model: {out}; logs and curves: {logdir}") if ckpt.best is not None else f"training {why}; no model saved"
    if backup_root.exists():
        # The run is over (the best model is in `out`); the backup is only for interrupted runs.
        shutil.rmtree(backup_root, ignore_errors=True)
    return TrainResult(model_path, ckpt.best, best_epoch, epochs_run, stopped, rows, logdir, message, train_seconds, skipped)
