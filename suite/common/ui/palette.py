"""Class colours shared by every picture of a segmentation: masks, overlays, legends.

The palette is the PASCAL VOC colour map (bit-interleaved class index), so
masks written by the suite look like the masks people already know, and class
0 (background) is black. Pure NumPy; no image library needed.
"""

from __future__ import annotations

import numpy as np


def class_colors(num_classes: int = 256) -> np.ndarray:
    """RGB colours of the first ``num_classes`` class indices.

    Args:
        num_classes: How many colours, at least 1. Indices past 255 repeat
            the 256-colour map.

    Returns:
        ``(num_classes, 3)`` uint8 array; row ``k`` is the colour of class ``k``.

    Example:
        >>> class_colors(3).tolist()
        [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    """
    if num_classes < 1:
        raise ValueError(f"Expected num_classes >= 1. Received: num_classes={num_classes}")
    idx = np.arange(256)
    colors = np.zeros((256, 3), dtype=np.int64)
    c = idx.copy()
    for shift in range(7, -1, -1):
        for ch in range(3):
            colors[:, ch] |= ((c >> ch) & 1) << shift
        c >>= 3
    colors = colors.astype(np.uint8)
    return colors[np.arange(num_classes) % 256]


def pil_palette() -> list[int]:
    """The whole 256-colour map as a flat 768-entry ``[r, g, b, r, g, b, ...]`` list for ``PIL.Image.putpalette``."""
    return class_colors(256).reshape(-1).tolist()


def overlay_colors(num_classes: int = 256) -> np.ndarray:
    """The colours overlays paint classes with: :func:`class_colors` at full brightness.

    Each colour is scaled so its largest channel is 255 ((0, 0, 128) navy is
    invisible on dark photos); class 0 stays black (unpainted).

    Returns:
        ``(num_classes, 3)`` uint8 array.

    Example:
        >>> overlay_colors(3).tolist()
        [[0, 0, 0], [255, 0, 0], [0, 255, 0]]
    """
    colors = class_colors(num_classes).astype(np.float32)
    return np.rint(colors * (255.0 / np.maximum(colors.max(axis=1, keepdims=True), 1))).astype(np.uint8)
