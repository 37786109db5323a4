"""Small serializable layers shared by the tasks."""

import keras
from keras import ops

from suite.common.nn.api import suite_export

#: Channel means of the Caffe-trained VGG weights, in BGR order.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

PREPROCESSING_MODES = ("caffe", "tf", "unit", "none")


def preprocess_input(x, mode: str):
    """Maps RGB pixels in ``[0, 255]`` to what a backbone was trained on.

    Args:
        x: Tensor or array ``(..., 3)`` with RGB values in ``[0, 255]``.
        mode: ``"caffe"`` (VGG: RGB to BGR, subtract the ImageNet mean),
            ``"tf"`` (MobileNetV2 with ImageNet weights: scale to ``[-1, 1]``),
            ``"unit"`` (scale to ``[0, 1]``: Magenta's MobileNetV2, the
            embedded one) or ``"none"``.

    Returns:
        A tensor of the same shape.
    """
    if mode == "caffe":
        x = ops.flip(x, axis=-1)
        return x - ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=x.dtype)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "unit":
        return x / 255.0
    if mode == "none":
        return x
    raise ValueError(f"Unknown preprocessing mode. Expected one of {PREPROCESSING_MODES}. Received: mode={mode!r}")


@suite_export
class ImagePreprocessing(keras.layers.Layer):
    """Backbone preprocessing as a layer, so that saved models take raw RGB pixels.

    Args:
        mode: ``"caffe"``, ``"tf"``, ``"unit"`` or ``"none"``; see :func:`preprocess_input`.
        **kwargs: Standard layer arguments.
    """

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(f"Expected mode in {PREPROCESSING_MODES}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, inputs):
        return preprocess_input(ops.cast(inputs, self.compute_dtype), self.mode)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
