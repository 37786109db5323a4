"""Optimizers for the pixels of one image: Adam and L-BFGS on the device, and scipy's L-BFGS-B on the host.

All of them drive ``value_and_grad(x) -> (loss, aux, grad)`` over an image
``x`` in ``[0, 255]`` (see :mod:`suite.style.grad`) and count cost in
loss-and-gradient evaluations: one evaluation is one forward and backward
pass, whichever optimizer asks for it.

* :func:`adam` (``--optimizer adam``): Adam written over ``keras.ops``
  (:func:`adam_loop`), clamped to the box after each step, optionally with an
  exponential moving average of the iterates as the result and with its
  moments warm-started across scales; ``keras.ops.fori_loop`` runs many steps
  per compiled call.
* :func:`lbfgs` (``--optimizer lbfgs``): projected L-BFGS written over
  ``keras.ops`` (:func:`lbfgs_loop`): two-loop recursion on a float32 history
  on the device, a backtracking Armijo line search on the projected path
  ``clip(x + a d)``, many iterations per compiled call (``keras.ops.while_loop``).
* :func:`lbfgsb_scipy` (``--optimizer lbfgsb``): scipy's L-BFGS-B; every
  evaluation copies the image to the host and back, and its history is
  float64 on the host.

Nothing but the loss scalar (and the image, when a callback shows it) comes
back to the host during a run of the first two.

scipy L-BFGS parametrizations (``parametrization=``):

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

#: ``--optimizer`` choices: :func:`adam` and :func:`lbfgs` (on the device), :func:`lbfgsb_scipy` (host).
OPTIMIZERS = ("adam", "lbfgs", "lbfgsb")
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

        return (lambda z: 255.0 / (1.0 + np.exp(-z * s)), to_z, lambda z, x: s * x * (1.0 - x / 255.0), None)
    bounds = [(0.0, 255.0 / s)] * n if parametrization == "bounded" else None
    return lambda z: z * s, lambda x: x / s, lambda z, x: s, bounds


def lbfgsb_scipy(
    value_and_grad,
    x0: np.ndarray,
    evaluations: int,
    callback=None,
    parametrization: str = "bounded",
    step_size: float = 2.0,
    corrections: int = 20,
    where: str = "",
):
    """Minimizes over the image with scipy's L-BFGS-B on the host (``--optimizer lbfgsb``).

    Every evaluation copies the image to the device and the gradient back
    (float64 history on the host); :func:`lbfgs` is the on-device version.

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
        raise ValueError(
            f"Expected parametrization in {LBFGS_PARAMETRIZATIONS}. Received: parametrization={parametrization!r}"
        )
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
                options={
                    "maxiter": 10 * evaluations + 10,
                    "maxfun": evaluations + 5,
                    "maxcor": corrections,
                    "ftol": 0.0,
                    "gtol": 0.0,
                },
            )
        except _Budget:
            break
        start = best["x"]
    return np.clip(best["x"], 0, 255), best["loss"], best["aux"]


# ---------------------------------------------------------------- Adam, many steps per compiled call
def _f32(v):
    from keras import ops

    return ops.convert_to_tensor(np.float32(v), "float32")


def adam_loop(step):
    """The pure many-step Adam loop over ``keras.ops``: ``run(state, n, hp, *args) -> (state, loss, aux)``.

    ``state = (u, m, v, avg, avg_count, t)``: the image in ``[0, 1]`` units,
    Adam's moments, the running (bias-corrected) average of the iterates and
    its weight, and the step count (float32 scalar). ``hp`` is
    ``(lr, beta_1, beta_2, epsilon, decay_to, total_steps, ema)`` as float32
    scalars. Each step is Keras' Adam exactly (``lr * sqrt(1 - b2^t) / (1 - b1^t)
    * m / (sqrt(v) + eps)``, cosine-decayed over ``total_steps`` like
    ``keras.optimizers.schedules.CosineDecay(lr, total_steps - 1, alpha=decay_to)``),
    then the image is clamped to ``[0, 1]`` (a projection onto the box, as
    the TF tutorial and crowsonkb/style-transfer-pytorch do).

    ``loss, aux`` are the objective at the image the last step started from.
    ``n >= 1`` (the first step is peeled so that the loop can carry ``aux``).
    Compile ``run`` with :func:`suite.style.grad.compile_loop`.

    Args:
        step: ``step(x, *args) -> (loss, aux, grad)`` on backend tensors, ``x`` in ``[0, 255]``.
    """
    from keras import ops

    def one(state, hp, args):
        u, m, v, avg, count, t = state
        lr, b1, b2, eps, decay_to, total, ema = hp
        loss, aux, g = step(u * 255.0, *args)
        g = g * 255.0  # d loss / d u
        cos = 0.5 * (1.0 + ops.cos(math.pi * ops.minimum(t, total - 1.0) / ops.maximum(total - 1.0, 1.0)))
        lr_t = lr * (decay_to + (1.0 - decay_to) * cos)
        t = t + 1.0
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * ops.square(g)
        alpha = lr_t * ops.sqrt(1.0 - ops.power(b2, t)) / (1.0 - ops.power(b1, t))
        u = ops.clip(u - alpha * m / (ops.sqrt(v) + eps), 0.0, 1.0)
        avg = ema * avg + (1.0 - ema) * u
        count = ema * count + (1.0 - ema)
        return (u, m, v, avg, count, t), loss, aux

    def run(state, n, hp, *args):
        state, loss, aux = one(state, hp, args)

        def body(i, carry):
            state, _, _ = carry
            return one(state, hp, args)

        return ops.fori_loop(1, n, body, (state, loss, aux))

    return run


def adam_state(x0: np.ndarray, m=None, v=None, t: float = 0.0):
    """A fresh (or warm-started) :func:`adam_loop` state for an image ``(1, H, W, 3)`` in ``[0, 255]``."""
    from keras import ops

    u = np.clip(np.asarray(x0, np.float32), 0, 255) / 255.0
    zeros = np.zeros_like(u)
    m = zeros if m is None else np.asarray(m, np.float32)
    v = zeros if v is None else np.maximum(np.asarray(v, np.float32), 0.0)
    return tuple(ops.convert_to_tensor(a) for a in (u, m, v, zeros)) + (_f32(0.0), _f32(t))


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
    ema: float = 0.0,
    state=None,
    callback_every: int = 1,
    loop=None,
    args=(),
):
    """Adam on the image in ``[0, 1]`` units, clamped to range after every step, many steps per compiled call.

    Hyper-parameters are in the tutorial's units: ``learning_rate=0.02,
    beta_1=0.99, epsilon=0.1`` reproduces the TF tutorial exactly. The image,
    its gradient, the moments and the average stay on the device; the loop
    (:func:`adam_loop`) runs ``callback_every`` steps per compiled call with a
    callback, and all of them in one call without, so the loss comes back to
    the host only when it is shown.

    Args:
        value_and_grad: ``f(x, *args) -> (loss, aux, grad)`` on backend tensors,
            ``x`` in pixel units (``.on_device`` of :func:`suite.style.grad.compiled_value_and_grad`).
        x0: Initial image ``(1, H, W, 3)`` in ``[0, 255]``.
        evaluations: Number of steps (one evaluation each).
        callback: ``callback(step, loss, aux, x)`` every ``callback_every`` steps and after the last
            (``x`` a NumPy array: the returned image so far).
        learning_rate, beta_1, beta_2, epsilon: Adam's.
        decay_to: Cosine-decay the learning rate to this fraction of itself by the last step.
        where: Context for error messages.
        ema: Decay of an exponential moving average of the iterates (0 = off);
            with it, the (bias-corrected) average is the result.
        state: ``(m, v, t)`` to warm-start Adam's moments (NumPy, shaped like ``x0``).
        callback_every: Steps between callbacks.
        loop: A compiled :func:`adam_loop` (reused across calls to avoid retracing).
        args: Further arguments of ``value_and_grad`` (targets), passed into the compiled loop.

    Returns:
        ``(x, loss, aux, state)``: the image (NumPy), the loss terms at the last
        evaluation, and ``(m, v, t)`` to warm-start the next scale.
    """
    from keras import ops

    if loop is None:
        from suite.style.grad import compile_loop

        loop = compile_loop(adam_loop(value_and_grad))
    m, v, t = state if state is not None else (None, None, 0.0)
    st = adam_state(x0, m, v, t)
    hp = tuple(_f32(a) for a in (learning_rate, beta_1, beta_2, epsilon, decay_to, evaluations, ema))
    hp = hp[:5] + (_f32(evaluations + float(t)),) + hp[6:]

    def image(st):
        u = st[3] / st[4] if ema > 0 else st[0]
        return ops.convert_to_numpy(u) * 255.0

    done, loss, aux = 0, math.inf, {}
    chunk = max(1, int(callback_every)) if callback is not None else evaluations
    while done < evaluations:
        n = min(chunk, evaluations - done)
        st, loss_t, aux_t = loop(st, ops.convert_to_tensor(np.int32(n)), hp, *args)
        done += n
        loss = float(ops.convert_to_numpy(loss_t))
        _check_finite(loss, f"{where} at step {done}")
        if callback is not None or done == evaluations:
            aux = {k: float(ops.convert_to_numpy(a)) for k, a in aux_t.items()}
        if callback is not None:
            callback(done, loss, aux, image(st))
    x = image(st)
    return x, loss, aux, (ops.convert_to_numpy(st[1]), ops.convert_to_numpy(st[2]), float(ops.convert_to_numpy(st[5])))


# ---------------------------------------------------------------- L-BFGS on the device
def _dot(a, b):
    from keras import ops

    return ops.sum(a * b)


def _two_loop(g, S, Y, rho, gamma):
    """``H g`` by L-BFGS' two-loop recursion; history rows newest first, unused rows have ``rho = 0``."""
    m = S.shape[0]
    q = g
    alphas = []
    for i in range(m):  # newest to oldest (m is static: the loop unrolls)
        a = rho[i] * _dot(S[i], q)
        q = q - a * Y[i]
        alphas.append(a)
    r = gamma * q
    for i in reversed(range(m)):
        b = rho[i] * _dot(Y[i], r)
        r = r + S[i] * (alphas[i] - b)
    return r


def lbfgs_loop(
    step, shape, corrections: int, low: float = 0.0, high: float = 255.0, max_line_search: int = 10, c1: float = 1e-4
):
    """The pure L-BFGS loop over ``keras.ops``: ``init(x, *args)`` and ``run(state, budget, step_size, *args)``.

    Projected L-BFGS on the box ``[low, high]``:

    * pixels at a bound whose gradient pushes outward are *active*: their
      gradient and search direction are zeroed, and the two-loop recursion
      runs on the free pixels' gradient;
    * the line search moves along the projected path ``P(x + a d)``
      (``P`` = clamp to the box, inside the line search, so every iterate is
      feasible and no step is altered after it was accepted) and backtracks
      (safeguarded quadratic interpolation, within ``[0.1 a, 0.5 a]``) until the
      Armijo condition ``f(x_a) <= f(x) + c1 g . (x_a - x)`` holds; the unit step
      is accepted almost always (benchmarks/bench_gatys_quality.py counts it),
      so the Wolfe curvature condition is not enforced: instead, a pair is
      kept only if ``s . y > 1e-10 y . y`` (curvature positive);
    * the first direction (and after a reset) is the steepest descent scaled to
      move the pixels by ``step_size`` grey levels RMS; later ones use
      ``gamma = s.y / y.y`` of the newest pair;
    * a failed line search drops the history and starts again from the
      steepest descent.

    The history is ``corrections`` float32 rows of ``S`` and ``Y`` on the
    device (newest first). ``state = (x, f, g, aux, S, Y, rho, evals, iters, resets)``;
    ``run(state, until, budget, step_size, *args)`` iterates until
    ``evals >= until`` (counting every evaluation, line-search ones included;
    a line search may go past ``until`` but never past ``budget``) and returns
    the new state.

    Args:
        step: ``step(x, *args) -> (loss, aux, grad)`` on backend tensors.
        shape: The image's shape ``(1, H, W, 3)``.
        corrections: History length.
        low, high: The box.
        max_line_search: Evaluations per line search before it counts as failed.
        c1: Armijo's constant.
    """
    from keras import ops

    n = int(np.prod(shape))

    def flat_step(xf, args):
        loss, aux, g = step(ops.reshape(xf, shape), *args)
        return loss, aux, ops.reshape(g, (n,))

    def init(x, *args):
        xf = ops.reshape(ops.clip(x, low, high), (n,))
        f, aux, g = flat_step(xf, args)
        S = ops.zeros((corrections, n), "float32")
        return (
            xf,
            f,
            g,
            aux,
            S,
            S,
            ops.zeros((corrections,), "float32"),
            ops.convert_to_tensor(1, "int32"),
            ops.convert_to_tensor(0, "int32"),
            ops.convert_to_tensor(0, "int32"),
        )

    def iterate(state, budget, step_size, args):  # budget: the whole run's, for the line search
        x, f, g, aux, S, Y, rho, evals, iters, resets = state
        active = ops.logical_or(ops.logical_and(x <= low, g > 0), ops.logical_and(x >= high, g < 0))
        free = 1.0 - ops.cast(active, "float32")
        gf = g * free
        gnorm = ops.sqrt(_dot(gf, gf))
        sd_scale = step_size * math.sqrt(n) / ops.maximum(gnorm, 1e-30)
        have = rho[0] > 0
        yy = _dot(Y[0], Y[0])
        gamma = ops.where(have, 1.0 / ops.maximum(rho[0] * yy, 1e-30), sd_scale)
        d = -_two_loop(gf, S, Y, rho, gamma) * free
        dg = _dot(d, gf)
        descent = dg < 0
        d = ops.where(descent, d, -gf * sd_scale)
        rho = ops.where(descent, rho, ops.zeros_like(rho))

        def ls_cond(a, xn, fn, gn, auxn, k, ok):
            return ops.logical_and(ops.logical_not(ok), ops.logical_and(k < max_line_search, evals + k < budget))

        def ls_body(a, xn, fn, gn, auxn, k, ok):
            xn = ops.clip(x + a * d, low, high)
            fn, auxn, gn = flat_step(xn, args)
            decrease = _dot(g, xn - x)
            ok = fn <= f + c1 * decrease
            # The quadratic through f, the slope along the path and f(x_a), kept within [0.1 a, 0.5 a];
            # a NaN/Inf loss (overflow far away) halves the step.
            slope = decrease / a
            q = -slope * a * a / ops.maximum(2.0 * (fn - f - slope * a), 1e-30)
            q = ops.where(ops.isfinite(q), q, 0.5 * a)
            a_next = ops.where(ok, a, ops.clip(q, 0.1 * a, 0.5 * a))
            return a_next, xn, fn, gn, auxn, k + 1, ok

        a, xn, fn, gn, auxn, k, ok = ops.while_loop(
            ls_cond, ls_body, (_f32(1.0), x, f, g, aux, ops.convert_to_tensor(0, "int32"), ops.convert_to_tensor(False))
        )
        s = xn - x
        yv = gn - g
        sy = _dot(s, yv)
        keep = ops.logical_and(ok, sy > 1e-10 * _dot(yv, yv))
        S_new = ops.where(keep, ops.concatenate([s[None], S[:-1]], axis=0), S)
        Y_new = ops.where(keep, ops.concatenate([yv[None], Y[:-1]], axis=0), Y)
        rho_new = ops.where(keep, ops.concatenate([ops.reshape(1.0 / ops.where(keep, sy, 1.0), (1,)), rho[:-1]]), rho)
        rho_new = ops.where(ok, rho_new, ops.zeros_like(rho))  # a failed line search drops the history
        x, f, g = ops.where(ok, xn, x), ops.where(ok, fn, f), ops.where(ok, gn, g)
        aux = {key: ops.where(ok, auxn[key], aux[key]) for key in aux}
        return (
            x,
            f,
            g,
            aux,
            S_new,
            Y_new,
            rho_new,
            evals + k,
            iters + 1,
            resets + ops.cast(ops.logical_not(ok), "int32"),
        )

    def run(state, until, budget, step_size, *args):
        # Iterates until ``until`` evaluations (the next callback), never past ``budget`` (the run's).
        return ops.while_loop(lambda *st: st[7] < until, lambda *st: iterate(st, budget, step_size, args), state)

    return init, run


def lbfgs(
    value_and_grad,
    x0: np.ndarray,
    evaluations: int,
    callback=None,
    step_size: float = 2.0,
    corrections: int = 10,
    where: str = "",
    callback_every: int = 1,
    loops=None,
    args=(),
):
    """Projected L-BFGS on the device over ``[0, 255]`` (:func:`lbfgs_loop`), many iterations per compiled call.

    Args:
        value_and_grad: ``f(x, *args) -> (loss, aux, grad)`` on backend tensors (``.on_device``).
        x0: Initial image ``(1, H, W, 3)`` in ``[0, 255]``.
        evaluations: Budget of loss-and-gradient evaluations (line-search ones included).
        callback: ``callback(evaluation, loss, aux, x)`` after the iteration that reaches each multiple of
            ``callback_every`` evaluations (an iteration whose line search needed more than one evaluation
            may step over one), and after the last.
        step_size: RMS grey-level change of the first step.
        corrections: L-BFGS memory.
        where: Context for error messages.
        callback_every: Evaluations between callbacks.
        loops: ``(init, run)`` compiled :func:`lbfgs_loop` functions (reused across calls).
        args: Further arguments of ``value_and_grad``, passed into the compiled loop.

    Returns:
        ``(x, loss, aux, info)``: the final (best: every accepted step lowers the
        loss) image, its loss terms, and ``{"evaluations", "iterations", "resets"}``.
    """
    from keras import ops

    if loops is None:
        from suite.style.grad import compile_loop

        init, run = lbfgs_loop(value_and_grad, x0.shape, corrections)
        loops = compile_loop(init), compile_loop(run)
    init, run = loops
    st = init(ops.convert_to_tensor(np.asarray(x0, np.float32)), *args)
    chunk = max(1, int(callback_every)) if callback is not None else evaluations
    if callback is not None and chunk == 1:  # the first evaluation (at the start image), as the other optimizers
        callback(
            1,
            float(ops.convert_to_numpy(st[1])),
            {k: float(ops.convert_to_numpy(a)) for k, a in st[3].items()},
            np.asarray(x0, np.float32),
        )
    while int(ops.convert_to_numpy(st[7])) < evaluations:
        target = min(evaluations, (int(ops.convert_to_numpy(st[7])) // chunk + 1) * chunk)
        st = run(
            st,
            ops.convert_to_tensor(np.int32(target)),
            ops.convert_to_tensor(np.int32(evaluations)),
            _f32(step_size),
            *args,
        )
        loss = float(ops.convert_to_numpy(st[1]))
        _check_finite(loss, f"{where} at evaluation {int(ops.convert_to_numpy(st[7]))}")
        if callback is not None:
            aux = {k: float(ops.convert_to_numpy(a)) for k, a in st[3].items()}
            callback(int(ops.convert_to_numpy(st[7])), loss, aux, ops.convert_to_numpy(ops.reshape(st[0], x0.shape)))
    loss = float(ops.convert_to_numpy(st[1]))
    _check_finite(loss, where)
    aux = {k: float(ops.convert_to_numpy(a)) for k, a in st[3].items()}
    info = {k: int(ops.convert_to_numpy(st[i])) for k, i in (("evaluations", 7), ("iterations", 8), ("resets", 9))}
    return ops.convert_to_numpy(ops.reshape(st[0], x0.shape)), loss, aux, info
