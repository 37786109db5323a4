"""Segmentation metrics from one dataset-level confusion matrix: mean IoU, per-class IoU, pixel accuracy.

The confusion matrix ``cm[t, p]`` counts the pixels of true class ``t``
predicted as class ``p``, over the *whole dataset*, with ignore-label pixels
left out. The scores are read off it:

* ``IoU_c = cm[c, c] / (sum(cm[c, :]) + sum(cm[:, c]) - cm[c, c])``;
* mean IoU is the mean of ``IoU_c`` over the classes that occur in the truth
  **or** the predictions. A class absent from both has ``0 / 0`` IoU: it is
  reported as ``NaN`` and left out of the mean (as Keras' ``MeanIoU`` and
  the Pascal VOC protocol effectively do when counting over a dataset),
  because scoring it 1 or 0 would reward or punish the model for something it
  never saw;
* pixel accuracy is ``trace(cm) / sum(cm)``.

Averaging per-image or per-batch IoUs is a different (and batch-size
dependent) number; these functions and :class:`MeanIoU` always accumulate one
matrix first.
"""

from __future__ import annotations

import keras
from keras import ops

from suite.common.nn.api import suite_export

# --------------------------------------------------------------------------- pure functions


def confusion_matrix(y_true, y_pred, num_classes, ignore_index=255, sample_weight=None, dtype="float32"):
    """Confusion matrix ``(num_classes, num_classes)`` of one batch, rows = truth, columns = prediction.

    Args:
        y_true: Integer labels, any shape (e.g. ``(N, H, W)`` or ``(N, H, W, 1)``).
        y_pred: Either logits/probabilities with one more trailing axis of size
            ``num_classes`` (argmax is taken), or integer labels shaped like ``y_true``.
        num_classes: Number of classes.
        ignore_index: Truth label to leave out; truth labels outside
            ``0..num_classes-1`` are left out too.
        sample_weight: Optional weights broadcastable to ``y_true``.
        dtype: Dtype of the counts.

    Returns:
        The confusion matrix tensor.
    """
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_true.shape) >= 1 and y_true.shape[-1] == 1 and len(y_true.shape) == len(y_pred.shape):
        if y_pred.shape[-1] == num_classes:  # (N, H, W, 1) masks against (N, H, W, C) logits
            y_true = ops.squeeze(y_true, axis=-1)
    if len(y_pred.shape) == len(y_true.shape) + 1:
        y_pred = ops.argmax(y_pred, axis=-1)
    elif len(y_pred.shape) == len(y_true.shape) and y_pred.shape[-1] == 1 and y_true.shape[-1] != 1:
        y_pred = ops.squeeze(y_pred, axis=-1)
    labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    preds = ops.reshape(ops.cast(y_pred, "int32"), (-1,))
    valid = ops.logical_and(labels >= 0, labels < num_classes)
    if ignore_index is not None:
        valid = ops.logical_and(valid, labels != ignore_index)
    valid = ops.logical_and(valid, ops.logical_and(preds >= 0, preds < num_classes))
    weights = ops.cast(valid, dtype)
    if sample_weight is not None:
        sw = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
        while len(sw.shape) < len(y_true.shape):  # per-image weights (N,) -> (N, 1, 1)
            sw = ops.expand_dims(sw, -1)
        sw = ops.broadcast_to(sw, ops.shape(y_true))
        weights = weights * ops.reshape(sw, (-1,))
    labels = ops.where(valid, labels, 0)
    preds = ops.where(valid, preds, 0)
    # scatter sums duplicate indices (like Keras' own metrics_utils.confusion_matrix) and compiles under XLA.
    indices = ops.stack([labels, preds], axis=1)
    return ops.scatter(indices, weights, (num_classes, num_classes))


def confusion_counts(y_true, y_pred, num_classes, ignore_index=255):
    """The numpy twin of :func:`confusion_matrix` for label arrays: exact int64 counts.

    Used by ``evaluate``, which works image by image on the host. Truth labels
    outside ``0..num_classes-1`` (or equal to ``ignore_index``) are left out;
    predictions must be class indices.

    Returns:
        ``(num_classes, num_classes)`` int64 array, rows = truth.
    """
    import numpy as np

    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same size. Received: {t.size} and {p.size} labels")
    valid = (t >= 0) & (t < num_classes) & (p >= 0) & (p < num_classes)
    if ignore_index is not None:
        valid &= t != ignore_index
    counts = np.bincount(t[valid] * num_classes + p[valid], minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def iou_from_confusion(cm):
    """Per-class IoU ``TP / (TP + FP + FN)``; ``NaN`` for classes absent from truth and prediction.

    Args:
        cm: ``(C, C)`` confusion matrix, rows = truth.

    Returns:
        ``(C,)`` IoUs.
    """
    cm = ops.convert_to_tensor(cm)
    tp = ops.diagonal(cm)
    union = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - tp
    nan = ops.full_like(tp, float("nan"))
    return ops.where(union > 0, tp / ops.where(union > 0, union, ops.ones_like(union)), nan)


def mean_iou_from_confusion(cm):
    """Mean IoU over the classes present in truth or prediction (0 for an empty matrix)."""
    iou = iou_from_confusion(cm)
    present = ops.logical_not(ops.isnan(iou))
    total = ops.sum(ops.where(present, iou, ops.zeros_like(iou)))
    return ops.divide_no_nan(total, ops.cast(ops.sum(ops.cast(present, "int32")), total.dtype))


def pixel_accuracy_from_confusion(cm):
    """Share of the counted pixels whose class is right: ``trace / sum`` (0 for an empty matrix)."""
    cm = ops.convert_to_tensor(cm)
    return ops.divide_no_nan(ops.sum(ops.diagonal(cm)), ops.sum(cm))


def class_accuracy_from_confusion(cm):
    """Per-class recall ``TP / (TP + FN)``; ``NaN`` for classes absent from the truth."""
    cm = ops.convert_to_tensor(cm)
    tp = ops.diagonal(cm)
    support = ops.sum(cm, axis=1)
    return ops.where(
        support > 0, tp / ops.where(support > 0, support, ops.ones_like(support)), ops.full_like(tp, float("nan"))
    )


# --------------------------------------------------------------------------- streaming metrics


def _count_dtype():
    # float32 counts stop being exact at 2**24 pixels (one 4k image); float64 stays exact.
    return "float64" if keras.backend.backend() in ("tensorflow", "torch", "numpy") else "float32"


class ConfusionMatrixMetric(keras.metrics.Metric):
    """Accumulates a dataset-level confusion matrix from integer masks and logits.

    Subclasses choose what :meth:`result` returns. :meth:`confusion` gives the
    matrix itself.

    Args:
        num_classes: Number of classes.
        ignore_index: Truth label left out of the counts (``None``: none).
        name: Metric name (also its key in ``fit`` logs, e.g. ``val_miou``).
        **kwargs: Standard metric arguments.
    """

    def __init__(self, num_classes, ignore_index=255, name=None, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(name=name, dtype=_count_dtype(), **kwargs)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2. Received: num_classes={num_classes!r}")
        if ignore_index is not None and (not isinstance(ignore_index, int) or isinstance(ignore_index, bool)):
            raise ValueError(f"ignore_index must be an integer or None. Received: ignore_index={ignore_index!r}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.total_cm = self.add_variable(
            shape=(num_classes, num_classes), initializer="zeros", dtype=self.dtype, name="total_confusion_matrix"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: ``y_true`` integer masks, ``y_pred`` logits (or integer masks)."""
        cm = confusion_matrix(y_true, y_pred, self.num_classes, self.ignore_index, sample_weight, dtype=self.dtype)
        self.total_cm.assign_add(cm)

    def reset_state(self):
        self.total_cm.assign(ops.zeros((self.num_classes, self.num_classes), dtype=self.dtype))

    def confusion(self):
        """The accumulated ``(C, C)`` confusion matrix (rows = truth)."""
        return ops.convert_to_tensor(self.total_cm)

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes, "ignore_index": self.ignore_index}


@suite_export
class MeanIoU(ConfusionMatrixMetric):
    """Mean IoU from one dataset-level confusion matrix, ignore pixels excluded, on logits.

    Classes absent from both truth and prediction are left out of the mean
    (see the module docstring). Per-class IoUs: ``iou_from_confusion(m.confusion())``.

    Args:
        num_classes: Number of classes.
        ignore_index: Truth label to leave out (default 255).
        name: Defaults to ``"miou"``, so ``fit`` logs ``miou``/``val_miou``.

    Example:
        >>> model.compile(optimizer="adam", loss=get_loss("ce", 3), metrics=[MeanIoU(3), PixelAccuracy(3)])
    """

    def __init__(self, num_classes, ignore_index=255, name="miou", **kwargs):
        super().__init__(num_classes, ignore_index=ignore_index, name=name, **kwargs)

    def result(self):
        return ops.cast(mean_iou_from_confusion(self.total_cm), "float32")


@suite_export
class PixelAccuracy(ConfusionMatrixMetric):
    """Pixel accuracy over the non-ignored pixels, on logits. Name ``"pixel_accuracy"`` by default."""

    def __init__(self, num_classes, ignore_index=255, name="pixel_accuracy", **kwargs):
        super().__init__(num_classes, ignore_index=ignore_index, name=name, **kwargs)

    def result(self):
        return ops.cast(pixel_accuracy_from_confusion(self.total_cm), "float32")


def get_metrics(num_classes, ignore_index=255):
    """The suite's training metrics: ``[MeanIoU (miou), PixelAccuracy (pixel_accuracy)]``."""
    return [MeanIoU(num_classes, ignore_index), PixelAccuracy(num_classes, ignore_index)]


#: The name ``suite.unet.training`` uses.
segmentation_metrics = get_metrics


def scores_from_confusion(cm, class_names=None) -> dict:
    """A JSON-ready summary of a confusion matrix.

    Returns:
        ``{"mean_iou", "pixel_accuracy", "per_class": [{"class", "name", "iou",
        "accuracy", "pixels"}...], "confusion_matrix"}``; IoU/accuracy of absent
        classes are ``None``.
    """
    import numpy as np

    cm = np.asarray(cm, dtype=np.float64)
    iou = np.asarray(iou_from_confusion(cm), dtype=np.float64)
    acc = np.asarray(class_accuracy_from_confusion(cm), dtype=np.float64)
    names = list(class_names) if class_names else [str(i) for i in range(len(cm))]
    per_class = [
        {
            "class": i,
            "name": names[i],
            "iou": None if np.isnan(iou[i]) else float(iou[i]),
            "accuracy": None if np.isnan(acc[i]) else float(acc[i]),
            "pixels": int(round(cm[i].sum())),
        }
        for i in range(len(cm))
    ]
    return {
        "mean_iou": float(mean_iou_from_confusion(cm)),
        "pixel_accuracy": float(pixel_accuracy_from_confusion(cm)),
        "per_class": per_class,
        "confusion_matrix": [[int(round(v)) for v in row] for row in cm],
    }
