"""The U-Net: an encoder pyramid, a transposed-convolution decoder with skips, a 1x1 head to logits.

Two families share one class, :class:`UNet`:

* ``backbone=None`` is the paper's U-Net (Ronneberger et al. 2015): two 3x3
  convolutions per level with 64-128-256-512-1024 filters, 2x2 max-pooling,
  2x2 up-convolutions, a 1x1 head. With ``padding="valid"``, a 1-channel
  572x572 input and 2 classes it gives 388x388x2 logits and has exactly
  31,030,658 parameters. The model starts with ``Rescaling(1/255)``, so it too
  takes pixels in ``[0, 255]``.
* ``backbone="vgg16"|"vgg19"|"mobilenetv2"`` (or any backbone model from
  :func:`suite.common.nn.backbones.get_backbone`) reads the backbone's
  ``pyramid_outputs`` as the encoder. The backbone carries its own
  preprocessing, so the model takes RGB pixels in ``[0, 255]``.

The encoder is a nested functional model named ``"encoder"`` returning the
pyramid ``{"Pn": features}``, so freezing it for transfer learning is one flag
(:func:`set_encoder_trainable`). The logits are float32 even under a
``mixed_float16`` policy. The model's config records ``num_classes``,
``class_names``, the backbone, the encoder's ``preprocessing`` (which the
weights choice decides: the embedded MobileNetV2 reads ``[0, 1]``, the ImageNet
one ``[-1, 1]``) and the total ``stride`` the input must be divisible by (the
predict path pads to it), and it reloads with plain
``keras.saving.load_model`` and no ``custom_objects`` once this module is
imported (importing it registers the suite's model, layer, loss and metric
classes; :func:`suite.common.nn.saving.load_model` does that for you once
``suite.unet`` is imported, which registers this module with it).

Reference:
    Ronneberger, Fischer, Brox. U-Net: Convolutional Networks for Biomedical
    Image Segmentation. MICCAI 2015. https://arxiv.org/abs/1505.04597
"""

from __future__ import annotations

import copy
import dataclasses
import json

import keras

from suite.common.nn.api import suite_export
from suite.common.nn.layers import PREPROCESSING_MODES, ImagePreprocessing  # also registers the layer

# Registered alongside the model, so that `import suite.unet.model` is all a script needs before
# keras.saving.load_model on a compiled checkpoint (its loss and metrics are suite classes too).
from suite.unet import losses as _losses  # noqa: F401
from suite.unet import metrics as _metrics  # noqa: F401
from suite.unet import selfie as _selfie  # noqa: F401 - the person preset's model, saved as .keras
from suite.unet.options import DEFAULT_LOSS, DEFAULT_LR

PAPER_ENCODER_FILTERS = (64, 128, 256, 512, 1024)
#: Decoder widths for backbone encoders, deepest first (segmentation_models.pytorch's defaults).
BACKBONE_DECODER_FILTERS = (256, 128, 64, 32, 16)
PADDINGS = ("same", "valid")


def _conv_block(x, filters, padding, batch_norm, prefix):
    """Two 3x3 convolutions, each followed by (BatchNorm and) ReLU."""
    for j in (1, 2):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding=padding,
            use_bias=not batch_norm,
            kernel_initializer="he_normal",
            name=f"{prefix}_conv{j}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{prefix}_bn{j}")(x)
        x = keras.layers.ReLU(name=f"{prefix}_relu{j}")(x)
    return x


def _center_crop_to(skip, target, name):
    """Crops ``skip`` to ``target``'s spatial size around its centre (the paper's valid-padding copy-and-crop)."""
    sh, sw = skip.shape[1], skip.shape[2]
    th, tw = target.shape[1], target.shape[2]
    if None in (sh, sw, th, tw):
        raise ValueError(
            "padding='valid' needs a fixed input size, because the skips are centre-cropped. "
            "Pass input_shape=(H, W, C), e.g. (572, 572, 1). Received: input_shape with None"
        )
    dh, dw = sh - th, sw - tw
    if dh < 0 or dw < 0 or dh % 2 or dw % 2:
        raise ValueError(
            f"Cannot centre-crop a {sh}x{sw} skip to {th}x{tw}; with padding='valid' the input size must "
            "keep every max-pool input even (e.g. 572)."
        )
    return keras.layers.Cropping2D(((dh // 2, dh // 2), (dw // 2, dw // 2)), name=name)(skip)


def _paper_encoder(input_shape, filters, padding, batch_norm):
    """The contracting path as a functional model ``image -> {"P0": ..., "Pn": ...}``."""
    inputs = keras.Input(shape=input_shape, name="image")
    # Pixels come in [0, 255] like every suite model; the paper net learns from [0, 1].
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    features = {}
    for i, f in enumerate(filters):
        if i > 0:
            x = keras.layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
        x = _conv_block(x, f, padding, batch_norm, prefix=f"enc{i}")
        features[f"P{i}"] = x
    return keras.Model(inputs, features, name="encoder")


def _level(key):
    return int(key[1:])


@dataclasses.dataclass
class Encoder:
    """What :func:`resolve_encoder` found: the encoder model and what the config must record.

    Attributes:
        model: Functional ``image -> {"Pn": features}`` named ``"encoder"``.
        name: ``"unet"`` for the paper encoder, else the backbone's name.
        config: The ``backbone`` config value: ``None``, a registry name, or a serialized model.
        preprocessing: The mode of the encoder's first layer (``"unit"`` for the paper
            encoder's ``Rescaling(1/255)``), or ``None`` for a backbone model without
            an ``ImagePreprocessing`` layer named ``preprocess``.
        pyramid_layers: ``{"Pn": layer_name}`` of a backbone model given by hand, else ``None``.
        encoder_filters: The paper encoder's widths (``None`` for backbones).
        batch_norm: The resolved BatchNorm choice.
        deepest: The deepest pyramid level; the stride is ``2**deepest``.
        skips: The other levels, deepest first (the decoder's skip connections).
    """

    model: keras.Model
    name: str
    config: object
    preprocessing: str | None
    pyramid_layers: dict | None
    encoder_filters: tuple | None
    batch_norm: bool
    deepest: int
    skips: list

    @property
    def stride(self) -> int:
        return 2**self.deepest


def _check_arguments(num_classes, input_shape, padding, class_names):
    """Validates the model-wide arguments; returns ``(input_shape, class_names)`` normalized."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(
            f"num_classes must be an integer >= 2 (use 2 for binary masks). Received: num_classes={num_classes!r}"
        )
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C). Received: input_shape={input_shape}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}. Received: padding={padding!r}")
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != num_classes:
            raise ValueError(
                f"class_names must have num_classes={num_classes} entries. Received: class_names={class_names}"
            )
    return input_shape, class_names


def resolve_encoder(
    backbone,
    input_shape,
    weights="auto",
    encoder_filters=None,
    padding="same",
    batch_norm=None,
    pyramid_layers=None,
    preprocessing=None,
) -> Encoder:
    """The encoder for ``backbone``: ``None``/``"none"`` (the paper's), a registry name, a model, or a serialized model.

    ``preprocessing=None`` takes what the weights need; a mode overrides it for a
    registry backbone (a reload passes the recorded one) and must match the
    paper encoder (``"unit"``) or a backbone model's own ``preprocess`` layer.

    Returns:
        An :class:`Encoder`: the pyramid model, its skip levels and stride,
        and what the U-Net's config records.
    """
    if isinstance(backbone, dict):  # a serialized backbone model, from get_config
        # deserialize_keras_object consumes the dict it is given; keep the caller's config intact.
        backbone = keras.saving.deserialize_keras_object(copy.deepcopy(backbone))
    elif isinstance(backbone, str) and backbone.lower() in ("none", "unet"):
        backbone = None
    if preprocessing is not None and preprocessing not in PREPROCESSING_MODES:
        raise ValueError(
            f"preprocessing must be None or one of {PREPROCESSING_MODES}. Received: preprocessing={preprocessing!r}"
        )
    if backbone is None:
        found = _paper_encoder_for(input_shape, weights, encoder_filters, padding, batch_norm)
    else:
        found = _backbone_encoder_for(
            backbone, input_shape, weights, encoder_filters, padding, batch_norm, pyramid_layers, preprocessing
        )
    if preprocessing is not None and preprocessing != found.preprocessing:
        raise ValueError(
            f"This encoder preprocesses with {found.preprocessing!r} and cannot be given another mode. "
            f"Received: preprocessing={preprocessing!r}"
        )
    levels = sorted((_level(k) for k in found.model.output), reverse=True)
    found.deepest, found.skips = levels[0], levels[1:]
    return found


def _paper_encoder_for(input_shape, weights, encoder_filters, padding, batch_norm) -> Encoder:
    if weights not in (None, "auto", "none"):
        raise ValueError(
            f"The paper U-Net (backbone=None) has no pretrained encoder weights. Received: weights={weights!r}"
        )
    encoder_filters = tuple(int(f) for f in (encoder_filters or PAPER_ENCODER_FILTERS))
    if len(encoder_filters) < 2 or min(encoder_filters) < 1:
        raise ValueError(f"encoder_filters needs >= 2 positive widths. Received: encoder_filters={encoder_filters}")
    batch_norm = False if batch_norm is None else bool(batch_norm)
    model = _paper_encoder(input_shape, encoder_filters, padding, batch_norm)
    return Encoder(model, "unet", None, "unit", None, encoder_filters, batch_norm, 0, [])


def _model_preprocessing(model):
    """The mode of a backbone model's ``ImagePreprocessing`` layer named ``preprocess``, else ``None``."""
    try:
        layer = model.get_layer("preprocess")
    except ValueError:
        return None
    return layer.mode if isinstance(layer, ImagePreprocessing) else None


def _backbone_encoder_for(
    backbone, input_shape, weights, encoder_filters, padding, batch_norm, pyramid_layers, preprocessing=None
) -> Encoder:
    if encoder_filters is not None:
        raise ValueError(f"encoder_filters is for backbone=None only. Received: encoder_filters={encoder_filters}")
    if padding != "same":
        raise ValueError(
            "padding='valid' is only for the paper U-Net (backbone=None); backbones pad 'same'. "
            f"Received: padding={padding!r}"
        )
    if isinstance(backbone, str):
        from suite.common.nn.backbones import get_backbone, get_backbone_spec

        name = config = get_backbone_spec(backbone).name
        # weights=None (not "none") comes from from_config: rebuilding for a load, say nothing.
        model = get_backbone(
            name, weights=weights, input_shape=input_shape, quiet=weights is None, preprocessing=preprocessing
        )
        layers_by_level, pyramid_layers = dict(model.pyramid_layers), None  # the registry knows them
    elif isinstance(backbone, keras.Model):
        model = backbone
        layers_by_level = dict(pyramid_layers or getattr(model, "pyramid_layers", None) or {})
        if not layers_by_level:
            raise ValueError(
                "A backbone model needs its pyramid: use suite.common.nn.backbones.get_backbone, or pass "
                "pyramid_layers={'P1': layer_name, ...}. Received: pyramid_layers=None"
            )
        pyramid_layers = layers_by_level
        name = getattr(model, "backbone_name", model.name)
        config = keras.saving.serialize_keras_object(model)
    else:
        raise ValueError(f"backbone must be None, a registry name or a keras.Model. Received: backbone={backbone!r}")
    try:
        outputs = {k: model.get_layer(v).output for k, v in layers_by_level.items()}
    except ValueError as e:
        raise ValueError(f"pyramid_layers do not match the backbone: {e}") from None
    encoder = keras.Model(model.input, outputs, name="encoder")
    batch_norm = True if batch_norm is None else bool(batch_norm)
    return Encoder(encoder, name, config, _model_preprocessing(model), pyramid_layers, None, batch_norm, 0, [])


def _decoder_filters_for(encoder: Encoder, decoder_filters) -> tuple:
    """The decoder widths, checked: one per up-step (one per skip, plus plain ones down to stride 1)."""
    n_up = len(encoder.skips) + (encoder.skips[-1] if encoder.skips else encoder.deepest)
    if decoder_filters is None:
        if encoder.encoder_filters is not None:
            decoder_filters = tuple(reversed(encoder.encoder_filters[:-1]))
        else:
            decoder_filters = BACKBONE_DECODER_FILTERS
    decoder_filters = tuple(int(f) for f in decoder_filters)
    if len(decoder_filters) != n_up or min(decoder_filters) < 1:
        raise ValueError(
            f"decoder_filters needs {n_up} positive widths for this encoder (one per up-step, deepest first). "
            f"Received: decoder_filters={decoder_filters}"
        )
    return decoder_filters


def _decoder(features, encoder: Encoder, filters, padding, batch_norm):
    """Up-steps from the deepest features, each concatenating its skip (centre-cropped with ``"valid"``)."""
    x = features[f"P{encoder.deepest}"]
    targets = [f"P{s}" for s in encoder.skips] + [None] * (len(filters) - len(encoder.skips))
    for i, (f, skip_key) in enumerate(zip(filters, targets), start=1):
        x = keras.layers.Conv2DTranspose(f, 2, strides=2, kernel_initializer="he_normal", name=f"dec{i}_up")(x)
        if skip_key is not None:
            skip = features[skip_key]
            if padding == "valid":
                skip = _center_crop_to(skip, x, name=f"dec{i}_crop")
            x = keras.layers.Concatenate(name=f"dec{i}_concat")([x, skip])
        x = _conv_block(x, f, padding, batch_norm, prefix=f"dec{i}")
    return x


def _head(x, num_classes):
    # float32 logits under mixed precision: softmax/CE on float16 logits overflows.
    return keras.layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)


@suite_export
class UNet(keras.Model):
    """U-Net with a transposed-convolution decoder, on the paper's encoder or a registry backbone.

    Args:
        backbone: ``None`` for the paper's encoder, a registry name
            (``"vgg16"``, ``"vgg19"``, ``"mobilenetv2"``), or a backbone
            ``keras.Model`` with ``pyramid_layers`` (as made by
            :func:`suite.common.nn.backbones.get_backbone`) or explicit
            ``pyramid_layers``.
        num_classes: Number of classes (logit channels), >= 2 (use 2 for
            binary masks: background and foreground).
        input_shape: ``(H, W, C)``; ``None`` sizes accept any input size
            divisible by ``stride`` (the predict path pads). Backbones need
            ``C == 3``.
        weights: Encoder weights for a registry backbone: ``"auto"``,
            ``"imagenet"``, ``"embedded"``, ``"none"``/``None`` or a file. Not
            part of the config: a reloaded model has its own trained weights
            (what the choice changes in the graph, the preprocessing, is).
        freeze_encoder: Make the encoder non-trainable (transfer learning).
        decoder_filters: Widths of the up-steps, deepest first. Defaults to
            the mirror of ``encoder_filters`` for the paper's U-Net and to
            ``(256, 128, 64, 32, 16)`` for backbones.
        encoder_filters: Widths of the paper encoder's levels (``backbone=None``
            only); defaults to ``(64, 128, 256, 512, 1024)``.
        padding: ``"same"`` (the everyday default; output size = input size)
            or ``"valid"`` (the paper: unpadded convolutions and cropped skips;
            ``backbone=None`` with a fixed ``input_shape`` only).
        batch_norm: BatchNorm after each decoder (and paper encoder)
            convolution. Defaults to ``False`` for the paper's U-Net and
            ``True`` for backbones.
        class_names: Optional list of ``num_classes`` names, stored with the
            model for reports.
        pyramid_layers: ``{"Pn": layer_name}`` for a custom backbone model
            without a ``pyramid_layers`` attribute.
        preprocessing: The encoder's input scaling (see
            :func:`suite.common.nn.layers.preprocess_input`). ``None`` (the
            default) takes what the weights need: ``"caffe"`` for VGG,
            ``"unit"`` for the embedded MobileNetV2, ``"tf"`` for the ImageNet
            or untrained one, ``"unit"`` (``Rescaling(1/255)``) for the
            paper's encoder. The config records the resolved mode, so a
            reloaded model preprocesses as the saved one did.
        dtype: The dtype policy of every layer (``"float32"``,
            ``"mixed_bfloat16"``, ...); ``None`` takes Keras' global policy.
            The config records it, so a model trained under mixed precision
            reloads under the same policy (the logits stay float32).
        name: Model name.
        **kwargs: Standard ``keras.Model`` arguments.

    Attributes:
        stride: Input sizes must be multiples of this (``2**deepest_level``).
        backbone_name: ``"unet"`` for the paper encoder, else the backbone's name.

    Example:
        >>> model = UNet(backbone="vgg16", num_classes=3, weights="none")
        >>> model.stride
        32
        >>> model.compile()  # Adam, the suite's loss and metrics (see UNet.compile)
    """

    def __init__(
        self,
        backbone=None,
        num_classes=2,
        input_shape=(None, None, 3),
        weights="auto",
        freeze_encoder=False,
        decoder_filters=None,
        encoder_filters=None,
        padding="same",
        batch_norm=None,
        class_names=None,
        pyramid_layers=None,
        preprocessing=None,
        dtype=None,
        name=None,
        **kwargs,
    ):
        input_shape, class_names = _check_arguments(num_classes, input_shape, padding, class_names)
        # Every layer (the backbone's too) takes the model's policy: the global one unless `dtype` is given.
        # A reload passes the recorded one, so a model trained under mixed_bfloat16 predicts as it did.
        policy = keras.dtype_policies.get(dtype) if dtype is not None else keras.config.dtype_policy()
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            # --- layers
            encoder = resolve_encoder(
                backbone, input_shape, weights, encoder_filters, padding, batch_norm, pyramid_layers, preprocessing
            )
            decoder_filters = _decoder_filters_for(encoder, decoder_filters)

            # --- functional model
            inputs = keras.Input(shape=input_shape, name="image")
            features = encoder.model(inputs)
            x = _decoder(features, encoder, decoder_filters, padding, encoder.batch_norm)
            outputs = _head(x, num_classes)
            super().__init__(
                inputs=inputs, outputs=outputs, name=name or f"unet_{encoder.name}", dtype=policy, **kwargs
            )
        finally:
            keras.config.set_dtype_policy(previous)

        # --- config = constructor arguments (weights excluded: saved models carry their own)
        # JSON text: Keras' attribute tracking would rewrite a nested dict of a serialized model.
        self._backbone_json = json.dumps(encoder.config)
        self.backbone_name = encoder.name
        self.num_classes = num_classes
        self._input_shape_arg = input_shape
        self.freeze_encoder = bool(freeze_encoder)
        self.decoder_filters = decoder_filters
        self.encoder_filters = encoder.encoder_filters
        self.padding = padding
        self.batch_norm = encoder.batch_norm
        self.class_names = class_names
        self.pyramid_layers = encoder.pyramid_layers
        self.preprocessing = encoder.preprocessing
        self.stride = encoder.stride
        if freeze_encoder:
            set_encoder_trainable(self, False)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", ignore_index=255, class_weights=None, **kwargs):
        """``keras.Model.compile`` with the suite's training defaults for ``"auto"``.

        Args:
            optimizer: ``"auto"``: Adam at the suite's default learning rate
                (:data:`suite.unet.options.DEFAULT_LR`, as ``TrainOptions``), constant (``suite train``
                adds its warm-up and cosine), else any Keras optimizer.
            loss: ``"auto"``: the training default (``"ce"``, cross-entropy) over
                ``num_classes``, skipping ``ignore_index``, unweighted unless
                ``class_weights`` are given (:func:`suite.unet.losses.get_loss`),
                else any Keras loss. ``suite train`` weights it by default with
                :func:`suite.unet.losses.class_weights_from_counts` of the training
                masks' pixel counts; pass those here for the same weighting.
            metrics: ``"auto"``: mean IoU (``miou``) and pixel accuracy,
                skipping ``ignore_index``, else any Keras metrics.
            ignore_index: The label that counts in no loss and no metric (``"auto"`` only).
            class_weights: One weight per class for the ``"auto"`` loss.
            **kwargs: Other ``keras.Model.compile`` arguments.

        Example:
            >>> model = UNet(None, num_classes=3, encoder_filters=(4, 8))
            >>> model.compile()
        """
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = keras.optimizers.Adam(learning_rate=DEFAULT_LR)
        if isinstance(loss, str) and loss == "auto":
            loss = _losses.get_loss(
                DEFAULT_LOSS, num_classes=self.num_classes, ignore_index=ignore_index, class_weights=class_weights
            )
        if isinstance(metrics, str) and metrics == "auto":
            metrics = _metrics.segmentation_metrics(self.num_classes, ignore_index)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Keras skips reloading the compile state of a model whose compile() is overridden. The saved
        # config holds what compile() resolved (never "auto"), so Keras' own reload applies unchanged.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)  # so the saved optimizer variables load

    @property
    def backbone(self):
        """The ``backbone`` argument as stored: ``None``, a registry name, or a serialized backbone model."""
        return json.loads(self._backbone_json)

    @property
    def encoder(self):
        """The nested encoder model, ``image -> {"Pn": features}``."""
        return self.get_layer("encoder")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": self.backbone,
            "num_classes": self.num_classes,
            "input_shape": list(self._input_shape_arg),
            "freeze_encoder": self.freeze_encoder,
            "decoder_filters": list(self.decoder_filters),
            "encoder_filters": None if self.encoder_filters is None else list(self.encoder_filters),
            "padding": self.padding,
            "batch_norm": self.batch_norm,
            "class_names": None if self.class_names is None else list(self.class_names),
            "pyramid_layers": None if self.pyramid_layers is None else dict(self.pyramid_layers),
            "preprocessing": self.preprocessing,
            "dtype": self.dtype_policy.name,
            # Derived, read by the predict path; ignored by from_config.
            "stride": self.stride,
            "backbone_name": self.backbone_name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config.pop("stride", None)
        config.pop("backbone_name", None)
        # Weights come from the saved file, so rebuilding must not load (or announce) any.
        model = cls(**config, weights=None)
        # Saved before the config recorded the preprocessing: the weights may tell (settle_legacy_preprocessing).
        model._preprocessing_unrecorded = "preprocessing" not in config
        return model


def build_unet(backbone=None, num_classes=2, **kwargs):
    """Builds a U-Net: ``UNet(backbone, num_classes, **kwargs)``; see :class:`UNet` for the arguments.

    Returns:
        A functional :class:`UNet` (a ``keras.Model``) from pixels in
        ``[0, 255]`` of shape ``(N, H, W, C)`` to float32 logits
        ``(N, H, W, num_classes)`` (smaller than the input only with
        ``padding="valid"``).

    Example:
        >>> paper = build_unet(None, num_classes=2, input_shape=(572, 572, 1), padding="valid")
        >>> paper.count_params(), paper.output.shape
        (31030658, (None, 388, 388, 2))
    """
    return UNet(backbone=backbone, num_classes=num_classes, **kwargs)


def settle_legacy_preprocessing(model) -> str | None:
    """Gives a U-Net saved before its config recorded ``preprocessing`` the one its weights were trained with.

    Such a file rebuilds its registry backbone with the ImageNet mode (MobileNetV2: ``tf``, [-1, 1]),
    but one trained on the embedded MobileNetV2 needs ``unit`` (pixels / 255). The suite keeps an
    encoder's BatchNorm statistics frozen in every training phase, so they still equal the
    embedded weights' exactly when those were the starting point: then the mode is switched (before
    the first prediction) and a note says so.

    Args:
        model: A loaded model; anything but such a U-Net is left alone.

    Returns:
        The mode switched to, or ``None`` when nothing changed.
    """
    import numpy as np

    if not (isinstance(model, UNet) and getattr(model, "_preprocessing_unrecorded", False)):
        return None
    if not isinstance(model.backbone, str):
        return None
    from suite.common.errors import WeightsError
    from suite.common.log import note
    from suite.common.nn.backbones import get_backbone_spec

    spec = get_backbone_spec(model.backbone)
    mode = spec.embedded_preprocessing
    if not mode or mode == model.preprocessing or spec.embedded_reader is None:
        return None
    try:
        embedded = spec.embedded_reader()
    except (WeightsError, OSError, ValueError):
        return None  # the embedded weights are not installed: nothing to compare with
    encoder = model.encoder
    compared = 0
    for name, values in embedded.items():
        try:
            layer = encoder.get_layer(name)
        except ValueError:
            return None
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        have = layer.get_weights()
        # gamma, beta, moving mean, moving variance: the statistics never train in the suite.
        if not all(np.allclose(h, v, rtol=0, atol=1e-6) for h, v in zip(have[2:], values[2:])):
            return None
        compared += 1
    if not compared:
        return None
    encoder.get_layer("preprocess").mode = mode
    model.preprocessing = mode
    model._preprocessing_unrecorded = False
    note(
        f"{model.name}: saved by an older suite without its preprocessing; its encoder holds the "
        f"{spec.embedded_description}, so it preprocesses with {mode!r} (re-save it to record that)"
    )
    return mode


def with_dtype_policy(model, dtype="float32"):
    """The same U-Net (same config and weights) under another dtype policy.

    A model trained under ``mixed_bfloat16`` records that policy and reloads
    with it; runtimes without bfloat16 kernels (ONNX Runtime, LiteRT) need it
    in ``float32``.

    Args:
        model: A :class:`UNet`; any other model is returned as it is.
        dtype: The policy for every layer.

    Returns:
        ``model`` itself when it already has that policy, else a new :class:`UNet`.
    """
    if not isinstance(model, UNet) or model.dtype_policy.name == keras.dtype_policies.get(dtype).name:
        return model
    config = dict(model.get_config(), dtype=dtype)
    other = UNet.from_config(config)
    other.set_weights(model.get_weights())
    return other


def _sublayers(layer):
    for sub in getattr(layer, "layers", []):
        yield sub
        yield from _sublayers(sub)


def set_encoder_trainable(model, trainable: bool) -> None:
    """Freezes (``False``) or unfreezes (``True``) the encoder of a suite U-Net.

    BatchNorm layers inside the encoder run in inference mode either way
    (unfreezing leaves them frozen, to keep the pretrained statistics). Recompile
    the model afterwards so the change takes effect in ``fit``.

    Args:
        model: A :class:`UNet` (or any model with a nested layer named ``"encoder"``).
        trainable: The new trainable state of the encoder.
    """
    try:
        encoder = model.get_layer("encoder")
    except ValueError:
        raise ValueError(f"Model {model.name!r} has no layer named 'encoder'; is it a suite U-Net?") from None
    encoder.trainable = bool(trainable)
    if trainable:
        # Fine-tuning a pretrained encoder: its BatchNorm layers keep their
        # learned statistics and run in inference mode (Keras' transfer-learning
        # advice). With batches of a few crops, batch statistics would replace
        # them and the validation predictions collapse.
        for layer in _sublayers(encoder):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    if hasattr(model, "freeze_encoder"):
        model.freeze_encoder = not trainable
