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

import functools
import importlib.util
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from suite.common.log import note
from suite.common.options import as_dict, replace
from suite.unet.distribute import make_strategy
from suite.unet.errors import TrainingError
from suite.unet.options import BUDGET_EPOCHS, DEFAULT_EPOCHS, DEFAULT_VAL_SPLIT, TrainOptions, train_options
from suite.unet.train_logs import plot_curves, read_csv_log


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model_path: The best model by validation mIoU (``None`` if no epoch finished cleanly).
        best_miou: Its validation mIoU.
        best_epoch: Its epoch (1-based).
        epochs_run: Epochs completed in total (including those before a resume).
        stopped: ``"completed"``, ``"early_stopping"``, ``"time_budget"`` or ``"nan"``.
        history: Per-epoch logs (``epoch``, 1-based as in the messages and ``best_epoch``; ``loss``,
            ``miou``, ``val_loss``, ``val_miou``, ``lr``...), those before a resume included.
        logdir: Where the CSV log, curves PNG, TensorBoard files and backups are.
        message: One line for the user.
        train_seconds: Wall-clock time spent in ``fit``.
        skipped: ``[{"image", "mask", "reason"}]`` for the pairs left out.
        options: The run's :class:`TrainOptions` as JSON-ready data (also in ``<logdir>/options.json``).
        feature_cache: What the frozen-feature cache held (:meth:`suite.unet.feature_cache.FeatureCache.summary`),
            or ``None`` when every step ran the encoder.
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
    options: dict = field(default_factory=dict)
    feature_cache: dict | None = None


# --------------------------------------------------------------------------- helpers


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
    from suite.common.errors import WeightsError
    from suite.common.nn.backbones import get_backbone_spec
    from suite.common.nn.weights import resolve_weights

    if weights is None or str(weights).lower() == "none":
        return False
    if str(weights).lower() == "imagenet":
        return True
    try:
        return resolve_weights(get_backbone_spec(backbone), weights).kind != "none"
    except WeightsError:
        return False


#: Options that shape the model's variables (or its preprocessing): a backup restores only into the same ones.
RESUME_FIT_OPTIONS = ("num_classes", "backbone", "weights", "encoder_filters", "decoder_filters", "batch_norm")


def _fit_record(opts, num_classes: int) -> dict:
    """What a backup needs of the run that restores it, JSON-ready (see :data:`RESUME_FIT_OPTIONS`)."""
    record = dict(as_dict(opts), num_classes=num_classes, backbone=_backbone(opts))
    return json.loads(json.dumps({k: record.get(k) for k in RESUME_FIT_OPTIONS}))


def check_resume_fits(paths, opts, num_classes: int) -> None:
    """Raises :class:`TrainingError` naming the first option that differs from the backed-up run's.

    The interrupted run recorded its options in ``<backup>/run.json`` (older
    backups only in ``<logdir>/options.json``, without ``num_classes``).
    """
    saved = None
    for path in (paths.backup_root / "run.json", paths.logdir / "options.json"):
        try:
            saved = json.loads(path.read_text())
            break
        except (OSError, ValueError):
            continue
    if not isinstance(saved, dict) or not any(paths.backup_root.rglob("training_metadata.json")):
        return  # nothing to resume: prepare_paths said so, and the run starts anew
    if "backbone" in saved:
        saved["backbone"] = None if saved["backbone"] in (None, "none") else str(saved["backbone"]).lower()
    now = _fit_record(opts, num_classes)
    for key in RESUME_FIT_OPTIONS:
        if key in saved and saved[key] != now[key]:

            def show(v):
                return "none" if v is None else ",".join(map(str, v)) if isinstance(v, list) else str(v)

            raise TrainingError(
                f"--resume: --{key.replace('_', '-')} is {show(now[key])}, but the interrupted run in {paths.logdir} "
                f"used {show(saved[key])}; give the same value, or --overwrite to start a new run"
            )


def _backup_epoch(backup_dir: Path):
    meta = backup_dir / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return None


def backed_up_epochs(out, logdir=None) -> int:
    """How many epochs the backup of an interrupted run holds (0: none finished, nothing to resume).

    ``out`` and ``logdir`` as given to :func:`train` (``logdir`` defaults to ``<out stem>_logs``).
    """
    out = Path(out)
    paths = RunPaths(out, Path(logdir) if logdir is not None else out.with_name(out.stem + "_logs"))
    epochs = [_backup_epoch(d) for d in sorted(paths.backup_root.glob("phase*"))]
    return max((e for e in epochs if e is not None), default=0)


def interrupted_hint(out, logdir=None) -> str:
    """The sentence for a user whose run was just stopped: what is backed up, and what ``--resume`` does."""
    n = backed_up_epochs(out, logdir)
    if n:
        return f"Epoch {n} is backed up; run the same command with --resume to continue from epoch {n + 1}."
    return (
        "No epoch had finished, so nothing is backed up; run the same command with --resume "
        "to start again from epoch 1."
    )


def _report_skipped(skipped, logdir, show: int = 10):
    """One line per skipped pair (the first ``show``), and all of them in ``<logdir>/skipped.json``."""
    from suite.common.io.atomic import save_json

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
    comes first), so the fine-tuning always gets its share. A
    ``freeze_fraction`` of 1 keeps the encoder frozen for the whole budget.
    """
    if not freeze_epochs:
        return [Phase(1, 0, epochs, lr, time_budget)]
    if time_budget and freeze_fraction is not None and freeze_fraction >= 1:
        return [Phase(1, 0, epochs, lr, time_budget)]
    frozen_end = time_budget * freeze_fraction if time_budget and freeze_fraction is not None else time_budget
    phases = [Phase(1, 0, freeze_epochs, lr, frozen_end)]
    if freeze_epochs < epochs:
        phases.append(Phase(2, freeze_epochs, epochs, lr * finetune_lr_factor, time_budget))
    return phases


# --------------------------------------------------------------------------- train


def train(
    images,
    masks=None,
    num_classes: int = 2,
    *,
    options: TrainOptions | None = None,
    val_images=None,
    val_masks=None,
    class_names=None,
    out="model.keras",
    logdir=None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks=None,
    **overrides,
) -> TrainResult:
    """Trains a U-Net on image/mask pairs and keeps the best model by validation mIoU.

    The hyperparameters are a :class:`suite.unet.options.TrainOptions`
    (``options``, default: its defaults), with any keyword ``overrides`` applied
    (``train(..., lr=1e-3, epochs=20)``); each option's meaning is its field's help.

    Args:
        images: Images folder, or an Oxford-IIIT Pet / Pascal VOC root.
        masks: Masks folder (``.png`` class indices, paired by basename).
        num_classes: Number of classes, including the background.
        options: The training options.
        val_images: Validation images (or data set root); else ``options.val_split``.
        val_masks: Validation masks.
        class_names: Optional names, stored in the model.
        out: The best model, a ``.keras`` file (written atomically).
        logdir: CSV log, curves, TensorBoard, backups and ``options.json``; default ``<out stem>_logs``.
        resume: Continue an interrupted run from the backup in ``logdir``.
        overwrite: Replace an existing ``out`` and discard an old backup.
        progress: Rich progress bars.
        callbacks: Extra Keras callbacks.
        **overrides: :class:`TrainOptions` fields replacing those of ``options``.

    Returns:
        A :class:`TrainResult`; ``skipped`` lists the pairs left out.

    Raises:
        TypeError: an override that is not a training option.
        ValueError: an option out of its choices or range.
        suite.unet.data.DatasetError: no usable pair, or any bad pair with ``strict``.
        suite.common.io.atomic.OutputExistsError: ``out`` exists without ``overwrite``/``resume``.
        TrainingError: an old backup without ``resume``/``overwrite``; NaN before any good epoch.

    Example:
        >>> result = train("data/images", "data/masks", num_classes=3, epochs=20)
        >>> result.best_miou
    """
    opts = check_run(train_options(options, **overrides), num_classes)
    freeze_epochs = freeze_epochs_for(opts)
    t_start = time.monotonic()
    fresh = _new_folders(out, logdir)
    paths = prepare_paths(out, logdir, resume, overwrite)
    try:
        if resume:
            check_resume_fits(paths, opts, num_classes)
        data = open_data(images, masks, val_images, val_masks, num_classes, opts, paths.logdir, progress)

        import keras

        keras.utils.set_random_seed(opts.seed)
        cluster = setup_cluster(opts)
        paths = paths.for_worker(cluster)
        model = build_model(num_classes, opts, freeze_epochs, class_names, cluster)
        pipeline = build_pipeline(data, int(getattr(model, "stride", 32)), opts, cluster)
        run = start_run(model, opts, paths, cluster, pipeline, data, resume, progress, callbacks)
        phases = plan_phases(
            opts.epochs,
            freeze_epochs,
            opts.lr,
            opts.finetune_lr_factor,
            opts.time_budget,
            opts.freeze_fraction if opts.freeze_encoder_epochs == "auto" else None,
        )
        if resume and len(phases) == 2 and _backup_epoch(paths.backup_root / "phase2") is not None:
            phases = phases[1:]
        if opts.strategy == "multiworker":
            from suite.unet.distribute import work_around_multiworker_build

            work_around_multiworker_build(
                model, cluster.strategy, pipeline.train_ds, functools.partial(compile_phase, run, opts.lr)
            )
        stopped = fit_phases(run, phases)
        return summarize(run, stopped, time.monotonic() - t_start)
    except BaseException:
        for folder in fresh:  # a run that failed before writing anything leaves no empty folder behind
            _remove_empty_folder(folder)
        raise


def _new_folders(out, logdir) -> list:
    """The folders a run would create for ``out`` and ``logdir`` (innermost first) that do not exist yet."""
    out = Path(out)
    log = Path(logdir) if logdir is not None else out.with_name(out.stem + "_logs")
    return [p for p in (log, out.parent) if not (p.exists() or p.is_symlink())]


def _remove_empty_folder(folder: Path) -> None:
    try:
        folder.rmdir()  # only an empty folder
    except OSError:
        pass


# --------------------------------------------------------------------------- 1. options and paths


def check_run(opts: TrainOptions, num_classes: int) -> TrainOptions:
    """The checks that span options (and ``num_classes``); TensorBoard off, with a note, when it is not installed."""
    if num_classes < 2:
        raise ValueError(f"Expected num_classes >= 2 (use 2 for binary masks). Received: num_classes={num_classes}")
    if isinstance(opts.class_weights, (list, tuple)) and len(opts.class_weights) != num_classes:
        raise ValueError(
            f"Expected {num_classes} class weights (one per class), before any work. "
            f"Received: class_weights={list(opts.class_weights)}"
        )
    if opts.epochs is None:  # the time budget, when there is one, decides how many
        opts = replace(opts, epochs=BUDGET_EPOCHS if opts.time_budget else DEFAULT_EPOCHS)
    fe = opts.freeze_encoder_epochs
    if fe != "auto" and (not isinstance(fe, int) or isinstance(fe, bool) or not 0 <= fe <= opts.epochs):
        raise ValueError(f"Expected freeze_encoder_epochs 'auto' or 0..epochs. Received: freeze_encoder_epochs={fe!r}")
    if _backbone(opts) is None and fe not in ("auto", 0):
        raise ValueError("freeze_encoder_epochs needs a pretrained backbone; the paper U-Net has none to freeze")
    if opts.tensorboard and importlib.util.find_spec("tensorboard") is None:
        # A declared dependency, but a trimmed environment may lack it: train anyway, and say so.
        note("TensorBoard logs are off: the tensorboard package is not installed (pip install tensorboard)")
        opts = replace(opts, tensorboard=False)
    return opts


def _backbone(opts: TrainOptions) -> str | None:
    """The registry name, or ``None`` for the paper U-Net."""
    return None if opts.backbone is None or opts.backbone.lower() == "none" else opts.backbone.lower()


def freeze_epochs_for(opts: TrainOptions) -> int:
    """``freeze_encoder_epochs`` resolved: ``"auto"`` is half the epochs with pretrained encoder weights, else 0."""
    if opts.freeze_encoder_epochs != "auto":
        return opts.freeze_encoder_epochs
    backbone = _backbone(opts)
    return opts.epochs // 2 if backbone is not None and _has_pretrained_weights(backbone, opts.weights) else 0


@dataclass
class RunPaths:
    """Where a run writes: the best model, the logs, the backup of an interrupted run."""

    out: Path
    logdir: Path

    @property
    def backup_root(self) -> Path:
        return self.logdir / "backup"

    @property
    def csv(self) -> Path:
        return self.logdir / "log.csv"

    @property
    def curves(self) -> Path:
        return self.logdir / "curves.png"

    def for_worker(self, cluster) -> RunPaths:
        # Other workers keep their own logs and backups; only the chief writes `out` and the curves.
        return self if cluster.is_chief else RunPaths(self.out, self.logdir / "workers" / f"worker{cluster.worker}")


def prepare_paths(out, logdir, resume: bool, overwrite: bool) -> RunPaths:
    """Refuses to overwrite a model or an old backup by accident, and fails now on a read-only destination."""
    from suite.common.io.atomic import OutputExistsError, ensure_writable_folder

    out = Path(out)
    if out.suffix.lower() != ".keras":  # Keras writes its zip format whatever the name says
        raise ValueError(
            f"out must name a .keras file (the model is saved in Keras' format). Received: out={str(out)!r}"
        )
    paths = RunPaths(out, Path(logdir) if logdir is not None else out.with_name(out.stem + "_logs"))
    backup_root = paths.backup_root
    interrupted = backup_root.exists() and any(backup_root.rglob("training_metadata.json"))
    if out.exists() and not (overwrite or resume):
        if interrupted:
            raise TrainingError(
                f"{out} exists and {paths.logdir} holds the backup of an interrupted run: add --resume to "
                "continue it, or --overwrite to start over"
            )
        raise OutputExistsError(out)
    earlier = [p for p in (paths.csv, paths.curves) if p.exists()]
    if earlier and not (interrupted or overwrite or resume):
        raise TrainingError(
            f"{paths.logdir} holds the logs of an earlier run ({earlier[0].name}): "
            "add --overwrite to replace them, or give another --logdir"
        )
    if interrupted and not resume:
        if not overwrite:
            raise TrainingError(
                f"{paths.logdir} holds the backup of an interrupted run: add --resume to continue it, "
                "or --overwrite to start over"
            )
        shutil.rmtree(backup_root)
    if resume and not backup_root.exists():
        note(f"nothing to resume in {paths.logdir}; starting a new run")
    ensure_writable_folder(out.parent)  # a read-only destination fails now, not after the last epoch
    ensure_writable_folder(paths.logdir)
    return paths


# --------------------------------------------------------------------------- 2. data


@dataclass
class TrainData:
    """The checked training and validation pairs, and what was left out."""

    train_src: object
    train_stats: object
    val_src: object
    val_stats: object
    skipped: list
    class_weights: list | None


def _usable(src, num_classes, opts, progress, what):
    from suite.unet import data as sdata

    stats = sdata.check_source(
        src, num_classes, opts.ignore_index, progress=progress, skip_bad=not opts.strict, what=what
    )
    return src.subset(stats.kept), stats


def open_data(images, masks, val_images, val_masks, num_classes, opts: TrainOptions, logdir, progress) -> TrainData:
    """Opens and checks every pair, then splits off validation.

    Every pair is decoded and checked once; unusable ones are skipped with a
    reason each (``strict``: any of them stops the run), so one damaged file in
    a folder of thousands does not cost the whole job.
    """
    from suite.unet import data as sdata

    common = dict(binary=opts.binary, ignore_index=opts.ignore_index, max_pixels=opts.max_pixels)
    train_src = sdata.open_source(images, masks, layout=opts.layout, split=opts.split, **common)
    train_src, train_stats = _usable(train_src, num_classes, opts, progress, "training pairs")
    skipped = list(train_stats.bad)
    if val_images is not None or (train_src.layout == "voc" and opts.val_split is None):
        if val_images is not None:
            val_src = sdata.open_source(val_images, val_masks, layout=opts.layout, split=opts.split or "val", **common)
        else:
            val_src = sdata.open_source(
                images, layout="voc", split="val", ignore_index=opts.ignore_index, max_pixels=opts.max_pixels
            )
        val_src, val_stats = _usable(val_src, num_classes, opts, progress, "validation pairs")
        skipped += val_stats.bad
    else:
        train_idx, val_idx = sdata.split_indices(len(train_src), opts.val_split or DEFAULT_VAL_SPLIT, seed=opts.seed)
        val_src, val_stats = train_src.subset(val_idx), train_stats.subset(val_idx)
        train_src, train_stats = train_src.subset(train_idx), train_stats.subset(train_idx)
    if skipped:
        _report_skipped(skipped, logdir)
    weights = _resolve_class_weights(opts.class_weights, train_stats, num_classes)
    return TrainData(train_src, train_stats, val_src, val_stats, skipped, weights)


# --------------------------------------------------------------------------- 3. distribution, model, pipeline


@dataclass
class Cluster:
    """The ``tf.distribute`` strategy and this process's place in it."""

    strategy: object
    is_chief: bool
    worker: int
    global_batch: int


def setup_cluster(opts: TrainOptions) -> Cluster:
    dist, is_chief, worker = make_strategy(opts.strategy)
    replicas = dist.num_replicas_in_sync
    cluster = Cluster(dist, is_chief, worker, opts.batch_size * replicas)
    if opts.strategy != "default":
        note(
            f"{opts.strategy} strategy: worker {worker}{' (chief)' if is_chief else ''}, "
            f"{replicas} replicas in sync, global batch {cluster.global_batch}"
        )
    return cluster


def build_model(num_classes, opts: TrainOptions, freeze_epochs: int, class_names, cluster: Cluster):
    """The U-Net of the options, built under the strategy's scope (encoder frozen for a first frozen phase)."""
    from suite.unet.model import UNet, set_encoder_trainable

    with cluster.strategy.scope():
        model = UNet(
            backbone=_backbone(opts),
            num_classes=num_classes,
            weights=opts.weights,
            freeze_encoder=freeze_epochs > 0,
            decoder_filters=opts.decoder_filters,
            encoder_filters=opts.encoder_filters,
            batch_norm=opts.batch_norm,
            class_names=list(class_names) if class_names else None,
        )
    if not freeze_epochs and _backbone(opts) is not None and _has_pretrained_weights(_backbone(opts), opts.weights):
        set_encoder_trainable(model, True)  # fine-tuned from the start: pretrained BatchNorm statistics kept
    return model


@dataclass
class Pipeline:
    train_ds: object
    val_ds: object
    steps: int  # training batches per epoch
    repeat: bool  # the training set repeats (steps_per_epoch given)
    crop: tuple = (128, 128)  # the training window


def crop_size(image_size: int, resize_mode: str, sizes, stride: int) -> tuple[int, int]:
    """The training crop: ``image_size``, with ``"crop"`` capped at the median image size, a multiple of ``stride``."""
    crop = (image_size, image_size)
    if resize_mode == "crop":
        # Crops no larger than a typical image: padding small images up to the
        # largest one would spend most of a step on ignored pixels.
        mh, mw = (int(np.median([s[i] for s in sizes])) for i in (0, 1))
        crop = (min(image_size, _round_up(mh, stride)), min(image_size, _round_up(mw, stride)))
    return tuple(max(stride, _round_up(c, stride)) for c in crop)


def _round_up(size: int, stride: int) -> int:
    return int(math.ceil(size / stride) * stride)


def build_pipeline(data: TrainData, stride: int, opts: TrainOptions, cluster: Cluster) -> Pipeline:
    """The ``tf.data`` training (augmented, shuffled) and validation sets."""
    import tensorflow as tf

    from suite.unet.augment import SegmentationAugmenter
    from suite.unet.tfdata import make_dataset

    crop = crop_size(opts.image_size, opts.resize_mode, data.train_stats.sizes, stride)
    batch, n_train = cluster.global_batch, len(data.train_src)
    aug = (
        SegmentationAugmenter(ignore_index=opts.ignore_index, seed=opts.seed, **augment_keywords(opts))
        if opts.augment
        else None
    )
    common = dict(ignore_index=opts.ignore_index, resize_mode=opts.resize_mode, seed=opts.seed)
    train_ds = make_dataset(
        data.train_src,
        crop,
        batch,
        training=True,
        augmenter=aug,
        sizes=data.train_stats.sizes,
        drop_remainder=n_train >= batch,
        **common,
    )
    val_ds = make_dataset(data.val_src, crop, batch, training=False, sizes=data.val_stats.sizes, **common)
    if opts.strategy == "multiworker":
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_ds, val_ds = train_ds.with_options(options), val_ds.with_options(options)
    steps = max(1, n_train // batch) if n_train >= batch else 1
    if opts.steps_per_epoch:
        train_ds, steps = train_ds.repeat(), int(opts.steps_per_epoch)
    return Pipeline(train_ds, val_ds, steps, bool(opts.steps_per_epoch), crop)


def augment_keywords(opts: TrainOptions) -> dict:
    """The augmenter's keywords: ``augment_options``, with the pixel-changing ones off without ``pixel_augment``."""
    from suite.unet.feature_cache import PIXEL_AUGMENTATIONS

    kw = dict(opts.augment_options or {})
    if not opts.pixel_augment:
        kw.update({k: 0 for k in PIXEL_AUGMENTATIONS})
    return kw


# --------------------------------------------------------------------------- 4. the run's shared state, compile


@dataclass
class Run:
    """What every phase of one run shares: the model, the data, the logs and the callbacks that span phases."""

    model: object
    opts: TrainOptions
    paths: RunPaths
    cluster: Cluster
    pipeline: Pipeline
    data: TrainData
    guard: object
    ckpt: object
    rich: object
    prev_best: float | None
    extra_callbacks: list
    t_fit: float = 0.0
    cache: object = None  # the frozen-feature cache (suite.unet.feature_cache), once built


def start_run(model, opts, paths: RunPaths, cluster, pipeline, data, resume, progress, callbacks) -> Run:
    """Starts the logs (``options.json``, a fresh or resumed CSV) and the callbacks that span the phases."""
    from suite.common.io.atomic import save_json
    from suite.unet import callbacks as cb

    paths.logdir.mkdir(parents=True, exist_ok=True)
    save_json(as_dict(opts), paths.logdir / "options.json", overwrite=True)
    paths.backup_root.mkdir(parents=True, exist_ok=True)
    save_json(_fit_record(opts, model.num_classes), paths.backup_root / "run.json", overwrite=True)
    if not resume and paths.csv.exists():
        paths.csv.unlink()
    previous = read_csv_log(paths.csv) if resume else []
    prev_best = max((r["val_miou"] for r in previous if math.isfinite(r.get("val_miou", float("nan")))), default=None)
    guard = cb.NanGuard()
    ckpt = cb.BestCheckpoint(
        paths.out, "val_miou", guard, best=prev_best if paths.out.exists() else None, is_chief=cluster.is_chief
    )
    rich = (
        cb.RichProgress(None if opts.epochs == BUDGET_EPOCHS else opts.epochs, pipeline.steps)
        if progress and cluster.is_chief
        else None
    )
    return Run(model, opts, paths, cluster, pipeline, data, guard, ckpt, rich, prev_best, list(callbacks or []))


def learning_rate_for(ph: Phase, opts: TrainOptions, steps: int):
    """The phase's learning rate: a float, or the epoch cosine as a Keras schedule on the optimizer's step.

    Each phase gets a new optimizer, so the schedule counts from the phase's
    first step; ``BackupAndRestore`` restores the optimizer's step count, so a
    resumed run continues on the same curve. A phase with a deadline follows
    the clock instead (:class:`suite.unet.callbacks.TimeCosine` sets the rate).
    """
    import keras

    if opts.lr_schedule != "cosine" or ph.deadline is not None:
        return ph.lr
    warm = (opts.warmup_epochs if ph.number == 1 else 0) * steps
    total = max(1, (ph.last_epoch - ph.first_epoch) * steps)
    return keras.optimizers.schedules.CosineDecay(
        ph.lr / (warm + 1) if warm else ph.lr,
        decay_steps=max(1, total - warm),
        alpha=0.01,
        warmup_target=ph.lr if warm else None,
        warmup_steps=warm,
    )


def compile_phase(run: Run, learning_rate) -> None:
    """Compiles for one phase: a new Adam, the options' loss, the suite's metrics (``UNet.compile``)."""
    import keras

    from suite.unet.losses import get_loss

    opts, n = run.opts, run.model.num_classes
    with run.cluster.strategy.scope():
        run.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss=get_loss(
                opts.loss, num_classes=n, ignore_index=opts.ignore_index, class_weights=run.data.class_weights
            ),
            metrics="auto",
            ignore_index=opts.ignore_index,
        )


# --------------------------------------------------------------------------- 5. fit the phases


def phase_callbacks(run: Run, ph: Phase) -> list:
    """The callbacks of one phase: NaN guard, backup, time budget and clock cosine, logs, checkpoint, progress."""
    import keras

    from suite.unet import callbacks as cb

    opts, paths = run.opts, run.paths
    backup = cb.SafeBackupAndRestore(
        str(paths.backup_root / f"phase{ph.number}"), run.guard, double_checkpoint=True, delete_checkpoint=False
    )
    cbs = [run.guard, backup]
    if ph.deadline is not None:
        budget = cb.TimeBudget(ph.deadline, start=run.t_fit)
        cbs.append(budget)
        if opts.lr_schedule == "cosine":
            cbs.append(cb.TimeCosine(budget, ph.lr, begin=min(budget.elapsed(), ph.deadline), end=ph.deadline))
    cbs += [cb.LogLearningRate(), run.ckpt]
    if opts.patience:
        t_fit = run.t_fit
        cbs.append(
            cb.BudgetEarlyStopping(
                monitor="val_miou",
                patience=opts.patience,
                budget=opts.time_budget,
                min_fraction=opts.early_stop_after,
                clock=lambda: time.monotonic() - t_fit,
            )
        )
    cbs.append(keras.callbacks.CSVLogger(str(paths.csv), append=True))
    cbs.append(cb.CurvesPlot(paths.csv, paths.curves, is_chief=run.cluster.is_chief))
    if opts.tensorboard and run.cluster.is_chief:
        cbs.append(keras.callbacks.TensorBoard(str(paths.logdir / "tensorboard"), write_graph=False))
    if run.rich is not None:
        cbs.append(run.rich)
    return cbs + run.extra_callbacks


def _why_stopped(run: Run, cbs, last: bool, model=None) -> str | None:
    """How the phase's ``fit`` ended the run, or ``None`` when the next phase goes on."""
    from suite.unet.callbacks import TimeBudget

    if run.guard.tripped is not None:
        return "nan"
    tripped = any(isinstance(c, TimeBudget) and c.tripped for c in cbs)
    if tripped and last:
        return "time_budget"
    if (model or run.model).stop_training and not tripped:
        return "early_stopping"
    return None


#: With a time budget, the share of the phase's time the feature cache may take to compute (the grid thins to fit).
CACHE_BUDGET_SHARE = 0.15


def cached_phase(run: Run, ph: Phase):
    """``(decoder model, training set, validation set)`` on cached encoder features for this phase, or ``None``.

    ``None`` (the plain path, with a note saying why) when the cache is off, the
    encoder is trained in this phase, an augmentation changes pixels, the
    strategy is distributed, or the cache would exceed ``feature_cache_mb``.
    The cache is built here, on the run's clock, so a time budget pays for it;
    it is built once and kept for later epochs and reused only while its
    fingerprint (encoder weights, window, resizing, dtype) still matches.
    """
    from suite.unet import feature_cache as fc

    opts = run.opts
    why = fc.reason_not_to_cache(
        opts,
        encoder_trainable=ph.number == 2 or not run.model.freeze_encoder,
        pixel_augmentations=fc.pixel_augmentations(augment_keywords(opts)) if opts.augment else [],
    )
    if why is not None:
        if opts.feature_cache == "auto" and ph.number == 1:
            note(f"feature cache off: {why}")
        return None
    encoder, crop = run.model.get_layer("encoder"), run.pipeline.crop
    if run.cache is None or not run.cache.matches(encoder, crop, opts.resize_mode):
        flips = fc.flips_of(augment_keywords(opts)) if opts.augment else [(False, False)]
        run.cache = fc.build(
            run.model,
            run.data.train_src,
            run.data.train_stats.sizes,
            run.data.val_src,
            run.data.val_stats.sizes,
            crop,
            resize_mode=opts.resize_mode,
            flips=flips,
            ignore_index=opts.ignore_index,
            max_bytes=int(opts.feature_cache_mb * 2**20),
            max_seconds=None if ph.deadline is None else CACHE_BUDGET_SHARE * ph.deadline,
        )
        if run.cache is None:
            need = fc.estimate_bytes(encoder, crop, len(run.data.train_src) * len(flips) + len(run.data.val_src))
            note(
                f"feature cache off: even one window per image needs {need / 2**20:.0f} MB, over "
                f"--feature-cache-mb {opts.feature_cache_mb:g}; the encoder runs at every step"
            )
            return None
        c = run.cache.summary()
        note(
            f"feature cache: {c['windows']} training windows ({c['windows_per_image']:g} per image, grid "
            f"{c['density']}) and {c['val_windows']} validation windows, {c['megabytes']:g} MB in {c['dtype']}, "
            f"computed in {c['seconds']:g} s; the decoder trains on them"
        )
    decoder = fc.decoder_model(run.model)
    from suite.unet.metrics import segmentation_metrics

    decoder.compile(
        optimizer=run.model.optimizer,
        loss=run.model.loss,
        metrics=segmentation_metrics(run.model.num_classes, opts.ignore_index),
    )
    batch = run.cluster.global_batch
    return decoder, run.cache.dataset(batch, training=True, seed=opts.seed), run.cache.dataset(batch, training=False)


def fit_phases(run: Run, phases: list[Phase]) -> str:
    """Fits each phase in turn (unfreezing the encoder for the fine-tuning); returns how the run stopped."""
    from suite.unet.model import set_encoder_trainable

    next_epoch = phases[0].first_epoch if phases else 0
    run.t_fit = time.monotonic()
    try:
        for i, ph in enumerate(phases):
            if i and ph.deadline is not None and time.monotonic() - run.t_fit >= ph.deadline:
                return "time_budget"  # the earlier phase used the whole budget
            # A phase that ended at its deadline hands over at the epoch it reached.
            first = ph.first_epoch if i == 0 or ph.deadline is None else next_epoch
            if ph.number == 2:
                set_encoder_trainable(run.model, True)
                note(f"epoch {first + 1}: encoder unfrozen; fine-tuning everything at lr {ph.lr:g}")
            compile_phase(run, learning_rate_for(ph, run.opts, run.pipeline.steps))
            cbs = phase_callbacks(run, ph)
            fitted, train_ds, val_ds, repeat = (
                run.model,
                run.pipeline.train_ds,
                run.pipeline.val_ds,
                run.pipeline.repeat,
            )
            cached = cached_phase(run, ph)
            if cached is not None:
                fitted, train_ds, val_ds = cached
                repeat = True  # the cached stream is endless: steps_per_epoch keeps the plain epoch length
                run.ckpt.save_model = run.model  # the full U-Net is saved, not the decoder being fitted
            # BackupAndRestore leaves the epoch it restored on the model, and Keras' fit prefers it to
            # `initial_epoch`: a resumed frozen phase would make the next phase start at that epoch again.
            fitted._initial_epoch = None
            try:
                hist = fitted.fit(
                    train_ds,
                    validation_data=val_ds,
                    epochs=ph.last_epoch,
                    initial_epoch=first,
                    steps_per_epoch=run.pipeline.steps if repeat else None,
                    callbacks=cbs,
                    verbose=0,
                    shuffle=False,  # the pipeline shuffles
                )
            finally:
                run.ckpt.save_model = None
            # The epoch the next phase starts at: after the last one run, or where a resumed phase already ended.
            next_epoch = hist.epoch[-1] + 1 if hist.epoch else max(first, fitted._initial_epoch or 0)
            stopped = _why_stopped(run, cbs, last=i == len(phases) - 1, model=fitted)
            if stopped is not None:
                return stopped
    finally:
        if run.rich is not None:
            run.rich.close()
    return "completed"


# --------------------------------------------------------------------------- 6. summarize


def summarize(run: Run, stopped: str, seconds: float) -> TrainResult:
    """Draws the final curves, removes the backup of the finished run, and says how it went in one line."""
    opts, paths, ckpt = run.opts, run.paths, run.ckpt
    rows = read_csv_log(paths.csv)
    if run.cluster.is_chief and rows:
        plot_curves(rows, paths.curves)
    best_epoch = ckpt.best_epoch
    if best_epoch is None and run.prev_best is not None:
        best_epoch = next((int(r["epoch"]) + 1 for r in rows if r.get("val_miou") == run.prev_best), None)
    out = paths.out
    model_path = out if out.exists() and run.cluster.is_chief else (out if ckpt.best is not None else None)
    if stopped == "nan":
        ep, batch = run.guard.tripped
        keep = (
            f"the last good model (epoch {best_epoch}, val mIoU {ckpt.best:.4f}) is kept in {out}"
            if ckpt.best is not None
            else "no epoch finished cleanly, so no model was saved"
        )
        where = f"epoch {ep}, batch {batch}" if batch is not None else f"epoch {ep} (validation)"
        message = f"training stopped: the loss became NaN at {where} (try a lower --lr); {keep}"
    else:
        why = {
            "completed": "finished",
            "early_stopping": f"stopped early (no val mIoU gain in {opts.patience} epochs)",
            "time_budget": f"used its time budget ({opts.time_budget or 0:g} s)",
        }[stopped]
        message = f"training {why}; no model saved"
        if ckpt.best is not None:
            message = (
                f"training {why} after {len(rows)} epoch(s); best val mIoU {ckpt.best:.4f} at epoch "
                f"{best_epoch}; model: {out}; logs and curves: {paths.logdir}"
            )
    if paths.backup_root.exists():
        # The run is over (the best model is in `out`); the backup is only for interrupted runs.
        shutil.rmtree(paths.backup_root, ignore_errors=True)
    # log.csv is Keras' own (epochs from 0); what a user reads counts from 1, as the messages do.
    history = [dict(r, epoch=int(r["epoch"]) + 1) if "epoch" in r else dict(r) for r in rows]
    return TrainResult(
        model_path,
        ckpt.best,
        best_epoch,
        len(rows),
        stopped,
        history,
        paths.logdir,
        message,
        seconds,
        run.data.skipped,
        as_dict(opts),
        run.cache.summary() if run.cache is not None else None,
    )
