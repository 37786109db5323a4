"""Converts MediaPipe's selfie segmentation .tflite files into the suite's weights.

The two .tflite files (Apache-2.0, Google MediaPipe) are in the ``mediapipe``
0.10.21 wheel (later wheels no longer ship them) and in the npm package
``@mediapipe/selfie_segmentation``. mediapipe needs numpy < 2, so get the files
from a separate environment, then convert them with the suite's own (which has
TensorFlow, whose ``flatbuffer_utils`` reads the graph and its weights):

    python3.11 -m venv /tmp/mp-venv && /tmp/mp-venv/bin/pip install "mediapipe==0.10.21" "numpy<2"
    D=/tmp/mp-venv/lib/python3.11/site-packages/mediapipe/modules/selfie_segmentation
    .venv/bin/python assets/convert_selfie.py $D/selfie_segmentation.tflite suite/assets/selfie_general.npz
    .venv/bin/python assets/convert_selfie.py $D/selfie_segmentation_landscape.tflite suite/assets/selfie_landscape.npz

Each output maps ``<layer>/kernel`` and ``<layer>/bias`` of
:func:`suite.unet.selfie.build_selfie_network` to float16 arrays in Keras
layout (the .tflite stores float16 too, so nothing is lost). The script also
checks the graph: every operator must be one the Keras rebuild has, and the
weights must load into it with matching shapes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

KNOWN_OPS = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "HARD_SWISH",
    "RELU",
    "LOGISTIC",
    "MUL",
    "ADD",
    "AVERAGE_POOL_2D",
    "MEAN",
    "RESIZE_BILINEAR",
    "DEQUANTIZE",
    "Convolution2DTransposeBias",
}


def _name(tensor) -> str:
    n = tensor.name
    return n.decode() if isinstance(n, bytes) else n


def read_tflite(path):
    """Reads the operators and the float weights of a ``.tflite`` file.

    Returns:
        ``(ops, weights, input_shape)``: ops as ``(op name, [input tensor names],
        output tensor name, options)``, weights as ``{tensor name: float32 array}``
        in the file's layout.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    dtypes = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16}
    weights = {}
    for t in graph.tensors:
        data = model.buffers[t.buffer].data
        if data is not None and len(data) and t.type in dtypes:
            weights[_name(t)] = np.frombuffer(bytes(data), dtype=dtypes[t.type]).reshape(t.shape).astype(np.float32)
    alias = {}  # DEQUANTIZE outputs -> their float16 constants
    ops = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        kind = (
            code.customCode.decode() if code.customCode else builtin[max(code.builtinCode, code.deprecatedBuiltinCode)]
        )
        if kind == "DEQUANTIZE":
            alias[op.outputs[0]] = op.inputs[0]
            continue
        ins = [_name(graph.tensors[alias.get(i, i)]) for i in op.inputs]
        opts = bytes(op.customOptions) if op.customOptions is not None else op.builtinOptions
        ops.append((kind, ins, _name(graph.tensors[op.outputs[0]]), opts))
    input_shape = tuple(int(v) for v in graph.tensors[graph.inputs[0]].shape[1:])
    return ops, weights, input_shape


def convert(ops, weights):
    """Maps the .tflite weights to ``{<keras layer>/kernel|bias: array}`` in Keras layout.

    - CONV_2D kernels are ``(out, kh, kw, in)``; Keras wants ``(kh, kw, in, out)``.
    - DEPTHWISE_CONV_2D kernels are ``(1, kh, kw, C)``; Keras wants ``(kh, kw, C, 1)``.
    - Convolution2DTransposeBias kernels are ``(out, kh, kw, in)``; Keras'
      Conv2DTranspose wants ``(kh, kw, out, in)``. Its custom options are
      TfLiteTransposeConvParams (padding, stride_w, stride_h); the rebuild
      assumes a 2x2 kernel with stride 2, which is checked here.
    """
    unknown = sorted({k for k, *_ in ops} - KNOWN_OPS)
    if unknown:
        raise ValueError(f"operators the Keras rebuild does not have: {unknown}")
    out = {}
    for kind, ins, _, opts in ops:
        if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "Convolution2DTransposeBias"):
            continue
        kernel_name, bias_name = ins[1], ins[2]
        layer = kernel_name.rsplit("/", 1)[0]
        kernel, bias = weights[kernel_name], weights[bias_name]
        if kind == "CONV_2D":
            kernel = kernel.transpose(1, 2, 3, 0)
        elif kind == "DEPTHWISE_CONV_2D":
            kernel = kernel.transpose(1, 2, 3, 0)
        else:
            padding, stride_w, stride_h = np.frombuffer(opts[:12], dtype="<i4")
            if kernel.shape[1:3] != (2, 2) or (stride_w, stride_h) != (2, 2):
                raise ValueError(
                    f"expected a 2x2 stride-2 transposed conv, got kernel {kernel.shape}, "
                    f"strides {(stride_w, stride_h)}"
                )
            kernel = kernel.transpose(1, 2, 0, 3)
            layer = "segment"  # the landscape file calls it conv2d_transpose
        out[f"{layer}/kernel"] = kernel.astype(np.float16)
        out[f"{layer}/bias"] = bias.astype(np.float16)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    src, dst = Path(argv[0]), Path(argv[1])
    ops, weights, input_shape = read_tflite(src)
    arrays = convert(ops, weights)
    variant = {(256, 256, 3): "general", (144, 256, 3): "landscape"}[input_shape]

    from suite.unet.selfie import build_selfie_network, load_selfie_weights

    np.savez_compressed(dst, **arrays)
    network = build_selfie_network(input_shape)
    load_selfie_weights(network, dst)  # raises if a layer or a shape does not match
    n = sum(int(np.prod(v.shape)) for v in arrays.values())
    print(
        f"{src.name}: {len(ops)} operators, input {input_shape} ({variant}); "
        f"{len(arrays) // 2} layers, {n:,} parameters -> {dst} ({dst.stat().st_size / 1e3:.0f} kB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
