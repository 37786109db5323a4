"""Pictures people would rather look at than read: activation grids, labelled panels, mask overlays."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from suite.common.io.images import to_uint8
from suite.common.ui.palette import overlay_colors, pil_palette


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


# --------------------------------------------------------------------------- segmentation masks


def mask_image(mask: np.ndarray):
    """A ``PIL.Image`` of a class-index mask: palette PNG (mode ``P``) up to 256 classes, else 16-bit."""
    mask = np.asarray(mask)
    if mask.max(initial=0) > 255:
        return Image.fromarray(mask.astype(np.uint16))
    img = Image.fromarray(mask.astype(np.uint8, copy=False))
    img.putpalette(pil_palette())
    return img


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    class_names: Sequence[str] | None = None,
    alpha: float = 0.45,
    legend: bool = True,
):
    """The image with translucent class colours, plus a legend of the classes present.

    Colours are the mask palette's (:mod:`suite.common.ui.palette`) at full
    brightness; class 0 (black, usually background) is left unpainted.

    Args:
        image: ``(H, W, 3)`` RGB in ``[0, 255]``.
        mask: ``(H, W)`` class indices.
        class_names: Names for the legend; defaults to ``class k``.
        alpha: Opacity of the class colours.
        legend: Draw a legend of the classes present, with their share of the
            pixels: in the top-left corner, or for small images in a panel to
            the right (the picture is then wider than the image).

    Returns:
        A ``PIL.Image`` in RGB.
    """
    img = to_uint8(image)
    mask = np.asarray(mask)
    n = max(int(mask.max(initial=0)) + 1, len(class_names or ()), 2)
    colors = overlay_colors(n)
    painted = colors.any(axis=1)
    a = int(round(alpha * 256))
    out = np.empty_like(img)
    # Row bands keep the temporary uint16 arrays small for very large images.
    for y in range(0, img.shape[0], 1024):
        m, im = mask[y : y + 1024], img[y : y + 1024]
        blend = ((im.astype(np.uint16) * (256 - a) + colors[m].astype(np.uint16) * a) >> 8).astype(np.uint8)
        out[y : y + 1024] = np.where(painted[m][..., None], blend, im)
    pil = Image.fromarray(out)
    if legend:
        counts = np.bincount(mask.reshape(-1).astype(np.int64), minlength=n)
        pil = _add_legend(pil, counts, colors, class_names)
    return pil


def _add_legend(pil, counts, colors, class_names, max_entries: int = 10):
    """Puts the legend in the top-left corner, or in a panel on the right when it would hide
    too much of a small image (the image itself is then left whole)."""
    total = max(int(counts.sum()), 1)
    present = [k for k in np.argsort(-counts, kind="stable") if counts[k] > 0]
    names = list(class_names or [])
    label = lambda k: names[k] if k < len(names) else f"class {k}"  # noqa: E731
    share = lambda k: f"{100 * counts[k] / total:.0f}%" if counts[k] * 100 >= total else "<1%"  # noqa: E731
    rows = [(k, f"{label(k)}  {share(k)}") for k in present[:max_entries]]
    if len(present) > max_entries:
        rows.append((None, f"+{len(present) - max_entries} more"))
    size = int(np.clip(min(pil.size) / 28, 11, 48))
    font = _font(size)
    draw = ImageDraw.Draw(box_probe := Image.new("L", (1, 1)))
    del box_probe
    pad, sw = max(3, size // 3), size
    widths = [draw.textlength(text, font=font) for _, text in rows]
    box_w = int(pad * 3 + sw + max(widths, default=0))
    line = int(size * 1.35)
    box_h = pad * 2 + line * len(rows)
    box = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 150))
    bd = ImageDraw.Draw(box)
    for i, (k, text) in enumerate(rows):
        y = pad + i * line + (line - sw) // 2
        if k is not None:
            bd.rectangle(
                [pad, y, pad + sw, y + sw], fill=tuple(int(c) for c in colors[k]) + (255,), outline=(230, 230, 230, 255)
            )
        bd.text((pad * 2 + sw, pad + i * line), text, fill=(255, 255, 255, 255), font=font)
    if box_w * box_h <= 0.1 * pil.width * pil.height:
        pil.paste(box, (pad, pad), box)
        return pil
    canvas = Image.new("RGB", (pil.width + box_w + 2 * pad, max(pil.height, box_h + 2 * pad)), (40, 40, 40))
    canvas.paste(pil, (0, 0))
    canvas.paste(box, (pil.width + pad, pad), box)
    return canvas
