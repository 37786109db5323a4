"""Writes the bundled sample photos from scikit-image's public-domain / CC0 data set.

Run: pip install -e ".[assets]" && python assets/make_photos.py
Attribution is in assets/ATTRIBUTION.md.
"""

from pathlib import Path

from PIL import Image
from skimage import data

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def main(out=Path(__file__).parent / "photos"):
    out.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        Image.fromarray(getattr(data, name)()).save(out / f"{name}.jpg", quality=92)
        print(f"wrote {out / name}.jpg")


if __name__ == "__main__":
    main()
