"""Mask reading, `evaluate_model`/`evaluate_predictions` and the `suite evaluate` CLI on tiny generated files."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.helpers import write_random_image as _img

NUM_CLASSES = 3


def _png(path, array, palette=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(np.asarray(array, dtype=np.uint8), mode="L")
    if palette:
        im = im.convert("P")
        im.putpalette([v for k in range(256) for v in ((k * 80) % 256, (k * 40) % 256, 255 - k)])
    im.save(path)


def _dataset(tmp_path, n=3, h=20, w=24):
    """Images, truth masks with an ignore band, and 'predictions' = truth with some pixels wrong."""
    rng = np.random.default_rng(7)
    truths, preds = [], []
    for i in range(n):
        _img(tmp_path / "images" / f"s{i}.jpg", h, w, seed=i)
        truth = rng.integers(0, NUM_CLASSES, (h, w))
        truth[:, :3] = 255
        pred = truth.copy()
        wrong = rng.random((h, w)) < 0.3
        pred[wrong] = rng.integers(0, NUM_CLASSES, wrong.sum())
        pred[pred == 255] = 0
        _png(tmp_path / "masks" / f"s{i}.png", truth, palette=i == 0)
        _png(tmp_path / "preds" / f"s{i}.png", pred)
        truths.append(truth)
        preds.append(pred)
    return truths, preds


def _expected_miou(truths, preds):
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES))
    for t, p in zip(truths, preds):
        for a, b in zip(t.ravel(), p.ravel()):
            if a != 255:
                cm[a, b] += 1
    iou = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
    return iou.mean(), np.trace(cm) / cm.sum(), cm


def _cli(args):
    from suite.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


# --------------------------------------------------------------------------- masks


def test_load_mask_reads_palette_by_index_gray_rgb_and_binary(tmp_path):
    from suite.unet.masks import MaskError, load_mask

    values = np.array([[0, 1, 2], [255, 1, 0]])
    _png(tmp_path / "p.png", values, palette=True)
    assert Image.open(tmp_path / "p.png").mode == "P"
    np.testing.assert_array_equal(load_mask(tmp_path / "p.png"), values)  # indices, not colours
    Image.fromarray(np.repeat(values[..., None], 3, -1).astype(np.uint8)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "g.png"), values)  # gray-valued RGB is fine
    colour = np.zeros((2, 3, 3), np.uint8)
    colour[0, 0] = (128, 0, 0)
    Image.fromarray(colour).save(tmp_path / "c.png")
    with pytest.raises(MaskError, match=r"c\.png: RGB colour mask \(colours \(0, 0, 0\), \(128, 0, 0\)\)"):
        load_mask(tmp_path / "c.png")
    _png(tmp_path / "b.png", [[0, 255], [255, 0]])
    np.testing.assert_array_equal(load_mask(tmp_path / "b.png", binary=True), [[0, 1], [1, 0]])
    _png(tmp_path / "b2.png", [[0, 128], [255, 0]])
    with pytest.raises(MaskError, match=r"b2\.png: --binary expects a 0/255 .* found values 128"):
        load_mask(tmp_path / "b2.png", binary=True)
    Image.fromarray(np.array([[0, 300]], np.uint16)).save(tmp_path / "w.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "w.png"), [[0, 300]])


def test_validate_mask_names_file_and_values():
    from suite.unet.masks import MaskError, validate_mask

    ok = np.array([[0, 2, 255]])
    assert validate_mask(ok, 3, 255, "m.png") is ok
    with pytest.raises(MaskError, match=r"m\.png: labels 3, 7 are outside 0\.\.2 and not the ignore index 255"):
        validate_mask(np.array([[0, 3, 7, 255]]), 3, 255, "m.png")
    with pytest.raises(MaskError, match="labels 255"):
        validate_mask(np.array([[0, 255]]), 3, None, "m.png")


# --------------------------------------------------------------------------- library


def test_evaluate_predictions_matches_numpy(tmp_path):
    from suite.unet.evaluate import evaluate_predictions

    truths, preds = _dataset(tmp_path)
    pairs = [(tmp_path / "images" / f"s{i}.jpg", tmp_path / "masks" / f"s{i}.png") for i in range(3)]
    report = evaluate_predictions(tmp_path / "preds", pairs, NUM_CLASSES, progress=False)
    miou, acc, cm = _expected_miou(truths, preds)
    assert report["images"] == 3 and report["skipped"] == []
    np.testing.assert_allclose(report["mean_iou"], miou, atol=1e-9)
    np.testing.assert_allclose(report["pixel_accuracy"], acc, atol=1e-9)
    np.testing.assert_array_equal(report["confusion_matrix"], cm)
    assert report["ignored_pixels"] == 3 * 20 * 3


def test_model_and_its_written_predictions_score_the_same(tmp_path):
    from suite.common.io.images import load_image
    from suite.unet.evaluate import evaluate_model, evaluate_predictions
    from suite.unet.model import build_unet
    from suite.unet.predict import predict_mask

    _dataset(tmp_path, h=21, w=27)  # odd sizes go through the predict path's padding
    model = build_unet(None, num_classes=NUM_CLASSES, encoder_filters=(4, 8), class_names=["a", "b", "c"])
    pairs = [(tmp_path / "images" / f"s{i}.jpg", tmp_path / "masks" / f"s{i}.png") for i in range(3)]
    for image, _ in pairs:
        _png(tmp_path / "model_preds" / f"{image.stem}.png", predict_mask(model, load_image(image)))
    a = evaluate_model(model, pairs, progress=False)
    b = evaluate_predictions(tmp_path / "model_preds", pairs, NUM_CLASSES, progress=False)
    assert a["confusion_matrix"] == b["confusion_matrix"]
    assert a["class_names"] == ["a", "b", "c"]
    from suite.unet.evaluate import EvaluationError

    with pytest.raises(EvaluationError, match="--num-classes 4 does not match the model, which predicts 3"):
        evaluate_model(model, pairs, num_classes=4, progress=False)


def test_evaluate_with_tta_flip_scores_the_flipped_average(tmp_path):
    """``tta="flip"`` scores the masks of the averaged probabilities of each image and its mirror; the CLI passes it."""
    from suite.common.io.images import load_image
    from suite.unet.evaluate import evaluate_model, evaluate_predictions
    from suite.unet.model import build_unet
    from suite.unet.predict import predict_batch

    _dataset(tmp_path, h=21, w=27)
    model = build_unet(None, num_classes=NUM_CLASSES, encoder_filters=(4, 8), class_names=["a", "b", "c"])
    pairs = [(tmp_path / "images" / f"s{i}.jpg", tmp_path / "masks" / f"s{i}.png") for i in range(3)]
    changed = 0
    for image, _ in pairs:
        mask = predict_batch(model, [load_image(image)], head="mask", tta="flip")[0]
        changed += int((mask != predict_batch(model, [load_image(image)], head="mask")[0]).sum())
        _png(tmp_path / "tta_preds" / f"{image.stem}.png", mask)
    assert changed, "the flips change no pixel of this model: the test would not tell them from no flips"
    a = evaluate_model(model, pairs, progress=False, tta="flip")
    b = evaluate_predictions(tmp_path / "tta_preds", pairs, NUM_CLASSES, progress=False)
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["tta"] == "flip"
    assert evaluate_model(model, pairs, progress=False)["confusion_matrix"] != a["confusion_matrix"]
    model.save(tmp_path / "m.keras")
    args = ["evaluate", "--model", tmp_path / "m.keras", "--images", tmp_path / "images", "--masks", tmp_path / "masks"]
    r = _cli([*args, "--tta", "flip", "--json", "--no-mixed-precision"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{") :])
    assert doc["tta"] == "flip" and doc["confusion_matrix"] == a["confusion_matrix"]
    r = _cli(
        [
            "evaluate",
            "--predictions",
            tmp_path / "preds",
            "--masks",
            tmp_path / "masks",
            "--num-classes",
            3,
            "--tta",
            "flip",
        ]
    )
    assert r.exit_code == 2 and "--tta applies to --model only" in r.output


# --------------------------------------------------------------------------- CLI


def test_cli_predictions_report_json_and_confusion_png(tmp_path):
    truths, preds = _dataset(tmp_path)
    report = tmp_path / "out" / "eval.json"
    r = _cli(
        [
            "evaluate",
            "--predictions",
            tmp_path / "preds",
            "--images",
            tmp_path / "images",
            "--masks",
            tmp_path / "masks",
            "--num-classes",
            NUM_CLASSES,
            "--output",
            report,
        ]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(report.read_text())
    miou, acc, _ = _expected_miou(truths, preds)
    np.testing.assert_allclose(data["mean_iou"], miou, atol=1e-9)
    assert f"mIoU {miou:.4f}" in r.output and "mean IoU" in r.output
    png = report.with_name("eval_confusion.png")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 300
    # never overwrites unless asked
    again = _cli(
        [
            "evaluate",
            "--predictions",
            tmp_path / "preds",
            "--images",
            tmp_path / "images",
            "--masks",
            tmp_path / "masks",
            "--num-classes",
            NUM_CLASSES,
            "--output",
            report,
        ]
    )
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_cli_model_binary_masks_and_unreadable_image_skipped(tmp_path):
    from suite.unet.model import build_unet

    rng = np.random.default_rng(3)
    for i in range(2):
        _img(tmp_path / "images" / f"s{i}.png", 19, 23, seed=i)
        _png(tmp_path / "masks" / f"s{i}.png", (rng.random((19, 23)) < 0.4) * 255)
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    _png(tmp_path / "masks" / "broken.png", np.zeros((19, 23)))
    build_unet(None, num_classes=2, encoder_filters=(4, 8)).save(tmp_path / "m.keras")
    r = _cli(
        [
            "evaluate",
            "--model",
            tmp_path / "m.keras",
            "--images",
            tmp_path / "images",
            "--masks",
            tmp_path / "masks",
            "--binary",
            "--output",
            tmp_path / "r.json",
        ]
    )
    assert r.exit_code == 1, r.output  # scored, but not everything: a script can tell
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["images"] == 2 and len(data["skipped"]) == 1
    assert "broken.jpg" in data["skipped"][0]["image"]
    assert "skipped" in r.output and "broken.jpg" in r.output
    assert sum(c["pixels"] for c in data["per_class"]) == 2 * 19 * 23


def _skipped_lines(output):
    return [line for line in output.splitlines() if line.startswith("skipped")]


def test_cli_size_mismatch_skips_that_pair_only(tmp_path):
    _dataset(tmp_path)
    _png(tmp_path / "masks" / "s1.png", np.zeros((10, 10)))
    args = [
        "evaluate",
        "--predictions",
        tmp_path / "preds",
        "--images",
        tmp_path / "images",
        "--masks",
        tmp_path / "masks",
        "--num-classes",
        NUM_CLASSES,
    ]
    r = _cli(args)
    assert r.exit_code == 1 and "Traceback" not in r.output
    (line,) = _skipped_lines(r.output)
    assert "size mismatch" in line and "s1.png" in line and "10x10" in line
    assert "images 2 (1 skipped)" in r.output  # the other pairs are scored
    strict = _cli(args + ["--strict"])
    assert strict.exit_code == 1 and "mIoU" not in strict.output
    last = strict.output.strip().splitlines()[-1]
    assert "size mismatch" in last and "s1.png" in last and "Traceback" not in strict.output


def test_cli_bad_label_skips_that_mask_and_names_values(tmp_path):
    _dataset(tmp_path)
    bad = np.zeros((20, 24))
    bad[0, 0], bad[1, 1] = 5, 9
    _png(tmp_path / "masks" / "s2.png", bad)
    r = _cli(
        [
            "evaluate",
            "--predictions",
            tmp_path / "preds",
            "--images",
            tmp_path / "images",
            "--masks",
            tmp_path / "masks",
            "--num-classes",
            NUM_CLASSES,
            "--output",
            tmp_path / "r.json",
        ]
    )
    assert r.exit_code == 1 and "Traceback" not in r.output
    (line,) = _skipped_lines(r.output)
    assert "s2.png" in line and "labels 5, 9" in line
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["images"] == 2 and [Path(s["mask"]).name for s in data["skipped"]] == ["s2.png"]


def test_cli_refuses_lambda_model_and_bad_options(tmp_path):
    import keras

    _dataset(tmp_path)
    inp = keras.Input((None, None, 3))
    out = keras.layers.Lambda(lambda t: t[..., :2] * 2.0)(inp)
    keras.Model(inp, out).save(tmp_path / "evil.keras")
    r = _cli(
        ["evaluate", "--model", tmp_path / "evil.keras", "--images", tmp_path / "images", "--masks", tmp_path / "masks"]
    )
    assert r.exit_code != 0 and "Lambda" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = _cli(["evaluate", "--images", tmp_path / "images", "--masks", tmp_path / "masks"])
    assert r.exit_code == 2 and "exactly one of --model and --predictions" in r.output
    r = _cli(
        [
            "evaluate",
            "--predictions",
            tmp_path / "preds",
            "--images",
            tmp_path / "images",
            "--masks",
            tmp_path / "masks",
        ]
    )
    assert r.exit_code == 2 and "--num-classes" in r.output


def test_cli_scores_an_oxford_pet_root_through_its_trimap_mapping(tmp_path):
    root = tmp_path / "pets"
    trimap = np.array([[1, 1, 2, 2], [3, 1, 2, 2], [3, 3, 2, 1]])  # 1 pet, 2 background, 3 border (ignored)
    _img(root / "images" / "Abyssinian_1.jpg", 3, 4)
    _png(root / "annotations" / "trimaps" / "Abyssinian_1.png", trimap)
    pred = np.array([[1, 0, 0, 0], [1, 1, 0, 1], [0, 0, 0, 1]])
    _png(tmp_path / "preds" / "Abyssinian_1.png", pred)
    r = _cli(
        [
            "evaluate",
            "--predictions",
            tmp_path / "preds",
            "--images",
            root,
            "--num-classes",
            2,
            "--output",
            tmp_path / "r.json",
        ]
    )
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "r.json").read_text())
    truth = np.select([trimap == 1, trimap == 2], [1, 0], 255)
    valid = truth != 255
    expected = [[np.sum((truth == t) & (pred == p) & valid) for p in range(2)] for t in range(2)]
    assert data["confusion_matrix"] == expected
    assert data["ignored_pixels"] == 3


def test_metric_and_evaluate_count_the_same(rng):
    from suite.unet.metrics import confusion_counts, confusion_matrix

    labels = rng.integers(0, 4, size=(3, 9, 11))
    labels[rng.random(labels.shape) < 0.25] = 255
    logits = rng.normal(size=labels.shape + (4,)).astype("float32")
    a = np.asarray(confusion_matrix(labels, logits, 4, 255))
    b = confusion_counts(labels, logits.argmax(-1), 4, 255)
    np.testing.assert_array_equal(a, b)
