"""The style feature extractor: a backbone from the registry, cut at the deepest layer the loss reads."""

from __future__ import annotations

from suite.common.device import BF16_POLICY, auto_bf16_dtype  # noqa: F401 (BF16_POLICY re-exported)
from suite.common.log import note

DEFAULT_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
DEFAULT_CONTENT_LAYERS = ("block4_conv2",)


def build_style_extractor(
    backbone="vgg19",
    weights="auto",
    style_layers=DEFAULT_STYLE_LAYERS,
    content_layers=DEFAULT_CONTENT_LAYERS,
    quiet: bool = False,
):
    """A model from RGB pixels in ``[0, 255]`` to ``{layer: features}`` for the style and content layers.

    The functional model keeps only the layers its outputs depend on, so it
    stops at the deepest requested layer: with the defaults, VGG19 ends at
    ``block5_conv1`` and its last three convolutions are never run.

    Weights: style transfer with random weights only smooths the photo, so it
    never happens silently. With ``weights="auto"`` and no ImageNet file for
    the chosen backbone (VGG19 offline), the embedded VGG16 is used instead and
    a note says so. ``weights="none"`` is honoured (for tests) with a note.

    Args:
        backbone: A registry name (``"vgg19"``, ``"vgg16"``, ...) or a built backbone.
        weights: As :func:`suite.common.nn.backbones.get_backbone`.
        style_layers: Layer names for the Gram matrices.
        content_layers: Layer names for the content loss.
        quiet: Suppress notes about which weights were loaded.

    Returns:
        A ``keras.Model`` with an extra attribute ``weights_description``.

    Raises:
        ValueError: a layer the backbone does not have (the message lists valid ones).

    Example:
        >>> ex = build_style_extractor("vgg16", weights="none", quiet=True)
        >>> sorted(ex.output)[:2]
        ['block1_conv1', 'block2_conv1']
    """
    from suite.common.nn.backbones import feature_extractor, get_backbone

    if not style_layers:
        raise ValueError(f"At least one style layer is needed. Received: style_layers={style_layers!r}")
    if isinstance(backbone, str):
        model = get_backbone(backbone, weights=weights, quiet=True)
        if model.weights_kind == "none" and str(weights).lower() == "auto":
            if not quiet:
                note(
                    f"no ImageNet weights for {backbone} offline (put the Keras file in the Keras cache "
                    "or pass --weights FILE); using the embedded VGG16 for style transfer"
                )
            model = get_backbone("vgg16", weights="embedded", quiet=True)
        elif model.weights_kind == "none" and not quiet:
            note(f"{backbone} with random weights: style transfer will only smooth the image")
        elif not quiet:
            note(f"style features: {model.backbone_name} with {model.weights_description}")
    else:
        model = backbone
    layers = list(dict.fromkeys([*style_layers, *content_layers]))
    extractor = feature_extractor(model, layers, name=f"{model.name}_style_features")
    extractor.trainable = False
    extractor.weights_description = (
        f"{getattr(model, 'backbone_name', model.name)}: {getattr(model, 'weights_description', 'given model')}"
    )
    extractor.backbone_name = getattr(model, "backbone_name", model.name)
    return extractor


def feature_dtype(mixed_precision: bool | None = None) -> str:
    """The dtype policy of the Gatys loss-and-gradient's feature network.

    ``None`` (auto): bfloat16 convolutions under TensorFlow on a CPU with
    bfloat16 instructions and no GPU in use (0.58-0.66x float32's time per
    loss-and-gradient evaluation at 128-512 px on 2 cores; see docs/style.md),
    else the global policy. ``True``: the global mixed policy (``--mixed-precision``:
    float16 on a GPU) or bfloat16 on such a CPU. ``False``: float32.
    (:func:`suite.common.device.auto_bf16_dtype` with a float32 fallback.)
    """
    return auto_bf16_dtype(mixed_precision, "float32")


def with_dtype_policy(extractor, policy: str):
    """A copy of the extractor (same weights) whose convolutions and pools compute in ``policy``.

    Under a mixed policy the convolutions compute in bfloat16 (or float16)
    with float32 kernels, and the outputs come out in the compute dtype: the
    caller casts them to float32 before the Gram matrices and loss sums. The
    preprocessing (mean subtraction) stays float32. Returns ``extractor``
    itself when its layers already use ``policy``.
    """
    import keras

    from suite.common.nn.layers import ImagePreprocessing

    if all(layer.dtype_policy.name == policy for layer in extractor.layers if layer.weights):
        return extractor

    def clone(layer):
        if isinstance(layer, ImagePreprocessing):
            return layer.__class__.from_config(layer.get_config())
        config = layer.get_config()
        config["dtype"] = policy
        return layer.__class__.from_config(config)

    model = keras.models.clone_model(extractor, clone_function=clone)
    model.set_weights(extractor.get_weights())
    model.trainable = False
    for name in ("weights_description", "backbone_name"):
        if hasattr(extractor, name):
            setattr(model, name, getattr(extractor, name))
    return model
