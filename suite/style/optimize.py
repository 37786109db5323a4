"""Optimizers for the pixels of one image: L-BFGS (through scipy) and Adam (Keras'), both backend-neutral.

Both drive ``value_and_grad(x) -> (loss, aux, grad)`` over an image ``x`` in
``[0, 255]`` (see :mod:`suite.style.grad`) and count cost in loss-and-gradient
evaluations: one evaluation is one forward and backward pass, whichever
optimizer asks for it. L-BFGS-B lives in scipy, so it works on NumPy arrays
on the host; Adam is ``keras.optimizers.Adam`` on a ``keras.Variable``, so the
image, its gradient and the moments stay on the device between steps.

L-BFGS parametrizations (``parametrization=``):

* ``"scaled"``: unbounded variables ``z = x / s`` with
  ``s = step_size * sqrt(n_pixels)``. scipy's L-BFGS-B takes its first step
  with unit length in ``z``; this makes that first step move every pixel by
  about ``step_size`` grey levels (RMS) instead of ``1 / sqrt(n)``, so the
  first iterations are not wasted in line-search extrapolation. After the first
  pair of gradients L-BFGS sets its own scale. Pixels may leave ``[0, 255]``
  during the run (as in jcjohnson/neural-style) and are clipped at the end.
* ``"sigmoid"``: ``x = 255 * sigmoid(z)``, unbounded and always in range.
* ``"bounded"`` (default): the scaled variables with L-BFGS-B box constraints
  that keep ``x`` in ``[0, 255]``. Measured at 256 px (benchmarks/bench_style.py):
  after 200 evaluations the unbounded run's loss was lower, but clipping its
  out-of-range pixels at the end raised it from 22.6k to 36.9k; bounded ended
  at 24.6k, sigmoid at 25.7k.
"""

from __future__ import annotations

import math

import numpy as np

#: ``--optimizer`` choices: :func:`lbfgs` and :func:`adam`.
OPTIMIZERS = ("lbfgs", "adam")
LBFGS_PARAMETRIZATIONS = ("scaled", "sigmoid", "bounded")


class StyleTransferError(RuntimeError):
    """An image could not be stylized (the loss became NaN/Inf, ...); the message says why."""


class _Budget(Exception):
    """Internal: the evaluation budget is spent (stops scipy mid line-search)."""


def _check_finite(loss, where):
    if not math.isfinite(loss):
        raise StyleTransferError(
            f"the loss became {loss} {where}; lower --lr or the style/content weights, or use --optimizer lbfgs"
        )


def _lbfgs_variables(parametrization: str, step_size: float, n: int):
    """``(to_x, to_z, dx_dz, bounds)``: the map between pixels and L-BFGS variables (module docstring)."""
    # Every parametrization is scaled so that scipy's unit-length first step moves
    # the pixels by about ``step_size`` grey levels RMS (see the module docstring).
    s = step_size * math.sqrt(n)
    if parametrization == "sigmoid":
        eps = 0.5
        s = s / 63.75  # the sigmoid's slope at mid-grey is 255 / 4

        def to_z(x):
            x = np.clip(x, eps, 255 - eps)
            return np.log(x / (255.0 - x)) / s

        return (lambda z: 255.0 / (1.0 + np.exp(-z * s)), to_z,
                lambda z, x: s * x * (1.0 - x / 255.0), None)
    bounds = [(0.0, 255.0 / s)] * n if parametrization == "bounded" else None
    return lambda z: z * s, lambda x: x / s, lambda z, x: s, bounds


def lbfgs(
    value_and_grad,
    x0: np.ndarray,
    evaluations: int,
    callback=None,
    parametrization: str = "bounded",
    step_size: float = 2.0,
    corrections: int = 20,
    where: str = "",
):
    """Minimizes over the image with scipy's L-BFGS-B.

    Args:
        value_and_grad: ``f(x) -> (loss, aux, grad)`` for ``x`` in pixel units.
        x0: Initial image ``(1, H, W, 3)`` in ``[0, 255]``.
        evaluations: Budget of loss-and-gradient evaluations.
        callback: ``callback(evaluation, loss, aux, x)`` after each evaluation.
        parametrization: ``"scaled"``, ``"sigmoid"`` or ``"bounded"`` (module docstring).
        step_size: RMS grey-level change of the first step (``"scaled"``).
        corrections: L-BFGS memory (``maxcor``).
        where: Context for error messages.

    Returns:
        ``(x, loss, aux)``: the best image seen (clipped to ``[0, 255]``) and its loss terms.
    """
    from scipy.optimize import minimize

    if parametrization not in LBFGS_PARAMETRIZATIONS:
        raise ValueError(f"Expected parametrization in {LBFGS_PARAMETRIZATIONS}. Received: parametrization={parametrization!r}")
    shape = x0.shape
    to_x, to_z, dx_dz, bounds = _lbfgs_variables(parametrization, step_size, x0.size)
    best = {"loss": math.inf, "x": np.clip(x0, 0, 255), "aux": {}}
    count = [0]

    def fun(z):
        if count[0] >= evaluations:
            raise _Budget
        zz = z.reshape(shape)
        x = to_x(zz).astype(np.float32)
        loss, aux, grad = value_and_grad(x)
        count[0] += 1
        _check_finite(loss, f"{where} at evaluation {count[0]}")
        if loss < best["loss"]:
            best.update(loss=loss, x=x, aux=aux)
        if callback is not None:
            callback(count[0], loss, aux, x)
        g = (grad * dx_dz(zz, x)).astype(np.float64).ravel()
        return float(loss), g

    # scipy stops early when a line search fails (float32 gradients on some backends and
    # devices are enough to trigger it); the budget is then spent restarting from the best image.
    start = x0
    while count[0] < evaluations:
        try:
            minimize(
                fun,
                to_z(start.astype(np.float64)).ravel(),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 10 * evaluations + 10, "maxfun": evaluations + 5, "maxcor": corrections,
                         "ftol": 0.0, "gtol": 0.0},
            )
        except _Budget:
            break
        start = best["x"]
    return np.clip(best["x"], 0, 255), best["loss"], best["aux"]


def adam(
    value_and_grad,
    x0: np.ndarray,
    evaluations: int,
    callback=None,
    learning_rate: float = 0.02,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-3,
    decay_to: float = 1.0,
    where: str = "",
):
    """``keras.optimizers.Adam`` on the image in ``[0, 1]`` units, clipped to range after every step (as the TF tutorial).

    The image is a ``keras.Variable``: gradients, moments and pixels stay on
    the device, and only the loss (a scalar) comes back each step, plus the
    image when there is a ``callback``. Hyper-parameters are in the tutorial's
    units: the image is ``x / 255`` and gradients are taken with respect to
    it, so ``learning_rate=0.02, beta_1=0.99, epsilon=0.1`` reproduces the
    tutorial exactly.

    Args:
        value_and_grad: ``f(x) -> (loss, aux, grad)`` on backend tensors, ``x``
            in pixel units (``.on_device`` of :func:`suite.style.grad.compiled_value_and_grad`).
        x0: Initial image ``(1, H, W, 3)`` in ``[0, 255]``.
        evaluations: Number of steps (one evaluation each).
        callback: ``callback(step, loss, aux, x)`` after each step (``x`` a NumPy array).
        learning_rate, beta_1, beta_2, epsilon: Adam's.
        decay_to: Cosine-decay the learning rate to this fraction of itself by the last step.
        where: Context for error messages.

    Returns:
        ``(x, loss, aux)``: the final image (NumPy) and the loss terms at its last evaluation.
    """
    import keras
    from keras import ops

    u = keras.Variable(np.clip(x0, 0, 255).astype(np.float32) / 255.0, name="style_pixels")
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, evaluations - 1), alpha=decay_to)
    opt = keras.optimizers.Adam(schedule, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    opt.build([u])
    loss, aux = math.inf, {}
    for t in range(1, evaluations + 1):
        loss_t, aux_t, grad = value_and_grad(ops.multiply(u.value, 255.0))
        loss = float(ops.convert_to_numpy(loss_t))
        _check_finite(loss, f"{where} at step {t}")
        opt.apply([ops.multiply(grad, 255.0)], [u])  # d loss / d u
        u.assign(ops.clip(u.value, 0.0, 1.0))
        if callback is not None or t == evaluations:
            aux = {k: float(ops.convert_to_numpy(v)) for k, v in aux_t.items()}
        if callback is not None:
            callback(t, loss, aux, ops.convert_to_numpy(u.value) * 255.0)
    return ops.convert_to_numpy(u.value) * 255.0, loss, aux
