"""`suite segment` in bfloat16 vs float32 Keras `predict` of the same model (images/s), and mask agreement.

In one run, for each model, on the same folder of generated JPEGs (all the
same size, so ``predict`` can batch them):

1. float32 ``predict``: ``model.predict`` on arrays already in memory (padded
   to the stride), same batch size, argmax in NumPy: the model's own float32 speed;
2. ``segment`` bfloat16: :func:`suite.unet.segment.segment_folder` (decode,
   predict, write PNG masks) with the model loaded under the ``mixed_bfloat16``
   policy, as ``suite segment`` does by default on a CPU with bfloat16
   instructions (:func:`suite.unet.model_io.load_segmentation`);
3. float32 ``predict_on_batch`` of the model with its argmax compiled in
   (:func:`suite.unet.predict.with_head`), the stricter float32 baseline;
4. ``segment`` float32 (``--no-mixed-precision``), for reference.

Each throughput is the median of ``--repeats`` timed passes after a warm-up.
Agreement is the fraction of pixels whose bfloat16 mask (the PNGs segment
wrote) equals the float32 argmax.

Models: ``assets/demo_unet.keras`` (a small plain U-Net) and a VGG16 U-Net
with random weights (``weights="none"``; speed does not depend on the weights,
agreement a little). On a CPU without bfloat16 instructions the bfloat16 pass
is skipped: there segment keeps float32.

Usage::

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_segment_speed.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SUITE_QUIET", "1")


def _load(path: Path, policy: str):
    import keras

    from suite.unet.model_io import load_segmentation_model

    keras.config.set_dtype_policy(policy)
    try:
        return load_segmentation_model(path)
    finally:
        keras.config.set_dtype_policy("float32")


def _predict_float32(model, batch, batch_size):
    t = time.perf_counter()
    probs = model.predict(batch, batch_size=batch_size, verbose=0)
    masks = probs.argmax(-1).astype(np.uint8)
    return len(batch) / (time.perf_counter() - t), masks


def _head_float32(model, batch, batch_size):
    """The float32 model alone at its fastest: ``predict_on_batch`` of the model with its argmax compiled in."""
    from suite.unet.predict import with_head

    head = with_head(model, "mask")
    t = time.perf_counter()
    for i in range(0, len(batch), batch_size):
        head.predict_on_batch(batch[i : i + batch_size])
    return len(batch) / (time.perf_counter() - t)


def _segment(model, folder, out, batch_size):
    from suite.unet.segment import segment_folder

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    report = segment_folder(folder, out, model, batch_size=batch_size, progress=False)
    dt = time.perf_counter() - t
    assert report.ok, report.to_dict()["counts"]
    return len(report.done) / dt


def _agreement(out: Path, files, reference) -> float:
    from PIL import Image

    same = total = 0
    for f, ref in zip(files, reference):
        mask = np.asarray(Image.open(out / f"{f.stem}.png"))
        ref = ref[: mask.shape[0], : mask.shape[1]]
        same += int((mask == ref).sum())
        total += ref.size
    return same / total


def bench(path: Path, label: str, folder: Path, work: Path, args) -> dict:
    from suite.common.device import cpu_has_bf16
    from suite.common.io.images import load_image
    from suite.unet.model_io import model_metadata
    from suite.unet.predict import pad_to_multiple

    files = sorted(folder.glob("*.jpg"))
    f32 = _load(path, "float32")
    stride = model_metadata(f32).stride
    batch = np.stack([pad_to_multiple(load_image(f), stride)[0] for f in files]).astype(np.float32)
    bf16 = _load(path, "mixed_bfloat16") if cpu_has_bf16() else None
    if bf16 is not None:
        assert bf16.dtype_policy.name == "mixed_bfloat16", bf16.dtype_policy.name
    # Warm-up: trace every function each method uses.
    _predict_float32(f32, batch[: args.batch_size], args.batch_size)
    _head_float32(f32, batch[: args.batch_size], args.batch_size)
    for m, name in ((f32, "f32"), (bf16, "bf16")):
        if m is not None:
            _segment(m, sorted(folder.glob("*.jpg"))[: args.batch_size], work / f"warm_{name}", args.batch_size)
    runs = {"predict_f32": [], "head_f32": [], "segment_bf16": [], "segment_f32": []}
    reference = None
    for r in range(args.repeats):
        rate, reference = _predict_float32(f32, batch, args.batch_size)
        runs["predict_f32"].append(rate)
        runs["head_f32"].append(_head_float32(f32, batch, args.batch_size))
        if bf16 is not None:
            runs["segment_bf16"].append(_segment(bf16, folder, work / "out_bf16", args.batch_size))
        runs["segment_f32"].append(_segment(f32, folder, work / "out_f32", args.batch_size))
        print(
            f"  {label} pass {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in runs.items() if v) + " img/s",
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    result = {"label": label, "params": f32.count_params(), **med}
    if bf16 is not None:
        result["agreement"] = _agreement(work / "out_bf16", files, reference)
    result["agreement_f32"] = _agreement(work / "out_f32", files, reference)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="images in the folder")
    ap.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="seed of the VGG16 U-Net's random weights")
    ap.add_argument("--models", default="demo,vgg16", help="comma-separated: demo, vgg16")
    args = ap.parse_args()

    from bench_segment import make_folder

    from suite.common.device import cpu_has_bf16, import_backend_quietly

    import_backend_quietly()
    import keras

    work = Path(tempfile.mkdtemp(prefix="bench_segment_speed_"))
    try:
        folder = work / "images"
        make_folder(folder, args.n, tuple(args.size))
        models = {"demo": (ROOT / "assets" / "demo_unet.keras", "demo_unet.keras (plain U-Net, 12-192 filters)")}
        if "vgg16" in args.models:
            from suite.unet.model import build_unet

            keras.config.set_dtype_policy("float32")
            keras.utils.set_random_seed(args.seed)  # agreement depends a little on the random weights
            path = work / "vgg16_unet.keras"
            build_unet("vgg16", num_classes=5, weights="none").save(path)
            models["vgg16"] = (path, "VGG16 U-Net, weights=None, 5 classes")
        results = [bench(*models[k], folder, work, args) for k in args.models.split(",")]
        print()
        print(
            f"folder: {args.n} JPEGs of {args.size[0]}x{args.size[1]}, batch size {args.batch_size}, "
            f"keras {keras.__version__} ({keras.backend.backend()}), {os.cpu_count()} CPU cores, "
            f"bfloat16 instructions: {cpu_has_bf16()}; medians of {args.repeats} passes; load {os.getloadavg()[0]:.2f}"
        )
        for r in results:
            print(f"{r['label']} ({r['params']:,} parameters), images/s:")
            print(f"  float32 Keras predict (preloaded arrays):  {r['predict_f32']:.2f}")
            print(f"  float32 predict_on_batch, argmax compiled: {r['head_f32']:.2f}")
            print(f"  segment_folder, float32:                   {r['segment_f32']:.2f}")
            if "segment_bf16" in r:
                ratio = r["segment_bf16"] / r["predict_f32"]
                print(f"  segment_folder, bfloat16:                  {r['segment_bf16']:.2f}")
                print(f"  segment bfloat16 / float32 predict = {ratio:.2f}   (goal >= 1.5)")
                print(
                    f"  segment bfloat16 / float32 predict_on_batch (argmax compiled) = {r['segment_bf16'] / r['head_f32']:.2f}"
                )
                print(f"  segment bfloat16 / segment float32 = {r['segment_bf16'] / r['segment_f32']:.2f}")
                print(f"  pixels agreeing with float32 argmax: {r['agreement']:.4%}   (goal >= 99.5%)")
            else:
                print("  (no bfloat16 instructions on this CPU: segment keeps float32)")
            print(f"  segment float32 / float32 predict = {r['segment_f32'] / r['predict_f32']:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
