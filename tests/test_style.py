"""Style transfer: extractor, gradient check, tiny end-to-end runs, blending, masks, colours."""

import numpy as np
import pytest

from suite.style.extractor import build_style_extractor
from suite.style.optimize import StyleTransferError
from suite.style.transfer import StyleTransfer, rgb_to_ycbcr, stylize, transfer_luminance

TINY_STYLE = ("block1_conv1", "block2_conv1")
TINY_CONTENT = ("block2_conv1",)


def _tiny_extractor():
    """A two-block conv net with VGG layer names: fast, and smooth enough for finite differences."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    a = keras.layers.Conv2D(6, 3, padding="same", activation="tanh", name="block1_conv1")(x)
    p = keras.layers.AveragePooling2D(2)(a)
    b = keras.layers.Conv2D(8, 3, padding="same", activation="tanh", name="block2_conv1")(p)
    return keras.Model(inp, {"block1_conv1": a, "block2_conv1": b})


@pytest.fixture(scope="module")
def tiny():
    return _tiny_extractor()


@pytest.fixture(scope="module")
def vgg_none():
    return build_style_extractor("vgg16", weights="none", quiet=True)


def _images(seed=0, h=24, w=32):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    content = np.stack([xx * 255 / w, yy * 255 / h, np.full((h, w), 128.0)], -1).astype(np.float32)
    style = rng.uniform(0, 255, size=(20, 20, 3)).astype(np.float32)
    return content, style


def test_extractor_outputs_and_is_cut_at_deepest_layer(vgg_none):
    names = {layer.name for layer in vgg_none.layers}
    assert set(vgg_none.output) == {
        "block1_conv1",
        "block2_conv1",
        "block3_conv1",
        "block4_conv1",
        "block5_conv1",
        "block4_conv2",
    }
    assert "block5_conv1" in names and "block5_conv2" not in names and "block5_conv3" not in names
    out = vgg_none(np.zeros((1, 32, 48, 3), np.float32))
    assert tuple(out["block1_conv1"].shape) == (1, 32, 48, 64)
    assert tuple(out["block5_conv1"].shape) == (1, 2, 3, 512)


def test_vgg19_offline_falls_back_to_embedded_vgg16_and_says_so(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SUITE_QUIET", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache: no ImageNet VGG19 file
    ex = build_style_extractor("vgg19", weights="auto")
    err = capsys.readouterr().err
    assert "embedded VGG16" in err
    assert ex.backbone_name == "vgg16"
    # real weights, not random: block1_conv1 kernels equal the embedded file's
    from suite.common.nn.weights import read_embedded_vgg16

    kernel = read_embedded_vgg16()["block1_conv1"][0]
    np.testing.assert_allclose(np.asarray(ex.get_layer("block1_conv1").kernel), kernel)


def test_unknown_layer_lists_valid_ones():
    with pytest.raises(ValueError, match="Valid layers"):
        build_style_extractor("vgg16", weights="none", style_layers=("block9_conv1",), quiet=True)


def test_gradient_matches_finite_differences(tiny):
    content, style = _images()
    st = StyleTransfer(
        style,
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=32,
        scales=(1.0,),
        iterations=1,
        content_weight=1.0,
        style_weight=10.0,
        tv_weight=0.1,
        tv_power=2.0,
    )
    from suite.style.grad import to_backend

    feats = st._features(content)
    args = (to_backend({"block2_conv1": feats["block2_conv1"]}), to_backend(st.style_targets(32)), [1.0], None)
    vg = st._objective()
    rng = np.random.default_rng(3)
    x = np.clip(content + rng.normal(0, 20, content.shape), 0, 255).astype(np.float32)[None]
    loss, terms, grad = vg(x, *args)
    assert np.isfinite(loss) and grad.shape == x.shape
    for k in range(3):
        d = rng.normal(size=x.shape).astype(np.float32)
        h = 0.5
        fd = (vg(x + h * d, *args)[0] - vg(x - h * d, *args)[0]) / (2 * h)
        an = float(np.sum(grad.astype(np.float64) * d))
        assert abs(fd - an) <= 1e-2 * abs(an) + 1e-6, (k, fd, an)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam", "lbfgsb"])
def test_tiny_stylize_lowers_the_loss_and_keeps_aspect(tiny, optimizer):
    content, style = _images()
    seen = []
    st = StyleTransfer(
        style,
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=64,
        scales=(0.5, 1.0),
        iterations=(8, 25),
        optimizer=optimizer,
        learning_rate=0.002,
    )
    result = st.transfer(content, callback=lambda info: seen.append((info["scale"], info["step"], info["loss"])))
    assert result.image.shape == (48, 64, 3)  # 24x32 content -> long side 64
    assert result.image.min() >= 0 and result.image.max() <= 255
    last = [loss for s, _, loss in seen if s == 1]
    steps = [step for s, step, _ in seen if s == 1]
    # Adam and scipy call back after every evaluation; the on-device L-BFGS after each iteration,
    # whose line search may take more than one evaluation.
    assert steps[-1] == 25 and steps == sorted(set(steps))
    assert (len(last) == 25 if optimizer != "lbfgs" else len(last) >= 10) and min(last[1:]) < last[0]
    assert result.losses["total"] < last[0]
    assert result.sizes == [(24, 32), (48, 64)]
    assert set(result.losses) == {"total", "content", "style", "tv"}


def test_style_targets_are_computed_once(tiny, monkeypatch):
    content, style = _images()
    st = StyleTransfer(
        style,
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=32,
        scales=(1.0,),
        iterations=2,
    )
    st.transfer(content)
    calls = []
    original = st._features
    monkeypatch.setattr(st, "_features", lambda im: calls.append(im.shape) or original(im))
    st.transfer(content[::-1].copy())
    assert len(calls) == 1  # only the new content's features; the style Grams were cached


def test_blend_one_zero_equals_single_style(tiny):
    content, style = _images()
    other = np.full_like(style, 200.0)
    kw = dict(
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=32,
        scales=(1.0,),
        iterations=10,
        style_weight=1e3,
        content_weight=1.0,
        tv_weight=0.0,
    )
    single = StyleTransfer(style, **kw).transfer(content).image
    blended = StyleTransfer([style, other], blend=[1.0, 0.0], **kw).transfer(content).image
    np.testing.assert_allclose(blended, single, atol=1e-3)
    mixed = StyleTransfer([style, other], blend=[0.5, 0.5], **kw).transfer(content).image
    assert np.abs(mixed - single).max() > 1.0


def test_mask_limits_a_style_to_its_region(tiny):
    """With masks (all, none) the masked-out style adds no gradient: same result as style 1 alone at half weight."""
    content, style = _images()
    other = np.full_like(style, 30.0)
    # Adam, not L-BFGS-B: its line search turns float32 rounding differences between the two
    # (equal) objectives into different accepted steps on some backends (JAX).
    kw = dict(
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=32,
        scales=(1.0,),
        iterations=5,
        optimizer="adam",
    )
    ones, zeros = np.ones(content.shape[:2], np.float32), np.zeros(content.shape[:2], np.float32)
    masked = StyleTransfer([style, other], **kw).transfer(content, masks=[ones, zeros]).image
    half = StyleTransfer(style, style_weight=0.5e-2, **kw).transfer(content).image
    np.testing.assert_allclose(masked, half, atol=1e-2)
    with pytest.raises(ValueError, match="one mask per style"):
        StyleTransfer([style, other], **kw).transfer(content, masks=[ones])


def test_preserve_colors_keeps_the_photos_chroma(tiny):
    content, style = _images()
    result = stylize(
        content,
        style,
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=32,
        scales=(1.0,),
        iterations=5,
        preserve_colors=True,
    )
    got, want = rgb_to_ycbcr(result)[..., 1:], rgb_to_ycbcr(content)[..., 1:]
    assert np.abs(got - want).mean() < 2.0
    # and transfer_luminance keeps the result's luminance where nothing clips
    r = np.full((4, 4, 3), 120.0, np.float32)
    c = np.full((4, 4, 3), (150.0, 100.0, 90.0), np.float32)
    out = transfer_luminance(r, c)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 0], rgb_to_ycbcr(r)[..., 0], atol=1e-3)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 1:], rgb_to_ycbcr(c)[..., 1:], atol=1e-3)


def test_nan_loss_stops_with_a_clear_error(tiny):
    import keras

    content, style = _images()
    bad = content.copy()
    bad[0, 0, 0] = np.nan
    st = StyleTransfer(
        style,
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=32,
        scales=(1.0,),
        iterations=3,
    )
    with pytest.raises(ValueError, match="finite"):  # a NaN pixel is refused at the door
        st.transfer(bad)
    # A network whose features overflow makes the loss non-finite: the run stops with a reason.
    inp = keras.Input((None, None, 3))
    feats = tiny(inp)
    blown = keras.Model(inp, {k: keras.layers.Rescaling(1e30, name=f"{k}_x")(v) for k, v in feats.items()})
    st_bad = StyleTransfer(
        style,
        extractor=blown,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=32,
        scales=(1.0,),
        iterations=3,
    )
    with pytest.raises(StyleTransferError, match="inf|nan"):
        st_bad.transfer(content)
    assert st.transfer(content).image.shape == (24, 32, 3)  # the next image still works


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(optimizer="sgd"), "optimizer"),
        (dict(init="grey"), "init"),
        (dict(scales=(1.0, 0.5)), "scales"),
        (dict(scales=(0.5, 1.0), iterations=(1, 2, 3)), "iterations"),
        (dict(blend=[1.0]), "blend"),
        (dict(style_weight=-1.0), "style_weight"),
    ],
)
def test_bad_arguments_are_rejected(tiny, kwargs, match):
    _, style = _images()
    styles = [style, style] if "blend" in kwargs else style
    with pytest.raises(ValueError, match=match):
        StyleTransfer(styles, extractor=tiny, style_layers=TINY_STYLE, content_layers=TINY_CONTENT, **kwargs)


@pytest.mark.slow
def test_embedded_vgg_moves_style_onto_photo():
    """With real features, 128 px of L-BFGS moves the photo's colour statistics towards the artwork's."""
    from pathlib import Path

    from suite.common.io.images import load_image

    root = Path(__file__).resolve().parents[1]
    content = load_image(root / "assets/photos/chelsea.jpg")
    style = load_image(root / "assets/styles/swirls.jpg")
    st = StyleTransfer(
        style, backbone="vgg16", weights="embedded", size=128, scales=(0.5, 1.0), iterations=(60, 30), quiet=True
    )
    result = st.transfer(content)
    from suite.style.transfer import resize_image

    c = resize_image(content, *result.image.shape[:2])
    blue = lambda im: float(im[..., 2].mean() - im[..., 0].mean())  # noqa: E731
    assert blue(result.image) > blue(c) + 15  # the swirls are blue; the cat is not


def test_callback_every_calls_back_in_chunks_and_keeps_the_iterates(tiny):
    """Many Adam steps per compiled call: a callback every 5 steps, and the same result as without one."""
    content, style = _images()
    kw = dict(
        extractor=tiny,
        style_layers=TINY_STYLE,
        content_layers=TINY_CONTENT,
        size=48,
        scales=(0.5, 1.0),
        iterations=(4, 10),
        optimizer="adam",
        learning_rate=0.01,
    )
    seen = []
    st = StyleTransfer(style, **kw)
    chunked = st.transfer(content, callback=lambda info: seen.append((info["scale"], info["step"])), callback_every=5)
    plain = st.transfer(content)
    assert seen == [(0, 4), (1, 5), (1, 10)]
    np.testing.assert_allclose(chunked.image, plain.image, atol=1e-3)
