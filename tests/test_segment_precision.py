"""Segmenting in bfloat16: a float32 U-Net runs as a mixed_bfloat16 copy where ``--mixed-precision`` is on
(the default of ``segment`` and ``evaluate`` on a CPU with bfloat16 instructions), with masks agreeing with float32."""

import numpy as np
import pytest

from suite.common.device import cpu_has_bf16

needs_bf16 = pytest.mark.skipif(
    not cpu_has_bf16(), reason="this CPU has no bfloat16 instructions (avx512_bf16/amx_bf16): segment keeps float32"
)


@pytest.fixture
def float32_model(tmp_path):
    import keras

    from suite.unet.model import UNet

    keras.config.set_dtype_policy("float32")
    model = UNet(None, num_classes=3, encoder_filters=(8, 16), class_names=["a", "b", "c"])
    model.save(tmp_path / "m.keras")
    return tmp_path / "m.keras"


def _smooth_images(n, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        img = np.stack([np.sin(xx / (5 + i + c) + c) * np.cos(yy / (7 + c)) for c in range(3)], axis=-1)
        out.append(((img + 1) * 127.5).astype(np.uint8))
    return out


@needs_bf16
def test_a_float32_unet_segments_in_bfloat16_under_mixed_precision_with_the_float32_masks(float32_model):
    import keras

    from suite.unet.model_io import load_segmentation
    from suite.unet.predict import predict_batch

    images = _smooth_images(2, 40, 56)
    f32, meta = load_segmentation(float32_model)
    assert f32.dtype_policy.name == "float32"
    ref = predict_batch(f32, images, head="mask")
    keras.config.set_dtype_policy("mixed_bfloat16")  # what setup_device sets for --mixed-precision here
    bf16, meta_bf16 = load_segmentation(float32_model)
    keras.config.set_dtype_policy("float32")
    assert bf16 is not f32 and bf16.dtype_policy.name == "mixed_bfloat16"
    assert bf16.get_layer("logits").dtype_policy.name == "float32"  # softmax/argmax read float32 logits
    assert meta_bf16 == meta
    got = predict_batch(bf16, images, head="mask")
    probs = predict_batch(bf16, images, head="probabilities")
    assert probs[0].dtype == np.float32
    agree = np.mean([np.mean(a == b) for a, b in zip(got, ref)])
    assert agree >= 0.995, agree


def test_float32_stays_float32_without_mixed_precision_and_presets_stay_float32(float32_model):
    import keras

    from suite.unet.model_io import load_segmentation

    model, _ = load_segmentation(float32_model)
    assert model.dtype_policy.name == "float32"
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        person, _ = load_segmentation("person")  # bfloat16 ran slower than float32 for it
    finally:
        keras.config.set_dtype_policy("float32")
    assert all(layer.dtype_policy.name == "float32" for layer in person._flatten_layers())


def test_segment_and_evaluate_default_to_bfloat16_on_cpus_with_the_instructions():
    from click.testing import CliRunner

    from suite.cli import main

    for command in ("segment", "evaluate"):
        result = CliRunner().invoke(main, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert "--mixed-precision / --no-mixed-precision" in text
        assert "auto: bfloat16 on a CPU with bfloat16 instructions" in text, command
