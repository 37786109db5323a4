"""Pictures people would rather look at than read: activation grids, labelled panels."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _font(size=14):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def colormap(values: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Maps ``[0, 1]`` values to RGB uint8 with a matplotlib colormap."""
    from matplotlib import colormaps

    return (colormaps[name](np.clip(values, 0, 1))[..., :3] * 255).astype(np.uint8)


def activation_grid(
    activations: np.ndarray,
    max_maps: int = 64,
    tile: int = 96,
    title: str | None = None,
    order: str = "energy",
) -> Image.Image:
    """Tiles a layer's activation maps into one picture.

    Each map is normalised to its own range and coloured with viridis, so weak
    and strong channels are both visible.

    Args:
        activations: ``(H, W, C)`` feature maps of one image.
        max_maps: Show at most this many channels.
        tile: Size in pixels of each tile's longer side.
        title: Optional caption above the grid.
        order: ``"energy"`` shows the most active channels first; ``"index"``
            keeps channel order.

    Returns:
        A ``PIL.Image``.
    """
    acts = np.asarray(activations, dtype=np.float32)
    if acts.ndim != 3:
        raise ValueError(f"Expected (H, W, C) activations. Received: shape={acts.shape}")
    h, w, c = acts.shape
    idx = np.arange(c)
    if order == "energy":
        idx = np.argsort(-acts.reshape(-1, c).mean(axis=0), kind="stable")
    idx = idx[: min(max_maps, c)]
    n = len(idx)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    scale = tile / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    pad = 2
    top = 24 if title else 0
    canvas = Image.new("RGB", (cols * (tw + pad) + pad, rows * (th + pad) + pad + top), (20, 20, 20))
    for k, ch in enumerate(idx):
        a = acts[..., ch]
        lo, hi = float(a.min()), float(a.max())
        norm = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        img = Image.fromarray(colormap(norm)).resize((tw, th), Image.NEAREST if scale >= 2 else Image.BILINEAR)
        r, col = divmod(k, cols)
        canvas.paste(img, (pad + col * (tw + pad), top + pad + r * (th + pad)))
    if title:
        ImageDraw.Draw(canvas).text((6, 4), title, fill=(240, 240, 240), font=_font(14))
    return canvas


def labelled_row(images: list, labels: list[str], height: int = 256) -> Image.Image:
    """Puts images side by side at one height, each with a caption (e.g. content | style | result)."""
    tiles = []
    for im in images:
        im = im if isinstance(im, Image.Image) else Image.fromarray(np.clip(np.rint(im), 0, 255).astype(np.uint8))
        im = im.convert("RGB")
        tiles.append(im.resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS))
    cap = 22
    width = sum(t.width for t in tiles) + 4 * (len(tiles) + 1)
    canvas = Image.new("RGB", (width, height + cap + 8), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 4
    for t, label in zip(tiles, labels):
        canvas.paste(t, (x, cap + 4))
        draw.text((x + 2, 3), label, fill=(0, 0, 0), font=_font(15))
        x += t.width + 4
    return canvas
