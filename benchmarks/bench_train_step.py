"""Training steps per second of the U-Net: bfloat16 vs float32 on this CPU, frozen and fine-tuned encoder.

Times ``fit`` on random 128 px crops (batch 4, 16 steps after a warm-up
epoch) for each precision, in a fresh process each, and prints the ratio
float32 time / bfloat16 time per step: above 1 means mixed precision pays.
On a CPU without bfloat16 instructions (no ``avx512_bf16``/``amx_bf16`` flag)
it says so; ``suite train`` then keeps float32.

Run (about 2 minutes on 2 cores; run alone):

    python benchmarks/bench_train_step.py [--backbone vgg16] [--size 128] [--batch 4]
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="vgg16")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--worker", nargs=2, metavar=("FROZEN", "POLICY"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker(a.backbone, a.size, a.batch, a.worker[0] == "1", a.worker[1])
    sys.path.insert(0, str(ROOT))
    from suite.common.device import cpu_has_bf16

    print(f"bfloat16 instructions on this CPU: {'yes' if cpu_has_bf16() else 'no'}")
    for frozen in (True, False):
        times = {}
        for policy in ("float32", "mixed_bfloat16"):
            out = subprocess.run([sys.executable, __file__, "--backbone", a.backbone, "--size", str(a.size),
                                  "--batch", str(a.batch), "--worker", "1" if frozen else "0", policy],
                                 capture_output=True, text=True, check=True).stdout
            times[policy] = json.loads(out.strip().splitlines()[-1])["s_per_step"]
        what = "frozen encoder" if frozen else "fine-tuned"
        print(f"{a.backbone} {what}: float32 {times['float32']:.3f} s/step, bfloat16 {times['mixed_bfloat16']:.3f} "
              f"s/step, ratio {times['float32'] / times['mixed_bfloat16']:.2f}x")


if __name__ == "__main__":
    main()
