"""suite export: each format runs in its own runtime and matches Keras within 1e-4."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from click.testing import CliRunner

from suite.unet.export import MissingExtraError, export_model, run_exported, sample_input


def _tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2DTranspose(8, 2, strides=2)(x)
    x = keras.layers.Conv2D(3, 1)(x)
    return keras.Model(inp, x, name="tiny_export")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    _tiny_model().save(path)
    return path


def _litert_available():
    if importlib.util.find_spec("ai_edge_litert"):
        return True
    import tensorflow as tf

    return hasattr(tf, "lite") and hasattr(tf.lite, "Interpreter")


@pytest.mark.parametrize("fmt", ["saved_model", "litert", "onnx"])
def test_export_parity(fmt, tmp_path, model_path):
    if fmt == "onnx":
        pytest.importorskip("tf2onnx", reason="the 'onnx' extra is not installed")
        pytest.importorskip("onnxruntime", reason="the 'onnx' extra is not installed")
    if fmt == "litert" and not _litert_available():
        pytest.skip("no LiteRT interpreter (install the 'litert' extra)")
    result = export_model(model_path, fmt, tmp_path / "exported", sample_size=48)
    assert result.path.exists() and result.size_bytes > 0
    assert result.ok and result.max_abs_diff <= 1e-4, result
    assert not list(tmp_path.glob(".*.part")), "temporary export folder cleaned up"
    # Independently: a different size runs too (dynamic shapes survived the export).
    import keras

    model = keras.saving.load_model(model_path)
    x = sample_input(model, size=32, seed=1)
    got, _ = run_exported(result.path, fmt, x)
    np.testing.assert_allclose(got, model.predict_on_batch(x), atol=1e-4)


def test_cli_export_saved_model_and_refuses_overwrite(tmp_path, model_path):
    from suite.cli import main

    out = tmp_path / "sm"
    runner = CliRunner()
    result = runner.invoke(
        main, ["export", "-m", str(model_path), "--format", "saved_model", "-o", str(out), "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert "max |exported - keras|" in result.output and (out / "saved_model.pb").is_file()
    again = runner.invoke(
        main, ["export", "-m", str(model_path), "--format", "saved_model", "-o", str(out), "--size", "32"]
    )
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_missing_extra_names_the_extra(tmp_path, model_path, monkeypatch):
    from suite.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a, **k: None if name == "tf2onnx" else real(name, *a, **k)
    )
    with pytest.raises(MissingExtraError, match=r"keras-cv-suite\[onnx\]"):
        export_model(model_path, "onnx", tmp_path / "m.onnx")
    result = CliRunner().invoke(
        main, ["export", "-m", str(model_path), "--format", "onnx", "-o", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code != 0 and "[onnx]" in result.output and "Traceback" not in result.output


def _cli(args, cwd=None, monkeypatch=None):
    from suite.cli import main

    if cwd is not None:
        monkeypatch.chdir(cwd)
    return CliRunner().invoke(main, ["export", *args])


def test_overwrite_refuses_the_working_folder_and_its_parents(tmp_path, model_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "notes.txt").write_text("important")
    for out in (".", ".."):
        result = _cli(
            ["-m", str(model_path), "--format", "saved_model", "-o", out, "--size", "32", "--overwrite"],
            cwd=project,
            monkeypatch=monkeypatch,
        )
        assert result.exit_code != 0 and "working folder" in result.output, result.output
        assert "Traceback" not in result.output
    assert (project / "notes.txt").read_text() == "important" and (project / "data").is_dir()


def test_overwrite_refuses_a_folder_that_is_not_an_export(tmp_path, model_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "a.txt").write_text("keep")
    result = _cli(
        ["-m", str(model_path), "--format", "saved_model", "-o", str(precious), "--size", "32", "--overwrite"]
    )
    assert result.exit_code != 0 and "not a SavedModel" in result.output, result.output
    assert (precious / "a.txt").read_text() == "keep" and not (precious / "saved_model.pb").exists()
    folder = tmp_path / "x.tflite"
    folder.mkdir()
    (folder / "b.txt").write_text("keep")
    result = _cli(["-m", str(model_path), "--format", "litert", "-o", str(folder), "--size", "32", "--overwrite"])
    assert result.exit_code != 0 and "not a file" in result.output, result.output
    assert (folder / "b.txt").read_text() == "keep"


def test_overwrite_replaces_an_earlier_saved_model(tmp_path, model_path):
    out = tmp_path / "sm"
    assert _cli(["-m", str(model_path), "--format", "saved_model", "-o", str(out), "--size", "32"]).exit_code == 0
    (out / "marker").write_text("old export")
    result = _cli(["-m", str(model_path), "--format", "saved_model", "-o", str(out), "--size", "32", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (out / "saved_model.pb").is_file() and not (out / "marker").exists()
    assert not list(tmp_path.glob(".*.part"))


def test_existing_output_is_refused_before_any_work(tmp_path, model_path, monkeypatch):
    import suite.unet.model_io as model_io

    def _no_loading(*a, **k):
        raise AssertionError("the model was loaded before the output check")

    monkeypatch.setattr(model_io, "load_segmentation_model", _no_loading)
    out = tmp_path / "m.tflite"
    out.write_bytes(b"earlier")
    result = _cli(["-m", str(model_path), "--format", "litert", "-o", str(out)])
    assert result.exit_code != 0 and "--overwrite" in result.output, result.output
    with pytest.raises(FileExistsError):
        export_model(model_path, "litert", out)
    assert out.read_bytes() == b"earlier"


def test_failed_parity_keeps_the_file_and_says_so(tmp_path, model_path, monkeypatch):
    import suite.unet.export as export_mod

    real = export_mod.run_exported
    monkeypatch.setattr(export_mod, "run_exported", lambda *a: (lambda got, rt: (got + 1.0, rt))(*real(*a)))
    out = tmp_path / "sm"
    result = _cli(["-m", str(model_path), "--format", "saved_model", "-o", str(out), "--size", "32"])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "kept" in result.output and "--overwrite" in result.output, result.output
    assert (out / "saved_model.pb").is_file()
