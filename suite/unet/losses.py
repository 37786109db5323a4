"""Segmentation losses on per-pixel logits that honour an ignore label: cross-entropy, Dice, focal, CE + Dice.

All losses take integer masks ``y_true`` of shape ``(N, H, W)`` (or
``(N, H, W, 1)``) and float logits ``y_pred`` of shape ``(N, H, W, C)``.
Pixels labelled ``ignore_index`` (Pascal VOC's 255 "void") contribute
nothing: not to the loss, not to its normalisation.

Class imbalance is handled with per-pixel weights: ``sample_weight`` passed to
the loss (e.g. by ``fit`` from a dataset yielding ``(image, mask, weights)``;
see :func:`pixel_weights`), and/or ``class_weights`` given to the loss. The
loss is then the *weighted mean* over the valid pixels,
``sum(w * loss) / sum(w)``, as in PyTorch's ``CrossEntropyLoss(weight=...,
ignore_index=...)``, so its scale does not depend on the weights' scale.

Keras' own ``keras.losses.SparseCategoricalCrossentropy(ignore_class=...)``,
``keras.losses.Dice`` and ``keras.losses.CategoricalFocalCrossentropy`` are the
natives these follow; the suite's versions add the ignore label to Dice and
focal, multi-class Dice on logits, and the weighted-mean normalisation.

The math lives in pure functions over ``keras.ops`` (``masked_cross_entropy``,
``soft_dice_loss``, ``focal_loss``); the ``Loss`` classes are thin,
serializable wrappers.
"""

from __future__ import annotations

import keras
from keras import ops

from suite.common.nn.api import suite_export

LOSS_NAMES = ("ce", "dice", "focal", "ce+dice")


# --------------------------------------------------------------------------- pure functions


def _labels_and_weights(y_true, num_classes, ignore_index, sample_weight=None, class_weights=None):
    """Integer labels with ignored pixels set to 0, and per-pixel weights that are 0 there.

    Returns:
        ``(labels int32 (N, H, W), weights float32 (N, H, W))``.
    """
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) >= 2 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    labels = ops.cast(y_true, "int32")
    valid = ops.logical_and(labels >= 0, labels < num_classes)
    if ignore_index is not None:
        valid = ops.logical_and(valid, labels != ignore_index)
    weights = ops.cast(valid, "float32")
    labels = ops.where(valid, labels, 0)
    if class_weights is not None:
        weights = weights * ops.take(ops.convert_to_tensor(class_weights, "float32"), labels)
    if sample_weight is not None:
        sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        if len(sample_weight.shape) == len(weights.shape) + 1 and sample_weight.shape[-1] == 1:
            sample_weight = ops.squeeze(sample_weight, axis=-1)
        while len(sample_weight.shape) < len(weights.shape):  # per-image weights (N,)
            sample_weight = ops.expand_dims(sample_weight, -1)
        weights = weights * sample_weight
    return labels, weights


def weighted_mean(values, weights):
    """``sum(w * v) / sum(w)``; 0 when every weight is 0 (a batch of ignored pixels)."""
    return ops.divide_no_nan(ops.sum(values * weights), ops.sum(weights))


def pixel_weights(y_true, class_weights, ignore_index=255):
    """Per-pixel sample weights from per-class weights, 0 on ignored pixels.

    Use in a data pipeline to yield ``(image, mask, weights)`` for ``fit``.

    Args:
        y_true: Integer mask ``(..., H, W)``.
        class_weights: Sequence of ``num_classes`` floats.
        ignore_index: The ignore label.

    Returns:
        float32 weights with the mask's shape.
    """
    num_classes = len(class_weights)
    return _labels_and_weights(y_true, num_classes, ignore_index, class_weights=class_weights)[1]


def masked_cross_entropy(y_true, logits, ignore_index=255, sample_weight=None, class_weights=None):
    """Sparse categorical cross-entropy on logits, weighted mean over the non-ignored pixels.

    Args:
        y_true: Integer mask ``(N, H, W)`` or ``(N, H, W, 1)``.
        logits: ``(N, H, W, C)``.
        ignore_index: Label to ignore (``None``: none). Labels outside
            ``0..C-1`` are ignored too.
        sample_weight: Optional per-pixel ``(N, H, W)`` or per-image ``(N,)`` weights.
        class_weights: Optional ``C`` per-class weights.

    Returns:
        A scalar.
    """
    logits = ops.cast(logits, "float32")
    labels, weights = _labels_and_weights(y_true, logits.shape[-1], ignore_index, sample_weight, class_weights)
    ce = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return weighted_mean(ce, weights)


def soft_dice_loss(y_true, logits, ignore_index=255, sample_weight=None, class_weights=None, smooth=1.0):
    """Multi-class soft Dice loss on logits: ``1 - mean_c Dice_c`` over the batch.

    ``Dice_c = (2 sum(w p_c t_c) + smooth) / (sum(w (p_c + t_c)) + smooth)``
    with softmax probabilities ``p`` and one-hot truth ``t``, summed over all
    pixels of the batch (more stable than per image for small objects).
    Ignored pixels have ``w = 0``. A class absent from both truth and
    prediction scores Dice 1, so it neither helps nor hurts.

    Returns:
        A scalar in ``[0, 1]``.
    """
    logits = ops.cast(logits, "float32")
    num_classes = logits.shape[-1]
    labels, weights = _labels_and_weights(y_true, num_classes, ignore_index, sample_weight, class_weights)
    probs = ops.softmax(logits, axis=-1)
    onehot = ops.one_hot(labels, num_classes, dtype="float32")
    w = ops.expand_dims(weights, -1)
    axes = tuple(range(len(logits.shape) - 1))
    intersection = ops.sum(w * probs * onehot, axis=axes)
    total = ops.sum(w * (probs + onehot), axis=axes)
    dice = (2.0 * intersection + smooth) / (total + smooth)
    return 1.0 - ops.mean(dice)


def focal_loss(y_true, logits, ignore_index=255, sample_weight=None, class_weights=None, gamma=2.0):
    """Multi-class focal loss (Lin et al. 2017) on logits: ``-(1 - p_t)^gamma log p_t``, weighted mean.

    ``class_weights`` play the role of the paper's ``alpha``. ``gamma=0`` is
    plain cross-entropy.

    Returns:
        A scalar.
    """
    logits = ops.cast(logits, "float32")
    labels, weights = _labels_and_weights(y_true, logits.shape[-1], ignore_index, sample_weight, class_weights)
    ce = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    p_t = ops.exp(-ce)
    return weighted_mean(ops.power(1.0 - p_t, gamma) * ce, weights)


# --------------------------------------------------------------------------- Loss classes


def _scale_for_distribution(value):
    # Keras divides mean losses by the replica count under tf.distribute (the
    # optimizer sums replica gradients); these losses reduce themselves, so they must too.
    try:
        from keras.src.losses.loss import scale_loss_for_distribution
    except ImportError:  # pragma: no cover - older/newer Keras layouts
        return value
    return scale_loss_for_distribution(value)


class _SegmentationLoss(keras.losses.Loss):
    """Base: validates the shared arguments and reduces by the weighted mean itself."""

    def __init__(self, ignore_index=255, class_weights=None, name=None, **kwargs):
        kwargs.pop("reduction", None)  # the reduction is fixed: weighted mean over valid pixels
        kwargs.pop("dtype", None)
        super().__init__(name=name, reduction="sum_over_batch_size", dtype="float32")
        if ignore_index is not None and (not isinstance(ignore_index, int) or isinstance(ignore_index, bool)):
            raise ValueError(f"ignore_index must be an integer or None. Received: ignore_index={ignore_index!r}")
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
            if not class_weights or min(class_weights) < 0:
                raise ValueError(f"class_weights must be non-negative numbers. Received: class_weights={class_weights}")
        self.ignore_index = ignore_index
        self.class_weights = class_weights

    def _check_classes(self, logits):
        if (
            self.class_weights is not None
            and logits.shape[-1] is not None
            and logits.shape[-1] != len(self.class_weights)
        ):
            raise ValueError(
                f"class_weights has {len(self.class_weights)} entries but the logits have {logits.shape[-1]} classes. "
                f"Received: class_weights={self.class_weights}"
            )

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred)
            self._check_classes(y_pred)
            return _scale_for_distribution(self.compute(y_true, y_pred, sample_weight))

    def call(self, y_true, y_pred):
        return self.compute(y_true, y_pred, None)

    def compute(self, y_true, y_pred, sample_weight=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "ignore_index": self.ignore_index, "class_weights": self.class_weights}


@suite_export
class MaskedCrossEntropy(_SegmentationLoss):
    """Sparse categorical cross-entropy on logits that ignores ``ignore_index`` pixels.

    See :func:`masked_cross_entropy`.

    Args:
        ignore_index: Label to ignore (default 255); ``None`` for none.
        class_weights: Optional per-class weights.
        name: Loss name.

    Example:
        >>> model.compile(optimizer="adam", loss=MaskedCrossEntropy(ignore_index=255))
    """

    def __init__(self, ignore_index=255, class_weights=None, name="ce", **kwargs):
        super().__init__(ignore_index=ignore_index, class_weights=class_weights, name=name, **kwargs)

    def compute(self, y_true, y_pred, sample_weight=None):
        return masked_cross_entropy(y_true, y_pred, self.ignore_index, sample_weight, self.class_weights)


@suite_export
class DiceLoss(_SegmentationLoss):
    """Multi-class soft Dice on logits, ignore-aware. See :func:`soft_dice_loss`.

    Unlike ``keras.losses.Dice`` (binary/one-hot probabilities, no ignore label),
    it takes integer masks and logits.

    Args:
        ignore_index: Label to ignore.
        class_weights: Optional per-class pixel weights.
        smooth: Added to numerator and denominator.
        name: Loss name.
    """

    def __init__(self, ignore_index=255, class_weights=None, smooth=1.0, name="dice", **kwargs):
        super().__init__(ignore_index=ignore_index, class_weights=class_weights, name=name, **kwargs)
        if not smooth >= 0:
            raise ValueError(f"smooth must be >= 0. Received: smooth={smooth}")
        self.smooth = float(smooth)

    def compute(self, y_true, y_pred, sample_weight=None):
        return soft_dice_loss(y_true, y_pred, self.ignore_index, sample_weight, self.class_weights, self.smooth)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}


@suite_export
class FocalLoss(_SegmentationLoss):
    """Multi-class focal loss on logits, ignore-aware. See :func:`focal_loss`.

    ``keras.losses.CategoricalFocalCrossentropy`` is the Keras native (one-hot
    targets, no ignore label).

    Args:
        ignore_index: Label to ignore.
        class_weights: Optional per-class weights (the paper's alpha).
        gamma: Focusing parameter; 0 gives cross-entropy.
        name: Loss name.
    """

    def __init__(self, ignore_index=255, class_weights=None, gamma=2.0, name="focal", **kwargs):
        super().__init__(ignore_index=ignore_index, class_weights=class_weights, name=name, **kwargs)
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0. Received: gamma={gamma}")
        self.gamma = float(gamma)

    def compute(self, y_true, y_pred, sample_weight=None):
        return focal_loss(y_true, y_pred, self.ignore_index, sample_weight, self.class_weights, self.gamma)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


@suite_export
class CEDiceLoss(_SegmentationLoss):
    """Cross-entropy plus ``dice_weight`` times soft Dice: pixel-wise accuracy and region overlap.

    Args:
        ignore_index: Label to ignore.
        class_weights: Optional per-class weights (for both terms).
        dice_weight: Weight of the Dice term.
        smooth: Dice smoothing.
        name: Loss name.
    """

    def __init__(self, ignore_index=255, class_weights=None, dice_weight=1.0, smooth=1.0, name="ce_dice", **kwargs):
        super().__init__(ignore_index=ignore_index, class_weights=class_weights, name=name, **kwargs)
        if not dice_weight >= 0:
            raise ValueError(f"dice_weight must be >= 0. Received: dice_weight={dice_weight}")
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def compute(self, y_true, y_pred, sample_weight=None):
        ce = masked_cross_entropy(y_true, y_pred, self.ignore_index, sample_weight, self.class_weights)
        dice = soft_dice_loss(y_true, y_pred, self.ignore_index, sample_weight, self.class_weights, self.smooth)
        return ce + self.dice_weight * dice

    def get_config(self):
        return {**super().get_config(), "dice_weight": self.dice_weight, "smooth": self.smooth}


_LOSSES = {"ce": MaskedCrossEntropy, "dice": DiceLoss, "focal": FocalLoss, "ce+dice": CEDiceLoss}


def get_loss(name, num_classes, ignore_index=255, class_weights=None):
    """A segmentation loss by name.

    Args:
        name: ``"ce"``, ``"dice"``, ``"focal"`` or ``"ce+dice"``.
        num_classes: Number of classes (checks ``class_weights``).
        ignore_index: Label to ignore.
        class_weights: Optional ``num_classes`` weights.

    Returns:
        A ``keras.losses.Loss``.
    """
    key = str(name).lower().replace(" ", "")
    if key not in _LOSSES:
        raise ValueError(f"Unknown loss {name!r}. Valid losses: {', '.join(LOSS_NAMES)}")
    if class_weights is not None and len(class_weights) != num_classes:
        raise ValueError(
            f"class_weights needs num_classes={num_classes} entries. Received: class_weights={list(class_weights)}"
        )
    return _LOSSES[key](ignore_index=ignore_index, class_weights=class_weights)


def class_weights_from_counts(pixel_counts, power=0.5, max_weight=10.0):
    """Per-class weights from pixel counts: ``(median / count) ** power``, capped.

    ``power=1`` is median-frequency balancing (Eigen & Fergus 2015); the
    default square root is gentler. Classes with no pixels get weight 0.

    Args:
        pixel_counts: ``num_classes`` pixel counts over the training set.
        power: Exponent.
        max_weight: Upper bound for any weight.

    Returns:
        A list of floats.
    """
    import numpy as np

    counts = np.asarray(pixel_counts, dtype=np.float64)
    present = counts > 0
    if not present.any():
        return [1.0] * len(counts)
    median = np.median(counts[present])
    weights = np.zeros_like(counts)
    weights[present] = np.minimum((median / counts[present]) ** power, max_weight)
    return [float(w) for w in weights]
