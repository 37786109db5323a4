"""Inputs as users have them: labels that cannot be what the user meant stop with a reason and the fix.

0/255 masks without --binary, a masks folder given as --images, the same folder
twice, labels outside the classes, a model whose input channels do not fit the
images: every command that reads them says so in one line naming the file or
option, and exits with a non-zero status instead of printing a wrong score.
"""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image


def _cli(*args):
    from suite.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def _zero_255_set(root, n=3, h=20, w=24):
    """Photos and 0/255 masks (the most common user format), with a few 0/1 'predictions'."""
    rng = np.random.default_rng(0)
    for sub in ("images", "masks", "preds"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"s{i}.jpg")
        fg = rng.random((h, w)) < 0.4
        Image.fromarray((fg * 255).astype(np.uint8)).save(root / "masks" / f"s{i}.png")
        Image.fromarray(fg.astype(np.uint8)).save(root / "preds" / f"s{i}.png")
    return root / "images", root / "masks", root / "preds"


def _model(path, channels=3, num_classes=2):
    from suite.unet.model import build_unet

    build_unet(None, num_classes=num_classes, encoder_filters=(4, 8), input_shape=(None, None, channels)).save(path)
    return path


def test_evaluate_refuses_0_255_masks_without_binary(tmp_path):
    images, masks, preds = _zero_255_set(tmp_path)
    r = _cli("evaluate", "--predictions", preds, "--masks", masks, "--num-classes", 2)
    assert r.exit_code == 1, r.output
    assert "pass --binary" in r.output and str(masks) in r.output and "mIoU" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    r = _cli("evaluate", "--predictions", preds, "--masks", masks, "--num-classes", 2, "--binary")
    assert r.exit_code == 0 and "mIoU 1.0000" in r.output, r.output

    model = _model(tmp_path / "m.keras")
    r = _cli("evaluate", "--model", model, "--images", images, "--masks", masks)
    assert r.exit_code == 1 and "pass --binary" in r.output and "mIoU" not in r.output, r.output
    assert _cli("evaluate", "--model", model, "--images", images, "--masks", masks, "--binary").exit_code == 0


def test_evaluate_library_refuses_them_too(tmp_path):
    from suite.unet.data import open_source
    from suite.unet.evaluate import EvaluationError, evaluate_predictions

    _, masks, preds = _zero_255_set(tmp_path)
    with pytest.raises(EvaluationError, match="hold only 0 and 255.*pass --binary"):
        evaluate_predictions(preds, open_source(tmp_path / "images", masks), 2, progress=False)
    # 0/255 masks of background only in one image, real labels in the others: scored as usual.
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(masks / "s0.png")
    report = evaluate_predictions(
        preds, open_source(tmp_path / "images", masks, binary=True), 2, binary=True, progress=False
    )
    assert report["images"] == 3


def test_train_refuses_0_255_masks_without_binary(tmp_path):
    images, masks, _ = _zero_255_set(tmp_path, n=4)
    r = _cli(
        "train",
        "--images",
        images,
        "--masks",
        masks,
        "--num-classes",
        2,
        "--backbone",
        "none",
        "--epochs",
        1,
        "--no-tensorboard",
        "-o",
        tmp_path / "m.keras",
    )
    assert r.exit_code == 1 and "pass --binary" in r.output and str(masks) in r.output, r.output
    assert not (tmp_path / "m.keras").exists()


def test_same_folder_twice_is_refused(tmp_path):
    images, masks, _ = _zero_255_set(tmp_path)
    for command in (
        ("evaluate", "--model", _model(tmp_path / "m.keras")),
        ("train", "--num-classes", 2, "--epochs", 1, "-o", tmp_path / "t.keras"),
    ):
        r = _cli(*command, "--images", masks, "--masks", masks, "--binary")
        assert r.exit_code != 0 and "--images and --masks are the same folder" in r.output, r.output


def test_a_masks_folder_given_as_images_is_refused(tmp_path):
    _, masks, _ = _zero_255_set(tmp_path)
    copy = tmp_path / "masks_copy"
    shutil.copytree(masks, copy)
    for command in (
        ("evaluate", "--model", _model(tmp_path / "m.keras")),
        ("train", "--num-classes", 2, "--epochs", 1, "-o", tmp_path / "t.keras"),
    ):
        r = _cli(*command, "--images", copy, "--masks", masks, "--binary")
        assert r.exit_code != 0, r.output
        assert f"--images {copy} holds label masks, not photos" in r.output and "--masks" in r.output, r.output


def test_labels_outside_the_classes_name_the_file_and_the_fix(tmp_path):
    images, masks, preds = _zero_255_set(tmp_path)
    Image.fromarray(np.full((20, 24), 3, np.uint8)).save(masks / "s1.png")
    r = _cli("evaluate", "--predictions", preds, "--masks", masks, "--num-classes", 2, "--binary")
    assert r.exit_code == 1 and "s1.png" in r.output and "drop --binary" in r.output, r.output
    masks2 = tmp_path / "masks2"
    masks2.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 24), 4 if i == 1 else 1, np.uint8)).save(masks2 / f"s{i}.png")
    r = _cli("evaluate", "--predictions", preds, "--masks", masks2, "--num-classes", 2)
    assert r.exit_code == 1 and "s1.png" in r.output and "check --num-classes" in r.output, r.output


def test_a_model_whose_input_channels_do_not_fit_is_refused(tmp_path):
    images, masks, _ = _zero_255_set(tmp_path)
    gray = _model(tmp_path / "gray.keras", channels=1)
    for args in (
        ("evaluate", "--model", gray, "--images", images, "--masks", masks, "--binary"),
        ("segment", images, "--model", gray, "-o", tmp_path / "out"),
    ):
        r = _cli(*args)
        assert r.exit_code == 1, r.output
        assert "takes 1-channel images" in r.output and "RGB (3 channels)" in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1, r.output

    from suite.unet import segment_image
    from suite.unet.model import build_unet

    with pytest.raises(ValueError, match="takes 4-channel images"):
        segment_image(
            build_unet(None, num_classes=2, encoder_filters=(4, 8), input_shape=(None, None, 4)), np.zeros((8, 8, 3))
        )


# --------------------------------------------------------------------------- entries that cannot be read
@pytest.fixture
def awkward_folder(tmp_path):
    """A folder of photos with what real folders also hold: links to files since moved, a pipe, a sub-folder
    named like a photo, notes; and, when not running as root, a photo without read permission."""
    import os

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(photos / "a.png")
    (photos / "gone.png").symlink_to(tmp_path / "moved" / "gone.png")
    (photos / "old_link").symlink_to(tmp_path / "nowhere")
    os.mkfifo(photos / "pipe.png")
    os.mkfifo(photos / "fifo")
    (photos / "holiday.jpg").mkdir()
    (photos / "notes.txt").write_text("not an image")
    failures = {
        "gone.png": "broken symbolic link",
        "old_link": "broken symbolic link",
        "pipe.png": "not a regular file (a named pipe)",
        "holiday.jpg": "is a folder, not an image",
    }
    if os.geteuid() != 0:  # root reads files whatever their permission bits
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(photos / "locked.png")
        (photos / "locked.png").chmod(0)
        failures["locked.png"] = "cannot read file (Permission denied)"
    return photos, failures


def _failed_lines(output, failures):
    lines = [line for line in output.splitlines() if any(name in line for name in failures)]
    for name, reason in failures.items():
        assert any(name in line and reason in line for line in lines), (name, output)


def test_scan_folder_lists_what_cannot_be_read_as_inputs(awkward_folder):
    from suite.common.io.images import ImageReadError, load_image, scan_folder

    photos, failures = awkward_folder
    images, skipped = scan_folder(photos)
    assert sorted(p.name for p in images) == sorted(["a.png", *failures])
    assert sorted(p.name for p in skipped) == ["fifo", "notes.txt"]  # not named like an image, not a link
    for name, reason in failures.items():
        with pytest.raises(ImageReadError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            load_image(photos / name)


def test_segment_counts_broken_links_and_unreadable_entries_as_failures(awkward_folder, tmp_path):
    photos, failures = awkward_folder
    out = tmp_path / "masks"
    r = _cli("segment", photos, "--model", _model(tmp_path / "m.keras"), "-o", out, "--no-progress")
    assert r.exit_code == 1, r.output
    _failed_lines(r.output, failures)
    assert (out / "a.png").is_file() and "Traceback" not in r.output
    assert f"failed {len(failures)}" in r.output


def test_stylize_counts_broken_links_and_unreadable_entries_as_failures(awkward_folder, tmp_path):
    photos, failures = awkward_folder
    art = tmp_path / "art.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(art)
    gatys = ["--size", "32", "--scales", "1", "--iterations", "2", "--backbone", "vgg16", "--weights", "none"]
    for method in (gatys, ["--method", "fast"]):
        out = tmp_path / f"out_{method[1]}"
        r = _cli("stylize", photos, "--style", art, "-o", out, "--no-progress", *method)
        assert r.exit_code == 1, r.output
        _failed_lines(r.output, failures)
        assert (out / "a.png").is_file() and "Traceback" not in r.output
        assert f"{len(failures)} failed" in r.output, r.output


def test_evaluate_and_train_name_a_broken_link_among_the_pairs(tmp_path):
    images, masks, preds = _zero_255_set(tmp_path)
    (masks / "s3.png").symlink_to(tmp_path / "moved.png")
    (images / "s3.jpg").symlink_to(tmp_path / "moved.jpg")
    r = _cli("evaluate", "--model", _model(tmp_path / "m.keras"), "--images", images, "--masks", masks, "--binary")
    assert r.exit_code == 1 and "s3" in r.output and "broken symbolic link" in r.output, r.output
    assert "images 3" in r.output  # the other three pairs are scored
    from suite.unet.data import check_source, open_source

    stats = check_source(open_source(images, masks, binary=True), 2, progress=False, skip_bad=True)
    assert len(stats.kept) == 3 and "broken symbolic link" in stats.bad[0]["reason"]


def _mixed_set(root, n=4, h=32, w=32):
    """Class-index masks (0, 1, 2) with ONE 0/255 mask among them (s1.png), and matching predictions."""
    rng = np.random.default_rng(1)
    for sub in ("images", "masks", "preds"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"s{i}.png")
        labels = rng.integers(0, 3, (h, w)).astype(np.uint8)
        mask = (labels > 0).astype(np.uint8) * 255 if i == 1 else labels
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
        Image.fromarray(labels).save(root / "preds" / f"s{i}.png")
    return root / "images", root / "masks", root / "preds"


def test_one_0_255_mask_among_class_masks_is_named(tmp_path):
    images, masks, preds = _mixed_set(tmp_path)
    r = _cli("evaluate", "--predictions", preds, "--masks", masks, "--num-classes", 3, "--json")
    assert "s1.png" in r.output and "--binary" in r.output, r.output
    from suite.unet.data import open_source
    from suite.unet.evaluate import evaluate_predictions

    report = evaluate_predictions(preds, open_source(images, masks), 3, progress=False)
    assert report["images"] == 3 and [s["mask"].endswith("s1.png") for s in report["skipped"]] == [True]
    assert "pass --binary" in report["skipped"][0]["reason"]
    r = _cli(
        "train",
        "--images",
        images,
        "--masks",
        masks,
        "--num-classes",
        3,
        "--backbone",
        "none",
        "--encoder-filters",
        "4,8,16,32,64",
        "--image-size",
        32,
        "--epochs",
        1,
        "--batch-size",
        2,
        "--no-tensorboard",
        "-o",
        tmp_path / "m.keras",
    )
    assert "s1.png" in r.output and "pass --binary" in r.output, r.output
