"""The generated segmentation sets (benchmarks/segsets.py) and the multi-set quality benchmark around them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_unet_quality as bench  # noqa: E402
import segsets  # noqa: E402


def _samples(name, n, split="train", seed=segsets.DEFAULT_SEED):
    return [segsets.sample(name, split, i, seed) for i in range(n)]


@pytest.mark.parametrize("name", segsets.SETS)
def test_deterministic_and_splits_differ(name):
    a, b = segsets.sample(name, "train", 3), segsets.sample(name, "train", 3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    other_seed = segsets.sample(name, "train", 3, seed=segsets.DEFAULT_SEED + 1)
    test = segsets.sample(name, "test", 3)
    for img in (other_seed[0], test[0]):
        assert img.shape != a[0].shape or not np.array_equal(img, a[0])


@pytest.mark.parametrize("name", segsets.SETS)
def test_masks_hold_class_ids_and_an_ignore_band(name):
    k = len(segsets.classes_of(name))
    for image, mask, fmt in _samples(name, 6):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert mask.dtype == np.uint8 and mask.shape == image.shape[:2]
        assert fmt in ("jpg", "png")
        values = set(np.unique(mask).tolist())
        assert values <= set(range(k)) | {255}, values
        assert 255 in values and values & set(range(1, k)), "every image has objects and their ignore band"
        # The band is a thin border: each ignored pixel touches a labelled object pixel or another band pixel
        # next to one, and no object pixel touches the background directly.
        obj = (mask != 0) & (mask != 255)
        bg = mask == 0
        touch = (obj[1:, :] & bg[:-1, :]) | (obj[:-1, :] & bg[1:, :])
        touch_h = (obj[:, 1:] & bg[:, :-1]) | (obj[:, :-1] & bg[:, 1:])
        assert not touch.any() and not touch_h.any(), "object and background meet without an ignore band"


def test_generate_set_writes_the_layout_and_is_byte_identical(tmp_path):
    for root in (tmp_path / "a", tmp_path / "b"):
        segsets.generate_set("outline", root, n_train=6, n_test=2)
    for split, n in (("train", 6), ("test", 2)):
        imgs = sorted((tmp_path / "a" / split / "images").iterdir())
        masks = sorted((tmp_path / "a" / split / "masks").iterdir())
        assert len(imgs) == len(masks) == n
        assert [p.stem for p in imgs] == [p.stem for p in masks]
        for p in imgs + masks:
            assert p.read_bytes() == (tmp_path / "b" / split / p.parent.name / p.name).read_bytes()
        for p in masks:
            assert Image.open(p).mode == "L"
    doc = json.loads((tmp_path / "a" / "classes.json").read_text())
    assert doc == {"classes": ["background", "disc", "quad", "star"], "ignore_index": 255}


def test_outline_mixes_jpeg_and_png_and_sizes():
    samples = _samples("outline", 16)
    assert {s[2] for s in samples} == {"jpg", "png"}
    shapes = {s[0].shape[:2] for s in samples}
    assert all(96 <= h <= 224 and 96 <= w <= 224 for h, w in shapes)
    assert any(h != w for h, w in shapes) and len(shapes) > 8


def test_sizes_are_not_multiples_of_32_and_vary():
    shapes = [s[0].shape[:2] for s in _samples("sizes", 30)]
    assert all(h % 32 and w % 32 for h, w in shapes), shapes
    assert all(70 <= v <= 301 for hw in shapes for v in hw)
    assert any(max(h, w) / min(h, w) >= 2.2 for h, w in shapes), "some images are elongated"
    assert len({h for h, _ in shapes}) > 15 and len({w for _, w in shapes}) > 15


def test_small_has_rare_small_classes():
    counts = np.zeros(256, np.int64)
    for _, mask, _ in _samples("small", 24):
        counts += np.bincount(mask.ravel(), minlength=256)
        for cls in (2, 3):  # rare objects are 4-12 px across
            from scipy import ndimage

            labels, n = ndimage.label(mask == cls)
            for obj in ndimage.find_objects(labels):
                assert max(obj[0].stop - obj[0].start, obj[1].stop - obj[1].start) <= 12
    share = counts / counts.sum()
    assert share[1] > 0.05, "blob is a common class"
    for cls in (2, 3):
        assert 0 < share[cls] < 0.02, (cls, share[cls])


def _class_mean_spread(name, n):
    """The largest difference (0-255) between classes of the mean colour of their objects (one mean per image)."""
    k = len(segsets.classes_of(name))
    per = {c: [] for c in range(1, k)}
    for image, mask, _ in _samples(name, n):
        for c in per:
            sel = mask == c
            if sel.sum() >= 20:
                per[c].append(image[sel].mean(0))
    means = np.array([np.mean(v, 0) for v in per.values()])
    return float(np.abs(means[:, None] - means[None]).max())


def test_outline_fills_are_not_class_correlated():
    # Classes in `outline` differ only by shape: their mean colours agree within noise (about 10-25 over
    # 60 images at other seeds), while `colour`'s hue families set them far apart (about 70-80).
    assert _class_mean_spread("outline", 60) < 30
    assert _class_mean_spread("colour", 30) > 50


def test_ensure_sets_generates_only_what_is_missing(tmp_path):
    said = []
    paths = segsets.ensure_sets(tmp_path, ["small", "sizes"], n_train=3, n_test=2, log=said.append)
    assert set(paths) == {"small", "sizes"} and len(said) == 2
    assert len(list((paths["small"] / "train" / "images").iterdir())) == 3
    stamp = (paths["small"] / "segset.json").read_text()
    said.clear()
    segsets.ensure_sets(tmp_path, ["small", "sizes"], n_train=3, n_test=2, log=said.append)
    assert said == []
    segsets.ensure_sets(tmp_path, ["small"], n_train=4, n_test=2, log=said.append)
    assert len(said) == 1 and (paths["small"] / "segset.json").read_text() != stamp
    assert len(list((paths["small"] / "train" / "images").iterdir())) == 4
    assert not list(tmp_path.glob(".*tmp*")), "no temporary folder left behind"


def test_cli_writes_the_sets(tmp_path, capsys):
    segsets.main(["--out", str(tmp_path), "--sets", "colour", "--train", "2", "--test", "1", "--seed", "5"])
    assert "colour:" in capsys.readouterr().out
    assert len(list((tmp_path / "colour" / "test" / "masks").iterdir())) == 1
    assert json.loads((tmp_path / "colour" / "segset.json").read_text())["seed"] == 5
    with pytest.raises(SystemExit):
        segsets.main(["--out", str(tmp_path), "--sets", "nope"])


def test_sheet_draws_every_set():
    import segsets_sheet

    sheet = segsets_sheet.make_sheet(per_set=1, cell=48)
    assert sheet.size == (2 * (48 + 4) + 4, 4 * (48 + 16 + 4) + 4)


# --------------------------------------------------------------------------- the benchmark's own logic


def test_recipes():
    r = bench.build_recipes(
        ["defaults", "frozen-ce", "tutorial"],
        extra='{"lr": 0.001}',
        recipe_json='{"wide": {"decoder_filters": [512, 256, 128, 64, 32]}}',
    )
    assert list(r) == ["defaults", "frozen-ce", "tutorial", "extra", "wide"] and r["tutorial"] is None
    frozen = bench.resolve_kwargs(r["frozen-ce"])
    assert frozen == {
        "epochs": bench.EPOCHS,
        "freeze_encoder_epochs": bench.EPOCHS,
        "loss": "ce",
        "class_weights": None,
        "pixel_augment": True,
    }
    assert bench.resolve_kwargs(r["defaults"]) == {"epochs": bench.EPOCHS}
    assert bench.build_recipes(["pixel-augment"])["pixel-augment"] == {"pixel_augment": True}
    assert bench.resolve_kwargs({"epochs": 7, "freeze_encoder_epochs": "epochs"})["freeze_encoder_epochs"] == 7
    for bad in (
        dict(names=["nope"]),
        dict(names=[], extra='{"time_budget": 5}'),
        dict(names=["defaults"], recipe_json='{"defaults": {}}'),
        dict(names=[]),
    ):
        with pytest.raises(SystemExit):
            bench.build_recipes(bad.pop("names"), **bad)


def _plan(*argv):
    return bench.plan(bench.parser().parse_args(list(argv)))


def test_plan_defaults_and_the_former_single_set_mode():
    recipes, sets, split = _plan()
    assert (list(recipes), sets, split) == (["defaults", "frozen-ce", "tutorial"], list(segsets.SETS), "val")
    recipes, sets, split = _plan("--only", "suite", "--extra", '{"backbone": "mobilenetv2"}')
    assert (recipes, sets, split) == ({"extra": {"backbone": "mobilenetv2"}}, ["bundled"], "test")
    recipes, sets, split = _plan("--only", "tutorial")
    assert (list(recipes), sets, split) == (["tutorial"], ["bundled"], "test")
    recipes, sets, split = _plan(
        "--recipes", "none", "--recipe-json", '{"c": {"lr": 0.001}}', "--sets", "small", "--split", "test"
    )
    assert (recipes, sets, split) == ({"c": {"lr": 0.001}}, ["small"], "test")
    with pytest.raises(SystemExit):
        _plan("--sets", "colour,nope")


def test_val_split_is_carved_out_of_train(tmp_path):
    segsets.ensure_sets(tmp_path / "sets", ["sizes"], n_train=10, n_test=3)
    val = bench.set_data("sizes", tmp_path / "sets", "val", tmp_path / "work")
    fit = {p.name for p in val["train_images"].iterdir()}
    held = {p.name for p in val["eval_images"].iterdir()}
    train = {p.name for p in (tmp_path / "sets" / "sizes" / "train" / "images").iterdir()}
    assert (len(fit), len(held)) == (8, 2) and not fit & held and fit | held == train
    assert {p.stem for p in val["eval_masks"].iterdir()} == {Path(n).stem for n in held}
    test = bench.set_data("sizes", tmp_path / "sets", "test", tmp_path / "work")
    assert test["eval_images"] == tmp_path / "sets" / "sizes" / "test" / "images" and test["n_train"] == 10
    assert test["classes"] == segsets.classes_of("sizes")


def test_summary_mean_and_worst_set():
    runs = [
        {"recipe": "a", "set": "x", "miou": 0.5},
        {"recipe": "a", "set": "y", "miou": 0.3},
        {"recipe": "b", "set": "x", "miou": 0.6},
        {"recipe": "b", "set": "y", "miou": None},
    ]
    s = bench.summarise(runs, ["a", "b"], ["x", "y"])
    assert s["a"]["mean"] == pytest.approx(0.4) and (s["a"]["worst_set"], s["a"]["worst"]) == ("y", 0.3)
    assert s["b"]["mean"] is None and s["b"]["worst_set"] == "x"
    cm = np.array([[8, 2], [0, 0]])
    sc = bench.scores(cm)
    assert sc["per_class_iou"] == [0.8, 0.0] and sc["miou"] == pytest.approx(0.4)


@pytest.mark.slow
def test_benchmark_end_to_end_on_two_tiny_sets(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_unet_quality.py"),
            "--sets",
            "outline,sizes",
            "--budget",
            "3",
            "--recipes",
            "frozen-ce,tutorial",
            "--data",
            str(tmp_path / "sets"),
            "--train-count",
            "6",
            "--test-count",
            "3",
            "--split",
            "test",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["split"] == "test" and doc["sets"] == ["outline", "sizes"]
    assert [(r["recipe"], r["set"]) for r in doc["runs"]] == [
        ("frozen-ce", "outline"),
        ("frozen-ce", "sizes"),
        ("tutorial", "outline"),
        ("tutorial", "sizes"),
    ]
    for run in doc["runs"]:
        assert 0 <= run["miou"] <= 1 and len(run["per_class_iou"]) == 4 and run["n_eval"] == 3
    assert doc["runs"][0]["kwargs"]["freeze_encoder_epochs"] == doc["runs"][0]["kwargs"]["epochs"]
    assert set(doc["summary"]) == {"frozen-ce", "tutorial"}
    assert "worst set" in proc.stdout and "[4/4]" in proc.stderr
