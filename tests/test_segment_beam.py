"""suite segment --runner beam: the local runner's outputs from an Apache Beam pipeline (DirectRunner)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.test_segment import _save, _smooth_image, _tiny_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    _tiny_model().save(path)
    return path


def _folder(root: Path) -> Path:
    """Small images that all pad to 64 x 64 (so every batch pads them alike), one tiled image,
    a truncated JPEG, an empty file and a text file."""
    src = root / "in"
    src.mkdir()
    for i in range(6):
        _save(_smooth_image(40 + 3 * i, 64 - 2 * i, seed=i), src / f"im{i}.png")
    _save(_smooth_image(50, 44, seed=7), src / "photo.jpg")
    _save(_smooth_image(150, 130, seed=8), src / "big.png")  # over --tile 64: the tiled path
    good = (src / "photo.jpg").read_bytes()
    (src / "broken.jpg").write_bytes(good[: len(good) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("not an image")
    return src


def _outputs(out: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.suffix in (".png", ".jpg", ".npy") and not p.name.startswith(".")}


# --------------------------------------------------------------------------- fast


def test_beam_options_become_flags():
    beam_runner = pytest.importorskip("suite.unet.beam_runner", exc_type=ImportError)

    assert beam_runner.parse_beam_options(["runner=DirectRunner", "--direct_num_workers=2", "save_main_session"]) == [
        "--runner=DirectRunner", "--direct_num_workers=2", "--save_main_session"]
    assert beam_runner.parse_beam_options({"runner": "FlinkRunner", "streaming": True}) == [
        "--runner=FlinkRunner", "--streaming"]
    with pytest.raises(ValueError, match="KEY=VALUE"):
        beam_runner.parse_beam_options(["=oops"])


def test_without_beam_the_cli_says_which_extra(tmp_path, model_path, monkeypatch):
    from suite.cli import main

    # As if apache_beam were not installed: importing it raises ImportError.
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    monkeypatch.delitem(sys.modules, "suite.unet.beam_runner", raising=False)
    _save(_smooth_image(20, 20), tmp_path / "p.png")
    result = CliRunner().invoke(main, ["segment", str(tmp_path / "p.png"), "-m", str(model_path),
                                       "-o", str(tmp_path / "out"), "--runner", "beam"])
    assert result.exit_code == 1
    assert 'pip install "keras-cv-suite[beam]"' in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_beam_options_need_the_beam_runner(tmp_path, model_path):
    from suite.cli import main

    _save(_smooth_image(20, 20), tmp_path / "p.png")
    result = CliRunner().invoke(main, ["segment", str(tmp_path / "p.png"), "-m", str(model_path),
                                       "-o", str(tmp_path / "out"), "--beam-option", "direct_num_workers=2"])
    assert result.exit_code == 2 and "--runner beam" in result.output


def test_urls_are_refused_with_one_line(tmp_path, model_path):
    beam_runner = pytest.importorskip("suite.unet.beam_runner", exc_type=ImportError)

    with pytest.raises(ValueError, match="paths that every worker can open"):
        beam_runner.segment_beam(["gs://bucket/photos"], tmp_path / "out", model_path)
    assert not (tmp_path / "out").exists(), "nothing is created before the inputs are checked"


# --------------------------------------------------------------------------- DirectRunner


@pytest.mark.slow
def test_direct_runner_matches_local_dead_letter_and_resume(tmp_path, model_path):
    pytest.importorskip("apache_beam")
    from suite.unet.beam_runner import segment_beam
    from suite.unet.segment import segment_folder

    src = _folder(tmp_path)
    kw = dict(overlay=True, probabilities=True, tile=64, overlap=16)
    local = segment_folder(src, tmp_path / "local", model_path, progress=False, **kw)
    beam = segment_beam(src, tmp_path / "beam", model_path, **kw)

    # The same files, masks and overlays byte for byte.
    ours, theirs = _outputs(tmp_path / "beam"), _outputs(tmp_path / "local")
    assert sorted(ours) == sorted(theirs) and len(ours) == 3 * 8
    for name in ours:
        if name.endswith(".npy"):
            # float16 probabilities: a batch of another composition may round the last bit otherwise.
            np.testing.assert_allclose(np.load(tmp_path / "beam" / name).astype(np.float32),
                                       np.load(tmp_path / "local" / name).astype(np.float32), atol=1e-3)
        else:
            assert ours[name] == theirs[name], name
    with Image.open(tmp_path / "beam" / "big.png") as im:
        assert im.mode == "P" and im.size == (130, 150)

    # Failures: the dead letter has the local runner's reasons, and the pipeline went on.
    dead = [json.loads(line) for line in (tmp_path / "beam" / "failed.jsonl").read_text().splitlines()]
    assert sorted(dead, key=lambda d: d["input"]) == local.failed
    assert {Path(d["input"]).name for d in dead} == {"broken.jpg", "empty.png"}
    assert beam.done == 8 and beam.skipped == 0 and not beam.ok
    report = json.loads((tmp_path / "beam" / "report.json").read_text())
    assert report["counts"] == {"done": 8, "skipped": 0, "failed": 2, "not_images": 1}
    assert report["runner"] == "DirectRunner"

    # A re-run skips what is finished and retries only the failures.
    (tmp_path / "beam" / "im3.png").unlink()
    again = segment_beam(src, tmp_path / "beam", model_path, **kw)
    assert again.done == 1 and again.skipped == 7 and len(again.failed) == 2
    assert (tmp_path / "beam" / "im3.png").read_bytes() == theirs["im3.png"]


@pytest.mark.slow
def test_cli_multi_process_direct_runner(tmp_path, model_path):
    pytest.importorskip("apache_beam")
    from suite.cli import main
    from suite.unet.segment import segment_folder

    src = _folder(tmp_path)
    segment_folder(src, tmp_path / "local", model_path, progress=False)
    result = CliRunner().invoke(main, [
        "segment", str(src), "-m", str(model_path), "-o", str(tmp_path / "beam"), "--runner", "beam",
        "--beam-option", "direct_running_mode=multi_processing", "--beam-option", "direct_num_workers=2",
        "--dead-letter", str(tmp_path / "dead.jsonl"),
    ])
    assert result.exit_code == 1, result.output  # two images failed
    assert "Traceback" not in result.output
    assert "done 8, skipped 0 (already there), failed 2" in result.output
    assert _outputs(tmp_path / "beam") == _outputs(tmp_path / "local")
    dead = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert {Path(d["input"]).name for d in dead} == {"broken.jpg", "empty.png"}
