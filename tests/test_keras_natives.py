"""The README's "Why not tensorflow-addons" table, checked: where the suite's own losses and
metrics overlap a Keras 3 native, they compute the same number; where they differ, it is the
ignore label."""

import keras
import numpy as np
import pytest

from suite.unet.losses import DiceLoss, FocalLoss, MaskedCrossEntropy
from suite.unet.metrics import MeanIoU

C = 4


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, size=(2, 8, 8)).astype("int32")
    logits = rng.normal(size=(2, 8, 8, C)).astype("float32") * 2
    return y, logits


def test_cross_entropy_equals_keras_sparse_ce_without_ignore(batch):
    y, logits = batch
    native = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    ours = MaskedCrossEntropy(ignore_index=None)(y, logits)
    np.testing.assert_allclose(float(ours), float(native), rtol=1e-5)


def test_cross_entropy_ignore_label_matches_keras_ignore_class(batch):
    y, logits = batch
    y = y.copy()
    y[:, :3] = 255
    native = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)(y, logits)
    ours = MaskedCrossEntropy(ignore_index=255)(y, logits)
    # Both average over the valid pixels only.
    np.testing.assert_allclose(float(ours), float(native), rtol=1e-5)


def test_focal_equals_keras_categorical_focal_with_alpha_one(batch):
    y, logits = batch
    native = keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0, from_logits=True)(
        keras.ops.one_hot(y, C), logits
    )
    ours = FocalLoss(ignore_index=None)(y, logits)
    np.testing.assert_allclose(float(ours), float(native), rtol=1e-4)


def test_miou_equals_keras_meaniou_on_argmax(batch):
    y, logits = batch
    native = keras.metrics.MeanIoU(num_classes=C, ignore_class=255)
    native.update_state(y, np.argmax(logits, -1))
    ours = MeanIoU(C, ignore_index=255)
    ours.update_state(y, logits)
    np.testing.assert_allclose(float(ours.result()), float(native.result()), rtol=1e-6)
    y2 = y.copy()
    y2[0] = 255
    native.reset_state(), ours.reset_state()
    native.update_state(y2, np.argmax(logits, -1))
    ours.update_state(y2, logits)
    np.testing.assert_allclose(float(ours.result()), float(native.result()), rtol=1e-6)


def test_dice_is_multiclass_on_logits_unlike_keras_dice(batch):
    y, logits = batch
    ours = float(DiceLoss(ignore_index=None)(y, logits))
    probs = keras.ops.softmax(logits, -1)
    onehot = keras.ops.one_hot(y, C)
    inter = np.sum(np.asarray(probs) * np.asarray(onehot), axis=(0, 1, 2))
    sums = np.sum(np.asarray(probs) + np.asarray(onehot), axis=(0, 1, 2))
    expected = 1 - np.mean((2 * inter + 1) / (sums + 1))
    assert abs(ours - expected) < 0.05  # soft Dice per class, averaged: the definition
    assert 0 < ours < 1
