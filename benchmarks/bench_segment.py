"""Throughput of `suite segment` against the model alone and a naive loop, plus peak RSS on an 8000x8000 photo.

In one run, on a folder of generated JPEGs (all the same size, so the model
alone can batch them too):

1. segment: :func:`suite.unet.segment.segment_folder` (decode, predict, write PNG masks);
2. model alone: ``predict_on_batch`` on arrays already in memory, same batch size (the ceiling);
3. naive: what a user would write first: PIL open, ``model.predict`` one image, argmax, save.

Each throughput is the median of ``--repeats`` timed passes after one warm-up
batch (the naive loop times a subset, ``--naive``). The 8000x8000 run happens in
a child process so its peak RSS (``ru_maxrss``) is its own.

Usage (wrap in flock so other heavy jobs do not overlap the timings)::

    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_segment.py

Uses ``assets/demo_unet.keras`` when it exists, else a MobileNetV2 U-Net
(5 classes, random weights: throughput does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SUITE_QUIET", "1")


def _smooth(h, w, seed):
    rng = np.random.default_rng(seed)
    yy = np.linspace(0, rng.uniform(4, 12), h, dtype=np.float32)[:, None]
    xx = np.linspace(0, rng.uniform(4, 12), w, dtype=np.float32)[None, :]
    img = np.empty((h, w, 3), np.uint8)
    for c in range(3):
        ph = rng.uniform(0, 6)
        img[..., c] = ((np.sin(xx * (c + 1) + ph) * np.cos(yy * (3 - c) + ph) + 1) * 127.5).astype(np.uint8)
    return img


def make_folder(folder: Path, n: int, size: tuple[int, int]):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(_smooth(size[0], size[1], i)).save(folder / f"img{i:04d}.jpg", quality=90)


def _device_name():
    from suite.common.device import gpu_names

    gpus = gpu_names()
    return f"GPU: {gpus[0]}" if gpus else "no GPU"


def get_model(path: Path | None, workdir: Path):
    from suite.unet.model_io import load_segmentation_model

    if path is not None and path.exists():
        return load_segmentation_model(path), str(path)
    from suite.unet.model import build_unet

    model = build_unet("mobilenetv2", num_classes=5, weights="none")
    tmp = workdir / "bench_mnv2_unet.keras"
    model.save(tmp)
    return load_segmentation_model(tmp), f"build_unet('mobilenetv2', num_classes=5, weights='none') -> {tmp}"


def bench_model_alone(model, arrays, batch_size, stride):
    from suite.unet.predict import pad_to_multiple

    batch = np.stack([pad_to_multiple(a, stride)[0] for a in arrays])
    t = time.perf_counter()
    for i in range(0, len(batch), batch_size):
        model.predict_on_batch(batch[i : i + batch_size])
    return len(batch) / (time.perf_counter() - t)


def bench_segment(model, folder, batch_size, workdir):
    from suite.unet.segment import segment_folder

    out = workdir / "seg_out"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    report = segment_folder(folder, out, model, batch_size=batch_size, progress=False)
    dt = time.perf_counter() - t
    assert report.ok and len(report.done) == len(list(folder.glob("*.jpg"))), report.to_dict()["counts"]
    return len(report.done) / dt


def bench_naive(model, files, workdir):
    from PIL import Image

    out = workdir / "naive_out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    t = time.perf_counter()
    for f in files:
        x = np.asarray(Image.open(f).convert("RGB"), dtype=np.float32)
        h, w = x.shape[:2]
        ph, pw = -h % 32, -w % 32  # the one thing a user must get right for a U-Net
        x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        logits = model.predict(x[None], verbose=0)[0, :h, :w]
        Image.fromarray(logits.argmax(-1).astype(np.uint8)).save(out / (f.stem + ".png"))
    return len(files) / (time.perf_counter() - t)


def child_rss(image: str, model: str, out: str, tile: int | None):
    """Runs segment_folder on one image in this (fresh) process; prints JSON with peak RSS."""
    from suite.unet.segment import segment_folder

    t = time.perf_counter()
    report = segment_folder([image], out, model, overlay=True, tile=tile, progress=False)
    dt = time.perf_counter() - t
    print(
        json.dumps(
            {
                "ok": report.ok,
                "seconds": dt,
                "failed": report.failed,
                "maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "assets" / "demo_unet.keras")
    ap.add_argument("--n", type=int, default=300, help="images in the folder")
    ap.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--naive", type=int, default=60, help="images timed for the naive loop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--big", type=int, default=8000, help="side of the RSS test image (0 skips it)")
    ap.add_argument("--child", nargs=3, metavar=("IMAGE", "MODEL", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--tile", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_rss(*args.child, tile=args.tile)

    from suite.common.device import import_backend_quietly
    from suite.common.io.images import load_image
    from suite.unet.model_io import model_metadata

    import_backend_quietly()
    import keras

    work = Path(tempfile.mkdtemp(prefix="bench_segment_"))
    try:
        folder = work / "images"
        make_folder(folder, args.n, tuple(args.size))
        files = sorted(folder.glob("*.jpg"))
        model, model_desc = get_model(args.model, work)
        stride = model_metadata(model).stride
        arrays = [load_image(f) for f in files]
        # Warm-up: trace the predict function for the batch shapes each method will use.
        from suite.unet.predict import pad_to_multiple

        warm = np.stack([pad_to_multiple(a, stride)[0] for a in arrays[: args.batch_size]])
        model.predict_on_batch(warm)
        model.predict_on_batch(warm[:1])
        model.predict(warm[:1], verbose=0)

        results = {"model": [], "segment": [], "naive": []}
        for r in range(args.repeats):
            results["model"].append(bench_model_alone(model, arrays, args.batch_size, stride))
            results["segment"].append(bench_segment(model, folder, args.batch_size, work))
            results["naive"].append(bench_naive(model, files[: args.naive], work))
            print(f"pass {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} img/s" for k, v in results.items()), flush=True)
        med = {k: statistics.median(v) for k, v in results.items()}

        print()
        print(f"model: {model_desc} ({model.count_params():,} parameters, stride {stride})")
        print(
            f"folder: {args.n} JPEGs of {args.size[0]}x{args.size[1]}, batch size {args.batch_size}, "
            f"keras {keras.__version__} ({keras.backend.backend()} backend), {os.cpu_count()} CPU cores, "
            f"{_device_name()}"
        )
        print(f"medians of {args.repeats} passes (images/s):")
        print(f"  model alone (preloaded arrays, batched predict_on_batch): {med['model']:.2f}")
        print(f"  suite segment (segment_folder: decode + predict + write PNG): {med['segment']:.2f}")
        print(f"  naive loop (PIL open, model.predict per image, save; {args.naive} images): {med['naive']:.2f}")
        print(f"  segment / model alone = {med['segment'] / med['model']:.2f}   (goal >= 0.85)")
        print(f"  segment / naive       = {med['segment'] / med['naive']:.2f}   (goal >= 3)")

        if args.big:
            from PIL import Image

            big = work / f"photo_{args.big}.jpg"
            Image.fromarray(_smooth(args.big, args.big, 0)).save(big, quality=90)
            model_file = args.model if args.model.exists() else Path(model_desc.split("-> ")[-1])
            cmd = [sys.executable, __file__, "--child", str(big), str(model_file), str(work / "big_out")]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode or not line:
                print(f"8000x8000 run failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
            else:
                res = json.loads(line[-1])
                print(
                    f"{args.big}x{args.big} JPEG with --overlay (tiled, child process): "
                    f"{res['seconds']:.1f} s, peak RSS {res['maxrss_bytes'] / 2**30:.2f} GiB "
                    f"(goal < 4 GiB), ok={res['ok']}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
