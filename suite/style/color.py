"""Colour handling of the style methods: BT.601 YCbCr and luminance-only transfer (NumPy only).

Reference:
    Gatys et al., "Preserving Color in Neural Artistic Style Transfer", arXiv:1606.05897.
"""

from __future__ import annotations

import numpy as np

_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """BT.601 full-range YCbCr of an RGB image in ``[0, 255]`` (chroma centred on 0)."""
    return np.asarray(image, dtype=np.float32) @ _YCC.T


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`."""
    return np.asarray(ycc, dtype=np.float32) @ np.linalg.inv(_YCC).T.astype(np.float32)


def transfer_luminance(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's luminance with the content's colours (JNS ``-original_colors 1``).

    Args:
        result: Stylized RGB ``(H, W, 3)`` in ``[0, 255]``.
        content: The content photo, same size.

    Returns:
        RGB in ``[0, 255]``: Y from ``result``, Cb/Cr from ``content``.
    """
    y = rgb_to_ycbcr(result)[..., :1]
    cc = rgb_to_ycbcr(content)[..., 1:]
    return np.clip(ycbcr_to_rgb(np.concatenate([y, cc], axis=-1)), 0, 255)
