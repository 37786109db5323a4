"""Quality in a fixed wall-clock budget: `suite train` defaults vs the TF tutorial recipe.

Both train for the same budget (240 s by default) on the generated data set
(``assets/segdata/train``, made by ``assets/make_segdata.py``) and are scored
by ``suite evaluate``'s function (the suite model) or the same computation
(the tutorial model, predicted at 128x128 as the tutorial does): one confusion matrix over every pixel of
the held-out split (``assets/segdata/val``, at full resolution), ignore pixels
excluded, mIoU = mean over classes of TP / (TP + FP + FN).

* **suite defaults**: ``suite.unet.train.train`` with its defaults (VGG16
  encoder with the embedded weights, ce+dice, mask-safe augmentation, cosine
  learning rate over the budget...), only ``time_budget`` set.
* **TF tutorial recipe** (tensorflow.org/tutorials/images/segmentation):
  MobileNetV2 encoder from scratch, pix2pix transposed-conv decoder
  (512-256-128-64), 128x128 resize, inputs / 255, random flips, batch 64,
  Adam 1e-3, plain cross-entropy (ignore pixels given weight 0, since the
  tutorial's masks have none); predictions at 128x128 resized back.

Run (about 9 minutes on 2 cores; run alone):

    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_unet_quality.py [--budget 240] [--only suite|tutorial]

Prints both mIoUs, per-class IoU and their ratio; ``--json FILE`` saves them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = ROOT / "assets" / "segdata"
CLASSES = json.loads((DATA / "classes.json").read_text())["classes"] if (DATA / "classes.json").exists() else None


def confusion(num_classes, pairs, predict, ignore_index=255):
    """Dataset-level confusion matrix (rows: truth, columns: prediction), ignore pixels excluded."""
    from suite.common.image_io import load_image
    from suite.unet.masks import load_mask

    cm = np.zeros((num_classes, num_classes), np.int64)
    for img_path, mask_path in pairs:
        image = load_image(img_path)
        truth = np.asarray(load_mask(mask_path)).astype(np.int64)
        pred = predict(image).astype(np.int64)
        keep = truth != ignore_index
        cm += np.bincount(truth[keep] * num_classes + pred[keep], minlength=num_classes**2).reshape(num_classes, num_classes)
    return cm


def scores(cm):
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return {"miou": float(np.nanmean(iou)), "per_class_iou": [None if math.isnan(v) else round(float(v), 4) for v in iou],
            "pixel_accuracy": float(tp.sum() / max(cm.sum(), 1))}


def _pairs(split):
    from suite.unet.data import open_source

    return open_source(DATA / split / "images", DATA / split / "masks", warn=False).pairs


def run_suite(budget, num_classes, workdir, extra=None):
    from suite.unet.train import train

    out = Path(workdir) / "suite_model.keras"
    t0 = time.monotonic()
    result = train(DATA / "train" / "images", DATA / "train" / "masks", num_classes,
                   out=out, time_budget=budget, epochs=1000, progress=False, tensorboard=False,
                   overwrite=True, **(extra or {}))
    wall = time.monotonic() - t0
    from suite.unet.evaluate import evaluate_model

    # Scored by `suite evaluate`'s own function (the predict path at full resolution).
    report = evaluate_model(out, _pairs("val"), progress=False)
    cm = np.asarray(report["confusion_matrix"])
    assert abs(scores(cm)["miou"] - report["mean_iou"]) < 1e-6
    return {"recipe": "suite defaults", "train_wall_s": round(wall, 1), "epochs": result.epochs_run,
            "best_epoch": result.best_epoch, "val_miou_during_training": result.best_miou, **scores(cm)}


def tutorial_model(num_classes, size=128):
    """The tutorial's model: MobileNetV2 down stack (from scratch here) + pix2pix up stack."""
    import keras

    base = keras.applications.MobileNetV2(input_shape=[size, size, 3], include_top=False, weights=None)
    names = ["block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "block_16_project"]
    down = keras.Model(base.input, [base.get_layer(n).output for n in names])

    def upsample(filters, size_):
        init = keras.initializers.RandomNormal(0.0, 0.02)
        return keras.Sequential([
            keras.layers.Conv2DTranspose(filters, size_, strides=2, padding="same", kernel_initializer=init, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
        ])

    inputs = keras.Input([size, size, 3])
    skips = down(inputs)
    x = skips[-1]
    for up, skip in zip([upsample(512, 3), upsample(256, 3), upsample(128, 3), upsample(64, 3)], reversed(skips[:-1])):
        x = up(x)
        x = keras.layers.Concatenate()([x, skip])
    x = keras.layers.Conv2DTranspose(num_classes, 3, strides=2, padding="same")(x)
    return keras.Model(inputs, x)


def run_tutorial(budget, num_classes, size=128, batch=64):
    import keras
    import tensorflow as tf

    from suite.common.image_io import load_image
    from suite.unet.masks import load_mask
    from suite.unet.callbacks import TimeBudget

    keras.utils.set_random_seed(0)
    t0 = time.monotonic()
    xs, ys = [], []
    for img_path, mask_path in _pairs("train"):
        xs.append(tf.image.resize(load_image(img_path), (size, size)).numpy() / 255.0)
        ys.append(tf.image.resize(np.asarray(load_mask(mask_path))[..., None], (size, size), method="nearest").numpy()[..., 0])
    x, y = np.stack(xs).astype(np.float32), np.stack(ys).astype(np.int32)
    w = (y != 255).astype(np.float32)
    y = np.where(y == 255, 0, y)

    def flip(a, b, c):
        if tf.random.uniform(()) > 0.5:
            a, b, c = tf.image.flip_left_right(a), b[:, ::-1], c[:, ::-1]
        return a, b, c

    ds = (tf.data.Dataset.from_tensor_slices((x, y, w)).cache().shuffle(1000).map(flip).batch(batch)
          .repeat().prefetch(tf.data.AUTOTUNE))
    model = tutorial_model(num_classes, size)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    budget_cb = TimeBudget(budget)
    steps = max(1, math.ceil(len(x) / batch))
    model.fit(ds, epochs=100000, steps_per_epoch=steps, callbacks=[budget_cb], verbose=0)
    wall = time.monotonic() - t0
    epochs = len(model.history.epoch)

    def predict(image):
        h, w_ = image.shape[:2]
        logits = model.predict_on_batch(tf.image.resize(image, (size, size))[None] / 255.0)
        logits = tf.image.resize(logits, (h, w_), method="bilinear")
        return np.argmax(logits[0], axis=-1)

    cm = confusion(num_classes, _pairs("val"), predict)
    return {"recipe": "TF tutorial", "train_wall_s": round(wall, 1), "epochs": epochs, **scores(cm)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=240.0, help="Training seconds per recipe.")
    p.add_argument("--only", choices=["suite", "tutorial"], default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--extra", default=None, help="JSON dict of train() overrides (for choosing defaults).")
    a = p.parse_args(argv)
    num_classes = len(CLASSES) if CLASSES else 5
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if a.only in (None, "suite"):
            results.append(run_suite(a.budget, num_classes, tmp, json.loads(a.extra) if a.extra else None))
            print(json.dumps(results[-1]), flush=True)
        if a.only in (None, "tutorial"):
            results.append(run_tutorial(a.budget, num_classes))
            print(json.dumps(results[-1]), flush=True)
    print(f"\nheld-out mIoU after {a.budget:g} s of training on {os.cpu_count()} cores "
          f"({len(_pairs('val'))} images, classes {CLASSES}):")
    for r in results:
        print(f"  {r['recipe']:>15}: mIoU {r['miou']:.3f}  pixel acc {r['pixel_accuracy']:.3f}  "
              f"per-class {r['per_class_iou']}  epochs {r['epochs']}  wall {r['train_wall_s']} s")
    if len(results) == 2:
        print(f"  ratio suite / tutorial: {results[0]['miou'] / max(results[1]['miou'], 1e-9):.2f}x")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
