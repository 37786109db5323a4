"""Generates the bundled artworks in assets/styles/ (deterministic; numpy and Pillow only).

    python assets/make_styles.py            # writes assets/styles/*.jpg

Styles:
    strokes.jpg   bold curved brush strokes in a warm/cool palette on a dark ground
    mosaic.jpg    Voronoi tiles in saturated colours with dark grout
    fields.jpg    flat colour fields with hard edges and black bars (Mondrian-like)
    swirls.jpg    thick concentric swirls of light and dark blue with yellow (Starry-Night-like)

The project made these itself; they carry no third-party rights.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512
OUT = Path(__file__).resolve().parent / "styles"


def _bezier(p0, p1, p2, n=40):
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def strokes(rng) -> Image.Image:
    palette = [
        (232, 93, 4),
        (244, 162, 97),
        (233, 196, 106),
        (42, 157, 143),
        (38, 70, 83),
        (230, 57, 70),
        (250, 240, 220),
    ]
    img = Image.new("RGB", (SIZE, SIZE), (24, 28, 40))
    draw = ImageDraw.Draw(img)
    for _ in range(420):
        c = np.array(palette[rng.integers(len(palette))]) + rng.integers(-18, 19, 3)
        p0 = rng.uniform(-40, SIZE + 40, 2)
        ang = rng.normal(0.6, 0.5)
        length = rng.uniform(40, 120)
        p2 = p0 + length * np.array([math.cos(ang), math.sin(ang)])
        p1 = (p0 + p2) / 2 + rng.normal(0, 25, 2)
        pts = [tuple(p) for p in _bezier(p0, p1, p2)]
        width = int(rng.integers(8, 20))
        draw.line(pts, fill=tuple(int(v) for v in np.clip(c, 0, 255)), width=width, joint="curve")
        # a darker edge line inside the stroke gives the bristle texture
        dark = tuple(int(v) for v in np.clip(c * 0.7, 0, 255))
        draw.line([(x + 2, y + 2) for x, y in pts], fill=dark, width=max(2, width // 4))
    return img.filter(ImageFilter.SMOOTH)


def mosaic(rng) -> Image.Image:
    palette = np.array(
        [
            (214, 40, 40),
            (247, 127, 0),
            (252, 191, 73),
            (234, 226, 183),
            (0, 48, 73),
            (42, 111, 151),
            (97, 165, 194),
            (46, 139, 87),
        ]
    )
    n = 260
    pts = rng.uniform(0, SIZE, (n, 2))
    colors = palette[rng.integers(len(palette), size=n)] + rng.integers(-20, 21, (n, 3))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    grid = np.stack([yy, xx], -1).reshape(-1, 1, 2).astype(np.float32)
    d = ((grid - pts[None, :, ::-1].astype(np.float32)) ** 2).sum(-1)
    order = np.argsort(d, axis=1)[:, :2]
    d1 = np.take_along_axis(d, order[:, :1], 1)[:, 0]
    d2 = np.take_along_axis(d, order[:, 1:2], 1)[:, 0]
    img = colors[order[:, 0]].astype(np.float32)
    grout = (np.sqrt(d2) - np.sqrt(d1)) < 3.0
    img[grout] = (30, 26, 22)
    return Image.fromarray(np.clip(img.reshape(SIZE, SIZE, 3), 0, 255).astype(np.uint8))


def fields(rng) -> Image.Image:
    palette = [(222, 33, 38), (20, 60, 160), (250, 205, 20), (245, 242, 232), (245, 242, 232), (245, 242, 232)]
    img = Image.new("RGB", (SIZE, SIZE), (245, 242, 232))
    draw = ImageDraw.Draw(img)

    def split(x0, y0, x1, y1, depth):
        if depth == 0 or (x1 - x0 < 90 and y1 - y0 < 90):
            draw.rectangle([x0, y0, x1, y1], fill=palette[rng.integers(len(palette))])
            return
        if (x1 - x0) > (y1 - y0):
            x = int(rng.uniform(x0 + 0.3 * (x1 - x0), x0 + 0.7 * (x1 - x0)))
            split(x0, y0, x, y1, depth - 1)
            split(x, y0, x1, y1, depth - 1)
        else:
            y = int(rng.uniform(y0 + 0.3 * (y1 - y0), y0 + 0.7 * (y1 - y0)))
            split(x0, y0, x1, y, depth - 1)
            split(x0, y, x1, y1, depth - 1)

    split(0, 0, SIZE, SIZE, 5)
    # black bars on the region borders: redraw edges by detecting colour changes
    arr = np.asarray(img).astype(np.int32)
    edge = np.zeros(arr.shape[:2], bool)
    edge[1:] |= np.abs(arr[1:] - arr[:-1]).sum(-1) > 0
    edge[:, 1:] |= np.abs(arr[:, 1:] - arr[:, :-1]).sum(-1) > 0
    edge_img = Image.fromarray((edge * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(9))
    out = np.asarray(img).copy()
    out[np.asarray(edge_img) > 0] = (18, 18, 18)
    return Image.fromarray(out)


def swirls(rng) -> Image.Image:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    field = np.zeros((SIZE, SIZE), np.float32)
    for _ in range(7):
        cx, cy = rng.uniform(0, SIZE, 2)
        r = np.hypot(xx - cx, yy - cy)
        theta = np.arctan2(yy - cy, xx - cx)
        field += np.sin(r / rng.uniform(7, 12) + 3 * theta + rng.uniform(0, 6.28)) * np.exp(-r / 220)
    bands = np.floor((field - field.min()) / (np.ptp(field) + 1e-6) * 6).astype(int)
    palette = np.array([(12, 28, 74), (28, 64, 140), (64, 110, 190), (130, 170, 220), (236, 200, 60), (250, 232, 150)])
    img = palette[np.clip(bands, 0, 5)].astype(np.float32)
    return Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.SMOOTH_MORE)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (name, make) in enumerate(
        (("strokes", strokes), ("mosaic", mosaic), ("fields", fields), ("swirls", swirls))
    ):
        img = make(np.random.default_rng(1000 + i))
        path = OUT / f"{name}.jpg"
        img.save(path, quality=88, optimize=True)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
