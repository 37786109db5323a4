"""A contact sheet of the generated segmentation sets: per set, a few images next to their mask overlays.

Run: python benchmarks/segsets_sheet.py [--out docs/segsets_sheet.png] [--per-set 4] [--cell 120] [--seed 1]

The samples are drawn in memory by ``benchmarks/segsets.py`` (training split,
the first images), so the sheet needs no generated folder. In the overlays each
class has its own colour (background left as is) and the ignore band is white.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import segsets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Overlay colours for classes 1, 2, 3, 4 (class 0 is left as the image).
PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200]], np.float32)
COLOUR_NAMES = ("red", "green", "yellow", "blue")


def overlay(image, mask, alpha=0.7):
    out = image.astype(np.float32)
    for cls in range(1, len(PALETTE)):
        sel = mask == cls
        out[sel] = (1 - alpha) * out[sel] + alpha * PALETTE[cls]
    out[mask == segsets.IGNORE] = 255
    return out.clip(0, 255).astype(np.uint8)


def _fit(a, cell):
    im = Image.fromarray(a)
    scale = min(cell / im.width, cell / im.height)
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.NEAREST)
    canvas = Image.new("RGB", (cell, cell), (40, 40, 40))
    canvas.paste(im, ((cell - im.width) // 2, (cell - im.height) // 2))
    return canvas


def make_sheet(names=segsets.SETS, per_set=4, cell=120, seed=segsets.DEFAULT_SEED, gap=4, label_h=16):
    cols = 2 * per_set
    width = cols * (cell + gap) + gap
    height = len(names) * (cell + label_h + gap) + gap
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, name in enumerate(names):
        y = gap + r * (cell + label_h + gap)
        classes = segsets.classes_of(name)
        legend = ", ".join(f"{c} {n}" for c, n in zip(COLOUR_NAMES, classes[1:]))
        draw.text((gap, y + 2), f"{name}:  {legend}, white ignore", fill=(0, 0, 0))
        for k in range(per_set):
            image, mask, _ = segsets.sample(name, "train", k, seed)
            x = gap + 2 * k * (cell + gap)
            sheet.paste(_fit(image, cell), (x, y + label_h))
            sheet.paste(_fit(overlay(image, mask), cell), (x + cell + gap, y + label_h))
            draw.text((x + 2, y + label_h + 2), f"{image.shape[1]}x{image.shape[0]}", fill=(255, 255, 255))
    return sheet


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "segsets_sheet.png")
    p.add_argument("--sets", default=",".join(segsets.SETS))
    p.add_argument("--per-set", type=int, default=4)
    p.add_argument("--cell", type=int, default=120)
    p.add_argument("--seed", type=int, default=segsets.DEFAULT_SEED)
    a = p.parse_args(argv)
    sheet = make_sheet(segsets.parse_sets(a.sets), a.per_set, a.cell, a.seed)
    sheet.save(a.out, optimize=True)
    print(f"wrote {a.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
