"""Throughput of `suite segment --runner beam` (DirectRunner, 2 worker processes) against the local runner.

In one run, on one folder of generated JPEGs (``--images``, default 240, of
``--size`` px), each runner segments the whole folder into its own empty output
folder, timed end to end as a user sees it (the model load, and for Beam the
pipeline set-up and the start of the worker processes, included):

1. local: :func:`suite.unet.segment.segment_folder`, one process;
2. beam: :func:`suite.unet.beam_runner.segment_beam` with the DirectRunner in
   multi-process mode (``direct_running_mode=multi_processing``,
   ``direct_num_workers=2``), each worker loading the model once.

It prints images/s for both and their ratio, and checks that both wrote the
same masks. One pass each, no repeats: Beam's start-up cost is part of the figure.

Usage (wrap in flock so other heavy jobs do not overlap the timings)::

    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_beam.py

Uses ``assets/demo_unet.keras`` when it exists, else a MobileNetV2 U-Net
(5 classes, random weights: throughput does not depend on the weights).
Needs the ``beam`` extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SUITE_QUIET", "1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=240)
    ap.add_argument("--size", type=int, default=256, help="Side of the generated JPEGs.")
    ap.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes.")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model", type=Path, default=ROOT / "assets" / "demo_unet.keras")
    ap.add_argument("--json", action="store_true", help="Print the result as one JSON object on stdout.")
    args = ap.parse_args()

    from bench_segment import get_model, make_folder

    from suite.common.device import import_backend_quietly

    import_backend_quietly()
    logging.getLogger().setLevel(logging.ERROR)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    from suite.unet.beam_runner import segment_beam
    from suite.unet.segment import segment_folder

    with tempfile.TemporaryDirectory(prefix="bench_beam_") as tmp:
        tmp = Path(tmp)
        src = tmp / "images"
        make_folder(src, args.images, (args.size, args.size))
        _, model_desc = get_model(args.model, tmp)
        model_path = args.model if args.model.exists() else tmp / "bench_mnv2_unet.keras"
        print(
            f"model: {model_desc}; {args.images} JPEGs of {args.size} x {args.size}; cpu_count={os.cpu_count()}",
            file=sys.stderr,
        )

        t = time.perf_counter()
        local = segment_folder(src, tmp / "local", model_path, batch_size=args.batch_size, progress=False)
        local_s = time.perf_counter() - t
        assert len(local.done) == args.images, local.to_dict()["counts"]

        t = time.perf_counter()
        beam = segment_beam(
            src,
            tmp / "beam",
            model_path,
            batch_size=args.batch_size,
            beam_options=[
                "direct_running_mode=multi_processing",
                f"direct_num_workers={args.workers}",
                "default_sdk_harness_log_level=ERROR",
            ],
        )
        beam_s = time.perf_counter() - t
        assert beam.done == args.images and beam.ok, beam.to_dict()["counts"]

        differ = [
            p.name
            for p in sorted((tmp / "local").glob("*.png"))
            if p.read_bytes() != (tmp / "beam" / p.name).read_bytes()
        ]

    result = {
        "images": args.images,
        "size": args.size,
        "model": model_desc,
        "beam_workers": args.workers,
        "local_seconds": round(local_s, 2),
        "local_images_per_second": round(args.images / local_s, 2),
        "beam_seconds": round(beam_s, 2),
        "beam_images_per_second": round(args.images / beam_s, 2),
        "beam_over_local": round(local_s / beam_s, 3),
        "masks_differing": len(differ),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"local runner:                  {result['local_images_per_second']:7.2f} images/s ({local_s:.1f} s)")
    print(
        f"Beam DirectRunner, {args.workers} workers:  {result['beam_images_per_second']:7.2f} images/s "
        f"({beam_s:.1f} s, start-up included)"
    )
    print(f"ratio beam / local: {result['beam_over_local']:.2f}; masks differing: {len(differ)} of {args.images}")


if __name__ == "__main__":
    main()
