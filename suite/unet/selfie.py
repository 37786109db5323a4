"""MediaPipe's selfie segmentation network, rebuilt as a suite Keras model.

The network (Apache-2.0, Google) is a small encoder-decoder: a MobileNetV3-like
encoder (hard-swish, squeeze-and-excitation, strides 2 to 16), an LR-ASPP-like
head, three decoder stages that gate each skip connection with a global
attention vector, and a 2x2 stride-2 transposed convolution to one person
probability per pixel. Two variants exist with the same layers: the general
model (256 x 256 input) and the landscape model (144 x 256).

:func:`build_selfie_network` is the network alone, with MediaPipe's input
convention: ``(N, h, w, 3)`` RGB in ``[0, 1]`` at the network's size, to the
sigmoid probability ``(N, h, w, 1)``. Its layers carry the names of the
``.tflite`` tensors, so ``assets/convert_selfie.py`` maps the weights by name.

:class:`SelfieSegmenter` is what ``suite segment --model person`` runs: RGB
pixels in ``[0, 255]`` of any size, resized to the network's input, and the
probability upsampled (bilinear) back to the input's size, returned as
two-class logits ``(background, person)`` whose softmax is exactly
``(1 - p, p)``. It therefore plugs into everything that takes a segmentation
model (segment, evaluate, export) and saves as a ``.keras`` file.

Reference:
    Google MediaPipe, Selfie Segmentation model card (2021);
    ``mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite``.
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref

import keras
from keras import ops

from suite.common.nn.api import suite_export

#: The network's input sizes ``(height, width)`` by variant.
VARIANTS = {"general": (256, 256), "landscape": (144, 256)}
CLASS_NAMES = ("background", "person")
#: Probabilities are clipped to ``[EPS, 1 - EPS]`` before the log, so logits stay finite.
EPS = 1e-6


class _Names:
    """Keras-style ``name``, ``name_1``, ``name_2``... counters, as the ``.tflite`` tensors are named."""

    def __init__(self):
        self.counts = {}

    def __call__(self, base):
        k = self.counts.get(base, 0)
        self.counts[base] = k + 1
        return base if k == 0 else f"{base}_{k}"


#: ``id(model) -> (weak reference, stages)`` of :meth:`SelfieSegmenter.prediction_stages`.
_STAGES: dict = {}
#: The kernels' initializer while the network is built (:func:`weights_loaded_next`).
_KERNEL_INIT = contextvars.ContextVar("selfie_kernel_initializer", default="glorot_uniform")


@contextlib.contextmanager
def weights_loaded_next():
    """Builds with zero kernels instead of random ones, for a network whose weights are loaded next.

    Random values that are overwritten at once are pure cost, and on JAX a
    large one: every random initializer compiles once per weight shape (about
    30 s of the ``person`` preset's first load on 2 busy CPU cores, against a
    few seconds with zeros). :func:`load_selfie_weights` refuses a file that
    misses any layer, so no zero kernel survives.
    """
    token = _KERNEL_INIT.set("zeros")
    try:
        yield
    finally:
        _KERNEL_INIT.reset(token)


def _conv(x, filters, names, kernel=1, strides=1):
    return keras.layers.Conv2D(
        filters, kernel, strides=strides, padding="same", name=names("conv2d"), kernel_initializer=_KERNEL_INIT.get()
    )(x)


def _dwconv(x, kernel, names, strides=1):
    return keras.layers.DepthwiseConv2D(
        kernel,
        strides=strides,
        padding="same",
        name=names("depthwise_conv2d"),
        depthwise_initializer=_KERNEL_INIT.get(),
    )(x)


def _act(x, kind, names):
    # The .tflite names its activations h_swish_k, re_lu_k and activation_k (sigmoid).
    name = {"hard_swish": "h_swish", "relu": "re_lu", "sigmoid": "activation"}[kind]
    return keras.layers.Activation(kind, name=names(name))(x)


def _gap(x, names):
    return keras.layers.GlobalAveragePooling2D(keepdims=True, name=names("average_pooling2d"))(x)


def _squeeze_excite(x, squeeze, names):
    """x * sigmoid(conv(relu(conv(mean(x))))): channel attention from the global mean."""
    channels = x.shape[-1]
    s = _gap(x, names)
    s = _act(_conv(s, squeeze, names), "relu", names)
    s = _act(_conv(s, channels, names), "sigmoid", names)
    return keras.layers.Multiply(name=names("multiply"))([x, s])


def _inverted_block(x, expand, kernel, strides, out, act, squeeze, names, residual):
    """1x1 expand, depthwise, optional squeeze-excite, 1x1 project (+ the input)."""
    shortcut = x
    x = _act(_conv(x, expand, names), act, names)
    x = _act(_dwconv(x, kernel, names, strides), act, names)
    if squeeze:
        x = _squeeze_excite(x, squeeze, names)
    x = _conv(x, out, names)
    if residual:
        x = keras.layers.Add(name=names("add"))([x, shortcut])
    return x


def _decoder_block(x, skip, names):
    """Upsample 2x, project to the skip's width, gate the skip globally, refine with a residual depthwise conv."""
    channels = skip.shape[-1]
    x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=names("up_sampling2d"))(x)
    up = _conv(x, channels, names)
    s = keras.layers.Add(name=names("add"))([skip, up])
    g = _gap(s, names)
    g = _act(_conv(g, channels, names), "relu", names)
    g = _act(_conv(g, channels, names), "sigmoid", names)
    gated = keras.layers.Multiply(name=names("multiply"))([skip, g])
    x = keras.layers.Add(name=names("add"))([gated, up])
    x = _act(_conv(x, channels, names), "relu", names)
    y = _act(_dwconv(x, 3, names), "relu", names)
    return keras.layers.Add(name=names("add"))([x, y])


def build_selfie_network(input_shape=(256, 256, 3), name="selfie_network"):
    """The selfie segmentation network alone, as in the ``.tflite``.

    Args:
        input_shape: ``(h, w, 3)``; ``(256, 256, 3)`` for the general model,
            ``(144, 256, 3)`` for the landscape model. Sides must be multiples of 16.
        name: Model name.

    Returns:
        A functional ``keras.Model`` from RGB in ``[0, 1]`` to the person
        probability ``(N, h, w, 1)``.
    """
    h, w, c = input_shape
    if c != 3 or h is None or w is None or h % 16 or w % 16:
        raise ValueError(
            f"Expected input_shape (h, w, 3) with h and w multiples of 16. Received: input_shape={input_shape}"
        )
    names = _Names()
    inputs = keras.Input(input_shape, name="input_1")
    s1 = _act(_conv(inputs, 16, names, kernel=3, strides=2), "hard_swish", names)  # 1/2
    x = _act(_conv(s1, 16, names), "relu", names)
    x = _act(_dwconv(x, 3, names, strides=2), "relu", names)  # 1/4
    x = _squeeze_excite(x, 8, names)
    s2 = _conv(x, 16, names)
    x = _inverted_block(s2, 72, 3, 2, 24, "relu", 0, names, residual=False)  # 1/8
    s3 = _inverted_block(x, 88, 3, 1, 24, "relu", 0, names, residual=True)
    x = _inverted_block(s3, 96, 5, 2, 32, "hard_swish", 24, names, residual=False)  # 1/16
    for expand, squeeze in ((128, 32), (128, 32), (96, 24), (96, 24)):
        x = _inverted_block(x, expand, 5, 1, 32, "hard_swish", squeeze, names, residual=True)
    # LR-ASPP-style head: features gated by a sigmoid of their global mean.
    g = _gap(x, names)
    a = _conv(x, 128, names)
    b = _conv(g, 128, names)
    a = _act(a, "relu", names)
    b = _act(b, "sigmoid", names)
    x = keras.layers.Multiply(name=names("multiply"))([a, b])
    x = _decoder_block(x, s3, names)  # 1/8
    x = _decoder_block(x, s2, names)  # 1/4
    x = _decoder_block(x, s1, names)  # 1/2
    # MediaPipe's Convolution2DTransposeBias: a 2x2 stride-2 transposed conv plus bias (no overlap, so
    # SAME and VALID padding agree).
    x = keras.layers.Conv2DTranspose(
        1, 2, strides=2, padding="same", name="segment", kernel_initializer=_KERNEL_INIT.get()
    )(x)
    x = keras.layers.Activation("sigmoid", name="probability")(x)
    return keras.Model(inputs, x, name=name)


def _interpolation_matrix(out_size, in_size: int):
    """``(out_size, in_size)`` weights of 1-D linear interpolation with half-pixel centres.

    The same sampling as ``tf.image.resize(..., "bilinear")`` and OpenCV's
    ``INTER_LINEAR``. Built from ``keras.ops`` so that ``out_size`` may be a
    dynamic (traced) size: ``keras.ops.image.resize`` needs Python ints.
    """
    out_f = ops.cast(out_size, "float32")
    src = (ops.cast(ops.arange(out_size), "float32") + 0.5) * (in_size / out_f) - 0.5
    src = ops.clip(src, 0.0, in_size - 1.0)
    lo = ops.floor(src)
    frac = ops.expand_dims(src - lo, -1)
    lo = ops.cast(lo, "int32")
    hi = ops.minimum(lo + 1, in_size - 1)
    return (1.0 - frac) * ops.one_hot(lo, in_size) + frac * ops.one_hot(hi, in_size)


def bilinear_resize(images, height, width):
    """Bilinear resize of ``(N, h, w, C)`` to ``(N, height, width, C)``, sizes possibly dynamic.

    Separable: two small matrix products with :func:`_interpolation_matrix`,
    which also export to ONNX and LiteRT as plain matmuls.
    """
    h, w = images.shape[1], images.shape[2]
    ry = _interpolation_matrix(height, h)
    rx = _interpolation_matrix(width, w)
    x = ops.einsum("Hh,nhwc->nHwc", ry, images)
    return ops.einsum("Ww,nHwc->nHWc", rx, x)


@suite_export
class ProbabilityUpsampling(keras.layers.Layer):
    """Resizes a one-channel probability to a reference image's size and returns two-class logits.

    The output is ``(log(1 - p), log(p))`` with ``p`` clipped to
    ``[EPS, 1 - EPS]``, so that a softmax gives back ``(1 - p, p)`` and an
    argmax gives ``p > 0.5``.

    Args:
        interpolation: ``"bilinear"`` (the only one so far).
        **kwargs: Standard layer arguments.
    """

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        if interpolation != "bilinear":
            raise ValueError(f"Expected interpolation='bilinear'. Received: interpolation={interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        prob, image = inputs
        shape = ops.shape(image)
        prob = bilinear_resize(ops.cast(prob, "float32"), shape[1], shape[2])
        prob = ops.clip(prob, EPS, 1.0 - EPS)
        return ops.concatenate([ops.log(1.0 - prob), ops.log(prob)], axis=-1)

    def compute_output_shape(self, input_shape):
        prob_shape, image_shape = input_shape
        return (image_shape[0], image_shape[1], image_shape[2], 2)

    def get_config(self):
        config = super().get_config()
        config.update({"interpolation": self.interpolation})
        return config


@suite_export
class SelfieSegmenter(keras.Model):
    """Person segmentation at any image size, with MediaPipe's selfie network.

    The image is resized to the network's input (bilinear), scaled to
    ``[0, 1]``, segmented, and the person probability is upsampled (bilinear)
    to the image's own size. The output is two-class logits (``background``,
    ``person``), as the suite's other segmentation models give.

    Two attributes tell the predict path how to run it: ``stride = 1`` (no
    padding is needed) and ``whole_image = True`` (the network sees the whole
    image at once, so ``segment`` neither tiles it nor pads it inside a batch).

    Args:
        variant: ``"general"`` (256 x 256, any photo) or ``"landscape"``
            (144 x 256, faster, for wide frames).
        antialias: Antialias the downscaling to the network's input. MediaPipe
            does not (``False`` matches it); it helps on photos much larger
            than the input.
        class_names: Names of the two output classes.
        **kwargs: Standard model arguments (``name``, ``trainable``).

    Example:
        >>> model = SelfieSegmenter()  # random weights; use suite.unet.presets.load_preset("person")
        >>> model.output_shape
        (None, None, None, 2)
    """

    def __init__(self, variant="general", antialias=False, class_names=CLASS_NAMES, **kwargs):
        if variant not in VARIANTS:
            raise ValueError(f"Expected variant in {tuple(VARIANTS)}. Received: variant={variant!r}")
        class_names = [str(c) for c in class_names]
        if len(class_names) != 2:
            raise ValueError(f"Expected 2 class names (background, person). Received: class_names={class_names}")
        h, w = VARIANTS[variant]
        image = keras.Input((None, None, 3), name="image")
        x = keras.layers.Resizing(h, w, interpolation="bilinear", antialias=antialias, name="resize_to_network")(image)
        x = keras.layers.Rescaling(1.0 / 255.0, name="scale_to_unit")(x)
        network = build_selfie_network((h, w, 3))
        prob = network(x)
        logits = ProbabilityUpsampling(name="upsample_to_image")([prob, image])
        kwargs.setdefault("name", f"selfie_segmenter_{variant}")
        super().__init__(image, logits, **kwargs)
        self.variant = variant
        self.antialias = bool(antialias)
        self.class_names = class_names
        self.num_classes = 2
        self.stride = 1
        self.whole_image = True

    @property
    def network(self):
        """The inner network: ``(N, h, w, 3)`` in ``[0, 1]`` to the person probability."""
        return self.get_layer("selfie_network")

    def prediction_stages(self):
        """The model as three models run one after the other: ``(to_network, network, to_logits)``.

        ``to_network`` resizes and scales images of any size to the network's
        input, ``network`` is :attr:`network` (one fixed shape) and
        ``to_logits`` maps ``[probability, image]`` to the logits at the
        image's size. They share this model's layers and compute what it
        computes; a backend that compiles per input shape (JAX) then compiles
        only the two small resizing stages per image size, and the network
        once. Used by :func:`suite.unet.predict.predict_batch`.
        """
        # Kept outside the model: an attribute holding models would be tracked (and saved) as its layers.
        cached = _STAGES.get(id(self))
        stages = cached[1] if cached is not None and cached[0]() is self else None
        if stages is None:
            image = keras.Input((None, None, 3), name="image")
            x = self.get_layer("scale_to_unit")(self.get_layer("resize_to_network")(image))
            to_network = keras.Model(image, x, name=f"{self.name}_to_network")
            prob = keras.Input(self.network.output.shape[1:], name="probability")
            image2 = keras.Input((None, None, 3), name="image")
            to_logits = keras.Model(
                [prob, image2], self.get_layer("upsample_to_image")([prob, image2]), name=f"{self.name}_to_logits"
            )
            stages = (to_network, self.network, to_logits)
            _STAGES[id(self)] = (weakref.ref(self), stages)
        return stages

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "variant": self.variant,
            "antialias": self.antialias,
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def load_selfie_weights(network, path) -> None:
    """Sets the weights of :func:`build_selfie_network` from a converted ``.npz``.

    The file maps ``<layer>/kernel`` and ``<layer>/bias`` to arrays in Keras
    layout (``assets/convert_selfie.py`` writes it).

    Raises:
        ValueError: the file and the network do not match (a missing layer or a wrong shape).
    """
    import numpy as np

    with np.load(path) as data:
        stored = {k: data[k] for k in data.files}
    used = set()
    for layer in network.layers:
        if not layer.weights:
            continue
        keys = [f"{layer.name}/kernel", f"{layer.name}/bias"]
        missing = [k for k in keys if k not in stored]
        if missing:
            raise ValueError(f"{path}: no weights for layer {layer.name!r} (missing {missing})")
        values = [stored[k].astype("float32") for k in keys]
        expected = [tuple(v.shape) for v in layer.weights]
        if [v.shape for v in values] != expected:
            raise ValueError(
                f"{path}: layer {layer.name!r} expects shapes {expected}, the file has {[v.shape for v in values]}"
            )
        layer.set_weights(values)
        used.update(keys)
    extra = sorted(set(stored) - used - {"variant", "source"})
    if extra:
        raise ValueError(f"{path}: weights for layers the network does not have: {extra[:5]}")
