"""Makes docs/style_presets.jpg: the 26 built-in styles (``--style preset:N``) on one bundled photo.

    .venv/bin/python docs/make_preset_sheet.py [--photo assets/photos/chelsea.jpg] [--tile 200]

Each style runs on the full-resolution photo (as `suite stylize --method fast`
does), then the result is shrunk to a tile and labelled with its preset number.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--photo", default=str(ROOT / "assets/photos/chelsea.jpg"))
    p.add_argument("--tile", type=int, default=200)
    p.add_argument("--columns", type=int, default=7)
    p.add_argument("--out", default=str(ROOT / "docs/style_presets.jpg"))
    args = p.parse_args()

    from suite.common.io.images import load_image, save_image
    from suite.common.ui.viz import _font
    from suite.style.fast import NUM_PRESETS, PresetStyleTransfer
    from suite.style.fast_models import magenta_multistyle

    photo = load_image(args.photo)
    model = magenta_multistyle()
    tiles = [("photo", photo)] + [
        (f"preset:{k}", PresetStyleTransfer(k, model=model).transfer(photo).image) for k in range(NUM_PRESETS)
    ]
    scale = args.tile / max(photo.shape[:2])
    tw, th = round(photo.shape[1] * scale), round(photo.shape[0] * scale)
    pad, cap = 6, 18
    rows = -(-len(tiles) // args.columns)
    sheet = Image.new("RGB", (args.columns * (tw + pad) + pad, rows * (th + cap + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for n, (label, img) in enumerate(tiles):
        r, c = divmod(n, args.columns)
        x, y = pad + c * (tw + pad), pad + r * (th + cap + pad)
        im = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8)).resize((tw, th), Image.LANCZOS)
        sheet.paste(im, (x, y + cap))
        draw.text((x + 2, y + 2), label, fill=(0, 0, 0), font=_font(13))
    save_image(sheet, args.out, overwrite=True, quality=85)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
