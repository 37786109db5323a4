"""Makes tests/data/selfie_ref.npz: MediaPipe's own selfie-segmentation outputs on the bundled photos.

Run ONCE, in a separate environment (mediapipe 0.10.21 needs numpy < 2, which the
suite does not accept), from the repository root:

    python3.11 -m venv /tmp/mp-venv
    /tmp/mp-venv/bin/pip install "mediapipe==0.10.21" "numpy<2"
    /tmp/mp-venv/bin/python assets/selfie_reference.py

For each photo it stores two references, both made by MediaPipe's runtime
(``mp.solutions.selfie_segmentation``, general model, ``model_selection=0``):

- ``<stem>/net``: the photo resized by PIL (bilinear) to exactly 256 x 256 and
  given to MediaPipe, so that its input and output resizes are identities and
  the output is the network's own 256 x 256 person probability. This is what
  the parity test of :mod:`suite.unet.selfie` compares against (float16).
- ``<stem>/landscape``: the same for the landscape model (``model_selection=1``)
  on a 144 x 256 input.
- ``<stem>/full``: MediaPipe's whole pipeline on the photo at its own size
  (its own resize to 256 x 256 and back up), every 4th pixel (float16), to
  compare the suite's full-size preset with.

The test resizes the photo the same way (:func:`net_input`), so the inputs
need not be stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]
OUT = ROOT / "tests" / "data" / "selfie_ref.npz"
FULL_STEP = 4


def net_input(path, size=(256, 256)) -> np.ndarray:
    """The photo as the network's ``size = (h, w)`` uint8 RGB input (PIL bilinear resize)."""
    img = Image.open(path).convert("RGB")
    return np.asarray(img.resize((size[1], size[0]), Image.BILINEAR), dtype=np.uint8)


def main():
    import mediapipe as mp

    arrays = {}
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        for stem in PHOTOS:
            path = ROOT / "assets" / "photos" / f"{stem}.jpg"
            x = net_input(path)
            net = seg.process(x).segmentation_mask
            assert net.shape == (256, 256), net.shape
            full_img = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
            full = seg.process(full_img).segmentation_mask
            assert full.shape == full_img.shape[:2], full.shape
            arrays[f"{stem}/net"] = net.astype(np.float16)
            arrays[f"{stem}/full"] = full[::FULL_STEP, ::FULL_STEP].astype(np.float16)
            print(
                f"{stem}: net mean {net.mean():.4f}, person share {(net > 0.5).mean():.3f}; "
                f"full {full.shape} mean {full.mean():.4f}"
            )
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        for stem in PHOTOS:
            x = net_input(ROOT / "assets" / "photos" / f"{stem}.jpg", (144, 256))
            land = seg.process(x).segmentation_mask
            assert land.shape == (144, 256), land.shape
            arrays[f"{stem}/landscape"] = land.astype(np.float16)
    arrays["mediapipe_version"] = np.array(mp.__version__)
    arrays["full_step"] = np.array(FULL_STEP)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
