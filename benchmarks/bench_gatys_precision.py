"""Gatys per-evaluation cost: the compiled loss-and-gradient through a float32 vs a bfloat16 feature network.

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_gatys_precision.py --sizes 128 256 512

The benchmark's objective (embedded VGG16 to block5_conv2, the tutorial's
weights and Gram/(HW), TV 1) on a random square image at each size; the
bfloat16 network is :func:`suite.style.extractor.with_dtype_policy` of the
same extractor (convolutions and pools in ``mixed_bfloat16``, preprocessing,
Grams and loss sums float32), as ``StyleTransfer`` builds it. Printed: the
median of ``--repeats`` evaluations after two warm-up calls, the time ratio,
and the loss and gradient norm of the same image under each network.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from bench_style import CONTENT_LAYERS, CONTENT_W, STYLE_LAYERS, STYLE_W, TV_W  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    from keras import ops

    from suite.style.extractor import BF16_POLICY, build_style_extractor, with_dtype_policy
    from suite.style.grad import compiled_value_and_grad, to_backend
    from suite.style.losses import gram_matrix, style_transfer_objective

    ex = build_style_extractor("vgg16", "embedded", STYLE_LAYERS, CONTENT_LAYERS, quiet=True)
    networks = {"float32": ex, "bfloat16": with_dtype_policy(ex, BF16_POLICY)}
    for size in args.sizes:
        rng = np.random.default_rng(0)
        content = rng.uniform(0, 255, (1, size, size, 3)).astype("float32")
        style = rng.uniform(0, 255, (1, size, size, 3)).astype("float32")
        fc, fs = ex(content), ex(style)
        ct = to_backend({k: np.asarray(fc[k]) for k in CONTENT_LAYERS})
        st = [to_backend({k: np.asarray(gram_matrix(fs[k])) for k in STYLE_LAYERS})]
        x = ops.convert_to_tensor(0.5 * (content + style))
        seconds = {}
        for name, net in networks.items():

            def loss_fn(x, ct, st, net=net):
                feats = {k: ops.cast(v, "float32") for k, v in net(x).items()}
                return style_transfer_objective(x, feats, ct, st, STYLE_W, CONTENT_W, TV_W)

            vg = compiled_value_and_grad(loss_fn).on_device
            for _ in range(2):
                loss, _, g = vg(x, ct, st)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                loss, _, g = vg(x, ct, st)
                float(ops.convert_to_numpy(loss))
                times.append(time.perf_counter() - t0)
            seconds[name] = float(np.median(times))
            gnorm = float(ops.convert_to_numpy(ops.sqrt(ops.sum(g * g))))
            print(
                f"{size} px {name}: {seconds[name]:.3f} s per evaluation  loss {float(ops.convert_to_numpy(loss)):,.1f}"
                f"  |grad| {gnorm:.4g}",
                flush=True,
            )
        print(f"{size} px bfloat16 / float32 time: {seconds['bfloat16'] / seconds['float32']:.2f}", flush=True)


if __name__ == "__main__":
    main()
