"""What a segmentation model is, read one way, and the one checked way to load one.

Every part of the suite that runs a segmentation model (``segment``,
``evaluate``, ``export``, the Beam runner, the web page, the predict path)
asks :func:`model_metadata` what the model needs: how many classes and their
names, the stride its input must be divisible by, its input channels, and
whether it must see each image whole (presets such as ``person`` resize the
image to their network's input themselves). A model file or a preset name is
loaded by :func:`load_segmentation`, which checks that the result maps images
to per-pixel scores and says what is wrong in one line otherwise.

Keras is imported only when a model is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The stride assumed for models that do not record theirs (five stride-2 steps, as most encoders).
DEFAULT_STRIDE = 32


@dataclass(frozen=True)
class ModelMetadata:
    """What the predict path needs to know about a segmentation model.

    Attributes:
        name: The model's name.
        channels: Score channels per pixel (1 for a one-channel binary model).
        num_classes: Classes a mask can hold: ``channels``, or 2 for one channel.
        class_names: One name per class (``num_classes`` of them); the model's
            own when it records them, else ``"class 0"``, ``"class 1"``, ...
        named: True if ``class_names`` come from the model.
        stride: Input sizes are padded to a multiple of this.
        input_channels: Channels of the input image (3 for RGB), or ``None``.
        fixed_size: ``(H, W)`` if the model accepts only one input size.
        whole_image: The model resizes each image to its network's input
            itself (presets such as ``person``): it is never tiled, nor padded
            inside a batch of larger images.
        backbone: The encoder's name for suite U-Nets, else ``None``.
        source: The file or preset it was loaded from, when known.
    """

    name: str
    channels: int
    num_classes: int
    class_names: tuple
    named: bool
    stride: int
    input_channels: int | None
    fixed_size: tuple | None
    whole_image: bool
    backbone: str | None = None
    source: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready fields (for reports)."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "stride": self.stride,
            "input_channels": self.input_channels,
            "fixed_size": list(self.fixed_size) if self.fixed_size else None,
            "whole_image": self.whole_image,
            "backbone": self.backbone,
            "source": self.source,
        }


def _config(model) -> dict:
    try:
        return model.get_config() or {}
    except Exception:  # a subclassed model without get_config, or a half-built one
        return {}


def _attr_or_config(model, config: dict, key: str):
    value = getattr(model, key, None)
    return config.get(key) if value is None else value


def _shape(model, attr: str):
    try:
        shape = getattr(model, attr)
    except (AttributeError, ValueError):  # a subclassed model that was never built
        return None
    return shape[0] if isinstance(shape, list) else shape


def fixed_input_size(model) -> tuple[int, int] | None:
    """``(H, W)`` if the model only accepts one input size, else ``None``."""
    shape = _shape(model, "input_shape")
    if shape is None or len(shape) < 3:
        return None
    h, w = shape[1], shape[2]
    return (int(h), int(w)) if h is not None and w is not None else None


def model_metadata(model, source=None) -> ModelMetadata:
    """Reads a loaded segmentation model's metadata (see :class:`ModelMetadata`).

    Suite U-Nets and presets record their stride and class names (as
    attributes and in their config); for any other model the stride is
    :data:`DEFAULT_STRIDE` and the classes are named by index.

    Args:
        model: A ``keras.Model`` mapping ``(N, H, W, 3)`` images to ``(N, H, W, C)`` scores.
        source: The file or preset name it came from, recorded as ``source``.

    Example:
        >>> meta = model_metadata(build_unet(None, num_classes=3, encoder_filters=(4, 8)))  # doctest: +SKIP
        >>> meta.stride, meta.class_names  # doctest: +SKIP
        (2, ('class 0', 'class 1', 'class 2'))
    """
    config = _config(model)
    out_shape = _shape(model, "output_shape")
    if out_shape is not None and out_shape[-1] is not None:
        channels = int(out_shape[-1])
    else:
        channels = int(_attr_or_config(model, config, "num_classes") or 1)
    num_classes = max(channels, 2)
    names = _attr_or_config(model, config, "class_names")
    names = [str(n) for n in names] if names else []
    named = len(names) == num_classes
    if not named:
        names = [f"class {k}" for k in range(num_classes)]
    in_shape = _shape(model, "input_shape")
    input_channels = in_shape[-1] if in_shape is not None else None
    return ModelMetadata(
        name=str(getattr(model, "name", "model")),
        channels=channels,
        num_classes=num_classes,
        class_names=tuple(names),
        named=named,
        stride=int(_attr_or_config(model, config, "stride") or DEFAULT_STRIDE),
        input_channels=None if input_channels is None else int(input_channels),
        fixed_size=fixed_input_size(model),
        whole_image=bool(getattr(model, "whole_image", False)),
        backbone=config.get("backbone_name") or getattr(model, "backbone_name", None),
        source=None if source is None else str(source),
    )


def check_segmentation_model(model) -> None:
    """Raises ``ValueError`` unless ``model`` maps ``(N, H, W, 3)`` images to ``(N, H, W, C)`` scores."""
    try:
        in_shape, out_shape = model.input_shape, model.output_shape
    except (AttributeError, ValueError):
        return  # a subclassed model that was never built: trust it and let prediction tell
    if isinstance(in_shape, list) or isinstance(out_shape, list):
        raise ValueError(
            "Expected a segmentation model with one image input and one output. "
            f"Received: input_shape={in_shape}, output_shape={out_shape}"
        )
    if len(in_shape) == 4 and len(out_shape) == 4 and in_shape[-1] != 3:
        raise ValueError(_channels_message(in_shape[-1]))
    if len(in_shape) != 4 or in_shape[-1] != 3 or len(out_shape) != 4:
        raise ValueError(
            "Expected a segmentation model mapping (N, H, W, 3) images to (N, H, W, C) scores. "
            f"Received: input_shape={in_shape}, output_shape={out_shape}"
        )
    if fixed_input_size(model) is not None:
        raise ValueError(
            f"The model only accepts {in_shape[1]}x{in_shape[2]} inputs; segment needs a "
            "fully convolutional model built with input_shape=(None, None, 3)"
        )


def _channels_message(channels) -> str:
    return (
        f"the model takes {channels}-channel images, but the suite reads every image as RGB (3 channels): "
        "use a model built with input_shape=(None, None, 3) (suite train makes one)"
    )


def check_input_channels(model) -> None:
    """Raises ``ValueError`` (one line, with the fix) when the model's input is not 3-channel RGB."""
    shape = _shape(model, "input_shape")
    if shape is not None and len(shape) == 4 and shape[-1] is not None and shape[-1] != 3:
        raise ValueError(_channels_message(shape[-1]))


def load_segmentation(source):
    """Loads a ``.keras`` segmentation model safely, or a preset by name: ``(model, metadata)``.

    A preset name (``"person"``; see :mod:`suite.unet.presets`) builds that
    pretrained model, unless a file of that name exists.

    The model is loaded with ``safe_mode=True`` (no arbitrary Python code) and
    without its training configuration: prediction needs neither the loss nor
    the optimizer, so models trained with custom losses load anywhere.

    Args:
        source: A ``.keras`` file or a preset name.

    Returns:
        ``(model, ModelMetadata)``.

    Raises:
        ValueError: a one-line reason: missing, truncated or non-model file
            (:class:`suite.common.nn.saving.ModelLoadError`), a ``Lambda`` layer
            (refused in safe mode), an unknown preset, or not a segmentation
            model (a classifier, a fixed input size).

    Example:
        >>> model, meta = load_segmentation("person")  # doctest: +SKIP
        >>> meta.class_names, meta.whole_image  # doctest: +SKIP
        (('background', 'person'), True)
    """
    from suite.common.nn.saving import load_model
    from suite.unet.presets import is_preset

    model = _load_preset_float32(source) if is_preset(source) else load_model(source, compile=False)
    from suite.unet.model import settle_legacy_preprocessing

    settle_legacy_preprocessing(model)  # a MobileNetV2 U-Net saved before the config recorded it
    model = _runnable_precision(model)
    try:
        check_segmentation_model(model)
    except ValueError as e:
        if is_preset(source):
            raise
        raise ValueError(f"{source}: {e}") from None  # the message names the file
    return model, model_metadata(model, source=source)


def _load_preset_float32(name):
    """Builds a preset in float32 whatever the global policy: the ``person`` network (depthwise
    convolutions on a 256 x 256 input) ran at 0.82x its float32 speed in bfloat16 on 2 AVX512-BF16 cores."""
    import keras

    from suite.unet.presets import load_preset

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        return load_preset(name)
    finally:
        keras.config.set_dtype_policy(previous)


def _runnable_precision(model):
    """The model under the precision it should run in here.

    - A U-Net trained (and saved) in ``mixed_bfloat16`` runs in bfloat16 where
      the CPU has the instructions, and as a float32 copy where it has not:
      emulated bfloat16 would be several times slower.
    - A float32 U-Net runs as a mixed-precision copy (same weights, float32
      logits; softmax and argmax stay float32, :func:`suite.unet.predict.with_head`)
      when the global policy is mixed, which ``--mixed-precision`` sets
      (:func:`suite.common.device.setup_device`; ``segment``'s and
      ``evaluate``'s default on a CPU with bfloat16 instructions). Measured on
      2 such cores: 1.8x the images per second of float32 for the VGG16 U-Net,
      the argmax agreeing with float32 on 99.6% of pixels (docs/segment.md).
      A file that records no policy (saved before the config held one, as
      ``assets/demo_unet.keras``) is built under the global policy already.
    """
    policy = getattr(model, "dtype_policy", None)
    if policy is None:
        return model
    import keras

    from suite.common.log import detail, note
    from suite.unet.model import with_dtype_policy

    wanted = keras.config.dtype_policy().name
    if policy.name == "float32" and wanted in ("mixed_bfloat16", "mixed_float16"):
        other = with_dtype_policy(model, wanted)
        if other is not model:
            # Said with -v only: the policy was chosen (and told) when the device was set up.
            detail(f"the float32 model runs in {wanted} (--no-mixed-precision for float32)")
        return other
    if policy.name != "mixed_bfloat16":
        return model
    from suite.common import device

    if device.gpu_names() or device.cpu_has_bf16():
        return model
    note("the model was trained in mixed_bfloat16; this CPU has no bfloat16 instructions, so it runs in float32")
    return with_dtype_policy(model, "float32")


def load_segmentation_model(source):
    """The model alone from :func:`load_segmentation` (same checks, same one-line errors)."""
    return load_segmentation(source)[0]


def resolve_segmentation(model):
    """``(model, metadata)`` from a model, a ``.keras`` path or a preset name.

    Paths and names go through :func:`load_segmentation`; a model object is
    taken as it is, once its input is checked to be RGB.
    """
    if isinstance(model, (str, os.PathLike)):
        return load_segmentation(model)
    check_input_channels(model)  # the suite feeds RGB: a 1- or 4-channel model would fail deep inside Keras
    return model, model_metadata(model)


def model_label(model) -> str:
    """How a report names a model: its path or preset name, else its ``name``."""
    return str(model) if isinstance(model, (str, os.PathLike)) else getattr(model, "name", "model")
