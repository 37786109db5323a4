"""The person preset: MediaPipe's selfie segmentation rebuilt in Keras, checked against MediaPipe's own runtime.

The references in tests/data/selfie_ref.npz were made once by MediaPipe 0.10.21
(``assets/selfie_reference.py``, in a separate environment); they are float16.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "data" / "selfie_ref.npz"
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]
#: Parity of the network with MediaPipe on its own input size. The reference is float16 (a half
#: step is 2.4e-4 near 1), the rebuild float32 with the same float16 weights: measured max 3.0e-4,
#: mean 5.3e-5 at worst over the 8 cases.
PARITY_MAX, PARITY_MEAN = 1e-3, 1e-4

sys.path.insert(0, str(ROOT / "assets"))
from selfie_reference import net_input  # noqa: E402  (the same resize the references were made with)


@pytest.fixture(scope="module")
def ref():
    with np.load(REF) as data:
        return {k: data[k] for k in data.files}


def _network(variant, weights=True):
    import keras

    from suite.unet.selfie import VARIANTS, build_selfie_network, load_selfie_weights

    keras.utils.set_random_seed(0)
    net = build_selfie_network(VARIANTS[variant] + (3,))
    if weights:
        load_selfie_weights(net, ROOT / "suite" / "assets" / f"selfie_{variant}.npz")  # package data
    return net


def _parity(net, ref, key, size):
    worst_max, worst_mean = 0.0, 0.0
    for stem in PHOTOS:
        x = net_input(ROOT / "assets" / "photos" / f"{stem}.jpg", size).astype("float32")[None] / 255.0
        p = np.asarray(net(x))[0, ..., 0]
        d = np.abs(p - ref[f"{stem}/{key}"].astype("float32"))
        worst_max, worst_mean = max(worst_max, float(d.max())), max(worst_mean, float(d.mean()))
    return worst_max, worst_mean


@pytest.mark.parametrize("variant,key,size", [("general", "net", (256, 256)), ("landscape", "landscape", (144, 256))])
def test_network_matches_mediapipe(ref, variant, key, size):
    worst_max, worst_mean = _parity(_network(variant), ref, key, size)
    assert worst_max <= PARITY_MAX and worst_mean <= PARITY_MEAN, (worst_max, worst_mean)


def test_random_weights_fail_the_parity_check(ref):
    worst_max, worst_mean = _parity(_network("general", weights=False), ref, "net", (256, 256))
    assert worst_max > PARITY_MAX and worst_mean > PARITY_MEAN


def test_person_preset_full_size_agrees_with_mediapipe_pipeline(ref):
    """The whole preset (resize in, bilinear up) vs MediaPipe's pipeline at the photo's size.

    The two resize the photo to 256 x 256 differently, so this is looser than the
    network parity: measured mean |diff| 0.008-0.020 and 98.3-100% equal masks.
    """
    from suite.common.io.images import load_image
    from suite.unet import predict as P
    from suite.unet.presets import load_preset

    model = load_preset("person")
    step = int(ref["full_step"])
    for stem in PHOTOS:
        image = load_image(ROOT / "assets" / "photos" / f"{stem}.jpg")
        probs = P.predict_batch(model, [image], stride=1, head="probabilities")[0]
        assert probs.shape == image.shape[:2] + (2,)
        p = probs[::step, ::step, 1]
        r = ref[f"{stem}/full"].astype("float32")
        assert np.abs(p - r).mean() < 0.03, stem
        assert ((p > 0.5) == (r > 0.5)).mean() > 0.975, stem


def test_bilinear_resize_matches_tf_image_resize():
    import tensorflow as tf

    from suite.unet.selfie import bilinear_resize

    x = np.random.default_rng(0).random((2, 16, 12, 3)).astype("float32")
    for size in [(37, 53), (16, 12), (8, 5)]:
        np.testing.assert_allclose(np.asarray(bilinear_resize(x, *size)), tf.image.resize(x, size).numpy(), atol=1e-6)


def test_segmenter_roundtrip_and_any_size(tmp_path):
    import keras

    from suite.unet.model_io import load_segmentation_model
    from suite.unet.selfie import SelfieSegmenter
    from tests.helpers import check_model_roundtrip

    keras.utils.set_random_seed(0)
    model = SelfieSegmenter(variant="landscape")
    x = np.random.default_rng(0).uniform(0, 255, (1, 37, 61, 3)).astype("float32")
    out = np.asarray(model(x))
    assert out.shape == (1, 37, 61, 2)
    # softmax of the logits is (1 - p, p)
    e = np.exp(out - out.max(-1, keepdims=True))
    np.testing.assert_allclose((e / e.sum(-1, keepdims=True)).sum(-1), 1.0, atol=1e-5)
    check_model_roundtrip(model, x, tmp_path)
    loaded = load_segmentation_model(tmp_path / "model.keras")  # safe mode, no custom_objects
    assert loaded.class_names == ["background", "person"] and loaded.whole_image and loaded.stride == 1
    with pytest.raises(ValueError, match="variant"):
        SelfieSegmenter(variant="portrait")


def test_saved_person_model_loads_in_a_fresh_process(tmp_path):
    """As README promises: plain keras.saving.load_model after `import suite.unet.model`."""
    import subprocess

    from suite.unet.presets import load_preset

    path = tmp_path / "person.keras"
    load_preset("person-landscape").save(path)
    code = (
        f"import keras, numpy as np, suite.unet.model; m = keras.saving.load_model({str(path)!r}); "
        "print(type(m).__name__, m.class_names, m(np.zeros((1, 40, 50, 3), 'float32')).shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "SelfieSegmenter ['background', 'person'] (1, 40, 50, 2)" in out.stdout


def test_presets_resolve_in_one_place(tmp_path, monkeypatch):
    from suite.unet.presets import PresetError, is_preset, list_presets, load_preset

    assert set(list_presets()) == {"person", "person-landscape"}
    with pytest.raises(PresetError, match="person-landscape"):
        load_preset("persn")
    monkeypatch.chdir(tmp_path)
    assert is_preset("person")
    (tmp_path / "person").mkdir()  # e.g. the output folder of `suite segment x.jpg --model person -o person`
    assert is_preset("person")
    (tmp_path / "person").rmdir()
    (tmp_path / "person").write_bytes(b"not a model")
    assert not is_preset("person")  # a file of that name wins


def test_whole_image_models_are_not_tiled_or_padded():
    from suite.unet.folder_engine import FolderItem, plan_batches
    from suite.unet.presets import load_preset
    from suite.unet.segment import segment_image

    model = load_preset("person")
    image = np.asarray(Image.open(ROOT / "assets" / "photos" / "astronaut.jpg").convert("RGB"), dtype=np.float32)
    whole = segment_image(model, image)
    tiled = segment_image(model, image, tile=128, overlap=32)  # ignored: tiles would each be segmented alone
    np.testing.assert_array_equal(whole, tiled)
    assert 0.45 < whole.mean() < 0.65  # the astronaut covers about 55% of the photo
    items = [
        FolderItem(path=Path(f"{k}.jpg"), stem=Path(str(k)), todo=("mask",), size=s)
        for k, s in enumerate([(100, 100), (100, 100), (96, 100)])
    ]
    batches = plan_batches(items, 1, 8, 2**21, waste=1.0)
    assert sorted(len(b[0]) for b in batches) == [1, 2]


def test_segment_cli_with_person_preset(tmp_path):
    from click.testing import CliRunner

    from suite.cli import main

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(ROOT / "assets" / "photos" / "astronaut.jpg", src / "astronaut.jpg")
    Image.open(ROOT / "assets" / "photos" / "rocket.jpg").resize((160, 107)).save(src / "rocket_small.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["segment", str(src), "--model", "person", "-o", str(out), "--overlay", "--probabilities"]
    )
    assert result.exit_code == 1, result.output  # the broken file fails, the others are written
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["done"] == 2 and report["counts"]["failed"] == 1
    mask = np.asarray(Image.open(out / "astronaut.png"))
    assert mask.shape == (512, 512) and 0.45 < (mask == 1).mean() < 0.65
    assert (np.asarray(Image.open(out / "rocket_small.png")) == 0).all()
    probs = np.load(out / "astronaut.npy")
    assert probs.shape == (512, 512, 2) and probs.dtype == np.float16
    assert (out / "astronaut_overlay.jpg").is_file()
    bad = CliRunner().invoke(main, ["segment", str(src), "--model", "nosuchmodel", "-o", str(out)])
    assert bad.exit_code == 2 and "person" in bad.output


def test_evaluate_cli_with_person_preset(tmp_path, ref):
    """Scores the preset against MediaPipe's own full-size mask of the astronaut."""
    from click.testing import CliRunner

    from suite.cli import main

    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    shutil.copy(ROOT / "assets" / "photos" / "astronaut.jpg", images / "astronaut.jpg")
    step = int(ref["full_step"])
    truth = (ref["astronaut/full"].astype("float32") > 0.5).astype(np.uint8)
    truth = np.repeat(np.repeat(truth, step, 0), step, 1)[:512, :512]
    Image.fromarray(truth).save(masks / "astronaut.png")
    report = tmp_path / "eval.json"
    result = CliRunner().invoke(
        main, ["evaluate", "--model", "person", "--images", str(images), "--masks", str(masks), "--output", str(report)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["class_names"] == ["background", "person"]
    assert data["mean_iou"] > 0.95, data["mean_iou"]


def test_loading_a_preset_draws_no_random_weights(monkeypatch):
    # On JAX every random initializer compiles once per shape: a preset's load must not run any.
    import keras

    def refuse(self, shape, dtype=None):
        raise AssertionError(f"random initializer {type(self).__name__} ran for shape {shape}")

    for cls in (
        keras.initializers.GlorotUniform,
        keras.initializers.GlorotNormal,
        keras.initializers.HeNormal,
        keras.initializers.RandomNormal,
        keras.initializers.RandomUniform,
        keras.initializers.TruncatedNormal,
    ):
        monkeypatch.setattr(cls, "__call__", refuse)
    from suite.unet.presets import load_preset

    model = load_preset("person")
    kernels = [w for w in model.network.weights if "kernel" in w.path]
    assert kernels and all(np.any(np.asarray(k) != 0) for k in kernels)  # every kernel came from the file
