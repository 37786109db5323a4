"""Does the folder pipeline keep the model busy? Training step rate: tf.data from files vs arrays in memory.

In one run, on the generated data set (``assets/segdata/train``), the same
U-Net is trained for the same number of steps

* from the folder pipeline ``suite train`` uses (:func:`suite.unet.tfdata.make_dataset`:
  parallel decode with the suite's readers, cache, random crops, mask-safe
  augmentation, prefetch), and
* from the same pairs decoded up front into numpy arrays (``fit(x, y)``),
  with no augmentation: the upper bound for any input pipeline.

Repeated rounds alternate the two; the median of the per-round ratios is
printed (goal >= 0.9).

Run: flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_pipeline.py [--steps 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
DATA = ROOT / "assets" / "segdata" / "train"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="Timed training steps per round.")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--backbone", default="vgg16")
    p.add_argument("--freeze-encoder", action="store_true", help="A lighter step: a harder test for the pipeline.")
    a = p.parse_args(argv)

    import keras
    import numpy as np

    from suite.unet.augment import SegmentationAugmenter
    from suite.unet.data import check_source, open_source
    from suite.unet.losses import get_loss
    from suite.unet.metrics import segmentation_metrics
    from suite.unet.model import build_unet
    from suite.unet.tfdata import make_dataset, preload_arrays

    keras.utils.set_random_seed(0)
    src = open_source(DATA / "images", DATA / "masks", warn=False)
    stats = check_source(src, 5)
    size = (a.size, a.size)
    folder = make_dataset(
        src, size, a.batch_size, training=True, augmenter=SegmentationAugmenter(seed=0), sizes=stats.sizes
    ).repeat()
    x, y = preload_arrays(src, size)
    model = build_unet(a.backbone, 5, weights="none", freeze_encoder=a.freeze_encoder)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=get_loss("ce+dice", 5), metrics=segmentation_metrics(5))

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:  # after warm-up: tracing and the first (uncached) decode pass
                self.t0 = time.perf_counter()
            self.t1 = time.perf_counter()

    def rate(kind):
        t = Timer()
        if kind == "folder":
            model.fit(folder, steps_per_epoch=a.steps + 2, epochs=1, callbacks=[t], verbose=0)
        else:
            n = (a.steps + 2) * a.batch_size
            idx = np.resize(np.arange(len(x)), n)
            model.fit(x[idx], y[idx], batch_size=a.batch_size, epochs=1, callbacks=[t], verbose=0, shuffle=True)
        return a.steps / (t.t1 - t.t0)

    # Warm both paths once (tracing, cache fill).
    rate("folder"), rate("memory")
    folder_rates, memory_rates = [], []
    for r in range(a.rounds):
        folder_rates.append(rate("folder"))
        memory_rates.append(rate("memory"))
        print(
            f"round {r + 1}: folder {folder_rates[-1]:.3f} steps/s, in-memory {memory_rates[-1]:.3f} steps/s, "
            f"ratio {folder_rates[-1] / memory_rates[-1]:.3f}",
            flush=True,
        )
    f, m = statistics.median(folder_rates), statistics.median(memory_rates)
    # Rounds alternate the two paths, so a round's ratio compares like with like even if the machine's load drifts.
    ratio = statistics.median(fr / mr for fr, mr in zip(folder_rates, memory_rates))
    print(
        f"\n{a.backbone}{' (frozen encoder)' if a.freeze_encoder else ''}, batch {a.batch_size} at {a.size}x{a.size}, "
        f"{os.cpu_count()} cores, {len(src)} images"
    )
    print(f"median step rate: folder pipeline {f:.3f} steps/s, in memory {m:.3f} steps/s")
    print(f"median of the per-round ratios folder / in-memory: {ratio:.3f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
