"""suite.unet.model_io: one reader of a segmentation model's metadata, one checked loader."""

from __future__ import annotations

import pytest

from suite.unet.model_io import load_segmentation, model_metadata


def test_metadata_of_a_suite_unet_and_of_a_plain_model():
    import keras

    from suite.unet.model import build_unet

    meta = model_metadata(build_unet(None, num_classes=3, encoder_filters=(4, 8), class_names=["a", "b", "c"]))
    assert (meta.num_classes, meta.channels, meta.stride, meta.input_channels) == (3, 3, 2, 3)
    assert meta.class_names == ("a", "b", "c") and meta.named and not meta.whole_image and meta.fixed_size is None

    inp = keras.Input((None, None, 3))
    plain = model_metadata(keras.Model(inp, keras.layers.Conv2D(1, 1)(inp), name="binary"))
    assert (plain.name, plain.channels, plain.num_classes, plain.stride) == ("binary", 1, 2, 32)
    assert plain.class_names == ("class 0", "class 1") and not plain.named


def test_metadata_of_a_whole_image_model():
    from suite.unet.selfie import SelfieSegmenter

    meta = model_metadata(SelfieSegmenter())
    assert meta.whole_image and meta.stride == 1 and meta.class_names == ("background", "person")


def test_loader_returns_model_and_metadata_and_refuses_in_one_line(tmp_path):
    import keras

    inp = keras.Input((None, None, 3))
    keras.Model(inp, keras.layers.Conv2D(4, 1)(inp)).save(tmp_path / "seg.keras")
    model, meta = load_segmentation(tmp_path / "seg.keras")
    assert meta.num_classes == 4 and meta.source == str(tmp_path / "seg.keras")

    clf_in = keras.Input((32, 32, 3))
    keras.Model(clf_in, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(clf_in))).save(
        tmp_path / "classifier.keras"
    )
    (tmp_path / "truncated.keras").write_bytes((tmp_path / "classifier.keras").read_bytes()[:200])
    (tmp_path / "text.keras").write_text("not a model")
    for name in ("classifier.keras", "truncated.keras", "text.keras", "missing.keras"):
        with pytest.raises(ValueError) as e:
            load_segmentation(tmp_path / name)
        assert "\n" not in str(e.value) and (name in str(e.value) or "segmentation model" in str(e.value))
