"""U-Net training recipes under a fixed wall-clock budget, scored on several generated data sets.

Every (recipe, set) run trains for the same budget (``--budget``, 240 s by
default; the clock counts training only, not data checks, model building or
scoring) in a fresh Python process, and is scored by an independent mIoU: one
confusion matrix over every pixel of the held-out images at full resolution,
ignore pixels excluded, mIoU = mean over classes of TP / (TP + FP + FN)
(``suite evaluate``'s ``evaluate_model`` for suite models, the same
computation for the tutorial model).

Sets (``benchmarks/segsets.py``, generated on first use into ``--data``,
default ``~/.cache/suite-segsets``): ``colour``, ``outline``, ``small``,
``sizes``; and ``bundled``, the set in ``assets/segdata`` (its ``val`` split
plays the test split).

Splits:

* ``--split val`` (for choosing recipes and defaults): a seeded 20% of each
  set's *train* split is held out and scored, the model trains on the other 80%.
* ``--split test`` (the final table only): trains on all of train, scores the
  test split. Never tune on it.

Recipes (``--recipes``, comma-separated; default all three):

* ``defaults``: ``suite.unet.training.train`` with its defaults, only
  ``time_budget`` set (``epochs`` is raised to 1000 so the clock ends the run).
* ``frozen-ce``: the simple baseline: the embedded VGG16 encoder frozen for
  the whole run (``freeze_encoder_epochs=epochs``), plain cross-entropy
  (``loss="ce"``), no class weights, the full augmentation (rotation, zoom,
  translation, colour: ``pixel_augment=True``, so no feature cache); everything
  else default.
* ``pixel-augment``: the defaults with the full augmentation
  (``pixel_augment=True``), so the encoder runs at every step (the defaults
  before the feature cache; not in the default list).
* ``tutorial``: the TF segmentation tutorial's recipe
  (tensorflow.org/tutorials/images/segmentation): MobileNetV2 encoder from
  scratch, pix2pix transposed-conv decoder (512-256-128-64), 128x128 resize,
  inputs / 255, random flips, batch 64, Adam 1e-3, plain cross-entropy
  (ignore pixels given weight 0); predictions at 128x128 resized back.

Candidates: ``--extra JSON`` (``train()`` keyword overrides of the defaults,
run as recipe ``extra``) and ``--recipe-json '{"name": {...}, ...}'`` (or
``@file.json``): named recipes, each a dict of ``train()`` keyword arguments
on top of the defaults. ``"freeze_encoder_epochs": "epochs"`` means "frozen
for the whole run". ``--recipes none`` runs only the candidates.

Run (about (budget + ~40 s) per run, runs = recipes x sets; the full default
table is 12 runs, about 56 minutes on 2 cores; run alone)::

    flock /tmp/suite-heavy.lock .venv/bin/python benchmarks/bench_unet_quality.py --split val \\
        [--sets colour,outline,small,sizes] [--budget 240] [--recipes defaults,frozen-ce,tutorial] [--json FILE]

``--tta-score`` scores every suite model a second time with test-time flips
(``evaluate_model(..., tta="flip")``: each image and its mirror, probabilities
averaged) and times both scorings (after one warm-up image each); the tables
print both.

Progress lines go to stderr as runs finish (``train_seconds``: the whole
``train()`` call for suite recipes, data checks included; ``fit`` alone for the
tutorial); stdout gets one table per recipe
(per-set mIoU, per-class IoU, epochs) and a summary (mean over sets, worst
set); ``--json FILE`` saves every run.

The former single-set modes still work: ``--only suite|tutorial`` (with
``--extra``) runs on the bundled set (``--sets bundled``) unless ``--sets`` is
given, e.g. ``bench_unet_quality.py --only suite --extra '{"backbone": "mobilenetv2"}'``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import segsets  # noqa: E402

BUNDLED = ROOT / "assets" / "segdata"
ALL_SETS = segsets.SETS
#: Named recipes: train() keyword arguments on top of the defaults (``None``: the tutorial's own code).
RECIPES = {
    "defaults": {},
    "frozen-ce": {"freeze_encoder_epochs": "epochs", "loss": "ce", "class_weights": None, "pixel_augment": True},
    "pixel-augment": {"pixel_augment": True},
    "tutorial": None,
}
DEFAULT_RECIPES = ("defaults", "frozen-ce", "tutorial")
#: Epochs passed to train(), so that the time budget, not the epoch count, ends a run.
EPOCHS = 1000
#: The share of train held out by ``--split val``, and its seed (fixed: the same split for every recipe).
VAL_FRACTION = 0.2
VAL_SEED = 2024
#: train() arguments the benchmark sets itself.
RESERVED = {
    "images",
    "masks",
    "num_classes",
    "out",
    "logdir",
    "time_budget",
    "progress",
    "tensorboard",
    "overwrite",
    "class_names",
    "val_images",
    "val_masks",
    "resume",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- scoring


def confusion(num_classes, pairs, predict, ignore_index=255):
    """Dataset-level confusion matrix (rows: truth, columns: prediction), ignore pixels excluded."""
    from suite.common.io.images import load_image
    from suite.unet.masks import load_mask

    cm = np.zeros((num_classes, num_classes), np.int64)
    for img_path, mask_path in pairs:
        image = load_image(img_path)
        truth = np.asarray(load_mask(mask_path)).astype(np.int64)
        pred = predict(image).astype(np.int64)
        keep = truth != ignore_index
        cm += np.bincount(truth[keep] * num_classes + pred[keep], minlength=num_classes**2).reshape(
            num_classes, num_classes
        )
    return cm


def scores(cm):
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return {
        "miou": float(np.nanmean(iou)),
        "per_class_iou": [None if math.isnan(v) else round(float(v), 4) for v in iou],
        "pixel_accuracy": float(tp.sum() / max(cm.sum(), 1)),
    }


def _pairs(images, masks):
    from suite.unet.data import open_source

    return open_source(images, masks, warn=False).pairs


# --------------------------------------------------------------------------- recipes


def resolve_kwargs(kwargs: dict, epochs: int = EPOCHS) -> dict:
    """train() keyword arguments of a recipe: ``epochs`` defaulted, ``"epochs"`` placeholders resolved."""
    bad = sorted(set(kwargs) & RESERVED)
    if bad:
        raise SystemExit(f"recipe arguments {', '.join(bad)} are set by the benchmark itself")
    out = {"epochs": epochs, **kwargs}
    if out.get("freeze_encoder_epochs") == "epochs":
        out["freeze_encoder_epochs"] = out["epochs"]
    return out


def build_recipes(names, extra=None, recipe_json=None) -> dict:
    """``{name: train kwargs or None (tutorial)}`` in run order."""
    recipes = {}
    for n in names:
        if n not in RECIPES:
            raise SystemExit(f"unknown recipe {n!r}; expected some of {', '.join(RECIPES)} (or --recipe-json)")
        recipes[n] = RECIPES[n]
    if extra:
        extra = json.loads(extra)
        if not isinstance(extra, dict):
            raise SystemExit("--extra takes a JSON object of train() arguments")
        recipes["extra"] = extra
    if recipe_json:
        text = Path(recipe_json[1:]).read_text() if recipe_json.startswith("@") else recipe_json
        named = json.loads(text)
        if not isinstance(named, dict) or not all(isinstance(v, dict) for v in named.values()):
            raise SystemExit('--recipe-json takes {"name": {train() arguments}, ...}')
        for n, kw in named.items():
            if n in recipes or n in RECIPES:
                raise SystemExit(f"recipe name {n!r} is taken; choose another")
            recipes[n] = kw
    for kw in recipes.values():
        if kw is not None:
            resolve_kwargs(kw)  # reserved names fail now, not after an hour
    if not recipes:
        raise SystemExit("no recipe to run")
    return recipes


# --------------------------------------------------------------------------- one run (in a worker process)


def run_suite(spec, workdir):
    from suite.common.device import setup_device
    from suite.unet.evaluate import evaluate_model
    from suite.unet.training import train

    out = Path(workdir) / "model.keras"
    kwargs = resolve_kwargs(spec["kwargs"])
    # As `suite train` does: mixed precision "auto" (bfloat16 on a CPU with bfloat16
    # instructions) unless the recipe says "mixed_precision": true/false.
    mixed = kwargs.pop("mixed_precision", None)
    setup_device("auto", mixed, auto_on_cpu=True)
    import keras

    kwargs_used = {**kwargs, "precision_policy": keras.mixed_precision.global_policy().name}
    t0 = time.monotonic()
    result = train(
        spec["train_images"],
        spec["train_masks"],
        spec["num_classes"],
        class_names=spec["class_names"],
        out=out,
        time_budget=spec["budget"],
        progress=False,
        tensorboard=False,
        overwrite=True,
        **kwargs,
    )
    wall = time.monotonic() - t0
    if result.model_path is None:
        raise RuntimeError(f"no model saved: {result.message}")
    # Scored by `suite evaluate`'s own function (the predict path at full resolution).
    from suite.unet.model_io import resolve_segmentation

    model, _ = resolve_segmentation(out)  # as `suite evaluate` loads it
    pairs = _pairs(spec["eval_images"], spec["eval_masks"])
    evaluate_model(model, pairs[:1], progress=False)  # compile the predict function outside the timing
    t_eval = time.monotonic()
    report = evaluate_model(model, pairs, progress=False)
    eval_s = time.monotonic() - t_eval
    cm = np.asarray(report["confusion_matrix"])
    assert abs(scores(cm)["miou"] - report["mean_iou"]) < 1e-6
    extra = {}
    if spec.get("tta_score"):
        # The same model scored with test-time flips too (``suite evaluate --tta flip``), timed the same way.
        evaluate_model(model, pairs[:1], progress=False, tta="flip")
        t_eval = time.monotonic()
        flip = evaluate_model(model, pairs, progress=False, tta="flip")
        flip_s = time.monotonic() - t_eval
        extra["tta_flip"] = {
            **scores(np.asarray(flip["confusion_matrix"])),
            "eval_s": round(flip_s, 2),
            "cost_ratio": round(flip_s / max(eval_s, 1e-9), 2),
        }
    return {
        **extra,
        "eval_s": round(eval_s, 2),
        "train_wall_s": round(wall, 1),
        "train_seconds": round(result.train_seconds, 1),
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "val_miou_during_training": result.best_miou,
        "kwargs": kwargs_used,
        "skipped": len(report["skipped"]),
        "confusion_matrix": cm.tolist(),
        **scores(cm),
    }


def tutorial_model(num_classes, size=128):
    """The tutorial's model: MobileNetV2 down stack (from scratch here) + pix2pix up stack."""
    import keras

    base = keras.applications.MobileNetV2(input_shape=[size, size, 3], include_top=False, weights=None)
    names = [
        "block_1_expand_relu",
        "block_3_expand_relu",
        "block_6_expand_relu",
        "block_13_expand_relu",
        "block_16_project",
    ]
    down = keras.Model(base.input, [base.get_layer(n).output for n in names])

    def upsample(filters, size_):
        init = keras.initializers.RandomNormal(0.0, 0.02)
        return keras.Sequential(
            [
                keras.layers.Conv2DTranspose(
                    filters, size_, strides=2, padding="same", kernel_initializer=init, use_bias=False
                ),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
            ]
        )

    inputs = keras.Input([size, size, 3])
    skips = down(inputs)
    x = skips[-1]
    for up, skip in zip([upsample(512, 3), upsample(256, 3), upsample(128, 3), upsample(64, 3)], reversed(skips[:-1])):
        x = up(x)
        x = keras.layers.Concatenate()([x, skip])
    x = keras.layers.Conv2DTranspose(num_classes, 3, strides=2, padding="same")(x)
    return keras.Model(inputs, x)


def run_tutorial(spec, size=128, batch=64):
    import keras
    import tensorflow as tf

    from suite.common.io.images import load_image
    from suite.unet.callbacks import TimeBudget
    from suite.unet.masks import load_mask

    num_classes = spec["num_classes"]
    keras.utils.set_random_seed(0)
    t0 = time.monotonic()
    xs, ys = [], []
    for img_path, mask_path in _pairs(spec["train_images"], spec["train_masks"]):
        xs.append(tf.image.resize(load_image(img_path), (size, size)).numpy() / 255.0)
        ys.append(
            tf.image.resize(np.asarray(load_mask(mask_path))[..., None], (size, size), method="nearest").numpy()[..., 0]
        )
    x, y = np.stack(xs).astype(np.float32), np.stack(ys).astype(np.int32)
    w = (y != 255).astype(np.float32)
    y = np.where(y == 255, 0, y)

    def flip(a, b, c):
        if tf.random.uniform(()) > 0.5:
            a, b, c = tf.image.flip_left_right(a), b[:, ::-1], c[:, ::-1]
        return a, b, c

    ds = (
        tf.data.Dataset.from_tensor_slices((x, y, w))
        .cache()
        .shuffle(1000)
        .map(flip)
        .batch(batch)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    model = tutorial_model(num_classes, size)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )

    budget_cb = TimeBudget(spec["budget"])  # the clock starts here: data loading and model building are not counted
    steps = max(1, math.ceil(len(x) / batch))
    model.fit(ds, epochs=100000, steps_per_epoch=steps, callbacks=[budget_cb], verbose=0)
    train_seconds = budget_cb.elapsed()
    wall = time.monotonic() - t0
    epochs = len(model.history.epoch)

    def predict(image):
        h, w_ = image.shape[:2]
        logits = model.predict_on_batch(tf.image.resize(image, (size, size))[None] / 255.0)
        logits = tf.image.resize(logits, (h, w_), method="bilinear")
        return np.argmax(logits[0], axis=-1)

    cm = confusion(num_classes, _pairs(spec["eval_images"], spec["eval_masks"]), predict)
    return {
        "train_wall_s": round(wall, 1),
        "train_seconds": round(train_seconds, 1),
        "epochs": epochs,
        "confusion_matrix": cm.tolist(),
        **scores(cm),
    }


def worker(spec_path: Path, out_path: Path):
    os.environ.setdefault("SUITE_QUIET", "1")
    spec = json.loads(Path(spec_path).read_text())
    with tempfile.TemporaryDirectory(prefix="unet-quality-") as tmp:
        result = run_tutorial(spec) if spec["kwargs"] is None else run_suite(spec, tmp)
    Path(out_path).write_text(json.dumps(result) + "\n")


# --------------------------------------------------------------------------- data for a split


def _link(src: Path, dst: Path):
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copy2(src, dst)


def set_data(name: str, root: Path, split: str, workdir: Path) -> dict:
    """Train and score folders of one set for ``split`` (``val``: 80/20 of train, linked into ``workdir``)."""
    if name == "bundled":
        base, test_split = BUNDLED, "val"
    else:
        base, test_split = root / name, "test"
    classes = json.loads((base / "classes.json").read_text())["classes"]
    train_images, train_masks = base / "train" / "images", base / "train" / "masks"
    if split == "test":
        return {
            "classes": classes,
            "train_images": train_images,
            "train_masks": train_masks,
            "eval_images": base / test_split / "images",
            "eval_masks": base / test_split / "masks",
            "n_train": len(_pairs(train_images, train_masks)),
            "n_eval": len(_pairs(base / test_split / "images", base / test_split / "masks")),
        }
    from suite.unet.data import split_indices

    pairs = _pairs(train_images, train_masks)
    fit_idx, held_idx = split_indices(len(pairs), VAL_FRACTION, seed=VAL_SEED)
    dirs = {}
    for part, idx in (("fit", fit_idx), ("held", held_idx)):
        images, masks = workdir / name / part / "images", workdir / name / part / "masks"
        images.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        for i in idx:
            img, msk = pairs[i]
            _link(Path(img), images / Path(img).name)
            _link(Path(msk), masks / Path(msk).name)
        dirs[part] = (images, masks)
    return {
        "classes": classes,
        "train_images": dirs["fit"][0],
        "train_masks": dirs["fit"][1],
        "eval_images": dirs["held"][0],
        "eval_masks": dirs["held"][1],
        "n_train": len(fit_idx),
        "n_eval": len(held_idx),
    }


def run_one(recipe, kwargs, set_name, data, budget, workdir: Path, timeout=None, tta_score=False):
    """One (recipe, set) run in a fresh Python process; its output goes to a log file, printed on failure."""
    tag = f"{recipe}-{set_name}"
    spec_path, out_path, log_path = workdir / f"{tag}.spec.json", workdir / f"{tag}.result.json", workdir / f"{tag}.log"
    spec = {
        "recipe": recipe,
        "kwargs": kwargs,
        "set": set_name,
        "budget": budget,
        "tta_score": bool(tta_score),
        "num_classes": len(data["classes"]),
        "class_names": data["classes"],
        **{k: str(data[k]) for k in ("train_images", "train_masks", "eval_images", "eval_masks")},
    }
    spec_path.write_text(json.dumps(spec))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        TF_CPP_MIN_LOG_LEVEL="2",
        SUITE_QUIET="1",
    )
    t0 = time.monotonic()
    with open(log_path, "w") as fh:
        try:
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path), str(out_path)],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout,
            )
            status = proc.returncode
        except subprocess.TimeoutExpired:
            status = f"killed after {timeout:g} s"
    row = {
        "recipe": recipe,
        "set": set_name,
        "class_names": data["classes"],
        "n_train": data["n_train"],
        "n_eval": data["n_eval"],
        "budget_s": budget,
        "process_wall_s": round(time.monotonic() - t0, 1),
    }
    if status != 0 or not out_path.exists():
        tail = log_path.read_text()[-3000:]
        log(f"run {tag} failed (exit status {status}); last output:\n{tail}")
        return {**row, "error": f"exit status {status}", "miou": None}
    return {**row, **json.loads(out_path.read_text())}


# --------------------------------------------------------------------------- tables


def _f(v, nd=3):
    return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def summarise(results, recipes, sets):
    """``{recipe: {"per_set": {set: miou}, "mean": .., "worst_set": .., "worst": ..}}``."""
    out = {}
    for r in recipes:
        per = {s: next((x["miou"] for x in results if x["recipe"] == r and x["set"] == s), None) for s in sets}
        done = {s: v for s, v in per.items() if v is not None}
        worst = min(done, key=done.get) if done else None
        out[r] = {
            "per_set": per,
            "mean": float(np.mean(list(done.values()))) if len(done) == len(sets) else None,
            "worst_set": worst,
            "worst": done.get(worst) if worst else None,
        }
    return out


def print_tables(results, recipes, sets, budget, split):
    for r in recipes:
        print(f"\nrecipe {r}: {budget:g} s of training per set, scored on {split}")
        for x in (x for x in results if x["recipe"] == r):
            if x.get("miou") is None:
                print(f"  {x['set']:>8}: failed ({x.get('error')})")
                continue
            pcs = ", ".join(f"{n} {_f(v)}" for n, v in zip(x["class_names"], x["per_class_iou"]))
            print(
                f"  {x['set']:>8}: mIoU {x['miou']:.3f}  pixel acc {x['pixel_accuracy']:.3f}  "
                f"epochs {x['epochs']}  ({pcs})"
            )
            if x.get("tta_flip"):
                t = x["tta_flip"]
                pcs = ", ".join(f"{n} {_f(v)}" for n, v in zip(x["class_names"], t["per_class_iou"]))
                print(
                    f"  {'':>8}  with --tta flip: mIoU {t['miou']:.3f}  pixel acc {t['pixel_accuracy']:.3f}  "
                    f"scoring {t['eval_s']:.2f} s vs {x['eval_s']:.2f} s ({t['cost_ratio']:.2f}x)  ({pcs})"
                )
    summary = summarise(results, recipes, sets)
    width = max(8, *(len(s) for s in sets))
    print(f"\nmIoU on {split}, {budget:g} s of training per run, {os.cpu_count()} cores:")
    print(f"  {'recipe':<14}" + "".join(f"{s:>{width + 1}}" for s in sets) + f"{'mean':>8}  worst set")
    for r, s in summary.items():
        worst = f"{s['worst_set']} {_f(s['worst'])}" if s["worst_set"] else "-"
        print(
            f"  {r:<14}"
            + "".join(f"{_f(v):>{width + 1}}" for v in s["per_set"].values())
            + f"{_f(s['mean']):>8}  {worst}"
        )
    return summary


# --------------------------------------------------------------------------- main


def plan(a):
    """``(recipes, sets, split)`` from the parsed options, the former single-set mode included."""
    split = a.split or ("test" if a.only else "val")
    if a.only == "suite":
        names = [] if a.extra else ["defaults"]
    elif a.only == "tutorial":
        names = ["tutorial"]
    elif a.recipes is None:
        names = list(DEFAULT_RECIPES)
    elif a.recipes.strip().lower() == "none":
        names = []
    else:
        names = [s.strip() for s in a.recipes.split(",") if s.strip()]
    recipes = build_recipes(names, a.extra, a.recipe_json)
    sets_text = a.sets if a.sets is not None else ("bundled" if a.only else ",".join(ALL_SETS))
    sets = [s.strip() for s in sets_text.split(",") if s.strip()]
    generated = [s for s in sets if s != "bundled"]
    if generated:
        segsets.parse_sets(",".join(generated))
    if not sets:
        raise SystemExit("no set to run on")
    return recipes, sets, split


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--sets",
        default=None,
        help=f"Comma-separated sets among {', '.join(ALL_SETS)}, bundled (default: the four generated ones).",
    )
    p.add_argument(
        "--split",
        choices=["val", "test"],
        default=None,
        help="val (the default): score a seeded 20%% of train, training on the rest (for choosing "
        "defaults); test: train on all of train, score the test split (the final table only). "
        "With --only the default is test, as the former single-set benchmark scored.",
    )
    p.add_argument("--budget", type=float, default=240.0, help="Training seconds per run.")
    p.add_argument(
        "--recipes",
        default=None,
        help=f"Comma-separated among {', '.join(RECIPES)}, or 'none' (default: {','.join(DEFAULT_RECIPES)}).",
    )
    p.add_argument("--extra", default=None, help="JSON object of train() overrides, run as recipe 'extra'.")
    p.add_argument("--recipe-json", default=None, help='Named candidates: {"name": {train() arguments}} or @file.json.')
    p.add_argument(
        "--only",
        choices=["suite", "tutorial"],
        default=None,
        help="Former single-set mode: only 'defaults' (or --extra) or only 'tutorial'; sets default to bundled.",
    )
    p.add_argument(
        "--data", type=Path, default=segsets.DEFAULT_CACHE, help="Where the generated sets live (made if missing)."
    )
    p.add_argument("--train-count", type=int, default=segsets.DEFAULT_COUNTS["train"], help="Training images per set.")
    p.add_argument("--test-count", type=int, default=segsets.DEFAULT_COUNTS["test"], help="Test images per set.")
    p.add_argument("--seed", type=int, default=segsets.DEFAULT_SEED, help="Generator seed of the sets.")
    p.add_argument("--json", type=Path, default=None, help="Write every run and the summary here.")
    p.add_argument(
        "--run-timeout", type=float, default=None, help="Kill a run after this many seconds (default: none)."
    )
    p.add_argument(
        "--tta-score",
        action="store_true",
        help="Score each suite model a second time with test-time flips (evaluate --tta flip), timing both.",
    )
    p.add_argument("--worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    return p


def main(argv=None):
    a = parser().parse_args(argv)
    if a.worker:
        return worker(Path(a.worker[0]), Path(a.worker[1]))
    recipes, sets, split = plan(a)
    a.split = split
    if "bundled" in sets and split == "test":
        log("note: the bundled set's test split is assets/segdata/val")
    generated = [s for s in sets if s != "bundled"]
    if generated:
        segsets.ensure_sets(a.data, generated, a.train_count, a.test_count, a.seed, log=log)

    results = []
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="unet-quality-") as tmp:
        tmp = Path(tmp)
        data = {s: set_data(s, a.data, a.split, tmp / "data") for s in sets}
        total, k = len(recipes) * len(sets), 0
        log(
            f"{total} run(s): recipes {', '.join(recipes)} x sets {', '.join(sets)}; {a.budget:g} s of training each; "
            f"split {a.split}"
        )
        for r, kwargs in recipes.items():
            for s in sets:
                k += 1
                row = run_one(r, kwargs, s, data[s], a.budget, tmp, a.run_timeout, a.tta_score)
                results.append(row)
                if row.get("miou") is not None:
                    flip = f", {row['tta_flip']['miou']:.3f} with flips" if row.get("tta_flip") else ""
                    log(
                        f"[{k}/{total}] {r} on {s}: mIoU {row['miou']:.3f}{flip} ({row['epochs']} epochs, "
                        f"{row['train_seconds']} s training, {row['process_wall_s']} s in all; "
                        f"{time.monotonic() - t_all:.0f} s elapsed; load {os.getloadavg()[0]:.1f})"
                    )
                else:
                    log(f"[{k}/{total}] {r} on {s}: FAILED")
    summary = print_tables(results, list(recipes), sets, a.budget, a.split)
    if a.json:
        doc = {
            "split": a.split,
            "budget_s": a.budget,
            "sets": sets,
            "cpu_count": os.cpu_count(),
            "data": {
                "root": str(a.data),
                "train": a.train_count,
                "test": a.test_count,
                "seed": a.seed,
                "version": segsets.VERSION,
                "val_fraction": VAL_FRACTION,
                "val_seed": VAL_SEED,
            },
            "recipes": {r: (None if kw is None else resolve_kwargs(kw)) for r, kw in recipes.items()},
            "summary": summary,
            "runs": results,
        }
        a.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 1 if any(r.get("miou") is None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
