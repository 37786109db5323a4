"""Makes docs/person_regions.jpg: the astronaut, her person mask, and person and background in two styles.

    .venv/bin/python docs/make_person_regions.py [--work /tmp/person_regions]

Runs two suite commands (outputs that already exist in --work are kept, as the
suite's commands resume), then puts photo | overlay | mask | result | the two styles side by side:

    suite segment assets/photos/astronaut.jpg --model person -o WORK --overlay
    suite stylize assets/photos/astronaut.jpg --mask-from person \
        --class-style background=assets/styles/mosaic.jpg,person=assets/styles/swirls.jpg \
        --size 256 --iterations 40,80 --style-weight 0.1 -o WORK/astronaut_regions.png

The stylize step took 197 s on 2 CPU cores shared with other jobs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", type=Path, default=Path("/tmp/person_regions"))
    args = p.parse_args()
    suite = [sys.executable, "-m", "suite"]
    photo = ROOT / "assets" / "photos" / "astronaut.jpg"
    styles = ROOT / "assets" / "styles"
    subprocess.run(suite + ["segment", str(photo), "--model", "person", "-o", str(args.work), "--overlay"], check=True)
    result = args.work / "astronaut_regions.png"
    subprocess.run(
        suite
        + [
            "stylize",
            str(photo),
            "--mask-from",
            "person",
            "--class-style",
            f"background={styles / 'mosaic.jpg'},person={styles / 'swirls.jpg'}",
            "--size",
            "256",
            "--iterations",
            "40,80",
            "--style-weight",
            "0.1",
            "-o",
            str(result),
            "--no-progress",
        ],
        check=True,
    )

    import numpy as np
    from PIL import Image

    from suite.common.ui.viz import labelled_row

    mask = (np.asarray(Image.open(args.work / "astronaut.png")) == 1).astype(np.uint8) * 255
    images = [
        Image.open(photo),
        Image.open(args.work / "astronaut_overlay.jpg"),
        Image.fromarray(mask),
        Image.open(result),
        Image.open(styles / "swirls.jpg"),
        Image.open(styles / "mosaic.jpg"),
    ]
    labels = ["photo", "overlay (--model person)", "person mask", "person: swirls, bg: mosaic", "swirls", "mosaic"]
    row = labelled_row(images, labels, height=256)
    out = ROOT / "docs" / "person_regions.jpg"
    row.save(out, quality=88)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
