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


def pil_palette(num_classes: int = 256) -> list[int]:
    """A flat 768-entry ``[r, g, b, r, g, b, ...]`` list for ``PIL.Image.putpalette``."""
    colors = class_colors(256)
    return colors.reshape(-1).tolist()


def colorize(mask: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Maps an integer class mask ``(H, W)`` to an RGB picture ``(H, W, 3)`` uint8."""
    mask = np.asarray(mask)
    n = int(num_classes or (int(mask.max()) + 1 if mask.size else 1))
    return class_colors(max(n, 1))[np.clip(mask, 0, max(n, 1) - 1)]
