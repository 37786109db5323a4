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
    result = runner.invoke(main, ["export", "-m", str(model_path), "--format", "saved_model", "-o", str(out), "--size", "32"])
    assert result.exit_code == 0, result.output
    assert "max |exported - keras|" in result.output and (out / "saved_model.pb").is_file()
    again = runner.invoke(main, ["export", "-m", str(model_path), "--format", "saved_model", "-o", str(out), "--size", "32"])
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_missing_extra_names_the_extra(tmp_path, model_path, monkeypatch):
    from suite.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name == "tf2onnx" else real(name, *a, **k))
    with pytest.raises(MissingExtraError, match=r"keras-cv-suite\[onnx\]"):
        export_model(model_path, "onnx", tmp_path / "m.onnx")
    result = CliRunner().invoke(main, ["export", "-m", str(model_path), "--format", "onnx", "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code != 0 and "[onnx]" in result.output and "Traceback" not in result.output
