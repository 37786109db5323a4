"""Round trips as an invariant: what the suite builds or writes comes back the same.

* Every registry backbone x weights (``auto``, ``none``), the paper U-Net and a
  model under ``mixed_bfloat16``: ``from_config(get_config())`` + ``set_weights``
  predicts identically, and the config records what the built model really
  uses (the preprocessing the weights need, the dtype policy).
* Saved, then loaded in a fresh process: identical predictions (one
  subprocess loads every model; slow).
* Masks (palette PNG -> class ids), ``report.json``, the evaluation report,
  the stylize sidecar, the train options and a SavedModel export, read back
  in a new process: the same thing.
* ``keras.models.clone_model``: what it gives (see docs/unet_model.md).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: (backbone, weights): every registry backbone with and without its offline weights, and the paper U-Net.
CASES = [(b, w) for b in ("vgg16", "vgg19", "mobilenetv2") for w in ("auto", "none")] + [(None, "none")]
SMALL_DECODER = (8, 8, 8, 8, 8)


def _build(backbone, weights, dtype=None):
    from suite.unet.model import UNet

    if backbone is None:
        return UNet(
            None, num_classes=3, encoder_filters=(4, 8, 16), batch_norm=True, dtype=dtype, class_names=["bg", "a", "b"]
        )
    return UNet(backbone, num_classes=3, weights=weights, decoder_filters=SMALL_DECODER, dtype=dtype)


def _x(h=32, w=32, n=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, h, w, 3)).astype("float32")


def _perturb(model, seed=1):
    """Moves every variable (BatchNorm statistics too), so that nothing equal by initialisation hides a loss."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            w + rng.normal(0, 0.01, w.shape).astype(w.dtype) * (np.abs(w).mean() + 1e-3) if w.dtype.kind == "f" else w
            for w in model.get_weights()
        ]
    )


def test_the_registry_is_what_the_cases_cover():
    from suite.common.nn.backbones import backbone_names

    assert sorted(backbone_names()) == sorted({b for b, _ in CASES if b})


@pytest.mark.parametrize("backbone, weights", CASES, ids=[f"{b}-{w}" for b, w in CASES])
def test_from_config_and_set_weights_predict_identically(backbone, weights):
    from suite.common.nn.backbones import get_backbone_spec
    from suite.common.nn.weights import resolve_weights
    from suite.unet.model import UNet

    model = _build(backbone, weights)
    config = model.get_config()
    if backbone is not None:
        # The config records what the encoder really does, which the weights decide.
        assert config["preprocessing"] == model.encoder.get_layer("preprocess").mode
        spec = get_backbone_spec(backbone)
        embedded = resolve_weights(spec, weights).kind == "embedded"
        expected = spec.embedded_preprocessing if embedded and spec.embedded_preprocessing else spec.preprocessing
        assert config["preprocessing"] == expected
    x = _x()
    y = np.asarray(model.predict_on_batch(x))
    rebuilt = UNet.from_config(copy.deepcopy(config))
    rebuilt.set_weights(model.get_weights())
    assert rebuilt.get_config() == config
    np.testing.assert_allclose(np.asarray(rebuilt.predict_on_batch(x)), y, atol=1e-5, rtol=0)


def test_the_embedded_mobilenetv2_u_net_keeps_its_unit_preprocessing():
    """The reported defect: rebuilt from its config it came back with 'tf' ([-1, 1]) and other logits."""
    from suite.unet.model import UNet

    model = UNet("mobilenetv2", num_classes=2, weights="auto", decoder_filters=SMALL_DECODER)
    assert model.preprocessing == "unit"
    rebuilt = UNet.from_config(model.get_config())
    assert rebuilt.preprocessing == "unit" and rebuilt.encoder.get_layer("preprocess").mode == "unit"
    # Asking for another mode than the weights need is honoured, and recorded.
    other = UNet("mobilenetv2", num_classes=2, weights="none", preprocessing="unit", decoder_filters=SMALL_DECODER)
    assert other.get_config()["preprocessing"] == "unit"
    with pytest.raises(ValueError, match="preprocessing='bgr'"):
        UNet("mobilenetv2", num_classes=2, weights="none", preprocessing="bgr")
    with pytest.raises(ValueError, match="preprocessing='tf'"):
        UNet(None, num_classes=2, encoder_filters=(4, 8), preprocessing="tf")


def test_a_mixed_bfloat16_model_rebuilds_under_its_policy():
    import keras

    from suite.unet.model import UNet, with_dtype_policy

    keras.config.set_dtype_policy("mixed_bfloat16")
    model = _build(None, "none")
    keras.config.set_dtype_policy("float32")  # where a reload happens: another process, another default
    _perturb(model)
    assert model.get_config()["dtype"] == "mixed_bfloat16"
    x = _x()
    y = np.asarray(model.predict_on_batch(x))
    assert y.dtype == np.float32  # the logits stay float32
    rebuilt = UNet.from_config(copy.deepcopy(model.get_config()))
    rebuilt.set_weights(model.get_weights())
    assert rebuilt.dtype_policy.name == "mixed_bfloat16"
    assert rebuilt.get_layer("dec1_conv1").dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_array_equal(np.asarray(rebuilt.predict_on_batch(x)), y)
    # In float32 the same weights give other logits (bfloat16 rounding): that is why the policy is recorded.
    f32 = with_dtype_policy(model, "float32")
    assert f32.dtype_policy.name == "float32" and np.abs(np.asarray(f32.predict_on_batch(x)) - y).max() > 1e-4


def test_old_saved_models_load_and_predict_as_before():
    """assets/demo_unet.keras predates the preprocessing and dtype keys: the same logits as before them."""
    import keras

    import suite.unet.model  # noqa: F401

    config = json.loads(__import__("zipfile").ZipFile(ROOT / "assets" / "demo_unet.keras").read("config.json"))
    assert "preprocessing" not in config["config"] and "dtype" not in config["config"]
    model = keras.saving.load_model(ROOT / "assets" / "demo_unet.keras")
    assert model.get_config()["preprocessing"] == "unit" and model.dtype_policy.name == "float32"
    y = np.asarray(model.predict_on_batch(_x(32, 48)))
    # Logits of the model loaded by the suite before this change (same input, same seed).
    before = np.array(
        [
            [-0.344142, -1.844957, -0.332953, 2.231595, -2.847152],
            [-0.421117, -1.930015, -0.419669, 2.631303, -3.297918],
            [-0.538102, -1.584587, -0.031955, 2.454583, -3.63398],
            [-0.084152, -1.429979, -0.103406, 1.499064, -2.497093],
        ],
        np.float32,
    )
    np.testing.assert_allclose(y[0, 5, 7:11, :], before, atol=1e-4)


def test_clone_model_gives_a_plain_functional_with_the_same_layers():
    """What docs/unet_model.md says of keras.models.clone_model on a U-Net."""
    import keras

    from suite.unet.model import UNet
    from suite.unet.model_io import model_metadata

    model = UNet(
        "mobilenetv2", num_classes=3, weights="auto", decoder_filters=SMALL_DECODER, class_names=["bg", "a", "b"]
    )
    clone = keras.models.clone_model(model)
    assert type(clone) is keras.Model or type(clone).__name__ == "Functional"
    assert not isinstance(clone, UNet) and not hasattr(clone, "stride")
    # Layers are rebuilt from their own configs (the preprocessing mode too), with new weights.
    assert clone.get_layer("encoder").get_layer("preprocess").mode == "unit"
    x = _x()
    y = np.asarray(model.predict_on_batch(x))
    assert np.abs(np.asarray(clone.predict_on_batch(x)) - y).max() > 1e-3  # fresh weights
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(clone.predict_on_batch(x)), y, atol=1e-5, rtol=0)
    # The suite's metadata is gone with the class: default stride, classes named by index.
    meta = model_metadata(clone)
    assert meta.stride == 32 and not meta.named and meta.backbone is None


# --------------------------------------------------------------------------- a fresh process

_READ_BACK = r"""
import json, sys
import numpy as np
import keras
from suite.common.nn.saving import load_model
import suite.unet  # registers the suite's classes with load_model
from suite.unet.masks import load_mask

job = json.loads(open(sys.argv[1]).read())
out = {}
for key, path in job["models"].items():
    model = load_model(path)
    x = np.load(job["inputs"][key])
    out["model:" + key] = np.asarray(model.predict_on_batch(x))
    out["policy:" + key] = np.array(model.dtype_policy.name)
for key, path in job["masks"].items():
    out["mask:" + key] = load_mask(path)
for key, path in job.get("saved_models", {}).items():
    import tensorflow as tf
    served = tf.saved_model.load(path)
    out["export:" + key] = np.asarray(served.serve(tf.constant(np.load(job["inputs"][key]))))
np.savez(job["result"], **out)
json.dump({k: json.loads(open(p).read()) for k, p in job["json"].items()}, open(job["result_json"], "w"))
"""


def _read_back_in_a_new_process(tmp_path, job):
    script = tmp_path / "read_back.py"
    script.write_text(_READ_BACK)
    job = dict(job, result=str(tmp_path / "result.npz"), result_json=str(tmp_path / "result.json"))
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        SUITE_QUIET="1",
        KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"),
    )
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "job.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(np.load(job["result"])), json.loads(Path(job["result_json"]).read_text())


@pytest.mark.slow
def test_everything_saved_reads_back_the_same_in_a_fresh_process(tmp_path):
    """Every backbone x weights, the paper U-Net and a model trained under bfloat16, saved; masks, reports,
    sidecars and a SavedModel written: one new process loads them all and gets the same predictions and data."""
    import keras
    from PIL import Image

    from suite.style.batch import stylize_paths
    from suite.unet.evaluate import evaluate_model, write_report
    from suite.unet.export import export_model
    from suite.unet.predict import predict_mask
    from suite.unet.segment import segment_folder
    from tests.test_train import TINY, _dataset

    job = {"models": {}, "inputs": {}, "masks": {}, "json": {}, "saved_models": {}}
    expected = {}

    def keep(key, model, x):
        path = tmp_path / f"{key}.keras"
        model.save(path)
        np.save(tmp_path / f"{key}.npy", x)
        job["models"][key], job["inputs"][key] = str(path), str(tmp_path / f"{key}.npy")
        expected["model:" + key] = np.asarray(model.predict_on_batch(x))
        expected["policy:" + key] = model.dtype_policy.name

    for backbone, weights in CASES:
        model = _build(backbone, weights)
        _perturb(model)
        keep(f"{backbone or 'paper'}-{weights}", model, _x())
        del model

    # A model trained as `suite train` trains on this CPU: under mixed_bfloat16 (the CLI picks it where the
    # CPU has bfloat16 instructions; set here so that the test means the same everywhere).
    images, masks = _dataset(tmp_path / "data", n=6, size=32)
    x_train = _x(32, 32, n=2, seed=3)
    seen = {}

    class Final(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            seen["y"] = np.asarray(self.model.predict_on_batch(x_train))
            seen["policy"] = self.model.dtype_policy.name

    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        from suite.unet.training import train

        result = train(
            images,
            masks,
            3,
            epochs=1,
            out=tmp_path / "bf16.keras",
            logdir=tmp_path / "bf16_logs",
            callbacks=[Final()],
            **dict(TINY, val_split=0.34),
        )
    finally:
        keras.config.set_dtype_policy("float32")
    assert seen["policy"] == "mixed_bfloat16"
    np.save(tmp_path / "bf16.npy", x_train)
    job["models"]["bf16"], job["inputs"]["bf16"] = str(result.model_path), str(tmp_path / "bf16.npy")
    expected["model:bf16"], expected["policy:bf16"] = seen["y"], "mixed_bfloat16"
    job["json"]["train_options"] = str(result.logdir / "options.json")
    expected_json = {"train_options": json.loads(json.dumps(result.options))}

    # Masks and report.json from `segment`, with the paper U-Net saved above.
    paper = job["models"]["paper-none"]
    photos = tmp_path / "photos"
    photos.mkdir()
    pixels = {}
    for i, (h, w) in enumerate(((21, 34), (40, 16))):
        pixels[f"p{i}"] = (np.random.default_rng(i).uniform(0, 255, (h, w, 3))).astype(np.uint8)
        Image.fromarray(pixels[f"p{i}"]).save(photos / f"p{i}.png")
    report = segment_folder([photos], tmp_path / "masks", paper, progress=False)
    loaded = keras.saving.load_model(paper)
    for stem, image in pixels.items():
        job["masks"][stem] = str(tmp_path / "masks" / f"{stem}.png")
        expected["mask:" + stem] = predict_mask(loaded, image.astype(np.float32))
    job["json"]["segment_report"] = str(tmp_path / "masks" / "report.json")
    expected_json["segment_report"] = json.loads(json.dumps(report.to_dict()))

    # The evaluation report, the stylize sidecar.
    from suite.unet.data import open_source

    scores = evaluate_model(paper, open_source(images, masks), None, 255, False, None)
    write_report(scores, tmp_path / "eval.json")
    job["json"]["evaluation"] = str(tmp_path / "eval.json")
    expected_json["evaluation"] = json.loads(json.dumps(scores))
    styled = stylize_paths(
        [photos / "p0.png"],
        [photos / "p0.png"],
        tmp_path / "styled.png",
        progress=False,
        size=64,
        scales=(1.0,),
        iterations=2,
        weights="none",
        backbone="vgg16",
    )
    assert styled.done
    from suite.style.batch import sidecar_path

    sidecar = sidecar_path(tmp_path / "styled.png")  # styled.png.json
    job["json"]["stylize_sidecar"] = str(sidecar)
    expected_json["stylize_sidecar"] = json.loads(sidecar.read_text())

    # A SavedModel export.
    export_model(paper, "saved_model", tmp_path / "paper_saved", sample_size=32)
    job["saved_models"]["paper-none"] = str(tmp_path / "paper_saved")
    expected["export:paper-none"] = expected["model:paper-none"]

    got, got_json = _read_back_in_a_new_process(tmp_path, job)
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if key.startswith(("policy:", "mask:")):
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            np.testing.assert_allclose(got[key], value, atol=1e-5, rtol=0, err_msg=key)
    assert got["policy:bf16"] == "mixed_bfloat16" and got["mask:p0"].dtype == np.uint8
    assert got_json == expected_json


def _as_saved_by_an_older_suite(path, dst):
    """Rewrites a .keras file's config as the suite wrote it before it recorded preprocessing and dtype."""
    import zipfile

    with zipfile.ZipFile(path) as src, zipfile.ZipFile(dst, "w") as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                for key in ("preprocessing", "dtype"):
                    config["config"].pop(key)
                data = json.dumps(config).encode()
            out.writestr(item, data)
    return dst


@pytest.mark.parametrize("weights, settled", [("auto", "unit"), ("none", "tf")])
def test_an_old_mobilenetv2_file_gets_the_preprocessing_its_weights_need(tmp_path, weights, settled):
    """An older suite saved no preprocessing: plain load_model rebuilds 'tf' as it always did; the suite's
    loader sees the embedded trunk's frozen BatchNorm statistics and switches to 'unit'."""
    import keras

    from suite.unet.model import UNet
    from suite.unet.model_io import load_segmentation

    model = UNet("mobilenetv2", num_classes=2, weights=weights, decoder_filters=SMALL_DECODER)
    rng = np.random.default_rng(0)
    for layer in model.layers[2:] + [model.encoder.get_layer("Conv1")]:  # training moves the rest, not the BN stats
        layer.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in layer.get_weights()])
    x = _x(64, 64)
    y = np.asarray(model.predict_on_batch(x))
    model.save(tmp_path / "new.keras")
    old = _as_saved_by_an_older_suite(tmp_path / "new.keras", tmp_path / "old.keras")

    assert keras.saving.load_model(old).preprocessing == "tf"  # as before: the file does not say
    loaded, _ = load_segmentation(old)
    assert loaded.preprocessing == settled and loaded.encoder.get_layer("preprocess").mode == settled
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(x)), y, atol=1e-5, rtol=0)
    assert loaded.get_config()["preprocessing"] == settled  # saved again, it records it
    again, _ = load_segmentation(tmp_path / "new.keras")
    np.testing.assert_allclose(np.asarray(again.predict_on_batch(x)), y, atol=1e-5, rtol=0)
