"""The one backend-specific piece of style transfer: a compiled loss-and-pixel-gradient function.

Everything else (losses, optimizers, schedules) is backend-neutral: the
optimizers in :mod:`suite.style.optimize` drive a function
``f(x: np.ndarray, *args) -> (loss: float, aux: dict[str, float], grad: np.ndarray)``
that this module builds for the active Keras backend:

* TensorFlow: ``tf.function`` around a ``GradientTape``;
* JAX: ``jax.jit(jax.value_and_grad(..., has_aux=True))``;
* PyTorch: ``torch.autograd`` (eager).

Targets are passed as arguments rather than closed over, so one compiled
function serves every content image of the same size without retracing.
"""

from __future__ import annotations

import numpy as np


def compiled_value_and_grad(loss_fn, jit_compile: bool | None = None):
    """Compiles ``loss_fn(x, *args) -> (loss, aux_dict)`` into a numpy-in, numpy-out value-and-gradient.

    Args:
        loss_fn: A function of backend tensors: ``x`` of shape ``(1, H, W, 3)``
            and any pytree of further arguments (targets, masks).
        jit_compile: TensorFlow only: XLA-compile the step. ``None`` leaves it
            off on CPU (measured no faster there) and on on GPU.

    Returns:
        ``f(x, *args)`` returning ``(loss: float, aux: {name: float}, grad:
        float32 array shaped like x)``.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(loss_fn, jit_compile)
    if backend == "jax":
        return _jax(loss_fn)
    if backend == "torch":
        return _torch(loss_fn)
    raise NotImplementedError(f"Style transfer needs the tensorflow, jax or torch backend. Received: backend={backend!r}")


def _to_numpy_aux(aux):
    return {k: float(np.asarray(v)) for k, v in aux.items()}


def _tensorflow(loss_fn, jit_compile):
    import tensorflow as tf

    if jit_compile is None:
        jit_compile = bool(tf.config.list_physical_devices("GPU"))

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def step(x, *args):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss, aux = loss_fn(x, *args)
        return loss, aux, tape.gradient(loss, x)

    def f(x, *args):
        x = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
        loss, aux, grad = step(x, *args)
        return float(loss), _to_numpy_aux(aux), grad.numpy()

    return f


def _jax(loss_fn):
    import jax

    vg = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

    def f(x, *args):
        (loss, aux), grad = vg(jax.numpy.asarray(np.asarray(x, dtype=np.float32)), *args)
        return float(loss), _to_numpy_aux(aux), np.asarray(grad, dtype=np.float32)

    return f


def _torch(loss_fn):
    import torch

    def f(x, *args):
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        try:
            import keras

            device = keras.backend.get_device() if hasattr(keras.backend, "get_device") else None
        except Exception:
            device = None
        if device:
            xt = xt.to(device)
        xt.requires_grad_(True)
        loss, aux = loss_fn(xt, *args)
        (grad,) = torch.autograd.grad(loss, xt)
        return float(loss.detach().cpu()), {k: float(v.detach().cpu()) for k, v in aux.items()}, grad.detach().cpu().numpy()

    return f


def to_backend(tree):
    """Converts a pytree of numpy arrays (dicts, lists) to backend tensors, once."""
    from keras import ops

    if isinstance(tree, dict):
        return {k: to_backend(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_backend(v) for v in tree)
    if tree is None:
        return None
    return ops.convert_to_tensor(np.asarray(tree, dtype=np.float32))
