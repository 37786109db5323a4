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
        float32 array shaped like x)``, for scipy's L-BFGS-B. Its attribute
        ``f.on_device`` is the same compiled function on backend tensors
        (tensors in, tensors out, nothing copied to the host), for Adam.
    """
    import keras
    from keras import ops

    backend = keras.backend.backend()
    if backend == "tensorflow":
        step = _tensorflow(loss_fn, jit_compile)
    elif backend == "jax":
        step = _jax(loss_fn)
    elif backend == "torch":
        step = _torch(loss_fn)
    else:
        raise NotImplementedError(
            f"Style transfer needs the tensorflow, jax or torch backend. Received: backend={backend!r}"
        )

    def f(x, *args):
        loss, aux, grad = step(ops.convert_to_tensor(np.asarray(x, dtype=np.float32)), *args)
        return float(ops.convert_to_numpy(loss)), _to_numpy_aux(aux), np.asarray(ops.convert_to_numpy(grad), np.float32)

    f.on_device = step
    return f


def _to_numpy_aux(aux):
    from keras import ops

    return {k: float(ops.convert_to_numpy(v)) for k, v in aux.items()}


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

    return step


def _jax(loss_fn):
    import jax

    vg = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

    def step(x, *args):
        (loss, aux), grad = vg(x, *args)
        return loss, aux, grad

    return step


def _torch(loss_fn):
    import torch

    def step(x, *args):
        xt = x.detach().requires_grad_(True)
        loss, aux = loss_fn(xt, *args)
        (grad,) = torch.autograd.grad(loss, xt)
        return loss.detach(), {k: v.detach() for k, v in aux.items()}, grad.detach()

    return step


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


def compile_loop(fn, jit_compile: bool | None = None):
    """Compiles a pure function of backend tensors (an optimizer's many-step loop) for the active backend.

    The loops in :mod:`suite.style.optimize` are written over ``keras.ops``
    (``fori_loop``/``while_loop``) and call the on-device value-and-gradient
    inside; this makes the whole loop one compiled call:

    * TensorFlow: ``tf.function`` (``tf.while_loop`` in the graph);
    * JAX: ``jax.jit`` (``lax.while_loop``; loop counts are traced, so one
      compilation serves every chunk length);
    * PyTorch: eager (Keras' loops are Python loops there).

    Args:
        fn: ``fn(*tensors_and_pytrees) -> pytree of tensors``.
        jit_compile: TensorFlow only, as :func:`compiled_value_and_grad`.

    Returns:
        The compiled function.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if jit_compile is None:
            jit_compile = bool(tf.config.list_physical_devices("GPU"))
        return tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn
