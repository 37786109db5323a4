"""Where ``suite stylize`` writes: never over an input, a user's file or another output (tiny images, random VGG16)."""

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from suite.cli import main

GATYS = [
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


def _run(*args):
    return CliRunner().invoke(main, ["stylize", *map(str, args)])


# ---------------------------------------------------------------- 1. an output that is an input
@pytest.mark.parametrize("which", ["photo", "style"])
def test_output_that_is_an_input_is_refused_before_any_work(tmp_path, which):
    photo, style = _write(tmp_path / "self.jpg", seed=1), _write(tmp_path / "art.png", seed=2)
    target = photo if which == "photo" else style
    before = target.read_bytes()
    r = _run(photo, "--style", style, "-o", target, "--overwrite", *GATYS)
    assert r.exit_code == 2, r.output
    assert f"is the {which if which == 'photo' else '--style'} input" in r.output and "Traceback" not in r.output
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art.png", "self.jpg"]


def test_folder_output_over_an_input_file_is_refused(tmp_path):
    """A style inside the output folder with the name an output would get."""
    photos = tmp_path / "photos"
    photos.mkdir()
    _write(photos / "a.png", seed=1)
    out = tmp_path / "out"
    out.mkdir()
    style = _write(out / "a.png", seed=2)
    before = style.read_bytes()
    r = _run(photos, "--style", style, "-o", out, "--overwrite", *GATYS)
    assert r.exit_code == 1 and "is the input" in r.output, r.output
    assert style.read_bytes() == before


# ---------------------------------------------------------------- 2. the output folder is the input folder
def test_output_folder_that_is_the_input_folder_is_refused(tmp_path):
    photos = tmp_path / "sd"
    photos.mkdir()
    _write(photos / "p.png", seed=1)
    style = _write(tmp_path / "art.png", seed=2)
    r = _run(photos, "--style", style, "-o", photos, *GATYS)
    assert r.exit_code == 2 and "is the input folder" in r.output, r.output
    assert sorted(p.name for p in photos.iterdir()) == ["p.png"]


@pytest.mark.parametrize("contents", [[], ["readme.txt"]])
def test_folder_without_images_is_an_error(tmp_path, contents):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in contents:
        (folder / name).write_text("not an image")
    style = _write(tmp_path / "art.png", seed=2)
    r = _run(folder, "--style", style, "-o", tmp_path / "out", *GATYS)
    assert r.exit_code == 1 and f"no images found in {folder}" in r.output, r.output


# ---------------------------------------------------------------- 3. sidecars
def test_sidecar_never_replaces_a_users_json_nor_another_outputs(tmp_path):
    import json

    photo, style = _write(tmp_path / "p.jpg", seed=1), _write(tmp_path / "art.png", seed=2)
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    r = _run(photo, "--style", style, "-o", tmp_path / "notes.png", *GATYS)
    assert r.exit_code == 0, r.output
    assert json.loads(notes.read_text()) == {"mine": True}
    assert json.loads((tmp_path / "notes.png.json").read_text())["output"] == str(tmp_path / "notes.png")
    for ext in ("jpeg", "webp"):
        r = _run(photo, "--style", style, "-o", tmp_path / f"out.{ext}", *GATYS)
        assert r.exit_code == 0, r.output
    for ext in ("jpeg", "webp"):
        side = json.loads((tmp_path / f"out.{ext}.json").read_text())
        assert side["output"] == str(tmp_path / f"out.{ext}")


# ---------------------------------------------------------------- 4. compare and save-every names
def test_compare_sheet_and_a_photo_named_like_it_get_distinct_names(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _write(photos / "a.jpg", seed=1)
    _write(photos / "a_compare.jpg", seed=2)
    style = _write(tmp_path / "art.png", seed=3)
    out = tmp_path / "out"
    r = _run(photos, "--style", style, "-o", out, "--compare", "--ext", "jpg", "--overwrite", *GATYS)
    assert r.exit_code == 0, r.output
    images = sorted(p.name for p in out.iterdir() if not p.name.endswith(".json"))
    assert images == ["a.jpg", "a_compare.jpg", "a_compare_2.jpg", "a_compare_2_compare.jpg"]
    # a.jpg's sheet (content | style | result) is three pictures wide; the photo's result is one.
    assert Image.open(out / "a_compare.jpg").width > 2 * Image.open(out / "a_compare_2.jpg").width
    assert "2 written" in r.output


def test_planner_keeps_outputs_clear_of_save_every_names(tmp_path):
    from suite.style.batch import plan_outputs

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "a_scale1_0010.jpg", "b.jpg"):
        _write(photos / name)
    pairs, _ = plan_outputs([photos], tmp_path / "out", ext=".jpg", save_every=10)
    assert [d.name for _, d in pairs] == ["a.jpg", "a_scale1_0010_2.jpg", "b.jpg"]
    pairs, _ = plan_outputs([photos], tmp_path / "out", ext=".jpg")  # no intermediates: the plain names
    assert [d.name for _, d in pairs] == ["a.jpg", "a_scale1_0010.jpg", "b.jpg"]


# ---------------------------------------------------------------- 5. blend weights
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_fast_and_gatys_refuse_non_finite_blend_weights(bad):
    from suite.style.fast import FastStyleTransfer, fast_stylize
    from suite.style.presets import normalised_blend

    art = np.full((16, 16, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="finite"):
        FastStyleTransfer([art, art], blend=[1.0, bad], predictor=object(), transformer=object())
    with pytest.raises(ValueError, match="finite"):
        fast_stylize(art, [art, art], blend=[bad, 1.0], predictor=object(), transformer=object())
    with pytest.raises(ValueError, match="finite"):
        normalised_blend([bad, 1.0], 2)


def test_gatys_and_fast_engines_weigh_blend_alike():
    """One normalisation: Gatys, the fast network and the presets record the same weights; the page refuses alike."""
    from suite.style.fast import FastStyleTransfer, PresetStyleTransfer
    from suite.style.presets import normalised_blend
    from suite.style.transfer import StyleTransfer

    art = np.full((16, 16, 3), 128, np.uint8)
    want = normalised_blend([1, 3], 2)
    assert want == [0.25, 0.75]
    assert StyleTransfer([art, art], blend=[1, 3], extractor=object()).blend == want
    assert FastStyleTransfer([art, art], blend=[1, 3], predictor=object(), transformer=object()).blend == want
    assert PresetStyleTransfer([1, 2], blend=[1, 3], model=object()).blend == want
    with pytest.raises(ValueError, match="one blend weight per preset"):
        PresetStyleTransfer([1, 2], blend=[1], model=object())


def test_init_fast_starts_from_the_fast_network_with_the_same_artworks_and_blend():
    from suite.style.fast import FastStart
    from suite.style.transfer import StyleTransfer

    art = np.full((16, 16, 3), 128, np.uint8)
    st = StyleTransfer([art, art], blend=[1, 3], init="fast", extractor=object())
    assert isinstance(st.initializer, FastStart)
    assert st.initializer.blend == [0.25, 0.75] and len(st.initializer.styles) == 2
    assert StyleTransfer(art, extractor=object()).options.init == "content"
    own = lambda photo: photo  # noqa: E731
    assert StyleTransfer(art, init="fast", initializer=own, extractor=object()).initializer is own


# ---------------------------------------------------------------- 6. --seed
def test_negative_seed_is_a_usage_error(tmp_path):
    photo, style = _write(tmp_path / "p.png", seed=1), _write(tmp_path / "art.png", seed=2)
    r = _run(photo, "--style", style, "--seed", "-1", "-o", tmp_path / "o.png", *GATYS)
    assert r.exit_code == 2 and "--seed" in r.output, r.output
    assert not (tmp_path / "o.png").exists()


def test_empty_layer_lists_are_usage_errors(tmp_path):
    photo, style = _write(tmp_path / "p.png", seed=1), _write(tmp_path / "art.png", seed=2)
    for flag in ("--content-layers", "--style-layers"):
        r = _run(photo, "--style", style, flag, "", "-o", tmp_path / "o.png", *GATYS)
        assert r.exit_code == 2 and f"{flag} is empty" in r.output, r.output
    from suite.style.options import StyleOptions, check_style_options

    with pytest.raises(ValueError, match="content_layers"):
        check_style_options(StyleOptions(content_layers=()))


# ---------------------------------------------------------------- 7. float arrays in [0, 1]
def test_float_array_in_unit_range_warns_once_naming_it(monkeypatch):
    from suite.common.io import images

    monkeypatch.setattr(images, "_WARNED_UNIT_RANGE", set())
    unit = np.full((4, 4, 3), 0.5, np.float32)
    with pytest.warns(UserWarning, match=r"content is a float array with values up to 0\.5"):
        images.as_rgb_array(unit, "content")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images.as_rgb_array(unit, "content")  # once per name
        images.as_rgb_array(np.full((4, 4, 3), 128.0, np.float32), "styles[0]")  # [0, 255]: silent
        images.as_rgb_array(np.zeros((4, 4, 3), np.float32), "black")  # all black is not a [0, 1] image
        images.as_rgb_array(np.ones((4, 4, 3), np.uint8), "dark")  # integers are never [0, 1]
    with pytest.warns(UserWarning, match=r"styles\[1\]"):
        images.as_rgb_arrays([np.full((4, 4, 3), 9.0), unit], "styles")


# ---------------------------------------------------------------- 9. wrote lines as each output finishes
def test_wrote_lines_come_as_each_output_finishes(tmp_path):
    from suite.style.batch import stylize_paths

    photos = tmp_path / "photos"
    photos.mkdir()
    _write(photos / "a.png", seed=1)
    _write(photos / "b.png", seed=2)
    style = _write(tmp_path / "art.png", seed=3)
    seen = []

    def on_written(path):
        seen.append((path.name, sorted(p.name for p in (tmp_path / "out").glob("*.png"))))

    report = stylize_paths(
        [photos],
        [style],
        tmp_path / "out",
        progress=False,
        on_written=on_written,
        size=32,
        scales=(1.0,),
        iterations=2,
        backbone="vgg16",
        weights="none",
    )
    assert [Path(p).name for p in report.done] == ["a.png", "b.png"]
    assert seen == [("a.png", ["a.png"]), ("b.png", ["a.png", "b.png"])]  # told before the next one starts


def test_cli_prints_each_wrote_line_once_on_a_pipe(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _write(photos / "a.png", seed=1)
    _write(photos / "b.png", seed=2)
    style = _write(tmp_path / "art.png", seed=3)
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "suite", "stylize", str(photos), "--style", str(style), "-o", str(out), *GATYS],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"wrote {out / 'a.png'}", f"wrote {out / 'b.png'}"]


def test_an_output_folder_holding_the_inputs_still_takes_them(tmp_path):
    """`-o .` next to a named photo, or around an input folder, stylizes them; only an output folder inside an
    input folder keeps its own results out of the next run."""
    from suite.style.batch import plan_outputs

    (tmp_path / "sub").mkdir()
    for p in (tmp_path / "a.jpg", tmp_path / "sub" / "b.jpg"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(p)
    pairs, _ = plan_outputs([tmp_path / "a.jpg"], tmp_path)
    assert pairs == [(tmp_path / "a.jpg", tmp_path / "a.png")]
    pairs, _ = plan_outputs([tmp_path / "sub"], tmp_path)
    assert pairs == [(tmp_path / "sub" / "b.jpg", tmp_path / "b.png")]
    # the output folder inside the input folder: its results are not content
    (tmp_path / "sub" / "out").mkdir()
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / "sub" / "out" / "b.png")
    pairs, _ = plan_outputs([tmp_path / "sub"], tmp_path / "sub" / "out", recursive=True)
    assert pairs == [(tmp_path / "sub" / "b.jpg", tmp_path / "sub" / "out" / "b.png")]


class _Negative:
    """A stand-in transformer (255 - photo), so the batch loop runs without building a network; it raises
    ``stop`` at call number ``stop_at``."""

    def __init__(self, stop_at=None, stop=KeyboardInterrupt):
        self.calls, self.stop_at, self.stop = 0, stop_at, stop

    def predict_on_batch(self, inputs):
        self.calls += 1
        if self.calls == self.stop_at:
            raise self.stop()
        return 255.0 - inputs["image"]


def _no_style(x):
    return np.zeros((1, 100), np.float32)


def test_fast_folder_writes_in_order_with_failures_and_skips_in_their_turn(tmp_path):
    """Decoding ahead and writing behind the network keep each outcome in its photo's turn, and the PNGs
    (written at a fast zlib level) are lossless."""
    from suite.style.batch import fast_stylize_paths

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate("acde"):
        _write(photos / f"{name}.png", seed=i)
    (photos / "b.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    out.mkdir()
    _write(out / "d.png", seed=9)  # an earlier run's: skipped
    style = _write(tmp_path / "art.png", seed=3)
    said, written = [], []
    report = fast_stylize_paths(
        [photos],
        [style],
        out,
        progress=False,
        on_message=said.append,
        on_written=lambda p: written.append((p.name, sorted(f.name for f in out.glob("*.png")))),
        predictor=_no_style,
        transformer=_Negative(),
    )
    assert [Path(p).name for p in report.done] == ["a.png", "c.png", "e.png"]
    assert [Path(f["input"]).name for f in report.failed] == ["b.png"] and [Path(p).name for p in report.skipped] == [
        "d.png"
    ]
    assert [w[0] for w in written] == ["a.png", "c.png", "e.png"]
    assert written[0][1] == ["a.png", "d.png"]  # told as it is finished, before the next is written
    assert [m.split()[0] for m in said] == ["skipped", "error"] and "b.png" in said[1]
    for name in "ace":
        src = np.asarray(Image.open(photos / f"{name}.png"), np.int16)
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"{name}.png"), np.int16), 255 - src)
        assert (out / f"{name}.png.json").exists()


def test_an_interrupted_fast_folder_finishes_and_reports_the_photo_being_written(tmp_path):
    from suite.style.batch import fast_stylize_paths

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate("abc"):
        _write(photos / f"{name}.png", seed=i)
    style = _write(tmp_path / "art.png", seed=3)
    written = []
    with pytest.raises(KeyboardInterrupt):
        fast_stylize_paths(
            [photos],
            [style],
            tmp_path / "out",
            progress=False,
            on_message=lambda m: None,
            on_written=lambda p: written.append(p.name),
            predictor=_no_style,
            transformer=_Negative(stop_at=3),  # Ctrl-C while c is stylized: b may still be with the writer
        )
    assert written == ["a.png", "b.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "a.png.json", "b.png", "b.png.json"]
