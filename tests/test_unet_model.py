"""U-Net builder: the paper's numbers, every backbone at odd sizes, round trips, float32 logits, freezing."""

import numpy as np
import pytest

from tests.helpers import check_model_roundtrip

SMALL = dict(encoder_filters=(4, 8, 16))  # a 3-level paper U-Net small enough for fast tests


def test_paper_unet_parameter_count_and_output_shape():
    from suite.unet.model import build_unet

    model = build_unet(None, num_classes=2, input_shape=(572, 572, 1), padding="valid")
    assert model.count_params() == 31_030_658
    assert tuple(model.output.shape) == (None, 388, 388, 2)
    assert model.stride == 16
    # no BatchNorm in the paper's net
    assert not any("bn" in layer.name for layer in model.encoder.layers)


@pytest.mark.slow
def test_paper_unet_forward_pass_572():
    from suite.unet.model import build_unet

    model = build_unet(None, num_classes=2, input_shape=(572, 572, 1), padding="valid")
    y = model(np.zeros((1, 572, 572, 1), "float32"))
    assert y.shape == (1, 388, 388, 2)


def test_valid_padding_needs_fixed_size_and_a_paper_encoder():
    from suite.unet.model import build_unet

    with pytest.raises(ValueError, match="fixed input size"):
        build_unet(None, input_shape=(None, None, 1), padding="valid", **SMALL)
    with pytest.raises(ValueError, match="only for the paper U-Net"):
        build_unet("vgg16", padding="valid", weights="none")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=1), "num_classes=1"),
        (dict(num_classes=2.0), "num_classes=2.0"),
        (dict(padding="full"), "padding='full'"),
        (dict(decoder_filters=(8,)), "decoder_filters"),
        (dict(class_names=["a", "b", "c"]), "class_names"),
        (dict(backbone="resnet"), "Valid backbones: vgg16, vgg19, mobilenetv2"),
        (dict(weights="imagenet"), "no pretrained encoder"),
    ],
)
def test_bad_arguments_say_what_was_received(kwargs, message):
    from suite.unet.model import build_unet

    args = dict(SMALL)
    args.update(kwargs)
    if args.get("backbone"):
        args.pop("encoder_filters")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_unet(**args)


@pytest.mark.parametrize("backbone, stride", [("vgg16", 32), ("vgg19", 32), ("mobilenetv2", 32), (None, 4)])
def test_every_backbone_any_odd_size_through_predict_path(backbone, stride):
    from suite.unet.model import build_unet
    from suite.unet.model_io import model_metadata
    from suite.unet.predict import predict_logits, predict_mask

    kwargs = SMALL if backbone is None else dict(weights="none")
    model = build_unet(backbone, num_classes=3, **kwargs)
    assert model.stride == stride == model_metadata(model).stride
    rng = np.random.default_rng(1)
    for h, w in ((37, 53), (65, 31)):
        image = rng.uniform(0, 255, (h, w, 3)).astype("float32")
        logits = predict_logits(model, image)
        assert logits.shape == (h, w, 3) and logits.dtype == np.float32
        assert np.isfinite(logits).all()
        mask = predict_mask(model, image)
        assert mask.shape == (h, w) and mask.max() < 3


def test_decoder_reaches_full_resolution_from_stride_2_skips():
    """MobileNetV2's shallowest skip is at stride 2: an extra up-step brings the logits to stride 1."""
    from suite.unet.model import build_unet

    model = build_unet("mobilenetv2", num_classes=2, weights="none", input_shape=(64, 64, 3))
    assert tuple(model.output.shape) == (None, 64, 64, 2)
    assert "dec5_concat" not in [layer.name for layer in model.layers]
    assert "dec4_concat" in [layer.name for layer in model.layers]


@pytest.mark.parametrize("backbone", ["vgg16", None])
def test_save_load_and_config_round_trip(backbone, tmp_path):
    import keras

    from suite.unet.model import build_unet
    from suite.unet.model_io import model_metadata

    kwargs = dict(SMALL, batch_norm=True) if backbone is None else dict(weights="none")
    model = build_unet(backbone, num_classes=3, class_names=["bg", "cat", "dog"], **kwargs)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    loaded = check_model_roundtrip(model, x, tmp_path)
    assert type(loaded) is type(model)
    meta = model_metadata(keras.saving.load_model(tmp_path / "model.keras", safe_mode=True))
    assert (meta.num_classes, meta.class_names, meta.named, meta.stride, meta.backbone) == (
        3,
        ("bg", "cat", "dog"),
        True,
        32 if backbone else 4,
        backbone or "unet",
    )


def test_backbone_instance_round_trips(tmp_path):
    from suite.common.nn.backbones import get_backbone
    from suite.unet.model import build_unet

    backbone = get_backbone("vgg16", weights="none", quiet=True)
    model = build_unet(backbone, num_classes=2, decoder_filters=(8, 8, 8, 8, 8))
    assert model.backbone_name == "vgg16" and model.stride == 32
    assert model.get_config()["pyramid_layers"]["P0"] == "block1_conv2"
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    check_model_roundtrip(model, x, tmp_path)


def test_embedded_vgg16_weights_reach_the_encoder():
    from suite.common.nn.weights import read_embedded_vgg16
    from suite.unet.model import build_unet

    model = build_unet("vgg16", num_classes=2, weights="auto")
    kernel = read_embedded_vgg16()["block3_conv1"][0]
    np.testing.assert_array_equal(model.encoder.get_layer("block3_conv1").get_weights()[0], kernel)


def test_logits_are_float32_under_mixed_precision():
    import keras

    from suite.unet.model import build_unet

    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_unet(None, num_classes=2, **SMALL)
        assert model.get_layer("dec1_conv1").compute_dtype == "float16"
        y = model(np.zeros((1, 16, 16, 3), "float32"))
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
    finally:
        keras.config.set_dtype_policy(old)


def test_freeze_and_unfreeze_encoder(tmp_path):
    from suite.unet.model import build_unet, set_encoder_trainable

    model = build_unet(None, num_classes=2, freeze_encoder=True, **SMALL)
    encoder_weights = {id(w) for w in model.encoder.weights}
    assert encoder_weights and not encoder_weights & {id(w) for w in model.trainable_weights}
    assert model.trainable_weights  # the decoder still trains
    set_encoder_trainable(model, True)
    assert encoder_weights <= {id(w) for w in model.trainable_weights}
    assert model.get_config()["freeze_encoder"] is False
    set_encoder_trainable(model, False)
    assert model.get_config()["freeze_encoder"] is True

    # a frozen encoder stays frozen: one training step leaves it unchanged
    model.compile(optimizer="adam", loss=lambda y, p: (p - 1.0) ** 2)
    before = [w.numpy().copy() for w in model.encoder.weights]
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    model.fit(x, np.zeros((2, 16, 16, 2), "float32"), epochs=1, verbose=0)
    for b, w in zip(before, model.encoder.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_unfreezing_keeps_pretrained_batchnorm_in_inference_mode():
    import keras

    from suite.unet.model import build_unet, set_encoder_trainable

    model = build_unet(backbone="mobilenetv2", num_classes=3, weights=None, freeze_encoder=True)
    set_encoder_trainable(model, True)
    encoder = model.get_layer("encoder")
    bns = [l for l in encoder._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    convs = [l for l in encoder._flatten_layers() if isinstance(l, keras.layers.Conv2D)]
    assert bns and all(not l.trainable for l in bns)
    assert convs and all(l.trainable for l in convs)


def test_compile_with_no_arguments_trains():
    import keras

    from suite.unet.losses import MaskedCrossEntropy
    from suite.unet.model import UNet

    keras.utils.set_random_seed(0)
    model = UNet(None, num_classes=3, encoder_filters=(4, 8))
    model.compile()  # "auto": Adam, cross-entropy with the ignore index, mIoU and pixel accuracy
    assert isinstance(model.loss, MaskedCrossEntropy) and model.loss.ignore_index == 255  # the training default
    assert float(model.optimizer.learning_rate) == pytest.approx(2e-3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 3, (4, 16, 16)).astype("int32")
    y[:, :2] = 255  # ignored pixels
    history = model.fit(x, y, epochs=2, batch_size=2, verbose=0).history
    assert {"loss", "miou", "pixel_accuracy"} <= set(history)
    assert all(np.isfinite(history["loss"]))


def test_compile_auto_is_what_the_doc_says_and_takes_trains_balanced_weights(tmp_path):
    """compile("auto") is unweighted CE at the training lr; the doc's recipe gives train's balanced weights."""
    from pathlib import Path

    from PIL import Image

    from suite.unet.model import UNet
    from suite.unet.options import TrainOptions
    from suite.unet.training import open_data

    model = UNet(None, num_classes=3, encoder_filters=(4, 8))
    model.compile()
    assert model.loss.name == TrainOptions().loss == "ce" and model.loss.class_weights is None
    doc = (Path(__file__).parents[1] / "docs" / "unet_model.md").read_text()
    said = " ".join(doc.split("`model.compile()` with no arguments", 1)[1].split("```", 1)[0].split())
    assert f"the loss `{TrainOptions().loss}`" in said and "unweighted" in said
    assert float(said.split("learning rate of ", 1)[1].split()[0]) == TrainOptions().lr

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for folder in ("images", "masks"):
            (tmp_path / split / folder).mkdir(parents=True)
        for i in range(3):
            mask = rng.choice([0, 0, 0, 0, 1, 2, 255], (16, 16)).astype(np.uint8)
            Image.fromarray(mask).save(tmp_path / split / "masks" / f"{i}.png")
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(
                tmp_path / split / "images" / f"{i}.png"
            )
    data = open_data(
        tmp_path / "train" / "images",
        tmp_path / "train" / "masks",
        tmp_path / "val" / "images",
        tmp_path / "val" / "masks",
        3,
        TrainOptions(),
        tmp_path / "logs",
        False,
    )
    from suite.unet.losses import class_weights_from_counts

    masks = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "train" / "masks").glob("*.png"))])
    counts = np.bincount(masks[masks != 255].ravel(), minlength=3)  # the doc's recipe
    assert class_weights_from_counts(counts) == pytest.approx(data.class_weights)
    model.compile(class_weights=class_weights_from_counts(counts))
    assert model.loss.class_weights == pytest.approx(data.class_weights)
    assert len(set(data.class_weights)) > 1  # the counts differ, so the weights do
