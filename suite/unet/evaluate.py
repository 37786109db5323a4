"""Scoring a segmentation model (or a folder of predicted masks) against ground-truth masks.

Every scored pixel goes into **one** dataset-level confusion matrix, from which
per-class IoU, mean IoU and pixel accuracy are read (see
:mod:`suite.unet.metrics`); ignore-label pixels are left out. Images are
predicted at their own size through the shared predict path
(:func:`suite.unet.predict.predict_logits`: pad to the encoder stride, crop
back), so the score is for the full-resolution masks, not for resized ones.

A pair that cannot be scored (an unreadable image or mask, an RGB colour mask,
labels that are neither a class nor the ignore index, a mask whose size
differs from its image) is skipped and listed in the report's ``skipped`` with
a one-line reason naming the file; the CLI prints them and exits with status
1, and ``strict=True`` stops at the first one instead. When no pair can be
scored, the error gives the first reason (often a wrong ``--num-classes`` or
``--binary`` rather than damaged files).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suite.common.io.images import DEFAULT_MAX_PIXELS, ImageReadError
from suite.unet.errors import EvaluationError
from suite.unet.masks import (
    check_foreground_not_ignored,
    check_same_size,
    foreground_ignored_message,
    load_mask,
    only_background_and_ignore,
    validate_mask,
)
from suite.unet.metrics import confusion_counts, scores_from_confusion


@dataclass
class _Pairs:
    """``(image, mask)`` pairs and how to read a mask as class indices."""

    pairs: list
    read_mask: object
    source: object = None


def _as_pairs(pairs, binary: bool) -> _Pairs:
    # A SegmentationSource (suite.unet.data) knows its layout's mask mapping (trimaps, --binary).
    if hasattr(pairs, "pairs") and hasattr(pairs, "read_mask"):
        return _Pairs(list(pairs.pairs), pairs.read_mask, pairs)
    return _Pairs([(Path(i), Path(m)) for i, m in pairs], lambda p: load_mask(p, binary=binary))


def _progress(total, description, enabled):
    if not enabled:
        return None, None
    from suite.common.ui.progress import make_progress

    bar = make_progress(transient=True)
    bar.start()
    return bar, bar.add_task(description, total=total)


def _refuse_ignored_foreground(items: _Pairs, num_classes, ignore_index) -> None:
    """0/255 masks read without ``binary``: every foreground pixel is the ignore label, so the score is wrong.

    Reads the truth masks until one holds a class other than 0 (the first,
    for real data), so the check costs one mask read in the usual case.
    """
    if ignore_index is None or 0 <= ignore_index < num_classes:
        return
    label_sets = []
    for _, mask_path in items.pairs:
        try:
            labels = np.unique(np.asarray(items.read_mask(mask_path)))
        except ImageReadError:
            continue  # the scoring loop reports it
        label_sets.append(labels)
        if {int(v) for v in labels} - {0, ignore_index}:  # a class other than the background: real labels
            return
    if only_background_and_ignore(label_sets, num_classes, ignore_index):
        folder = Path(items.pairs[0][1]).parent
        raise EvaluationError(foreground_ignored_message(folder, ignore_index))


def _score(items: _Pairs, predict, num_classes, ignore_index, description, progress, class_names, strict=False):
    """The shared loop: read truth, predict (or read) a mask, count, report skips."""
    _refuse_ignored_foreground(items, num_classes, ignore_index)
    # One 0/255 mask among class-index masks (read without --binary) is skipped (or refused with
    # strict) like any other bad pair; VOC and trimap masks are read with labels the suite knows.
    src = items.source
    per_mask_foreground_check = src is None or (
        getattr(src, "lut", None) is None and getattr(src, "layout", "folders") != "voc"
    )
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    skipped, scored, ignored = [], 0, 0
    bar, task = _progress(len(items.pairs), description, progress)
    try:
        for image_path, mask_path in items.pairs:
            try:
                truth = np.asarray(items.read_mask(mask_path))
                if truth.ndim == 3:
                    truth = truth[..., 0]
                validate_mask(truth, num_classes, ignore_index, mask_path)
                if per_mask_foreground_check:
                    check_foreground_not_ignored(truth, num_classes, ignore_index, mask_path)
                pred = predict(image_path, mask_path, truth.shape)
            except ImageReadError as e:
                # Unreadable files, RGB colour masks, labels outside the classes, size
                # mismatches (MaskError is an ImageReadError): this pair only.
                if strict:
                    raise EvaluationError(str(e)) from None
                skipped.append({"image": str(image_path), "mask": str(mask_path), "reason": str(e)})
            else:
                cm += confusion_counts(truth, pred, num_classes, ignore_index)
                ignored += int(np.count_nonzero(truth == ignore_index)) if ignore_index is not None else 0
                scored += 1
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    if scored == 0:
        first = f": {skipped[0]['reason']}" if skipped else ""
        raise EvaluationError(f"no image could be scored ({len(skipped)} skipped){first}")
    report = {"images": scored, "skipped": skipped, "num_classes": num_classes, "ignore_index": ignore_index}
    report.update(scores_from_confusion(cm, class_names))
    report["class_names"] = [c["name"] for c in report["per_class"]]
    report["scored_pixels"] = int(cm.sum())
    report["ignored_pixels"] = ignored
    return report


def _classes_for(meta, num_classes, class_names):
    """The class count and names to score with: the model's, unless given (a different count is an error)."""
    if num_classes is None:
        num_classes = meta.num_classes
    elif num_classes != meta.num_classes:
        raise EvaluationError(
            f"--num-classes {num_classes} does not match the model, which predicts {meta.num_classes} classes"
        )
    # A one-channel model's names are generic: the report then numbers its two classes.
    if class_names is None and meta.channels == num_classes:
        class_names = list(meta.class_names)
    return num_classes, class_names


def evaluate_model(
    model,
    pairs,
    num_classes=None,
    ignore_index=255,
    binary=False,
    class_names=None,
    progress=True,
    strict=False,
    tta="none",
):
    """Scores a segmentation model on image/mask pairs.

    Args:
        model: A ``keras.Model`` (pixels in ``[0, 255]`` to per-pixel logits)
            or a path to a ``.keras`` file (loaded with ``safe_mode=True``; a
            model with a ``Lambda`` layer is refused).
        pairs: A list of ``(image_path, mask_path)`` or a
            :class:`suite.unet.data.SegmentationSource` (any layout).
        num_classes: Defaults to the model's; a different value is an error.
        ignore_index: Truth label left out of the scores.
        binary: Masks are 0/255 (mapped to 0/1), for plain pair lists.
        class_names: Names for the report; defaults to the model's.
        progress: Show a progress bar.
        strict: Stop at the first pair that cannot be scored instead of skipping it.
        tta: ``"flip"``: predict each image and its horizontal mirror and average
            their class probabilities (:func:`suite.unet.predict.predict_batch`).

    Returns:
        The report dict: ``images``, ``mean_iou``, ``pixel_accuracy``,
        ``per_class`` (``class``, ``name``, ``iou``, ``accuracy``,
        ``pixels``), ``confusion_matrix`` (rows = truth), ``skipped``
        (``image``, ``mask``, ``reason``), ``class_names``, ``num_classes``,
        ``ignore_index``, ``scored_pixels``, ``ignored_pixels``.

    Raises:
        EvaluationError: a class-count mismatch, a model whose output is not
            the image size, nothing that could be scored, or (``strict``) any
            pair that cannot be scored.

    Example:
        >>> from suite.unet.data import open_source
        >>> report = evaluate_model("model.keras", open_source("val/images", "val/masks"))
        >>> round(report["mean_iou"], 3)
        0.812
    """
    from suite.common.io.images import load_image
    from suite.unet.model_io import model_label, resolve_segmentation
    from suite.unet.predict import predict_logits, scores_to_mask

    label = model_label(model)
    model, meta = resolve_segmentation(model)
    num_classes, class_names = _classes_for(meta, num_classes, class_names)

    max_pixels = getattr(pairs, "max_pixels", DEFAULT_MAX_PIXELS)  # a SegmentationSource carries --max-pixels

    def predict(image_path, mask_path, truth_shape):
        image = load_image(image_path, max_pixels=max_pixels)
        check_same_size(image.shape, truth_shape, image_path, mask_path)
        logits = predict_logits(model, image, tta=tta)
        if logits.shape[:2] != tuple(truth_shape):
            raise EvaluationError(
                f"the model's output for {image_path} is {logits.shape[1]}x{logits.shape[0]}, not the image size; "
                "evaluate needs a model with padding='same'"
            )
        # threshold 0 on one-channel logits = probability 0.5
        return scores_to_mask(logits, threshold=0.0)

    report = _score(
        _as_pairs(pairs, binary), predict, num_classes, ignore_index, "evaluating", progress, class_names, strict
    )
    report["model"] = label
    report["tta"] = tta
    return report


def evaluate_predictions(
    pred_dir, pairs, num_classes, ignore_index=255, binary=False, class_names=None, progress=True, strict=False
):
    """Scores existing predicted masks (e.g. from ``suite segment``) against the truth.

    The prediction for a pair is ``pred_dir/<mask basename>.png``: a palette
    or grayscale PNG of class indices (0/255 masks with ``binary=True``). A
    missing prediction is reported and skipped.

    Args:
        pred_dir: Folder of predicted masks.
        pairs: As in :func:`evaluate_model`; only the masks' names and the
            images' sizes are used.
        num_classes: Number of classes (required: the PNGs do not say).
        ignore_index: Truth label left out of the scores.
        binary: Truth and predictions are 0/255 masks.
        class_names: Optional names for the report.
        progress: Show a progress bar.
        strict: Stop at the first pair that cannot be scored instead of skipping it.

    Returns:
        The report dict of :func:`evaluate_model`, with ``predictions``.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise EvaluationError(f"predictions folder {pred_dir} does not exist or is not a folder")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise EvaluationError(f"--num-classes must be >= 2 with --predictions. Received: num_classes={num_classes!r}")

    def predict(image_path, mask_path, truth_shape):
        pred_path = pred_dir / f"{Path(mask_path).stem}.png"
        if not pred_path.is_file():
            raise ImageReadError(pred_path, "no predicted mask with this name")
        pred = load_mask(pred_path, binary=binary)
        check_same_size(pred.shape, truth_shape, pred_path, mask_path)
        # Predictions have no ignore label: anything outside the classes is a broken file.
        validate_mask(pred, num_classes, None, pred_path)
        return pred

    report = _score(
        _as_pairs(pairs, binary), predict, num_classes, ignore_index, "scoring", progress, class_names, strict
    )
    report["predictions"] = str(pred_dir)
    return report


def confusion_figure_png(report: dict, title: str | None = None) -> bytes:
    """A row-normalised, annotated confusion-matrix picture of a report, as PNG bytes.

    Each row (a true class) sums to 100%: the diagonal is the class's recall,
    and off-diagonal cells show what it is mistaken for. Blank cells are 0
    (with over 10 classes, under 1%); rows of classes absent from the truth
    are marked "(absent)".
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(report["confusion_matrix"], dtype=np.float64)
    n = len(cm)
    names = report.get("class_names") or [c["name"] for c in report.get("per_class", [])] or [str(i) for i in range(n)]
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = max(4.5, 0.42 * n + 2.8)
    fig, ax = plt.subplots(figsize=(size + 1.4, size), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's pixels")
    slanted = n > 4 or max(map(len, names)) > 6
    ax.set_xticks(range(n), labels=names, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(n), labels=[f"{name} (absent)" if rows[i, 0] == 0 else name for i, name in enumerate(names)])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 30:
        fontsize = 9 if n <= 10 else 7 if n <= 20 else 6
        # With many classes only cells of 1% or more are written; blank cells are (near) zero.
        smallest = 0.0005 if n <= 10 else 0.01
        for t in range(n):
            for p in range(n):
                value = norm[t, p]
                if rows[t, 0] == 0 or value < smallest:
                    continue
                ax.text(
                    p,
                    t,
                    f"{100 * value:.0f}%" if value >= 0.005 else "<1%",
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if value > 0.55 else "black",
                )
    ax.set_title(
        title
        or f"mIoU {report['mean_iou']:.3f}, pixel accuracy {report['pixel_accuracy']:.3f} ({report['images']} images)",
        fontsize=10,
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def write_report(report: dict, path, overwrite: bool = False) -> tuple[Path, Path]:
    """Writes the report JSON and ``<stem>_confusion.png`` next to it, atomically.

    Returns:
        ``(json_path, png_path)``.
    """
    from suite.common.io.atomic import OutputExistsError, atomic_write, save_json

    path = Path(path)
    png = path.with_name(f"{path.stem}_confusion.png")
    if not overwrite:
        for p in (path, png):
            if p.exists():
                raise OutputExistsError(p)
    data = confusion_figure_png(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_json(report, path, overwrite=overwrite)
    atomic_write(png, lambda fh: fh.write(data), overwrite=overwrite)
    return path, png
