"""The options of U-Net training: one field each gives the default, the check, the JSON and the CLI option.

:class:`TrainOptions` holds every training hyperparameter of
:func:`suite.unet.training.train`; ``suite train`` builds its options from the
same fields (:func:`suite.common.options.click_options`), and each run writes
the instance as ``<logdir>/options.json``. Adding an option is one field here,
plus its use and its test.

Keras-free and TensorFlow-free on purpose, like the option helpers: the CLI
imports this module to draw ``suite train --help``.

Example:
    >>> opts = TrainOptions(epochs=20, lr=1e-3)
    >>> replace(opts, loss="dice").loss
    'dice'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from suite.common.io.images import DEFAULT_MAX_PIXELS
from suite.common.options import check, option, parse_auto_int, parse_ints, replace
from suite.unet.data import LAYOUTS, RESIZE_MODES

#: The ``tf.distribute`` strategies of :func:`suite.unet.distribute.make_strategy`.
STRATEGIES = ("default", "mirrored", "multiworker")
#: The peak learning rate and the loss of training, which ``UNet.compile("auto")`` uses too.
DEFAULT_LR = 2e-3
DEFAULT_LOSS = "ce"
LR_SCHEDULES = ("cosine", "constant")
#: The names of :func:`suite.unet.losses.get_loss`, here without importing Keras (tested equal).
LOSSES = ("ce", "dice", "focal", "ce+dice")
CLASS_WEIGHTING = ("none", "balanced")
FEATURE_CACHE = ("auto", "off")
#: The share of the training pairs held out when no validation set is given (VOC: its ``val`` split).
DEFAULT_VAL_SPLIT = 0.15
#: Epochs when neither ``epochs`` nor a time budget is given.
DEFAULT_EPOCHS = 50
#: The epoch cap when a time budget decides (never reached in practice).
BUDGET_EPOCHS = 100_000


def _backbone_choices():
    from suite.common.nn.backbones import backbone_names

    return backbone_names() + ["none"]


def parse_class_weights(text: str):
    """``"none"``, ``"balanced"`` or ``"W0,W1,..."`` (one weight per class)."""
    if text in CLASS_WEIGHTING:
        return text
    try:
        weights = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ValueError("expected none, balanced or comma-separated numbers, e.g. 0.5,1,2") from None
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"expected finite weights >= 0, got {text!r}")
    return weights


def parse_widths(text: str) -> tuple[int, ...]:
    """``"256,128,64"`` -> ``(256, 128, 64)``: layer widths, each a whole number >= 1."""
    widths = parse_ints(text)
    if not all(w >= 1 for w in widths):
        raise ValueError(f"expected widths >= 1, got {text!r}")
    return widths


@dataclass
class TrainOptions:
    """Every hyperparameter of a training run; defaults chosen by measurement (docs/unet_train.md).

    Construct with keywords and check with :func:`suite.common.options.check`
    (or derive a checked copy with :func:`suite.common.options.replace`); each
    field's ``help`` is its meaning, shown by ``suite train --help``.
    """

    # --- data
    layout: str = option(
        "auto", "Data layout: image/mask folders, an Oxford-IIIT Pet root or a Pascal VOC root.", choices=LAYOUTS
    )
    split: str | None = option(None, "VOC split to train on (ImageSets/Segmentation/<split>.txt) [train].")
    val_split: float | None = option(
        None,
        f"Fraction held out for validation, seeded [{DEFAULT_VAL_SPLIT}].",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
    )
    binary: bool = option(False, "Masks are 0/255: map them to 0/1.", flag="--binary")
    ignore_index: int = option(
        255, "Mask label skipped by loss and metrics (augmentation fills with it too).", low=0, high=255
    )
    strict: bool = option(
        False,
        "Stop on the first unusable pair instead of skipping it (skipped pairs make the exit status 1).",
        flag="--strict",
    )
    max_pixels: int | None = option(
        DEFAULT_MAX_PIXELS,
        "Refuse image files with more pixels than this (decompression bombs); raise it for huge scans.",
        low=1,
    )
    # --- model
    backbone: str | None = option(
        "vgg16", "Encoder from the backbone registry; none = the paper's U-Net.", choices=_backbone_choices
    )
    weights: str | None = option(
        "auto",
        "Backbone weights: auto = Keras cache, else the embedded weights "
        "(VGG16, MobileNetV2), else none. imagenet downloads (needs the network).",
        metavar="auto|imagenet|embedded|none|FILE",
    )
    decoder_filters: tuple | None = option(
        None,
        "Decoder widths, deepest first, comma-separated [256,128,64,32,16].",
        parse=parse_widths,
        metavar="W,W,...",
    )
    encoder_filters: tuple | None = option(
        None,
        "Paper U-Net (--backbone none) encoder widths, comma-separated [64,128,256,512,1024].",
        parse=parse_widths,
        metavar="W,W,...",
    )
    batch_norm: bool | None = option(
        None, "BatchNorm after decoder (and paper encoder) convolutions [on for backbones, off for none]."
    )
    # --- pipeline
    image_size: int = option(128, "Training crop side (capped at the median image size).", low=16, high=8192)
    resize_mode: str = option(
        "crop",
        "crop: random windows at the original scale; resize: scale every image to --image-size.",
        choices=RESIZE_MODES,
    )
    batch_size: int = option(4, "Images per batch (per replica).", low=1)
    augment: bool = option(True, "Mask-safe random flips (with --pixel-augment, geometry and colour too).")
    augment_options: dict | None = option(
        None, "Keyword arguments for suite.unet.augment.SegmentationAugmenter.", cli=""
    )
    pixel_augment: bool = option(
        False,
        "Rotation, zoom, translation and colour jitter on top of the flips; they "
        "change pixels, so a frozen encoder's features are then recomputed every step instead of cached.",
    )
    feature_cache: str = option(
        "auto",
        "auto: while the encoder is frozen and no augmentation changes pixels, "
        "compute its features once per training window and train the decoder on them; "
        "off: recompute them every step.",
        choices=FEATURE_CACHE,
    )
    feature_cache_mb: float = option(
        2048,
        "Memory cap of the feature cache (training + validation windows, "
        "float16/bfloat16); above it training recomputes the features.",
        low=0,
        low_open=True,
        metavar="MB",
    )
    steps_per_epoch: int | None = option(None, "Batches per epoch [one pass].", low=1)
    seed: int = option(0, "Seeds weights, the validation split, shuffling and augmentation.")
    # --- optimization
    epochs: int | None = option(
        None,
        f"Maximum epochs [{DEFAULT_EPOCHS}; with --time-budget, as many as fit in it]; early stopping may end sooner.",
        low=1,
    )
    lr: float = option(DEFAULT_LR, "Peak learning rate (Adam).", low=0, low_open=True)
    lr_schedule: str = option(
        "cosine",
        "cosine: warm-up, then a cosine to 1% over the epochs (or the time budget); constant: --lr throughout.",
        choices=LR_SCHEDULES,
    )
    warmup_epochs: int = option(1, "Linear warm-up length, in epochs, of the epoch cosine.", low=0)
    loss: str = option(DEFAULT_LOSS, "Loss, with the ignore index masked out.", choices=LOSSES)
    class_weights: str | list | None = option(
        "balanced",
        "Per-class loss weights (balanced = sqrt median frequency, capped).",
        parse=parse_class_weights,
        metavar="none|balanced|W0,W1,...",
    )
    freeze_encoder_epochs: int | str = option(
        "auto",
        "Train the decoder alone this many epochs, then fine-tune everything at lr x --finetune-lr-factor "
        "(auto: half the epochs with pretrained encoder weights, else 0).",
        parse=parse_auto_int,
        metavar="auto|N",
    )
    finetune_lr_factor: float = option(0.1, "Learning-rate factor for the fine-tuning phase.", low=0, low_open=True)
    freeze_fraction: float = option(
        1.0,
        "With --time-budget and automatic freezing, the share of the budget "
        "spent on the frozen phase; the rest fine-tunes (1: frozen throughout).",
        low=0,
        high=1,
    )
    patience: int | None = option(
        15, "Early stopping on val mIoU after this many epochs without gain (0 = off).", low=0
    )
    early_stop_after: float = option(
        0.0,
        "With --time-budget, early stopping (--patience) may end the run only once this share of the "
        "budget has passed (0: at any time); the best epoch is kept either way.",
        low=0,
        high=1,
    )
    time_budget: float | None = option(
        None,
        "Seconds for the whole schedule: frozen phase, fine-tuning and LR decay all fit in it; the best model is kept.",
        low=0,
        low_open=True,
        metavar="SECONDS",
    )
    # --- infrastructure
    strategy: str = option(
        "default",
        "mirrored: all local GPUs; multiworker: MultiWorkerMirroredStrategy from TF_CONFIG.",
        choices=STRATEGIES,
    )
    tensorboard: bool = option(True, "Write TensorBoard logs.")


def train_options(options: TrainOptions | None = None, **overrides) -> TrainOptions:
    """A checked :class:`TrainOptions`: ``options`` (default: the defaults) with ``overrides`` applied.

    Raises:
        TypeError: an override that is not an option (the message lists the known ones).
        ValueError: a value out of its choices or range (one line naming it).
    """
    base = TrainOptions() if options is None else options
    if not isinstance(base, TrainOptions):
        raise TypeError(f"Expected options to be a TrainOptions. Received: options={options!r}")
    return replace(base, **overrides) if overrides else check(base)
