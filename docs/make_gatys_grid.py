"""Makes docs/style_gatys_grid.jpg: the tutorial loop, today's old default and the new default, side by side.

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_gatys_quality.py --out /tmp/gq \\
        --candidates '[{"optimizer": "lbfgsb", "scales": [0.5, 1], "iterations": [100, 300], "corrections": 20}]'
    .venv/bin/python docs/make_gatys_grid.py /tmp/gq

It reads the images and ``numbers.json`` that ``bench_gatys_quality.py --out``
wrote (candidate 0 = the default, candidate 1 = the previous default) and lays
out one row per pair: photo, artwork (both as the contestants saw them), the
tutorial loop, the previous default, the new default, each labelled with its
time and loss (the tutorial's objective) relative to the tutorial loop.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder", help="bench_gatys_quality.py --out folder")
    p.add_argument("--out", default=str(ROOT / "docs/style_gatys_grid.jpg"))
    p.add_argument("--labels", default="previous default,new default", help="names of candidate 1 and 0")
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()

    from bench_gatys_quality import same_pixels

    from suite.common.io.images import load_image, save_image
    from suite.common.ui.viz import _font

    folder = Path(args.folder)
    rows = json.loads((folder / "numbers.json").read_text())
    pairs = list(dict.fromkeys(r["pair"] for r in rows))
    old_label, new_label = args.labels.split(",")
    pad, cap = 6, 34
    grid = []
    for pair in pairs:
        photo, art = pair.split(":")
        content, style = same_pixels(photo, art, args.size)
        by = {r["candidate"]: r for r in rows if r["pair"] == pair}
        ordered = [r for r in rows if r["pair"] == pair]
        new, old = ordered[0], (ordered[1] if len(ordered) > 1 else None)
        panels = [
            (content, photo, ""),
            (style, art, ""),
            (
                load_image(folder / f"{photo}_{art}_tutorial.png"),
                "tutorial loop",
                f"1.00 time, J {new['baseline_J']:,.0f}",
            ),
        ]
        if old is not None:
            panels.append(
                (
                    load_image(folder / f"{photo}_{art}_cand1.png"),
                    old_label,
                    f"{old['time_ratio']:.2f} time, {old['J_ratio']:.2f} J",
                )
            )
        panels.append(
            (
                load_image(folder / f"{photo}_{art}_cand0.png"),
                new_label,
                f"{new['time_ratio']:.2f} time, {new['J_ratio']:.2f} J",
            )
        )
        del by
        grid.append(panels)
    h = max(p[0].shape[0] for r in grid for p in r)
    widths = [sum(p[0].shape[1] for p in r) + pad * (len(r) + 1) for r in grid]
    canvas = Image.new("RGB", (max(widths), len(grid) * (h + cap + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = pad
    for r in grid:
        x = pad
        for img, label, sub in r:
            im = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))
            canvas.paste(im, (x, y + cap))
            draw.text((x + 2, y + 1), label, fill=(0, 0, 0), font=_font(13))
            draw.text((x + 2, y + 17), sub, fill=(60, 60, 60), font=_font(12))
            x += im.width + pad
        y += h + cap + pad
    save_image(canvas, args.out, overwrite=True, quality=88)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
