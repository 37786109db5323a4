"""Generates the suite's own small segmentation data set: shapes on real-photo textures.

Every image is a random crop of one of the bundled photos (``assets/photos``,
public domain / CC0) with 1 to 4 objects pasted on it. Each object is a disc,
square, triangle or star of random size, rotation and colour, filled with a
tinted crop of another photo. Masks are single-channel PNGs of class indices with an ignore band
(255) two pixels wide around every object border, as in Pascal VOC.

Like real classes (sky, grass), each class has a typical hue, but the hue
families overlap (centres 90 degrees apart, +-50 degrees of jitter), so the
colour alone is not enough near the overlaps and the shape has to decide.

Classes: 0 background, 1 disc, 2 square, 3 triangle, 4 star (``classes.json``).

Run: python assets/make_segdata.py [--out assets/segdata] [--train 120] [--val 40] [--seed 0]

The output is deterministic for a given seed:
``segdata/{train,val}/{images,masks}/NNNN.{jpg,png}``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

CLASSES = ["background", "disc", "square", "triangle", "star"]
IGNORE = 255
HERE = Path(__file__).parent


def _photos():
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted((HERE / "photos").glob("*.jpg"))]


def _crop(rng, photo, h, w):
    """A random crop of size (h, w), rescaled first when the photo is too small or to vary texture scale."""
    scale = rng.uniform(0.6, 1.4)
    ph, pw = photo.shape[:2]
    need = max(h / ph, w / pw) * 1.05
    scale = max(scale, need)
    img = Image.fromarray(photo).resize((max(w, int(pw * scale)), max(h, int(ph * scale))), Image.BILINEAR)
    a = np.asarray(img)
    y = rng.integers(0, a.shape[0] - h + 1)
    x = rng.integers(0, a.shape[1] - w + 1)
    out = a[y : y + h, x : x + w].astype(np.float32)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return out


def _polygon(kind, cx, cy, r, angle):
    if kind == "square":
        pts = [
            (math.cos(angle + k * math.pi / 2 + math.pi / 4), math.sin(angle + k * math.pi / 2 + math.pi / 4))
            for k in range(4)
        ]
        r = r * 1.15  # the square's half-diagonal, so discs and squares cover similar areas
    elif kind == "triangle":
        pts = [(math.cos(angle + k * 2 * math.pi / 3), math.sin(angle + k * 2 * math.pi / 3)) for k in range(3)]
        r = r * 1.3
    elif kind == "star":
        pts = []
        for k in range(10):
            rr = 1.0 if k % 2 == 0 else 0.45
            a = angle + k * math.pi / 5
            pts.append((rr * math.cos(a), rr * math.sin(a)))
        r = r * 1.3
    else:
        raise ValueError(kind)
    return [(cx + r * px, cy + r * py) for px, py in pts]


def _shape_mask(kind, h, w, cx, cy, r, angle):
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    if kind == "disc":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    else:
        draw.polygon(_polygon(kind, cx, cy, r, angle), fill=1)
    return np.asarray(img, dtype=bool)


#: Typical hue per object class, in degrees; jitter makes neighbouring families overlap.
HUE_CENTRES = {1: 0.0, 2: 90.0, 3: 180.0, 4: 270.0}
HUE_JITTER = 50.0


def _class_colour(rng, cls):
    import colorsys

    hue = (HUE_CENTRES[cls] + rng.uniform(-HUE_JITTER, HUE_JITTER)) % 360
    rgb = colorsys.hsv_to_rgb(hue / 360, rng.uniform(0.45, 0.9), rng.uniform(0.5, 0.95))
    return np.array(rgb, np.float32) * 255


def make_sample(rng, photos, size):
    """One (image uint8 HxWx3, mask uint8 HxW) pair."""
    h, w = size
    bg_i = rng.integers(len(photos))
    image = _crop(rng, photos[bg_i], h, w)
    label = np.zeros((h, w), np.uint8)
    band = np.zeros((h, w), bool)
    for _ in range(rng.integers(1, 5)):
        cls = int(rng.integers(1, len(CLASSES)))
        r = rng.uniform(0.10, 0.24) * min(h, w)
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        shape = _shape_mask(CLASSES[cls], h, w, cx, cy, r, rng.uniform(0, 2 * math.pi))
        if shape.sum() < 30:
            continue
        colour = _class_colour(rng, cls)
        texture = _crop(rng, photos[rng.integers(len(photos))], h, w)
        fill = 0.6 * colour + 0.4 * texture
        # A slightly soft edge, so boundaries look photographed rather than drawn.
        alpha = (
            np.asarray(
                Image.fromarray((shape * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7)), np.float32
            )[..., None]
            / 255
        )
        image = image * (1 - alpha) + fill * alpha
        label[shape] = cls
        edge = ndimage.binary_dilation(shape, iterations=1) & ~ndimage.binary_erosion(shape, iterations=1)
        band |= edge
    # Mild global lighting change and sensor noise.
    image = image * rng.uniform(0.8, 1.15) + rng.normal(0, 4, size=image.shape)
    mask = label.copy()
    mask[band] = IGNORE
    return np.clip(image, 0, 255).astype(np.uint8), mask


def generate(out: Path, n_train: int = 120, n_val: int = 40, seed: int = 0, min_size: int = 128, max_size: int = 192):
    """Writes the data set under ``out`` and returns the number of files written."""
    rng = np.random.default_rng(seed)
    photos = _photos()
    if not photos:
        raise SystemExit(f"no photos in {HERE / 'photos'}; run assets/make_photos.py first")
    count = 0
    for split, n in (("train", n_train), ("val", n_val)):
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            size = (
                int(rng.integers(min_size // 16, max_size // 16 + 1)) * 16,
                int(rng.integers(min_size // 16, max_size // 16 + 1)) * 16,
            )
            image, mask = make_sample(rng, photos, size)
            Image.fromarray(image).save(out / split / "images" / f"{i:04d}.jpg", quality=90)
            Image.fromarray(mask, mode="L").save(out / split / "masks" / f"{i:04d}.png", optimize=True)
            count += 2
    (out / "classes.json").write_text(json.dumps({"classes": CLASSES, "ignore_index": IGNORE}, indent=2) + "\n")
    return count


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE / "segdata")
    p.add_argument("--train", type=int, default=120)
    p.add_argument("--val", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    n = generate(a.out, a.train, a.val, a.seed)
    print(f"wrote {n} files under {a.out}")


if __name__ == "__main__":
    main()
