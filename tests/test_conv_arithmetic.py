"""Worked examples of the classic CNN material, reproduced by the helpers and by real Keras layers."""

import numpy as np
import pytest

from suite.common.nn.conv_arithmetic import (
    conv_output_size,
    conv_params,
    depthwise_separable_params,
    model_receptive_fields,
    receptive_field,
)


def test_output_size_formula():
    assert conv_output_size(6, 3) == 4
    assert conv_output_size(5, 3, stride=1) == 3
    assert conv_output_size(4, 2, stride=2) == 2
    assert conv_output_size(7, 3, padding=1, stride=2) == 4
    assert conv_output_size(32, 5) == 28
    assert conv_output_size(224, 3, padding=1) == 224  # "same" 3x3, as in VGG
    with pytest.raises(ValueError, match="Received"):
        conv_output_size(2, 5)


def test_parameter_count_worked_example():
    # 32x32x3 input, 10 filters of 5x5: (5*5*3 + 1) * 10 = 760, independent of the input size.
    assert conv_params(5, 3, 10) == 760
    import keras

    layer = keras.layers.Conv2D(10, 5)
    layer.build((None, 32, 32, 3))
    assert layer.count_params() == 760


def test_depthwise_separable_is_cheaper():
    import keras

    layer = keras.layers.SeparableConv2D(64, 3, use_bias=False)
    layer.build((None, 16, 16, 32))
    assert layer.count_params() == depthwise_separable_params(3, 32, 64) == 3 * 3 * 32 + 32 * 64
    assert depthwise_separable_params(3, 32, 64) < conv_params(3, 32, 64, use_bias=False)


def test_vertical_edge_filter_through_conv2d():
    import keras

    image = np.array(
        [
            [3, 0, 1, 2, 7, 4],
            [1, 5, 8, 9, 3, 1],
            [2, 7, 2, 5, 1, 3],
            [0, 1, 3, 1, 7, 8],
            [4, 2, 1, 6, 2, 8],
            [2, 4, 5, 2, 3, 9],
        ],
        dtype="float32",
    )
    vertical = np.array([[1, 0, -1]] * 3, dtype="float32")
    conv = keras.layers.Conv2D(1, 3, use_bias=False)
    conv.build((None, 6, 6, 1))
    conv.set_weights([vertical[:, :, None, None]])
    out = np.asarray(conv(image[None, :, :, None]))[0, :, :, 0]
    expected = [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]]
    np.testing.assert_allclose(out, expected)
    assert out.shape == (conv_output_size(6, 3),) * 2


def test_max_pooling_worked_example():
    import keras

    x = np.array([[1, 3, 2, 1, 3], [2, 9, 1, 1, 5], [3, 2, 3, 2, 3], [8, 3, 5, 1, 0], [5, 6, 1, 2, 9]], dtype="float32")
    out = np.asarray(keras.layers.MaxPooling2D(pool_size=3, strides=1)(x[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[9, 9, 5], [9, 9, 5], [8, 6, 9]])


def test_average_pooling_worked_example():
    import keras

    x = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 4, 2, 3], [5, 6, 1, 2]], dtype="float32")
    out = np.asarray(keras.layers.AveragePooling2D(pool_size=2, strides=2)(x[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_allclose(out, [[3.75, 1.25], [4, 2]])


def test_two_3x3_see_as_much_as_one_5x5():
    assert receptive_field([(3, 1), (3, 1)]) == receptive_field([(5, 1)]) == 5
    assert receptive_field([(3, 1)] * 3) == 7  # three 3x3 = one 7x7, with fewer weights
    assert 3 * conv_params(3, 64, 64, use_bias=False) < conv_params(7, 64, 64, use_bias=False)


def test_receptive_field_from_a_keras_graph():
    import keras

    inp = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(1, 3, padding="same", name="c1")(inp)
    x = keras.layers.Conv2D(1, 3, padding="same", name="c2")(x)
    x = keras.layers.MaxPooling2D(2, name="p")(x)
    x = keras.layers.Conv2D(1, 3, padding="same", name="c3")(x)
    fields = model_receptive_fields(keras.Model(inp, x))
    assert fields["c2"] == (5, 1)
    assert fields["p"] == (6, 2)
    assert fields["c3"] == (10, 2)
