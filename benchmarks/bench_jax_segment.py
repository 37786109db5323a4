"""Compiles and time of `segment_folder` on JAX: per-size shapes against bounded ones, in one run.

JAX compiles once per input shape. In one process, on photos of different sizes
(crops of the bundled photos, one size each), this segments the folder twice:

1. per size: :func:`suite.unet.predict.shape_buckets` forced off (each batch at
   its own padded size; whole-image models as one graph), as before the buckets;
2. bounded: the default on JAX (padded sides on :func:`suite.unet.predict.bucket_side`'s
   ladder, batches in power-of-two parts, whole-image models in stages).

The two passes see different shapes, so the second reuses nothing the first compiled.
Compiles are counted from ``jax.monitoring``'s ``backend_compile_duration`` events; the
model's load (random initializers, each one compile per weight shape) is reported apart.

Usage::

    KERAS_BACKEND=jax flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_jax_segment.py --model person
    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_jax_segment.py --model assets/demo_unet.keras --images 12
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _photos(folder: Path, n: int, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    sources = sorted((ROOT / "suite" / "assets" / "photos").glob("*.jpg"))
    for i in range(n):
        with Image.open(sources[i % len(sources)]) as im:
            w, h = im.size
            cw, ch = int(rng.integers(min(200, w), w + 1)), int(rng.integers(min(200, h), h + 1))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            im.crop((x, y, x + cw, y + ch)).convert("RGB").save(folder / f"{i:03d}.jpg", quality=92)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="person", help="A preset or a .keras file.")
    ap.add_argument("--images", type=int, default=12, help="Photos, each of its own size.")
    args = ap.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")

    import jax.monitoring
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax")
    compiles = {"n": 0, "s": 0.0}

    def on_event(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles["n"] += 1
            compiles["s"] += duration

    jax.monitoring.register_event_duration_secs_listener(on_event)
    from suite.unet import predict as P
    from suite.unet.model_io import load_segmentation
    from suite.unet.segment import segment_folder

    work = Path(tempfile.mkdtemp(prefix="bench-jax-"))
    try:
        (work / "in").mkdir()
        _photos(work / "in", args.images)
        t = time.perf_counter()
        model, _ = load_segmentation(args.model)
        results = {
            "load": {
                "seconds": round(time.perf_counter() - t, 2),
                "compiles": compiles["n"],
                "compile_seconds": round(compiles["s"], 2),
            }
        }
        for name, bounded in (("per_size", False), ("bounded", True)):
            P.shape_buckets = lambda on=bounded: on
            n0, s0, t = compiles["n"], compiles["s"], time.perf_counter()
            segment_folder([work / "in"], work / name, model, progress=False)
            results[name] = {
                "seconds": round(time.perf_counter() - t, 2),
                "compiles": compiles["n"] - n0,
                "compile_seconds": round(compiles["s"] - s0, 2),
            }
        results["ratio_bounded_over_per_size"] = round(
            results["bounded"]["seconds"] / results["per_size"]["seconds"], 3
        )
        print(json.dumps({"model": args.model, "images": args.images, **results}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
