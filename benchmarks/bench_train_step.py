"""Training steps per second of the U-Net: bfloat16 vs float32 on this CPU, frozen and fine-tuned encoder;
with ``--cache``, cached frozen features vs the plain frozen step.

Times ``fit`` on random 128 px crops (batch 4, 16 steps after a warm-up
epoch) for each precision, in a fresh process each, and prints the ratio
float32 time / bfloat16 time per step: above 1 means mixed precision pays.
On a CPU without bfloat16 instructions (no ``avx512_bf16``/``amx_bf16`` flag)
it says so; ``suite train`` then keeps float32.

Run (about 2 minutes on 2 cores; run alone):

    python benchmarks/bench_train_step.py [--backbone vgg16] [--size 128] [--batch 4]

``--cache`` instead times, in one process and alternating rounds, the plain
frozen-encoder step (``fit`` of the whole U-Net) against the step
``suite train`` takes on cached features (``fit`` of the same U-Net's decoder,
:func:`suite.unet.feature_cache.decoder_model`, on the encoder's stored
features of the same crops, fed by :meth:`FeatureCache.dataset`), same batch
and crop, and prints the ratio; ``--policy`` picks the precision (default: as
``suite train`` on this CPU) and ``--decoder W,W,...`` the decoder widths:

    python benchmarks/bench_train_step.py --cache [--decoder 128,64,32,16,8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(backbone: str, size: int, batch: int, frozen: bool, policy: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from suite.unet.model import UNet

    keras.mixed_precision.set_global_policy(policy)
    model = UNet(backbone, num_classes=4, weights="auto", freeze_encoder=frozen)
    model.compile()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch * 8, size, size, 3)).astype("float32")
    y = rng.integers(0, 4, (batch * 8, size, size))
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # traces the step
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
    print(json.dumps({"s_per_step": (time.perf_counter() - t) / 16}))


def cache_worker(backbone: str, size: int, batch: int, policy: str, decoder, rounds: int = 3) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from suite.unet import feature_cache as fc
    from suite.unet.model import UNet

    keras.mixed_precision.set_global_policy(policy)
    model = UNet(backbone, num_classes=4, weights="auto", freeze_encoder=True, decoder_filters=decoder)
    model.compile()
    rng = np.random.default_rng(0)
    n, steps = batch * 8, 8
    x = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    y = rng.integers(0, 4, (n, size, size)).astype("int32")
    storage, dtype = fc._storage_dtype(keras.mixed_precision.global_policy().compute_dtype)
    dec = fc.decoder_model(model)
    feats = fc._encode(model.get_layer("encoder"), list(x), storage)
    cache = fc.FeatureCache(
        feats,
        y,
        {k: v[:0] for k, v in feats.items()},
        y[:0],
        dtype,
        1.0,
        "one",
        "",
        input_dtypes={k: str(t.dtype) for k, t in dec.input.items()},
    )
    dec.compile(optimizer=model.optimizer, loss=model.loss)
    stream = cache.dataset(batch, training=True)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # traces both steps
    dec.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    plain, cached = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        plain.append((time.perf_counter() - t) / steps)
        t = time.perf_counter()
        dec.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
        cached.append((time.perf_counter() - t) / steps)
    print(
        json.dumps(
            {
                "plain": float(np.median(plain)),
                "cached": float(np.median(cached)),
                "cache_mb_per_crop": cache.nbytes / n / 2**20,
                "dtype": dtype,
            }
        )
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="vgg16")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--cache", action="store_true", help="cached features vs the plain frozen step")
    p.add_argument("--policy", default=None, help="with --cache: float32 or mixed_bfloat16 [as suite train]")
    p.add_argument("--decoder", default=None, help="with --cache: decoder widths, deepest first")
    p.add_argument("--worker", nargs=2, metavar=("FROZEN", "POLICY"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    decoder = tuple(int(v) for v in a.decoder.split(",")) if a.decoder else None
    if a.worker:
        if a.worker[0] == "cache":
            return cache_worker(a.backbone, a.size, a.batch, a.worker[1], decoder)
        return worker(a.backbone, a.size, a.batch, a.worker[0] == "1", a.worker[1])
    sys.path.insert(0, str(ROOT))
    from suite.common.device import cpu_has_bf16

    if a.cache:
        policy = a.policy or ("mixed_bfloat16" if cpu_has_bf16() else "float32")
        extra = ["--decoder", a.decoder] if a.decoder else []
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--backbone",
                a.backbone,
                "--size",
                str(a.size),
                "--batch",
                str(a.batch),
                *extra,
                "--worker",
                "cache",
                policy,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(
            f"{a.backbone} frozen, {policy}, batch {a.batch}, {a.size} px, decoder {a.decoder or 'default'}: "
            f"plain {r['plain']:.3f} s/step, cached features {r['cached']:.3f} s/step, ratio "
            f"{r['plain'] / r['cached']:.2f}x ({r['cache_mb_per_crop']:.2f} MB per cached crop, {r['dtype']})"
        )
        return

    print(f"bfloat16 instructions on this CPU: {'yes' if cpu_has_bf16() else 'no'}")
    for frozen in (True, False):
        times = {}
        for policy in ("float32", "mixed_bfloat16"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--backbone",
                    a.backbone,
                    "--size",
                    str(a.size),
                    "--batch",
                    str(a.batch),
                    "--worker",
                    "1" if frozen else "0",
                    policy,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            times[policy] = json.loads(out.strip().splitlines()[-1])["s_per_step"]
        what = "frozen encoder" if frozen else "fine-tuned"
        print(
            f"{a.backbone} {what}: float32 {times['float32']:.3f} s/step, bfloat16 {times['mixed_bfloat16']:.3f} "
            f"s/step, ratio {times['float32'] / times['mixed_bfloat16']:.2f}x"
        )


if __name__ == "__main__":
    main()
