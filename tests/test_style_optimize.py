"""The pixel optimizers on tiny problems with known minima: on-device L-BFGS and Adam, and scipy's L-BFGS-B."""

import numpy as np
import pytest

from suite.style.grad import compile_loop, compiled_value_and_grad
from suite.style.optimize import adam, adam_loop, adam_state, lbfgs, lbfgs_loop, lbfgsb_scipy

SHAPE = (1, 4, 5, 3)


def _quadratic(center, weights):
    """``f(x) = sum(w (x - c)^2)``: minimum at ``clip(c, 0, 255)`` on the box."""
    from keras import ops

    c = np.asarray(center, np.float32)
    w = np.asarray(weights, np.float32)

    def loss_fn(x):
        loss = ops.sum(w * ops.square(x - c))
        return loss, {"quad": loss}

    return compiled_value_and_grad(loss_fn)


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    center = rng.uniform(-40, 300, SHAPE).astype(np.float32)  # some targets outside [0, 255]: active bounds
    weights = rng.uniform(0.1, 10.0, SHAPE).astype(np.float32)  # condition number 100
    x0 = rng.uniform(0, 255, SHAPE).astype(np.float32)
    return center, weights, x0


def test_lbfgs_reaches_a_box_constrained_quadratic_minimum_in_few_steps():
    center, weights, x0 = _problem()
    vg = _quadratic(center, weights)
    x, loss, aux, info = lbfgs(vg.on_device, x0, 40, step_size=10.0, corrections=10)
    expected = np.clip(center, 0, 255)
    best = float(np.sum(weights * (expected - center) ** 2))
    assert np.all((x >= 0) & (x <= 255))  # every iterate is feasible: projection inside the line search
    np.testing.assert_allclose(x, expected, atol=0.05)
    assert loss == pytest.approx(best, rel=1e-4) and aux["quad"] == pytest.approx(loss)
    assert info["evaluations"] <= 40 and info["resets"] == 0


def test_lbfgs_is_exact_on_an_interior_quadratic():
    rng = np.random.default_rng(1)
    center = rng.uniform(50, 200, SHAPE).astype(np.float32)
    weights = rng.uniform(0.1, 10.0, SHAPE).astype(np.float32)
    x0 = rng.uniform(0, 255, SHAPE).astype(np.float32)
    x, loss, _, info = lbfgs(_quadratic(center, weights).on_device, x0, 40, step_size=10.0, corrections=20)
    np.testing.assert_allclose(x, center, atol=1e-2)
    # A quasi-Newton method on a 60-variable quadratic: far fewer evaluations than variables.
    assert info["iterations"] <= 40 and loss < 1e-4


def test_lbfgs_minimizes_rosenbrock():
    from keras import ops

    def loss_fn(x):
        a, b = x[..., 0] / 100.0, x[..., 1] / 100.0  # minimum at (100, 100) pixels, inside the box
        loss = ops.sum(100.0 * ops.square(b - a * a) + ops.square(1.0 - a))
        return loss, {}

    vg = compiled_value_and_grad(loss_fn)
    x0 = np.array([[[[20.0, 180.0]]]], np.float32)
    x, loss, _, info = lbfgs(vg.on_device, x0, 200, step_size=5.0, corrections=5)
    assert loss < 1e-6
    np.testing.assert_allclose(x.ravel(), [100.0, 100.0], atol=0.1)


def test_lbfgs_device_loop_gives_the_same_iterates_in_chunks_as_in_one_call():
    center, weights, x0 = _problem(2)
    vg = _quadratic(center, weights)
    seen = []
    x1, l1, _, i1 = lbfgs(vg.on_device, x0, 25, step_size=10.0, corrections=5)
    x2, l2, _, i2 = lbfgs(
        vg.on_device,
        x0,
        25,
        step_size=10.0,
        corrections=5,
        callback_every=3,
        callback=lambda e, loss, aux, x: seen.append((e, loss)),
    )
    np.testing.assert_array_equal(x1, x2)
    assert l1 == l2 and i1 == i2
    assert len(seen) >= 5 and [e for e, _ in seen] == sorted(e for e, _ in seen)
    assert all(b <= a for (_, a), (_, b) in zip(seen, seen[1:]))  # Armijo steps only go down


def test_adam_device_loop_matches_keras_adam_step_by_step():
    """The compiled many-step loop gives Keras' Adam's iterates (clamped to [0, 1]) one step at a time."""
    import keras
    from keras import ops

    center, weights, x0 = _problem(3)
    vg = _quadratic(center, weights)
    steps, lr = 12, 0.01
    u = keras.Variable(x0 / 255.0)
    opt = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(lr, steps - 1, alpha=0.1), beta_1=0.9, beta_2=0.99, epsilon=1e-3
    )
    opt.build([u])
    for _ in range(steps):
        _, _, g = vg.on_device(ops.multiply(u.value, 255.0))
        opt.apply([ops.multiply(g, 255.0)], [u])
        u.assign(ops.clip(u.value, 0.0, 1.0))
    x, _, _, (m, v, t) = adam(
        vg.on_device, x0, steps, learning_rate=lr, beta_1=0.9, beta_2=0.99, epsilon=1e-3, decay_to=0.1
    )
    np.testing.assert_allclose(x, ops.convert_to_numpy(u.value) * 255.0, rtol=1e-5, atol=1e-3)
    assert t == steps
    # In chunks (a callback every 5 steps): the same iterates.
    x5, _, _, _ = adam(
        vg.on_device,
        x0,
        steps,
        callback=lambda *a: None,
        callback_every=5,
        learning_rate=lr,
        beta_1=0.9,
        beta_2=0.99,
        epsilon=1e-3,
        decay_to=0.1,
    )
    np.testing.assert_allclose(x5, x, rtol=1e-6, atol=1e-4)


def test_adam_reaches_the_box_constrained_minimum_and_warm_starts():
    center, weights, x0 = _problem(4)
    vg = _quadratic(center, weights)
    loop = compile_loop(adam_loop(vg.on_device))
    x, loss, _, state = adam(vg.on_device, x0, 300, learning_rate=0.05, decay_to=0.01, loop=loop)
    expected = np.clip(center, 0, 255)
    assert np.all((x >= 0) & (x <= 255))
    np.testing.assert_allclose(x, expected, atol=1.0)
    # Warm start: the moments and the step count carry over.
    x2, _, _, state2 = adam(vg.on_device, x, 5, learning_rate=0.001, state=state, loop=loop)
    assert state2[2] == state[2] + 5
    np.testing.assert_allclose(x2, expected, atol=1.0)


def test_adam_ema_averages_the_iterates():
    center, weights, x0 = _problem(5)
    vg = _quadratic(center, weights)
    x_plain, _, _, _ = adam(vg.on_device, x0, 50, learning_rate=0.05)
    x_avg, _, _, _ = adam(vg.on_device, x0, 50, learning_rate=0.05, ema=0.9)
    assert not np.allclose(x_plain, x_avg)
    # The average lags behind the iterates: it is between the start and the last iterate on average.
    assert np.abs(x_avg - x0).mean() < np.abs(x_plain - x0).mean()
    assert adam_state(x0)[0].shape == SHAPE


def test_scipy_lbfgsb_still_reaches_the_minimum():
    center, weights, x0 = _problem(6)
    vg = _quadratic(center, weights)
    x, loss, _ = lbfgsb_scipy(vg, x0, 60, step_size=10.0)
    np.testing.assert_allclose(x, np.clip(center, 0, 255), atol=0.05)


def test_lbfgs_loop_functions_compile_once_for_a_shape():
    center, weights, x0 = _problem(7)
    vg = _quadratic(center, weights)
    init, run = lbfgs_loop(vg.on_device, SHAPE, 4)
    loops = compile_loop(init), compile_loop(run)
    a = lbfgs(vg.on_device, x0, 10, loops=loops)[1]
    b = lbfgs(vg.on_device, x0 + 1.0, 10, loops=loops)[1]
    assert np.isfinite(a) and np.isfinite(b)
