"""The predict path shared by ``evaluate`` and ``segment``: pad to the encoder stride, predict, crop back.

Models take RGB pixels in ``[0, 255]`` of any size; encoders need sizes that
are multiples of their total stride, so inputs are padded (reflect) up to the
next multiple and the logits are cropped back to the original size. Nothing is
ever rejected for its size.
"""

from __future__ import annotations

import math

import numpy as np


def model_stride(model) -> int:
    """The total down-sampling factor a segmentation model needs its input divisible by.

    Read from ``model.get_config()["stride"]`` for suite U-Nets, else 32.
    """
    stride = getattr(model, "stride", None)
    if stride is None:
        try:
            stride = model.get_config().get("stride")
        except Exception:
            stride = None
    return int(stride or 32)


def pad_to_multiple(image: np.ndarray, multiple: int, mode: str = "reflect"):
    """Pads ``(H, W, C)`` (or ``(N, H, W, C)``) bottom/right to a multiple of ``multiple``.

    Returns:
        ``(padded, (H, W))``, the original size to crop back to.
    """
    h, w = image.shape[-3], image.shape[-2]
    ph, pw = math.ceil(h / multiple) * multiple - h, math.ceil(w / multiple) * multiple - w
    if ph == 0 and pw == 0:
        return image, (h, w)
    pad = [(0, 0)] * image.ndim
    pad[-3], pad[-2] = (0, ph), (0, pw)
    # reflect needs the pad to be smaller than the size; fall back to edge for tiny images
    use = mode if (mode != "reflect" or (ph < h and pw < w)) else "edge"
    return np.pad(image, pad, mode=use), (h, w)


def predict_logits(model, image: np.ndarray, stride: int | None = None) -> np.ndarray:
    """Per-pixel class logits for one ``(H, W, 3)`` image in ``[0, 255]``.

    Args:
        model: A segmentation model mapping ``(N, H, W, 3)`` to ``(N, H, W, C)``.
        image: RGB float array.
        stride: Pad to a multiple of this; defaults to :func:`model_stride`.

    Returns:
        ``(H, W, C)`` float32 logits at the image's own size.
    """
    stride = stride or model_stride(model)
    padded, (h, w) = pad_to_multiple(np.asarray(image, dtype=np.float32), stride)
    logits = model.predict_on_batch(padded[None]) if hasattr(model, "predict_on_batch") else model(padded[None])
    return np.asarray(logits, dtype=np.float32)[0, :h, :w]


def predict_mask(model, image: np.ndarray, stride: int | None = None) -> np.ndarray:
    """Class-index mask ``(H, W)`` uint8 (int32 if more than 256 classes) for one image."""
    logits = predict_logits(model, image, stride=stride)
    mask = logits.argmax(axis=-1)
    return mask.astype(np.uint8 if logits.shape[-1] <= 256 else np.int32)
