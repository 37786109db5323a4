"""The library takes an image as a path, a PIL image or an array wherever it takes one, with the same result."""

import numpy as np
import pytest
from PIL import Image

from suite.common.io.images import as_rgb_array, as_rgb_arrays, load_image

PHOTO = "assets/photos/chelsea.jpg"
ART = "assets/styles/mosaic.jpg"


def _small(path, side=40):
    """A small copy of a bundled picture, saved with an EXIF rotation (orientation 6: turn 90 degrees)."""
    img = Image.open(path).convert("RGB")
    img.thumbnail((side, side))
    return img


@pytest.fixture()
def rotated_jpeg(tmp_path):
    img = _small(PHOTO, 48)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    return path


def test_as_rgb_array_reads_paths_pil_images_and_arrays_alike(rotated_jpeg):
    from_path = as_rgb_array(rotated_jpeg)
    from_str = as_rgb_array(str(rotated_jpeg))
    from_pil = as_rgb_array(Image.open(rotated_jpeg))  # EXIF orientation applied, as the CLI does
    np.testing.assert_array_equal(from_path, load_image(rotated_jpeg))
    np.testing.assert_array_equal(from_str, from_path)
    np.testing.assert_array_equal(from_pil, from_path)
    assert from_path.shape[0] > from_path.shape[1]  # turned upright: the saved picture is landscape
    for out in (from_path, from_pil):
        assert out.dtype == np.float32 and out.ndim == 3 and out.shape[-1] == 3
    uint8 = from_path.astype(np.uint8)
    np.testing.assert_array_equal(as_rgb_array(uint8), from_path)
    assert as_rgb_array(uint8).dtype == np.float32
    same = np.zeros((3, 4, 3), np.float32)
    assert as_rgb_array(same) is same  # already the library's format: no copy
    overshoot = np.array([[[-20.0, 128.0, 270.0]]], np.float32)  # a bicubic resize at a sharp edge
    assert as_rgb_array(overshoot) is overshoot
    np.testing.assert_array_equal(as_rgb_array(np.full((3, 4), 7, np.uint8))[..., 2], np.full((3, 4), 7.0))
    rgba = Image.new("RGBA", (5, 4), (255, 0, 0, 0))  # transparent: composited on white, as load_image does
    np.testing.assert_array_equal(as_rgb_array(rgba)[0, 0], [255, 255, 255])
    assert as_rgb_array(Image.new("L", (5, 4), 9)).shape == (4, 5, 3)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4, 4)), r"\(H, W, 3\) RGB image. Received: content.shape=\(4, 4, 4\)"),
        (np.zeros((2, 4, 4, 3)), r"content.shape=\(2, 4, 4, 3\)"),
        (np.full((4, 4, 3), np.nan), "finite"),
        (np.full((4, 4, 3), 4095.0), "in \\[0, 255\\]. Received: values from 4095 to 4095"),
        (np.zeros((4, 4, 3), bool), "dtype=bool"),
        (42, "file path, a PIL image or an \\(H, W, 3\\) array. Received: content of type int"),
    ],
)
def test_as_rgb_array_names_what_is_wrong(bad, match):
    with pytest.raises(ValueError, match=match):
        as_rgb_array(bad, "content")


def test_as_rgb_array_missing_file_is_one_line(tmp_path):
    from suite.common.io.images import ImageReadError

    with pytest.raises(ImageReadError, match="missing.jpg: file not found"):
        as_rgb_array(tmp_path / "missing.jpg")


def test_as_rgb_arrays_takes_one_image_or_a_list():
    art = _small(ART)
    assert len(as_rgb_arrays(ART)) == 1
    assert len(as_rgb_arrays(art)) == 1
    assert len(as_rgb_arrays(np.zeros((4, 4, 3)))) == 1
    assert len(as_rgb_arrays([ART, art, np.zeros((4, 4, 3))])) == 3
    with pytest.raises(ValueError, match=r"styles\[1\]"):
        as_rgb_arrays([ART, np.zeros((4, 4))[None, None]], "styles")


def _tiny_extractor():
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    a = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="block1_conv1")(x)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="block2_conv1")(
        keras.layers.AveragePooling2D(2)(a)
    )
    return keras.Model(inp, {"block1_conv1": a, "block2_conv1": b})


def test_gatys_takes_paths_and_pil_images(tmp_path):
    """``stylize`` and ``StyleTransfer.transfer`` with a path and a PIL image give what the arrays give."""
    from suite.style import StyleTransfer, stylize

    photo_pil, art_pil = _small(PHOTO), _small(ART)
    photo_path, art_path = tmp_path / "photo.png", tmp_path / "art.png"
    photo_pil.save(photo_path)
    art_pil.save(art_path)
    photo, art = np.asarray(photo_pil, np.float32), np.asarray(art_pil, np.float32)
    kw = dict(
        extractor=_tiny_extractor(),
        style_layers=("block1_conv1", "block2_conv1"),
        content_layers=("block2_conv1",),
        size=32,
        scales=(1.0,),
        iterations=3,
        optimizer="adam",
        quiet=True,
    )
    reference = stylize(photo, art, **kw)
    assert reference.dtype == np.float32 and reference.min() >= 0 and reference.max() <= 255
    np.testing.assert_allclose(stylize(str(photo_path), art_path, **kw), reference, atol=1e-3)
    np.testing.assert_allclose(stylize(photo_pil, [art_pil], **kw), reference, atol=1e-3)
    st = StyleTransfer([art_path], **kw)
    np.testing.assert_allclose(st.transfer(photo_pil).image, reference, atol=1e-3)
    with pytest.raises(ValueError, match=r"styles\[0\]"):
        StyleTransfer([np.zeros((5, 5, 2))], **kw)


def _tiny_fast_parts():
    import keras

    from suite.style.fast_models import build_style_transformer

    keras.utils.set_random_seed(0)
    inp = keras.Input((256, 256, 3))
    vec = keras.layers.Dense(100)(keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inp)))
    return keras.Model(inp, vec), build_style_transformer()


def test_fast_classes_take_paths_and_pil_images(tmp_path):
    from suite.style.fast import FastStyleTransfer, PresetStyleTransfer, fast_stylize

    predictor, transformer = _tiny_fast_parts()
    photo_pil, art_pil = _small(PHOTO, 32), _small(ART, 32)
    art_path = tmp_path / "art.png"
    art_pil.save(art_path)
    photo = np.asarray(photo_pil, np.float32)
    kw = dict(predictor=predictor, transformer=transformer)
    reference = FastStyleTransfer(np.asarray(art_pil, np.float32), **kw).transfer(photo).image
    assert reference.dtype == np.float32 and reference.shape == photo.shape
    assert reference.min() >= 0 and reference.max() <= 255
    np.testing.assert_allclose(FastStyleTransfer(art_path, **kw).transfer(photo_pil).image, reference, atol=1e-3)
    np.testing.assert_allclose(FastStyleTransfer([str(art_path)], **kw).transfer(photo).image, reference, atol=1e-3)
    np.testing.assert_allclose(fast_stylize(photo_pil, art_pil, **kw), reference, atol=1e-3)
    np.testing.assert_allclose(fast_stylize(photo, art_path, **kw), reference, atol=1e-3)

    import keras

    image_in, style_in = keras.Input((None, None, 3), name="image"), keras.Input((26,), name="style")
    model = keras.Model(
        {"image": image_in, "style": style_in},
        keras.layers.Lambda(lambda t: 0.5 * t[0] + 0.0 * t[1][:, None, None, :1])([image_in, style_in]),
    )
    preset = PresetStyleTransfer(3, model=model)
    out = preset.transfer(photo_pil).image
    np.testing.assert_allclose(out, preset.transfer(photo).image)
    assert out.dtype == np.float32 and out.shape == photo.shape


def test_segment_image_takes_a_path_a_pil_image_or_an_array(rotated_jpeg):
    from suite.unet import segment_image
    from suite.unet.model import build_unet

    model = build_unet(None, num_classes=3, encoder_filters=(4, 8))
    image = load_image(rotated_jpeg)
    reference = segment_image(model, image)
    assert reference.dtype == np.uint8 and reference.shape == image.shape[:2]
    np.testing.assert_array_equal(segment_image(model, rotated_jpeg), reference)
    np.testing.assert_array_equal(segment_image(model, Image.open(rotated_jpeg)), reference)
    np.testing.assert_array_equal(segment_image(model, image.astype(np.uint8)), reference)
    mask, probs = segment_image(model, Image.open(rotated_jpeg), probabilities=True)
    np.testing.assert_array_equal(mask, reference)
    assert probs.dtype == np.float32 and probs.shape == (*image.shape[:2], 3)
    assert probs.min() >= 0 and probs.max() <= 1
    with pytest.raises(ValueError, match="image.shape"):
        segment_image(model, np.zeros((8, 8, 4)))


def test_predict_functions_take_a_path_or_a_pil_image(rotated_jpeg):
    from suite.unet import predict_logits, predict_mask
    from suite.unet.model import build_unet

    model = build_unet(None, num_classes=2, encoder_filters=(4, 8))
    image = load_image(rotated_jpeg)
    np.testing.assert_array_equal(predict_mask(model, rotated_jpeg), predict_mask(model, image))
    np.testing.assert_allclose(predict_logits(model, Image.open(rotated_jpeg)), predict_logits(model, image), atol=1e-6)


def test_layer_activations_take_a_path_or_a_pil_image(rotated_jpeg):
    from suite.common.nn.backbones import get_backbone
    from suite.common.ui.features import layer_activations

    backbone = get_backbone("vgg16", weights="none")
    kw = dict(backbone=backbone, layer="block1_conv2", size=32)
    reference = layer_activations(load_image(rotated_jpeg), **kw)
    np.testing.assert_allclose(layer_activations(rotated_jpeg, **kw), reference, atol=1e-5)
    np.testing.assert_allclose(layer_activations(Image.open(rotated_jpeg), **kw), reference, atol=1e-5)
