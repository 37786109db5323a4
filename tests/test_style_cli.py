"""``suite stylize`` through Click's CliRunner, on tiny images with the random-weight VGG16 (fast)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from suite.cli import main

FAST = [
    "--size",
    "32",
    "--scales",
    "1",
    "--iterations",
    "2",
    "--backbone",
    "vgg16",
    "--weights",
    "none",
    "--no-progress",
]


def _write(path, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def files(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _write(photos / "a.png", 24, 32, 1)
    _write(photos / "b.jpg", 40, 20, 2)
    (photos / "notes.txt").write_text("not an image")
    style = _write(tmp_path / "art.png", 30, 30, 3)
    return tmp_path, photos, style


def test_single_file_output_with_sidecar_and_compare(files):
    tmp, photos, style = files
    out = tmp / "result.png"
    r = CliRunner().invoke(
        main,
        ["stylize", str(photos / "a.png"), "--style", str(style), "-o", str(out), "--compare", "--seed", "7", *FAST],
    )
    assert r.exit_code == 0, r.output
    img = Image.open(out)
    assert img.size == (32, 24)  # aspect kept
    side = json.loads((tmp / "result.png.json").read_text())
    assert side["options"]["seed"] == 7 and side["options"]["size"] == 32
    assert set(side["losses"]) == {"total", "content", "style", "tv"}
    assert all(np.isfinite(v) for v in side["losses"].values())
    assert (tmp / "result_compare.jpg").is_file()


def test_folder_skip_existing_and_overwrite(files):
    tmp, photos, style = files
    out = tmp / "out"
    runner = CliRunner()
    r = runner.invoke(main, ["stylize", str(photos), "--style", str(style), "-o", str(out), *FAST])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a.png.json", "b.png", "b.png.json"]
    assert Image.open(out / "b.png").size == (16, 32)
    assert "notes.txt" in r.output  # reported as skipped
    before = (out / "a.png").stat().st_mtime_ns
    r = runner.invoke(main, ["stylize", str(photos), "--style", str(style), "-o", str(out), *FAST])
    assert r.exit_code == 0 and "2 skipped" in r.output
    assert (out / "a.png").stat().st_mtime_ns == before
    r = runner.invoke(
        main, ["stylize", str(photos / "a.png"), "--style", str(style), "-o", str(out), "--overwrite", *FAST]
    )
    assert r.exit_code == 0 and (out / "a.png").stat().st_mtime_ns != before


def test_bad_file_among_good_ones(files):
    tmp, photos, style = files
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out = tmp / "out"
    r = CliRunner().invoke(main, ["stylize", str(photos), "--style", str(style), "-o", str(out), *FAST])
    assert r.exit_code == 1
    assert "broken.jpg" in r.output and "Traceback" not in r.output
    assert (out / "a.png").is_file() and (out / "b.png").is_file()
    assert not (out / "broken.png").exists()


def test_blend_and_mask_options(files):
    tmp, photos, style = files
    style2 = _write(tmp / "art2.png", 20, 20, 9)
    mask = tmp / "mask.png"
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(mask)
    runner = CliRunner()
    base = ["stylize", str(photos / "a.png"), "--style", str(style), "--style", str(style2)]
    r = runner.invoke(main, [*base, "--blend", "0.7,0.3", "-o", str(tmp / "x.png"), *FAST])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp / "x.png.json").read_text())["options"]["blend"] == pytest.approx([0.7, 0.3])
    r = runner.invoke(main, [*base, "--blend", "1", "-o", str(tmp / "y.png"), *FAST])
    assert r.exit_code == 2 and "--blend" in r.output
    r = runner.invoke(main, [*base, "--mask", str(mask), "-o", str(tmp / "z.png"), *FAST])
    assert r.exit_code == 2 and "--mask" in r.output
    r = runner.invoke(main, [*base, "--mask", str(mask), "--mask", str(mask), "-o", str(tmp / "z.png"), *FAST])
    assert r.exit_code == 0, r.output


def test_save_every_writes_intermediates(files):
    tmp, photos, style = files
    out = tmp / "r.png"
    args = ["stylize", str(photos / "a.png"), "--style", str(style), "-o", str(out), "--save-every", "1", *FAST]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert (tmp / "r_scale1_0001.jpg").is_file() and (tmp / "r_scale1_0002.jpg").is_file()


def test_help_shows_defaults():
    r = CliRunner().invoke(main, ["stylize", "--help"])
    assert r.exit_code == 0
    for text in ("--preserve-colors", "--optimizer", "[default: lbfgs]", "--scales", "--blend", "--compare"):
        assert text in r.output


def test_stylize_json_is_the_run_report_with_written_kept(tmp_path):
    photo, art = tmp_path / "p.png", tmp_path / "a.png"
    Image.fromarray(np.full((24, 24, 3), 120, np.uint8)).save(photo)
    Image.fromarray(np.full((24, 24, 3), 30, np.uint8)).save(art)
    (tmp_path / "notes.txt").write_text("x")
    args = ["stylize", str(photo), str(tmp_path / "notes.txt"), "--style", str(art), "--method", "fast"]
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "out"), "--json"])
    report = json.loads(r.stdout)
    assert report["written"] == report["done"] == [str(tmp_path / "out" / "p.png")]
    assert report["counts"]["done"] == 1 and report["options"]["method"] == "fast" and report["seconds"] > 0
    assert report["output"] == str(tmp_path / "out")
