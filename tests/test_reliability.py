"""The hostile corpus against the user-facing commands: good files right, bad ones named with a reason,
the exit status honest, no traceback, nothing partial left behind."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from suite.cli import main
from tests.helpers import tiny_segmenter
from tests.hostile import make_corpus, make_training_corpus, photo


def _no_partials(folder):
    return [p for p in Path(folder).rglob("*") if p.name.endswith(".part")]


def test_segment_on_hostile_corpus(tmp_path):
    from suite.common.io.images import load_image
    from suite.unet.model_io import load_segmentation_model
    from suite.unet.segment import segment_image

    expect = make_corpus(tmp_path / "in")
    model = tiny_segmenter(3, down=2, path=tmp_path / "m.keras")
    keras_model = load_segmentation_model(model)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main, ["segment", str(tmp_path / "in"), "-m", str(model), "-o", str(out), "-r", "--device", "cpu"]
    )
    assert r.exit_code == 1, r.output  # some inputs failed: a script can tell
    assert "Traceback" not in r.output
    report = json.loads((out / "report.json").read_text())
    failed = {Path(f["input"]).name: f["reason"] for f in report["failed"]}
    for rel, (kind, what) in expect.items():
        name = Path(rel).name
        if kind == "ok":
            mask = Image.open(out / Path(rel).with_suffix(".png"))
            assert (mask.height, mask.width) == what, rel  # original (upright) size
            assert mask.mode == "P"
            # Right, not just present: the batch job's mask is the model's answer on the correctly read
            # pixels (the reader's CMYK, 16-bit, EXIF... conversions are checked against references in
            # test_hostile_io.py).
            np.testing.assert_array_equal(
                np.asarray(mask), segment_image(keras_model, load_image(tmp_path / "in" / rel))
            )
        else:
            assert re.search(what, failed[name]), (rel, failed.get(name))
            assert "\n" not in failed[name]
    assert not _no_partials(out)
    # Re-running skips what is done and fails the same bad files again, no more.
    r2 = CliRunner().invoke(
        main, ["segment", str(tmp_path / "in"), "-m", str(model), "-o", str(out), "-r", "--device", "cpu"]
    )
    assert r2.exit_code == 1 and "Traceback" not in r2.output
    report2 = json.loads((out / "report.json").read_text())
    assert report2["counts"]["done"] == 0 and report2["counts"]["failed"] == len(failed)


def test_segment_output_path_is_a_file(tmp_path):
    Image.fromarray(photo()).save(tmp_path / "a.png")
    model = tiny_segmenter(3, down=2, path=tmp_path / "m.keras")
    (tmp_path / "taken").write_text("I am a file")
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "a.png"), "-m", str(model), "-o", str(tmp_path / "taken")])
    assert r.exit_code != 0 and "taken" in r.output and "Traceback" not in r.output
    assert (tmp_path / "taken").read_text() == "I am a file"


def _without_permission_override(probe_dir):
    """A command prefix under which folder permissions apply, even for root (CI runs as root).

    Root ignores permission bits through CAP_DAC_OVERRIDE; dropping it from the
    bounding set makes a read-only folder read-only for the child process.
    """
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a folder read-only")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
        if subprocess.run(prefix + ["true"], capture_output=True).returncode != 0:
            pytest.skip("setpriv cannot drop capabilities here")
    probe = subprocess.run(prefix + ["touch", str(probe_dir / "probe")], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this platform does not enforce the read-only folder")
    return prefix


def test_read_only_output_folder_fails_before_any_work(tmp_path):
    """segment, stylize, train and evaluate refuse a read-only destination at once, in one line, writing nothing."""
    from tests.test_train import _dataset

    Image.fromarray(photo()).save(tmp_path / "a.png")
    model = tiny_segmenter(3, down=2, path=tmp_path / "m.keras")
    images, masks = _dataset(tmp_path / "data", n=4)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    prefix = _without_permission_override(ro)
    env = dict(os.environ, SUITE_QUIET="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    jobs = {
        "segment": ["segment", str(tmp_path / "a.png"), "-m", str(model), "-o", str(ro)],
        "segment into a new sub-folder": ["segment", str(tmp_path / "a.png"), "-m", str(model), "-o", str(ro / "sub")],
        "stylize": [
            "stylize",
            str(tmp_path / "a.png"),
            "--style",
            str(tmp_path / "a.png"),
            "-o",
            str(ro / "x.png"),
            "--size",
            "32",
            "--iterations",
            "2",
            "--scales",
            "1",
            "--weights",
            "none",
        ],
        "train": [
            "train",
            "--images",
            str(images),
            "--masks",
            str(masks),
            "--output",
            str(ro / "m.keras"),
            *TINY_TRAIN,
        ],
        "evaluate": [
            "evaluate",
            "--model",
            str(model),
            "--images",
            str(images),
            "--masks",
            str(masks),
            "--num-classes",
            "3",
            "--output",
            str(ro / "r.json"),
        ],
    }
    try:
        for what, args in jobs.items():
            t0 = time.monotonic()
            r = subprocess.run(
                prefix + [sys.executable, "-m", "suite", *args, "--device", "cpu"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            err = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
            assert r.returncode == 1, (what, r.stderr[-1500:])
            assert "Traceback" not in r.stderr and len(err) == 1, (what, r.stderr[-1500:])
            assert "cannot write to" in err[0] and "permission denied" in err[0], (what, err)
            assert "epoch" not in r.stderr + r.stdout, what  # refused before any training
            assert time.monotonic() - t0 < 60, what
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_segment_colliding_outputs_get_distinct_names(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    Image.fromarray(photo(20, 30)).save(tmp_path / "x" / "same.png")
    Image.fromarray(photo(24, 16)).save(tmp_path / "y" / "same.jpg")
    model = tiny_segmenter(3, down=2, path=tmp_path / "m.keras")
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main, ["segment", str(tmp_path / "x"), str(tmp_path / "y"), "-m", str(model), "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    sizes = sorted(Image.open(p).size for p in out.glob("*.png"))
    assert sizes == [(16, 24), (30, 20)]


def test_stylize_on_hostile_corpus(tmp_path):
    expect = make_corpus(tmp_path / "in", with_symlink_loop=False)
    Image.fromarray(photo(32, 32, 9)).save(tmp_path / "art.png")
    out = tmp_path / "out"
    args = [
        "stylize",
        str(tmp_path / "in"),
        "--style",
        str(tmp_path / "art.png"),
        "-o",
        str(out),
        "--size",
        "24",
        "--scales",
        "1",
        "--iterations",
        "2",
        "--weights",
        "none",
        "--backbone",
        "vgg16",
        "--no-progress",
        "--device",
        "cpu",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    for rel, (kind, what) in expect.items():
        name = Path(rel).name
        h, w = what if kind == "ok" else (0, 0)
        if kind == "ok" and min(h, w) * 24 / max(h, w) < 16:  # too thin for VGG at --size 24
            assert re.search(rf"{re.escape(name)}: too small", r.output), name
            assert not (out / Path(rel).with_suffix(".png")).exists()
        elif kind == "ok":
            # An animated GIF is a clip: stylized frame by frame into a GIF (suite.style.video).
            produced = out / (rel if rel.endswith(".gif") else Path(rel).with_suffix(".png"))
            assert produced.is_file(), rel
            img = Image.open(produced)
            # the long side is --size, and the aspect ratio is kept
            assert max(img.size) == 24 or max(h, w) < 24
            assert abs(img.width / img.height - w / h) < 0.35 or min(img.size) <= 2, (rel, img.size, what)
        else:
            assert name in r.output, name
            assert not (out / Path(rel).with_suffix(".png")).exists()
    assert not _no_partials(out)


TINY_TRAIN = [
    "--num-classes",
    "3",
    "--backbone",
    "none",
    "--encoder-filters",
    "4,8",
    "--image-size",
    "32",
    "--epochs",
    "1",
    "--batch-size",
    "2",
    "--no-tensorboard",
    "--device",
    "cpu",
]


def _assert_refused_exactly(skipped, refused):
    """``skipped`` ({image, mask, reason} dicts) is exactly the refused stems, each with its one-line reason."""
    by_stem = {Path(s["image"]).stem: s["reason"] for s in skipped}
    assert set(by_stem) == set(refused), sorted(set(by_stem) ^ set(refused))
    for stem, pattern in refused.items():
        assert re.search(pattern, by_stem[stem]), (stem, by_stem[stem])
        assert "\n" not in by_stem[stem] and stem in by_stem[stem]  # one line, naming the file


def test_train_on_hostile_corpus(tmp_path, monkeypatch):
    """Bad pairs are left out one by one with a reason; every usable image is trained on; exit status 1."""
    import keras

    import suite.unet.model  # noqa: F401  (registers the suite's layers for keras.saving)

    monkeypatch.delenv("SUITE_QUIET", raising=False)  # the skip notes are part of what is checked

    images, masks, used, refused = make_training_corpus(tmp_path / "data")
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--images",
            str(images),
            "--masks",
            str(masks),
            "--output",
            str(out),
            "--logdir",
            str(logdir),
            "--val-split",
            "0.2",
            *TINY_TRAIN,
        ],
    )
    assert r.exit_code == 1, r.output  # trained, but part of the data was unusable: a script can tell
    assert "Traceback" not in r.output
    skipped = json.loads((logdir / "skipped.json").read_text())
    _assert_refused_exactly(skipped, refused)
    for stem in refused:
        assert any(line.startswith("suite: skipped") and stem in line for line in r.output.splitlines()), stem
    assert "no_mask.png" in r.output and "no_image.png" in r.output  # unpaired files are named
    assert "truncated.jpg" in r.output and "truncated.png" in r.output  # two images, one mask: ambiguous
    assert "best val mIoU" in r.output
    model = keras.saving.load_model(out)
    assert tuple(model(np.zeros((1, 32, 32, 3), "float32")).shape) == (1, 32, 32, 3)
    # Every usable image (CMYK, 16-bit, EXIF-rotated...) went into training or validation:
    # a reader that got a size or the orientation wrong would have made its mask a mismatch.
    from suite.unet import data as sdata

    src = sdata.open_source(images, masks, warn=False)
    stats = sdata.check_source(src, 3, skip_bad=True, progress=False)
    assert {Path(src.pairs[i][0]).stem for i in stats.kept} == used

    # --strict stops before training on the first bad pair, and writes no model.
    strict_out = tmp_path / "strict.keras"
    r2 = CliRunner().invoke(
        main,
        ["train", "--images", str(images), "--masks", str(masks), "--output", str(strict_out), "--strict", *TINY_TRAIN],
    )
    assert r2.exit_code == 1 and "Traceback" not in r2.output and not strict_out.exists()
    assert any(stem in r2.output.strip().splitlines()[-1] for stem in refused)


def test_train_with_nothing_usable_or_an_empty_folder(tmp_path):
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir(), masks.mkdir()
    r = CliRunner().invoke(
        main,
        ["train", "--images", str(images), "--masks", str(masks), *TINY_TRAIN, "--output", str(tmp_path / "a.keras")],
    )
    assert r.exit_code != 0 and "no image/mask pairs" in r.output and "Traceback" not in r.output
    for i in range(3):
        (images / f"z{i}.png").write_bytes(b"")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(masks / f"z{i}.png")
    r = CliRunner().invoke(
        main,
        ["train", "--images", str(images), "--masks", str(masks), *TINY_TRAIN, "--output", str(tmp_path / "b.keras")],
    )
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "none of the 3 training pairs is usable" in r.output and "z0.png: empty file" in r.output
    assert not (tmp_path / "b.keras").exists()


def test_evaluate_on_hostile_corpus(tmp_path):
    images, masks, used, refused = make_training_corpus(tmp_path / "data")
    model = tiny_segmenter(3, down=2, path=tmp_path / "m.keras")
    report = tmp_path / "eval.json"
    r = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            str(model),
            "--images",
            str(images),
            "--masks",
            str(masks),
            "--output",
            str(report),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    data = json.loads(report.read_text())
    _assert_refused_exactly(data["skipped"], refused)
    assert data["images"] == len(used)  # every usable pair scored, at its own size
    expected_pixels = 0
    for stem in used:
        (mask,) = masks.glob(f"{stem}.png")
        expected_pixels += Image.open(mask).size[0] * Image.open(mask).size[1]
    assert data["scored_pixels"] == expected_pixels
    lines = [line for line in r.output.splitlines() if line.startswith("skipped")]
    assert len(lines) == len(refused)


def test_max_pixels_is_on_by_default_and_can_be_raised(tmp_path):
    """`--max-pixels` on every command that reads images; masks are held to the limit too."""
    from suite.common.io.images import DEFAULT_MAX_PIXELS
    from suite.unet import data as sdata
    from tests.hostile import bomb_png

    for command in ("segment", "stylize", "train", "evaluate", "features"):
        r = CliRunner().invoke(main, [command, "--help"])
        assert "--max-pixels" in r.output and f"{DEFAULT_MAX_PIXELS}" in r.output, command
    images, masks = tmp_path / "i", tmp_path / "m"
    images.mkdir(), masks.mkdir()
    Image.fromarray(photo(30, 40)).save(images / "a.png")
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(masks / "a.png")
    Image.fromarray(photo(30, 40)).save(images / "b.png")
    (masks / "b.png").write_bytes(bomb_png())
    with pytest.raises(
        sdata.DatasetError,
        match=r"none of the 2 pairs is usable: .*a\.png: 40x30 = 1,200 pixels is over "
        r"the limit of 1,000 .*--max-pixels",
    ):
        sdata.check_source(sdata.open_source(images, masks, max_pixels=1000), 2, skip_bad=True, progress=False)
    stats = sdata.check_source(sdata.open_source(images, masks), 2, skip_bad=True, progress=False)
    assert stats.kept == [0] and "over the limit" in stats.bad[0]["reason"]  # the mask bomb
    assert Path(stats.bad[0]["image"]).name == "b.png"
    model = tiny_segmenter(2, down=2, path=tmp_path / "model.keras")
    args = ["evaluate", "--model", str(model), "--images", str(images), "--masks", str(masks), "--device", "cpu"]
    r = CliRunner().invoke(main, args + ["--max-pixels", "1000"])
    assert r.exit_code != 0 and "no image could be scored" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "images 1 (1 skipped)" in r.output  # a.png scored, the mask bomb refused


def _segment_job(tmp_path, n):
    """A folder of n 256 px photos, a tiny model, and the `suite segment` command line over them."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(n):
        Image.fromarray(photo(256, 256, i)).save(src / f"im{i:03d}.png")
    model = tiny_segmenter(3, down=2, path=tmp_path / "m.keras")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "suite",
        "segment",
        str(src),
        "-m",
        str(model),
        "-o",
        str(out),
        "--overlay",
        "--batch-size",
        "1",
        "--device",
        "cpu",
    ]
    return cmd, out


def _as_at_a_terminal():
    """Runs in the child before exec: SIGINT back to its default.

    A job started in the background by a non-interactive shell (``cmd &``, as
    some CI runners do) inherits SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler; a user's Ctrl-C at a terminal is what these tests mean.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_when(proc, out, pattern, count, sig, timeout=120):
    """Sends ``sig`` to ``proc`` once ``count`` files matching ``pattern`` exist in ``out``."""
    deadline = time.time() + timeout
    while time.time() < deadline and len(list(out.glob(pattern))) < count:
        time.sleep(0.05)
    proc.send_signal(sig)


@pytest.mark.slow
def test_kill_9_during_segment_then_resume(tmp_path):
    cmd, out = _segment_job(tmp_path, 60)
    env = dict(os.environ, SUITE_QUIET="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _signal_when(proc, out, "*_overlay.jpg", 3, signal.SIGKILL)
    proc.wait()
    masks = sorted(out.glob("im*.png"))
    assert 0 < len(masks) < 60, "the kill should land mid-run"
    for m in masks:  # every mask that exists under its final name is complete
        Image.open(m).load()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["done"] + report["counts"]["skipped"] == 60
    assert report["counts"]["done"] < 60  # the finished ones were not redone
    assert not _no_partials(out)
    assert len(list(out.glob("im*.png"))) == 60


@pytest.mark.slow
def test_sigint_during_segment_is_a_clean_message(tmp_path):
    cmd, out = _segment_job(tmp_path, 40)
    proc = subprocess.Popen(
        cmd,
        env=dict(os.environ, SUITE_QUIET="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_at_a_terminal,
    )
    _signal_when(proc, out, "*_overlay.jpg", 2, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "Interrupted. Finished outputs are kept" in err
    for m in out.glob("im*.png"):
        Image.open(m).load()
    assert not _no_partials(out)
    finished = len(list(out.glob("*_overlay.jpg")))
    r = subprocess.run(cmd, env=dict(os.environ, SUITE_QUIET="1"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["skipped"] >= finished > 0 and report["counts"]["done"] + report["counts"]["skipped"] == 40


@pytest.mark.slow
def test_kill_9_during_stylize_then_resume(tmp_path):
    cmd, out = _stylize_job(tmp_path)
    env = dict(os.environ, SUITE_QUIET="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _signal_when(proc, out, "p*.json", 1, signal.SIGKILL, timeout=180)
    proc.wait()
    finished = sorted(p.name for p in out.glob("p?.png"))
    assert 0 < len(finished) < 6
    for name in finished:
        Image.open(out / name).load()
    stamps = {name: (out / name).stat().st_mtime_ns for name in finished}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.glob("p?.png")) == [f"p{i}.png" for i in range(6)]
    assert all((out / name).stat().st_mtime_ns == t for name, t in stamps.items())  # kept, not redone
    assert not _no_partials(out)


def _train_job(tmp_path):
    """A tiny 40-epoch `suite train` command line, its model path, and a reader of the epochs logged so far."""
    import csv

    from tests.test_train import _dataset

    images, masks = _dataset(tmp_path / "data", n=8)
    out, logdir = tmp_path / "m.keras", tmp_path / "logs"
    cmd = [
        sys.executable,
        "-m",
        "suite",
        "train",
        "--images",
        str(images),
        "--masks",
        str(masks),
        "--num-classes",
        "3",
        "--backbone",
        "none",
        "--encoder-filters",
        "4,8,16",
        "--image-size",
        "32",
        "--epochs",
        "40",
        "--batch-size",
        "2",
        "--val-split",
        "0.25",
        "--patience",
        "0",
        "--output",
        str(out),
        "--logdir",
        str(logdir),
        "--no-tensorboard",
        "--device",
        "cpu",
        "--seed",
        "0",
    ]

    def epochs_logged():
        try:
            with open(logdir / "log.csv") as fh:
                return [int(r["epoch"]) for r in csv.DictReader(fh)]
        except (FileNotFoundError, KeyError, ValueError):
            return []

    return cmd, out, epochs_logged


@pytest.mark.slow
def test_kill_9_during_train_then_resume(tmp_path):
    """A real `kill -9` mid-training; `--resume` continues after the last finished epoch and ends usable."""
    cmd, out, epochs_logged = _train_job(tmp_path)
    env = dict(os.environ, SUITE_QUIET="1")

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(epochs_logged()) < 3 and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = epochs_logged()
    assert 3 <= len(done) < 40, done
    assert (out.parent / "logs" / "backup").exists()
    r = subprocess.run(
        cmd + ["--resume", "--epochs", str(len(done) + 2)], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    resumed = epochs_logged()
    assert resumed[: len(done)] == done and resumed[len(done) :] and resumed[len(done)] >= done[-1]
    assert resumed[-1] == len(done) + 1  # went on to the requested last epoch instead of starting over
    import keras

    import suite.unet.model  # noqa: F401

    model = keras.saving.load_model(out)
    assert tuple(model(np.zeros((1, 32, 32, 3), "float32")).shape) == (1, 32, 32, 3)


def _stylize_job(tmp_path, n=6):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(n):
        Image.fromarray(photo(48, 64, i)).save(src / f"p{i}.png")
    Image.fromarray(photo(48, 48, 99)).save(tmp_path / "art.png")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "suite",
        "stylize",
        str(src),
        "--style",
        str(tmp_path / "art.png"),
        "-o",
        str(out),
        "--size",
        "64",
        "--scales",
        "1",
        "--iterations",
        "40",
        "--weights",
        "none",
        "--backbone",
        "vgg16",
        "--no-progress",
        "--device",
        "cpu",
    ]
    return cmd, out


@pytest.mark.slow
def test_sigint_during_stylize_keeps_finished_outputs(tmp_path):
    cmd, out = _stylize_job(tmp_path)
    env = dict(os.environ, SUITE_QUIET="1")
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_as_at_a_terminal
    )
    _signal_when(proc, out, "p*.json", 1, signal.SIGINT, timeout=180)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "Interrupted. Finished outputs are kept" in err
    finished = sorted(p.name for p in out.glob("p?.png"))
    assert 0 < len(finished) < 6
    for name in finished:
        Image.open(out / name).load()
    assert not _no_partials(out)
    stamps = {name: (out / name).stat().st_mtime_ns for name in finished}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.glob("p?.png")) == [f"p{i}.png" for i in range(6)]
    assert all((out / name).stat().st_mtime_ns == t for name, t in stamps.items())


@pytest.mark.slow
def test_sigint_during_train_then_resume(tmp_path):
    """Ctrl-C mid-training: a clean message that says how to continue, and `--resume` does continue."""
    cmd, out, epochs_logged = _train_job(tmp_path)
    env = dict(os.environ, SUITE_QUIET="1")

    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_as_at_a_terminal
    )
    deadline = time.time() + 240
    while time.time() < deadline and len(epochs_logged()) < 2 and proc.poll() is None:
        time.sleep(0.1)
    # Which of two failures it is: the run ended before two epochs showed in the CSV log, or the signal was lost.
    running, logged = proc.poll() is None, epochs_logged()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert running, f"train ended before the signal; epochs in the CSV log while it ran: {logged}\n{err[-2000:]}"
    assert proc.returncode == 130, f"SIGINT sent after epochs {logged}, not acted on:\n{err[-2000:]}"
    assert "Traceback" not in err and "Interrupted." in err and "--resume" in err
    done = epochs_logged()
    assert 2 <= len(done) < 40, done
    r = subprocess.run(
        cmd + ["--resume", "--epochs", str(len(done) + 2)], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    resumed = epochs_logged()
    assert resumed[: len(done)] == done and resumed[-1] == len(done) + 1
