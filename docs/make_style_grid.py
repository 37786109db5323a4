"""Makes docs/style_grid.jpg: bundled photos stylized with the bundled artworks, by the suite's defaults.

    flock /tmp/suite-heavy.lock .venv/bin/python docs/make_style_grid.py [--size 256]
    .venv/bin/python docs/make_style_grid.py --method fast --out docs/style_grid_fast.jpg

With ``--method fast`` each photo is stylized at its full resolution by the
fast arbitrary-style network, then shrunk to the grid's tile size.

Rows are photos; columns are the photo, then one result per setting:
styles, a style with --preserve-colors, and a 50/50 blend of two styles.
Each panel is labelled with what made it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

ROWS = {
    "chelsea.jpg": [("mosaic",), ("mosaic", "preserve"), ("mosaic", "swirls")],
    "astronaut.jpg": [("strokes",), ("fields",), ("swirls",)],
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", default="", help="per scale, e.g. 100,200 (default: the suite's)")
    p.add_argument("--out", default=str(ROOT / "docs/style_grid.jpg"))
    p.add_argument("--method", choices=["gatys", "fast"], default="gatys")
    args = p.parse_args()

    from suite.common.io.images import load_image, save_image
    from suite.common.ui.viz import _font
    from suite.style.extractor import build_style_extractor
    from suite.style.transfer import StyleTransfer, long_side_shape, resize_image

    extractor = build_style_extractor() if args.method == "gatys" else None  # VGG19 request, embedded VGG16 offline
    styles = {p.stem: load_image(p) for p in sorted((ROOT / "assets/styles").glob("*.jpg"))}
    cache = {}
    tile = args.size
    rows = []
    for photo, settings in ROWS.items():
        content = load_image(ROOT / "assets/photos" / photo)
        h, w = long_side_shape(content.shape, tile)
        panels = [(resize_image(content, h, w), photo.split(".")[0])]
        for setting in settings:
            preserve = "preserve" in setting
            names = [s for s in setting if s != "preserve"]
            key = (tuple(names), preserve)
            if key not in cache and args.method == "fast":
                from suite.style.fast import FastStyleTransfer

                cache[key] = FastStyleTransfer([styles[n] for n in names], preserve_colors=preserve)
            if key not in cache:
                extra = {"iterations": [int(v) for v in args.iterations.split(",")]} if args.iterations else {}
                cache[key] = StyleTransfer(
                    [styles[n] for n in names], size=args.size, preserve_colors=preserve, extractor=extractor, **extra
                )
            t = time.perf_counter()
            result = cache[key].transfer(content)
            label = " + ".join(names) + (" (preserve colours)" if preserve else "")
            print(f"{photo} {label}: {time.perf_counter() - t:.2f} s, {getattr(result, 'losses', '')}", flush=True)
            panels.append((resize_image(result.image, h, w), label))
        rows.append(panels)

    # Layout: each row at one height, a small style thumbnail in the corner of each result.
    pad, cap = 6, 20
    row_h = max(long_side_shape(load_image(ROOT / "assets/photos" / p).shape, tile)[0] for p in ROWS)
    widths = [sum(img.shape[1] for img, _ in r) + pad * (len(r) + 1) for r in rows]
    canvas = Image.new("RGB", (max(widths), len(rows) * (row_h + cap + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = pad
    for r, (_photo, settings) in zip(rows, ROWS.items()):
        x = pad
        for k, (img, label) in enumerate(r):
            im = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))
            canvas.paste(im, (x, y + cap))
            draw.text((x + 2, y + 2), label, fill=(0, 0, 0), font=_font(13))
            if k > 0:
                names = [s for s in settings[k - 1] if s != "preserve"]
                tx = x + im.width - 4
                for n in names:
                    th = Image.fromarray(styles[n].astype(np.uint8)).resize((44, 44), Image.LANCZOS)
                    tx -= 46
                    canvas.paste(th, (tx, y + cap + im.height - 48))
            x += im.width + pad
        y += row_h + cap + pad
    save_image(canvas, args.out, overwrite=True, quality=88)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
