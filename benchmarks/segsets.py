"""Generated segmentation data sets of different natures, for the multi-set U-Net quality benchmark.

Four sets, each written as ``<root>/<set>/{train,test}/{images,masks}`` plus
``<root>/<set>/classes.json`` (``{"classes": [...], "ignore_index": 255}``).
Masks are single-channel PNGs of class indices, with an ignore band (255) two
pixels wide (one inside, one outside) around every object border, as in
Pascal VOC. Only numpy, Pillow and scipy are used; every image is drawn from
its own seeded generator, so a set is deterministic for a seed and the first N
images do not depend on how many are written.

* ``colour``: the bundled set's recipe (``assets/make_segdata.py``'s
  ``make_sample``: shapes on photo crops, each class with a typical hue, hue
  families overlapping), drawn at other seeds than ``assets/segdata``.
  Classes are told apart mainly by colour.
* ``outline``: background + disc, quad, star. The class is given **only** by
  the outline: every object (and the background) is filled with a texture
  drawn independently of its class, from the bundled photos and artworks
  (randomly rotated, scaled, flipped and tinted) or procedural (noise,
  stripes, checkers, gradients). Shapes have random size, rotation and
  aspect, 1-4 per image, and may overlap. Images are 96-224 px per side
  (independently), saved as JPEG (quality 85-95) or PNG.
* ``small``: class imbalance with small objects: background and ``blob``
  (large, common) against ``dot`` and ``chip``, rare objects 4-12 px across,
  0-3 per image, each under about 1% of the pixels; photo or texture
  backgrounds.
* ``sizes``: image sides 70-300 px, width and height independent, never a
  multiple of 32, a quarter of them elongated (about 3:1); classes (disc,
  square, triangle) told by a mix of colour (hue families that overlap more
  than ``colour``'s) and shape; object size in pixels does not depend on the
  image size.

The ``test`` split is drawn from a different seed stream than ``train``.
**Never tune on a test split**: choose recipes and defaults with the
benchmark's ``--split val`` (a seeded 20% of *train* held out, training on the
rest), and use ``--split test`` only for the final table.

Run::

    python benchmarks/segsets.py --out DIR [--sets colour,outline] [--train 120 --test 40] [--seed 1]

``ensure_sets(root, names)`` generates only the sets that are missing or were
made with other parameters (default root ``~/.cache/suite-segsets``).
"""

from __future__ import annotations

import argparse
import colorsys
import importlib.util
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
IGNORE = 255
SETS = ("colour", "outline", "small", "sizes")
CLASSES = {
    "colour": None,  # make_segdata.CLASSES, read at import of that module
    "outline": ["background", "disc", "quad", "star"],
    "small": ["background", "blob", "dot", "chip"],
    "sizes": ["background", "disc", "square", "triangle"],
}
SPLITS = ("train", "test")
DEFAULT_COUNTS = {"train": 120, "test": 40}
DEFAULT_SEED = 1
DEFAULT_CACHE = Path(os.environ.get("SUITE_SEGSETS_CACHE", "~/.cache/suite-segsets")).expanduser()
#: Bumped whenever a generator changes, so cached sets made by an older one are regenerated.
VERSION = 1
STAMP = "segset.json"


def _segdata():
    """``assets/make_segdata.py`` as a module (``assets`` is not a package)."""
    mod = sys.modules.get("suite_make_segdata")
    if mod is None:
        spec = importlib.util.spec_from_file_location("suite_make_segdata", ASSETS / "make_segdata.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["suite_make_segdata"] = mod
        spec.loader.exec_module(mod)
    return mod


def classes_of(name: str) -> list:
    if name not in CLASSES:
        raise ValueError(f"unknown set {name!r}; expected one of {', '.join(SETS)}")
    return list(CLASSES[name] or _segdata().CLASSES)


_SOURCES = None


def _sources():
    """The 8 bundled pictures (4 photos, 4 artworks), as PIL RGB images."""
    global _SOURCES
    if _SOURCES is None:
        paths = sorted((ASSETS / "photos").glob("*.jpg")) + sorted((ASSETS / "styles").glob("*.jpg"))
        if not paths:
            raise SystemExit(f"no pictures in {ASSETS / 'photos'} or {ASSETS / 'styles'}")
        _SOURCES = [Image.open(p).convert("RGB") for p in paths]
        for im in _SOURCES:
            im.load()
    return _SOURCES


# --------------------------------------------------------------------------- textures


def _random_colour(rng):
    return rng.uniform(0, 255, 3).astype(np.float32)


def _tint(rng, a):
    """Random per-channel gains, sometimes a channel swap, a grey-then-colourise, or an inversion."""
    if rng.random() < 0.3:
        a = a[..., rng.permutation(3)]
    r = rng.random()
    if r < 0.15:
        grey = a.mean(-1, keepdims=True) / 255
        a = grey * _random_colour(rng) + (1 - grey) * _random_colour(rng) * rng.uniform(0, 0.5)
    elif r < 0.25:
        a = 255 - a
    a = a * rng.uniform(0.6, 1.3, 3).astype(np.float32)
    mean = a.mean()
    return (a - mean) * rng.uniform(0.6, 1.3) + mean * rng.uniform(0.8, 1.2)


def photo_texture(rng, h, w, tint=True):
    """A crop of one of the bundled pictures, rotated, scaled, maybe mirrored and tinted: float HxWx3."""
    src = _sources()[rng.integers(len(_sources()))]
    sw, sh = src.size
    theta = rng.uniform(0, 2 * math.pi)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    need = max((c * w + s * h) / sw, (s * w + c * h) / sh) * 1.02  # the rotated window fits in the picture
    mag = max(math.exp(rng.uniform(math.log(0.6), math.log(2.0))), need)  # output px per source px
    ex, ey = (c * w + s * h) / (2 * mag), (s * w + c * h) / (2 * mag)
    cx, cy = rng.uniform(ex, sw - ex), rng.uniform(ey, sh - ey)
    fx = -1.0 if rng.random() < 0.5 else 1.0
    a, b = math.cos(theta) * fx / mag, -math.sin(theta) / mag
    d, e = math.sin(theta) * fx / mag, math.cos(theta) / mag
    coeffs = (a, b, cx - a * w / 2 - b * h / 2, d, e, cy - d * w / 2 - e * h / 2)
    out = np.asarray(src.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR), np.float32)
    return _tint(rng, out) if tint else out


def procedural_texture(rng, h, w):
    """Noise, stripes, checkers or a gradient between two random colours: float HxWx3."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    u = xx * math.cos(ang) + yy * math.sin(ang)
    v = -xx * math.sin(ang) + yy * math.cos(ang)
    kind = rng.choice(["noise", "stripes", "checkers", "gradient"])
    c1, c2 = _random_colour(rng), _random_colour(rng)
    if kind == "noise":
        if rng.random() < 0.3:  # coloured noise: one field per channel
            t = np.stack([ndimage.gaussian_filter(rng.normal(size=(h, w)), rng.uniform(0.5, 6)) for _ in range(3)], -1)
            t = (t - t.min()) / max(np.ptp(t), 1e-6)
            return (t * 255).astype(np.float32)
        t = ndimage.gaussian_filter(rng.normal(size=(h, w)), rng.uniform(0.5, 6))
        t = (t - t.min()) / max(np.ptp(t), 1e-6)
    elif kind == "stripes":
        period = rng.uniform(4, 24)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * u / period + rng.uniform(0, 2 * math.pi))
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float32)
    elif kind == "checkers":
        period = rng.uniform(4, 24)
        t = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    else:
        if rng.random() < 0.3:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            t = np.hypot(yy - cy, xx - cx)
        else:
            t = u
        t = (t - t.min()) / max(np.ptp(t), 1e-6)
    t = t[..., None].astype(np.float32)
    return c1 * (1 - t) + c2 * t + rng.normal(0, 3, (h, w, 3)).astype(np.float32)


def texture(rng, h, w, p_photo=0.65):
    return photo_texture(rng, h, w) if rng.random() < p_photo else procedural_texture(rng, h, w)


def hue_colour(rng, centre, jitter, sat=(0.45, 0.9), val=(0.5, 0.95)):
    hue = (centre + rng.uniform(-jitter, jitter)) % 360
    return np.array(colorsys.hsv_to_rgb(hue / 360, rng.uniform(*sat), rng.uniform(*val)), np.float32) * 255


# --------------------------------------------------------------------------- shapes


def _unit_polygon(rng, kind):
    """Vertices of a shape around (0, 0), scaled to area pi (an 'equivalent radius' of 1)."""
    if kind == "disc":
        ang = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        rad = np.ones_like(ang)
    elif kind in ("quad", "square"):
        jit = 0.2 if kind == "quad" else 0.0
        ang = np.pi / 4 + np.arange(4) * np.pi / 2 + rng.uniform(-jit, jit, 4)
        rad = rng.uniform(1 - jit * 0.75, 1 + jit * 0.75, 4)
    elif kind == "triangle":
        ang = np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.2, 0.2, 3)
        rad = rng.uniform(0.9, 1.1, 3)
    elif kind == "star":
        ang = np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.38, 0.55))
    elif kind == "blob":
        ang = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        rad = np.ones_like(ang)
        for k in (2, 3, 4):
            rad = rad + rng.uniform(0, 0.15) * np.cos(k * ang + rng.uniform(0, 2 * math.pi))
    else:
        raise ValueError(kind)
    pts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], -1)
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    return pts * math.sqrt(math.pi / area)


def shape_mask(rng, kind, h, w, cx, cy, r, aspect=(1.0, 1.0)):
    """A filled shape of equivalent radius ``r`` (pixels), random rotation and aspect: bool HxW."""
    pts = _unit_polygon(rng, kind)
    asp = math.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1])))
    pts = pts * np.array([math.sqrt(asp), 1 / math.sqrt(asp)])
    t = rng.uniform(0, 2 * math.pi)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    pts = pts @ rot.T * r + np.array([cx, cy])
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in pts], fill=1)
    return np.asarray(img, dtype=bool)


def paste(image, label, shape, fill, cls):
    """Composites ``fill`` inside ``shape`` with a slightly soft edge and writes the label."""
    alpha = (
        np.asarray(Image.fromarray(shape.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(0.7)), np.float32)[
            ..., None
        ]
        / 255
    )
    label[shape] = cls
    return image * (1 - alpha) + fill * alpha


def with_ignore_band(label):
    """The mask: ``label`` with 255 on both sides of every border between two labels (2 px wide)."""
    cross = ndimage.generate_binary_structure(2, 1)
    hi = ndimage.grey_dilation(label, footprint=cross, mode="nearest")
    lo = ndimage.grey_erosion(label, footprint=cross, mode="nearest")
    mask = label.copy()
    mask[hi != lo] = IGNORE
    return mask


def _finish(rng, image):
    """Mild global lighting change and sensor noise; uint8."""
    image = image * rng.uniform(0.85, 1.15) + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- the four sets


def sample_colour(rng):
    sd = _segdata()
    global _SEG_PHOTOS
    if _SEG_PHOTOS is None:
        _SEG_PHOTOS = sd._photos()
    size = (int(rng.integers(8, 13)) * 16, int(rng.integers(8, 13)) * 16)  # 128-192 px as the bundled set
    image, mask = sd.make_sample(rng, _SEG_PHOTOS, size)
    return image, mask, "jpg"


_SEG_PHOTOS = None


def sample_outline(rng):
    h, w = (int(v) for v in rng.integers(96, 225, 2))
    image = texture(rng, h, w, p_photo=0.75)
    label = np.zeros((h, w), np.uint8)
    kinds = CLASSES["outline"]
    for _ in range(int(rng.integers(1, 5))):
        cls = int(rng.integers(1, len(kinds)))
        r = rng.uniform(0.12, 0.28) * min(h, w)
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        shape = shape_mask(rng, kinds[cls], h, w, cx, cy, r, aspect=(0.6, 1.65))
        if shape.sum() < 40:
            continue
        image = paste(image, label, shape, texture(rng, h, w), cls)  # the fill ignores the class
    fmt = "jpg" if rng.random() < 0.6 else "png"
    return _finish(rng, image), with_ignore_band(label), fmt


#: Hue families (degrees) of the ``small`` set's classes.
SMALL_HUES = {1: (120.0, 35.0), 2: (0.0, 22.0), 3: (220.0, 22.0)}


def sample_small(rng):
    h, w = (int(v) for v in rng.integers(128, 193, 2))
    image = texture(rng, h, w, p_photo=0.7)
    label = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 3))):  # common, large
        r = rng.uniform(0.15, 0.3) * min(h, w)
        shape = shape_mask(rng, "blob", h, w, rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h, r, (0.6, 1.65))
        fill = 0.55 * hue_colour(rng, *SMALL_HUES[1]) + 0.45 * texture(rng, h, w)
        image = paste(image, label, shape, fill, 1)
    for cls, kind, most in ((2, "disc", 3), (3, "square", 2)):  # rare, 4-12 px across
        for _ in range(int(rng.integers(0, most + 1))):
            r = rng.uniform(2.0, 6.0) / (1.0 if kind == "disc" else 1.13)  # equal-area radius of a 4-12 px object
            shape = shape_mask(rng, kind, h, w, rng.uniform(6, w - 6), rng.uniform(6, h - 6), r)
            if shape.sum() < 9:
                continue
            fill = 0.8 * hue_colour(rng, *SMALL_HUES[cls], sat=(0.6, 1.0), val=(0.6, 1.0)) + 0.2 * texture(rng, h, w)
            image = paste(image, label, shape, fill, cls)
    fmt = "jpg" if rng.random() < 0.5 else "png"
    return _finish(rng, image), with_ignore_band(label), fmt


#: Hue families of the ``sizes`` set's classes: 120 degrees apart, +-60 of jitter, so they touch.
SIZES_HUES = {1: (30.0, 60.0), 2: (150.0, 60.0), 3: (270.0, 60.0)}


def _side(rng, lo, hi):
    v = int(rng.integers(lo, hi + 1))
    return v + 1 if v % 32 == 0 else v


def sample_sizes(rng):
    if rng.random() < 0.25:
        short, long_ = _side(rng, 70, 110), _side(rng, 220, 300)
        h, w = (short, long_) if rng.random() < 0.5 else (long_, short)
    else:
        h, w = _side(rng, 70, 300), _side(rng, 70, 300)
    image = texture(rng, h, w, p_photo=0.7)
    label = np.zeros((h, w), np.uint8)
    kinds = CLASSES["sizes"]
    for _ in range(int(rng.integers(1, 2 + h * w // 15000))):
        cls = int(rng.integers(1, len(kinds)))
        r = min(rng.uniform(8, 36), 0.45 * min(h, w))
        cx, cy = rng.uniform(0.05, 0.95) * w, rng.uniform(0.05, 0.95) * h
        shape = shape_mask(rng, kinds[cls], h, w, cx, cy, r, aspect=(0.7, 1.4))
        if shape.sum() < 30:
            continue
        fill = 0.55 * hue_colour(rng, *SIZES_HUES[cls]) + 0.45 * texture(rng, h, w)
        image = paste(image, label, shape, fill, cls)
    fmt = "jpg" if rng.random() < 0.5 else "png"
    return _finish(rng, image), with_ignore_band(label), fmt


SAMPLERS = {"colour": sample_colour, "outline": sample_outline, "small": sample_small, "sizes": sample_sizes}


def sample(name: str, split: str, index: int, seed: int = DEFAULT_SEED):
    """Image ``index`` of a split: ``(image uint8 HxWx3, mask uint8 HxW, "jpg" | "png")``.

    Each image has its own generator, seeded by (seed, set, split, index): the
    test split is a different stream from train, and image i is the same
    whatever the number of images written.
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown set {name!r}; expected one of {', '.join(SETS)}")
    rng = np.random.default_rng([seed, 1 + SETS.index(name), 1 + SPLITS.index(split), index])
    return SAMPLERS[name](rng)


def _save(image, mask, fmt, images_dir: Path, masks_dir: Path, stem: str, rng):
    if fmt == "jpg":
        Image.fromarray(image).save(images_dir / f"{stem}.jpg", quality=int(rng.integers(85, 96)))
    else:
        Image.fromarray(image).save(images_dir / f"{stem}.png")
    Image.fromarray(mask, mode="L").save(masks_dir / f"{stem}.png", optimize=True)


def generate_set(
    name: str,
    out: Path,
    n_train: int = DEFAULT_COUNTS["train"],
    n_test: int = DEFAULT_COUNTS["test"],
    seed: int = DEFAULT_SEED,
) -> Path:
    """Writes one set under ``out`` (``out/{train,test}/{images,masks}``, ``classes.json``); returns ``out``."""
    out = Path(out)
    for split, n in (("train", n_train), ("test", n_test)):
        images_dir, masks_dir = out / split / "images", out / split / "masks"
        images_dir.mkdir(parents=True, exist_ok=True)
        masks_dir.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image, mask, fmt = sample(name, split, i, seed)
            # The JPEG quality has its own stream, so it never shifts the image's draws.
            _save(
                image,
                mask,
                fmt,
                images_dir,
                masks_dir,
                f"{i:04d}",
                np.random.default_rng([seed, 1 + SETS.index(name), 1 + SPLITS.index(split), i, 99]),
            )
    (out / "classes.json").write_text(
        json.dumps({"classes": classes_of(name), "ignore_index": IGNORE}, indent=2) + "\n"
    )
    return out


def _params(name, n_train, n_test, seed):
    return {"set": name, "version": VERSION, "train": n_train, "test": n_test, "seed": seed}


def ensure_sets(
    root=None,
    names=SETS,
    n_train: int = DEFAULT_COUNTS["train"],
    n_test: int = DEFAULT_COUNTS["test"],
    seed: int = DEFAULT_SEED,
    log=None,
) -> dict:
    """Generates the sets in ``names`` under ``root`` unless already there with these parameters.

    A set is complete when ``<root>/<set>/segset.json`` records the same
    generator version, counts and seed; otherwise it is (re)written, in a
    temporary folder renamed into place, so an interrupted run leaves no half set.

    Returns:
        ``{name: Path to <root>/<name>}``.
    """
    root = Path(root).expanduser() if root is not None else DEFAULT_CACHE
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        if name not in SAMPLERS:
            raise ValueError(f"unknown set {name!r}; expected one of {', '.join(SETS)}")
        final = root / name
        want = _params(name, n_train, n_test, seed)
        try:
            have = json.loads((final / STAMP).read_text())
        except (OSError, ValueError):
            have = None
        if have != want:
            if log:
                log(f"generating set {name!r} ({n_train} train + {n_test} test images, seed {seed}) in {final}")
            tmp = root / f".{name}.tmp{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            generate_set(name, tmp, n_train, n_test, seed)
            (tmp / STAMP).write_text(json.dumps(want, indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        paths[name] = final
    return paths


def parse_sets(text: str) -> list:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SETS]
    if bad:
        raise SystemExit(f"unknown set(s) {', '.join(bad)}; expected some of {', '.join(SETS)}")
    return names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_CACHE, help=f"Root folder (default {DEFAULT_CACHE}).")
    p.add_argument("--sets", default=",".join(SETS), help="Comma-separated sets (default: all four).")
    p.add_argument("--train", type=int, default=DEFAULT_COUNTS["train"], help="Training images per set.")
    p.add_argument("--test", type=int, default=DEFAULT_COUNTS["test"], help="Test images per set.")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--force", action="store_true", help="Regenerate even when an identical set is there.")
    a = p.parse_args(argv)
    names = parse_sets(a.sets)
    if a.force:
        for n in names:
            (a.out / n / STAMP).unlink(missing_ok=True)
    paths = ensure_sets(a.out, names, a.train, a.test, a.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    for n, path in paths.items():
        print(f"{n}: {path}")


if __name__ == "__main__":
    main()
