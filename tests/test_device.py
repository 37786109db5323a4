"""Precision setup: bfloat16 where a CPU has the instructions (training's default), float32 elsewhere."""

import numpy as np
import pytest


@pytest.fixture
def float32_after():
    import keras

    yield
    keras.mixed_precision.set_global_policy("float32")


def test_auto_mixed_precision_follows_the_cpu(monkeypatch, float32_after):
    import keras

    from suite.common import device

    policy = lambda: keras.mixed_precision.global_policy().name  # noqa: E731
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert device.setup_device("cpu", None, auto_on_cpu=True) == "cpu"
    assert policy() == "mixed_bfloat16"  # training on a bfloat16 CPU
    keras.mixed_precision.set_global_policy("float32")
    device.setup_device("cpu", None)
    assert policy() == "float32"  # other commands: off unless asked
    device.setup_device("cpu", False, auto_on_cpu=True)
    assert policy() == "float32"  # --no-mixed-precision wins
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    device.setup_device("cpu", None, auto_on_cpu=True)
    device.setup_device("cpu", True)
    assert policy() == "float32"  # no bfloat16 instructions: slower, so never


def test_cpu_flags_are_read(monkeypatch, tmp_path):
    from suite.common import device

    assert isinstance(device.cpu_has_bf16(), bool)


def test_a_model_trained_in_bfloat16_reloads_in_bfloat16_and_runs_in_float32_without_the_instructions(
    tmp_path, float32_after, monkeypatch
):
    import keras

    from suite.unet.model import UNet

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    model = UNet(None, num_classes=3, encoder_filters=(4, 8))
    model.compile()
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, (4, 16, 16))
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in model._flatten_layers())
    model.save(tmp_path / "m.keras")
    keras.mixed_precision.set_global_policy("float32")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    # The file records the policy it was trained with, so it predicts as it did (tests/test_roundtrip.py).
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    from suite.common import device
    from suite.unet.model_io import load_segmentation

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    runnable, _ = load_segmentation(tmp_path / "m.keras")
    assert all(layer.dtype_policy.name == "float32" for layer in runnable._flatten_layers())
    out = np.asarray(runnable(x))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    ref = np.asarray(loaded(x), dtype=np.float32)
    assert (out.argmax(-1) == ref.argmax(-1)).mean() > 0.9
