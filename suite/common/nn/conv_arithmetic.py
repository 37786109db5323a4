"""Convolution arithmetic: output sizes, parameter counts, receptive fields.

These are the formulas of the classic CNN material, kept as pure functions so
that they can be checked on worked examples and reused (for instance by
``suite backbones`` to print each pyramid level's receptive field).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def conv_output_size(n: int, f: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> int:
    """Spatial output size of a convolution or pooling window.

    ``floor((n + 2p - f_eff) / s) + 1`` with ``f_eff = d * (f - 1) + 1``.

    Args:
        n: Input size along one axis.
        f: Window (filter) size.
        padding: Zero padding added on each side.
        stride: Step between windows.
        dilation: Spacing between window taps.

    Returns:
        The output size.

    Example:
        >>> conv_output_size(6, 3)
        4
        >>> conv_output_size(7, 3, padding=0, stride=2)
        3
    """
    if n < 1 or f < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise ValueError(
            f"Sizes must be positive. Received: n={n}, f={f}, padding={padding}, stride={stride}, dilation={dilation}"
        )
    f_eff = dilation * (f - 1) + 1
    if n + 2 * padding < f_eff:
        raise ValueError(f"The window is larger than the padded input. Received: n={n}, f={f}, padding={padding}")
    return math.floor((n + 2 * padding - f_eff) / stride) + 1


def conv_params(f: int | Sequence[int], in_channels: int, filters: int, use_bias: bool = True) -> int:
    """Number of trainable parameters of a standard 2D convolution.

    ``(f_h * f_w * C_in + bias) * filters``.

    Example:
        10 filters of 5x5 over a 3-channel input: ``(5*5*3 + 1) * 10 = 760``.

        >>> conv_params(5, 3, 10)
        760
    """
    fh, fw = (f, f) if isinstance(f, int) else tuple(f)
    return (fh * fw * in_channels + (1 if use_bias else 0)) * filters


def depthwise_separable_params(f: int, in_channels: int, filters: int, use_bias: bool = False) -> int:
    """Parameters of a depthwise-separable convolution (MobileNet): depthwise ``f x f`` then pointwise ``1 x 1``."""
    depthwise = f * f * in_channels + (in_channels if use_bias else 0)
    pointwise = in_channels * filters + (filters if use_bias else 0)
    return depthwise + pointwise


def receptive_field(layers: Iterable[tuple[int, int] | tuple[int, int, int]]) -> int:
    """Receptive field, in input pixels, of a chain of windowed layers.

    Each layer is ``(f, s)`` or ``(f, s, dilation)``. The recurrence is
    ``r += (f_eff - 1) * j; j *= s`` with ``r = j = 1`` at the input.

    Example:
        Two stacked 3x3 convolutions see as much as one 5x5:

        >>> receptive_field([(3, 1), (3, 1)]) == receptive_field([(5, 1)])
        True
    """
    r, j = 1, 1
    for layer in layers:
        f, s = layer[0], layer[1]
        d = layer[2] if len(layer) > 2 else 1
        r += (d * (f - 1)) * j
        j *= s
    return r


def _window(layer):
    """(f_h, stride_h, dilation_h) of a Keras windowed layer, or None for pointwise layers."""
    import keras

    conv_types = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    pool_types = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    if isinstance(layer, conv_types):
        return layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
    if isinstance(layer, pool_types):
        return layer.pool_size[0], layer.strides[0], 1
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return None
    return None


def model_receptive_fields(model) -> dict[str, tuple[int, int]]:
    """Receptive field and cumulative stride (jump) of every layer of a functional model.

    Walks the graph in topological order. Where branches merge (residual adds,
    concatenations) the larger receptive field wins, since the output depends on
    every input pixel that any branch sees.

    Returns:
        ``{layer_name: (receptive_field, stride)}``.
    """
    fields: dict[str, tuple[int, int]] = {}
    for layer in model.layers:
        parents = []
        for node in layer._inbound_nodes:
            for parent in node.parent_nodes:
                if parent.operation.name in fields:
                    parents.append(fields[parent.operation.name])
        r, j = (max(p[0] for p in parents), max(p[1] for p in parents)) if parents else (1, 1)
        window = _window(layer)
        if window is not None:
            f, s, d = window
            r += d * (f - 1) * j
            j *= s
        fields[layer.name] = (r, j)
    return fields
