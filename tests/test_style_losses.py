"""The style-transfer losses, checked by hand on tiny arrays."""

import numpy as np
import pytest

from suite.style import losses


def _np(x):
    return np.asarray(x, dtype=np.float64)


def test_gram_matrix_mean_normalization_by_hand(rng):
    f = rng.normal(size=(1, 2, 3, 4)).astype(np.float32)
    flat = f.reshape(6, 4).astype(np.float64)
    expected = flat.T @ flat / 6.0
    np.testing.assert_allclose(_np(losses.gram_matrix(f, "mean"))[0], expected, rtol=1e-5)
    np.testing.assert_allclose(_np(losses.gram_matrix(f, "none"))[0], flat.T @ flat, rtol=1e-5)
    # (H, W, C) input gives (C, C)
    assert losses.gram_matrix(f[0]).shape == (4, 4)


def test_gatys_layer_loss_is_coursera_formula(rng):
    """J = 1/(2 nH nW nC)^2 * sum((G_S - G_G)^2) with raw Grams, for equal sizes."""
    nh, nw, nc = 3, 2, 5
    a = rng.normal(size=(1, nh, nw, nc)).astype(np.float32)
    b = rng.normal(size=(1, nh, nw, nc)).astype(np.float32)
    fa, fb = a.reshape(-1, nc).astype(np.float64), b.reshape(-1, nc).astype(np.float64)
    gs, gg = fa.T @ fa, fb.T @ fb
    expected = np.sum((gs - gg) ** 2) / (2 * nh * nw * nc) ** 2
    got = losses.style_layer_loss(losses.gram_matrix(b, "gatys"), losses.gram_matrix(a, "gatys"), "gatys")
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_mean_layer_loss_is_tutorial_formula(rng):
    a = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    b = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    fa, fb = a.reshape(-1, 3).astype(np.float64), b.reshape(-1, 3).astype(np.float64)
    expected = np.mean((fa.T @ fa / 16 - fb.T @ fb / 16) ** 2)
    got = losses.style_layer_loss(losses.gram_matrix(a), losses.gram_matrix(b))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    # gatys = mean / 4 exactly
    np.testing.assert_allclose(
        float(losses.style_layer_loss(losses.gram_matrix(a, "gatys"), losses.gram_matrix(b, "gatys"), "gatys")),
        expected / 4,
        rtol=1e-5,
    )


def test_style_loss_sums_layers_with_weights(rng):
    feats = {
        "l1": rng.normal(size=(1, 4, 4, 2)).astype(np.float32),
        "l2": rng.normal(size=(1, 2, 2, 3)).astype(np.float32),
    }
    other = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in feats.items()}
    targets = {k: np.asarray(losses.gram_matrix(v)) for k, v in other.items()}
    per = {k: float(losses.style_layer_loss(losses.gram_matrix(feats[k]), targets[k])) for k in feats}
    got = float(losses.style_loss(feats, targets, {"l1": 0.25, "l2": 2.0}))
    np.testing.assert_allclose(got, 0.25 * per["l1"] + 2.0 * per["l2"], rtol=1e-5)
    # default: the average over layers
    np.testing.assert_allclose(float(losses.style_loss(feats, targets)), (per["l1"] + per["l2"]) / 2, rtol=1e-5)


def test_masked_gram_divides_by_mask_area(rng):
    f = rng.normal(size=(1, 4, 4, 2)).astype(np.float32)
    mask = np.zeros((1, 4, 4, 1), np.float32)
    mask[:, :2] = 1.0  # top half
    top = f[:, :2].reshape(-1, 2).astype(np.float64)
    np.testing.assert_allclose(_np(losses.gram_matrix(f, mask=mask))[0], top.T @ top / 8, rtol=1e-5)


def test_content_loss_by_hand(rng):
    f = {"c": rng.normal(size=(1, 3, 3, 4)).astype(np.float32)}
    p = {"c": rng.normal(size=(1, 3, 3, 4)).astype(np.float32)}
    d = _np(f["c"]) - _np(p["c"])
    np.testing.assert_allclose(float(losses.content_loss(f, p)), np.mean(d**2), rtol=1e-5)
    np.testing.assert_allclose(float(losses.content_loss(f, p, normalization="gatys")), 0.5 * np.sum(d**2), rtol=1e-5)


def _tf_image_total_variation(images):
    """``tf.image.total_variation``'s documented definition, per image, in NumPy (no TensorFlow needed)."""
    pixel_dif1 = images[:, 1:, :, :] - images[:, :-1, :, :]
    pixel_dif2 = images[:, :, 1:, :] - images[:, :, :-1, :]
    return np.abs(pixel_dif1).sum(axis=(1, 2, 3)) + np.abs(pixel_dif2).sum(axis=(1, 2, 3))


def test_total_variation_by_hand_and_matches_tf(rng):
    x = rng.uniform(size=(1, 5, 4, 3)).astype(np.float32)
    dy = np.abs(np.diff(x, axis=1)).sum()
    dx = np.abs(np.diff(x, axis=2)).sum()
    np.testing.assert_allclose(float(losses.total_variation_loss(x)), dx + dy, rtol=1e-5)
    sq = (np.diff(x, axis=1) ** 2).sum() + (np.diff(x, axis=2) ** 2).sum()
    np.testing.assert_allclose(float(losses.total_variation_loss(x, power=2)), sq, rtol=1e-5)
    np.testing.assert_allclose(float(losses.total_variation_loss(x)), _tf_image_total_variation(x)[0], rtol=1e-5)


def test_bad_normalization_is_rejected():
    with pytest.raises(ValueError, match="normalization"):
        losses.gram_matrix(np.zeros((1, 2, 2, 2), np.float32), "bogus")


def test_objective_weights_terms(rng):
    img = rng.uniform(0, 255, size=(1, 4, 4, 3)).astype(np.float32)
    feats = {
        "s": rng.normal(size=(1, 4, 4, 2)).astype(np.float32),
        "c": rng.normal(size=(1, 2, 2, 2)).astype(np.float32),
    }
    ct = {"c": np.zeros((1, 2, 2, 2), np.float32)}
    st = [{"s": np.eye(2, dtype=np.float32)[None]}]
    total, terms = losses.style_transfer_objective(
        img, feats, ct, st, style_weight=2.0, content_weight=3.0, tv_weight=5.0
    )
    expect = 3.0 * float(terms["content"]) + 2.0 * float(terms["style"]) + 5.0 * float(terms["tv"])
    np.testing.assert_allclose(float(total), expect, rtol=1e-5)
    np.testing.assert_allclose(float(terms["tv"]), float(losses.total_variation_loss(img / 255.0)), rtol=1e-5)
