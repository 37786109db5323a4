"""Losses checked by hand on tiny arrays (ignore pixels included); mIoU checked against an independent numpy count."""

import numpy as np
import pytest


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# A 1x2x3 batch with two classes: four labelled pixels, two ignored (255).
LABELS = np.array([[[0, 1, 255], [1, 0, 255]]], dtype=np.int32)
LOGITS = np.array([[[[2.0, -1.0], [0.5, 0.3], [9.0, -9.0]], [[-1.0, 1.5], [0.0, 0.0], [-7.0, 7.0]]]], dtype=np.float32)
VALID = LABELS != 255


def _ce_per_pixel():
    logp = _log_softmax(LOGITS.astype(np.float64))
    lab = np.where(VALID, LABELS, 0)
    return -np.take_along_axis(logp, lab[..., None], axis=-1)[..., 0]


def test_cross_entropy_is_the_mean_over_valid_pixels():
    from suite.unet.losses import MaskedCrossEntropy

    expected = _ce_per_pixel()[VALID].mean()
    loss = float(MaskedCrossEntropy(ignore_index=255)(LABELS, LOGITS))
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    # the ignored pixels' logits do not matter
    other = LOGITS.copy()
    other[~VALID] = np.array([-50.0, 50.0])
    np.testing.assert_allclose(float(MaskedCrossEntropy()(LABELS, other)), expected, rtol=1e-6)
    # (N, H, W, 1) masks work the same
    np.testing.assert_allclose(float(MaskedCrossEntropy()(LABELS[..., None], LOGITS)), expected, rtol=1e-6)


def test_ignored_pixels_get_no_gradient():
    from suite.style.grad import compiled_value_and_grad  # the suite's one per-backend gradient (any backend)
    from suite.unet.losses import get_loss

    for name in ("ce", "dice", "focal", "ce+dice"):
        loss = get_loss(name, 2)
        _, _, grad = compiled_value_and_grad(lambda logits, loss=loss: (loss(LABELS, logits), {}))(LOGITS)
        assert np.all(grad[~VALID] == 0), name
        assert np.any(grad[VALID] != 0), name


def test_class_weights_and_sample_weights_give_the_weighted_mean():
    from suite.unet.losses import MaskedCrossEntropy, pixel_weights

    ce = _ce_per_pixel()
    w = np.where(LABELS == 1, 3.0, 1.0) * VALID
    expected = (ce * w).sum() / w.sum()
    by_class = float(MaskedCrossEntropy(class_weights=[1.0, 3.0])(LABELS, LOGITS))
    np.testing.assert_allclose(by_class, expected, rtol=1e-6)
    sw = np.asarray(pixel_weights(LABELS, [1.0, 3.0], ignore_index=255))
    np.testing.assert_array_equal(sw, w)
    by_sample = float(MaskedCrossEntropy()(LABELS, LOGITS, sample_weight=sw))
    np.testing.assert_allclose(by_sample, expected, rtol=1e-6)


def test_dice_by_hand():
    from suite.unet.losses import DiceLoss

    p = np.exp(_log_softmax(LOGITS.astype(np.float64)))
    t = np.eye(2)[np.where(VALID, LABELS, 0)]
    v = VALID[..., None]
    inter = (p * t * v).sum(axis=(0, 1, 2))
    total = ((p + t) * v).sum(axis=(0, 1, 2))
    expected = 1 - np.mean((2 * inter + 1) / (total + 1))
    np.testing.assert_allclose(float(DiceLoss(smooth=1.0)(LABELS, LOGITS)), expected, rtol=1e-6)
    # a confident perfect prediction has Dice loss close to 0; the opposite close to 1
    perfect = np.where(np.eye(2)[np.where(VALID, LABELS, 0)] > 0, 20.0, -20.0).astype("float32")
    assert float(DiceLoss(smooth=1e-6)(LABELS, perfect)) < 1e-5
    assert float(DiceLoss(smooth=1e-6)(LABELS, -perfect)) > 0.999


def test_focal_by_hand_and_gamma_zero_is_cross_entropy():
    from suite.unet.losses import FocalLoss, MaskedCrossEntropy

    ce = _ce_per_pixel()
    pt = np.exp(-ce)
    expected = ((1 - pt) ** 2 * ce)[VALID].mean()
    np.testing.assert_allclose(float(FocalLoss(gamma=2.0)(LABELS, LOGITS)), expected, rtol=1e-5)
    np.testing.assert_allclose(
        float(FocalLoss(gamma=0.0)(LABELS, LOGITS)), float(MaskedCrossEntropy()(LABELS, LOGITS)), rtol=1e-6
    )


def test_ce_plus_dice_is_the_sum():
    from suite.unet.losses import get_loss

    total = float(get_loss("ce+dice", 2)(LABELS, LOGITS))
    parts = float(get_loss("ce", 2)(LABELS, LOGITS)) + float(get_loss("dice", 2)(LABELS, LOGITS))
    np.testing.assert_allclose(total, parts, rtol=1e-6)


def test_all_ignored_batch_gives_zero_not_nan():
    from suite.unet.losses import get_loss

    labels = np.full_like(LABELS, 255)
    for name in ("ce", "focal", "ce+dice"):
        assert float(get_loss(name, 2)(labels, LOGITS)) == 0.0


def test_get_loss_validates():
    from suite.unet.losses import get_loss

    with pytest.raises(ValueError, match="Valid losses: ce, dice, focal, ce\\+dice"):
        get_loss("bce", 2)
    with pytest.raises(ValueError, match="num_classes=3"):
        get_loss("ce", 3, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="class_weights"):
        get_loss("ce", 2, class_weights=[1.0, -2.0])


def test_class_weights_from_counts():
    from suite.unet.losses import class_weights_from_counts

    w = class_weights_from_counts([900, 100, 0, 25], power=1.0)
    assert w[2] == 0.0
    np.testing.assert_allclose([w[0], w[1], w[3]], [100 / 900, 1.0, 4.0])


# --------------------------------------------------------------------------- metrics


def _numpy_confusion(labels, preds, num_classes, ignore_index):
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(labels.ravel(), preds.ravel()):
        if t != ignore_index:
            cm[t, p] += 1
    return cm


def _numpy_scores(cm):
    ious = []
    for c in range(len(cm)):
        tp = cm[c, c]
        union = cm[c, :].sum() + cm[:, c].sum() - tp
        ious.append(tp / union if union else np.nan)
    ious = np.array(ious)
    return ious, np.nanmean(ious), np.trace(cm) / cm.sum()


def test_miou_matches_numpy_over_several_batches(rng):
    from suite.unet.metrics import MeanIoU, PixelAccuracy, iou_from_confusion

    num_classes, ignore = 5, 255
    miou, acc = MeanIoU(num_classes, ignore), PixelAccuracy(num_classes, ignore)
    all_labels, all_preds = [], []
    for _ in range(3):
        labels = rng.integers(0, num_classes - 1, size=(2, 17, 23))  # class 4 never in the truth ...
        labels[rng.random(labels.shape) < 0.2] = ignore
        logits = rng.normal(size=labels.shape + (num_classes,)).astype("float32")
        logits[..., 4] -= 100.0  # ... nor predicted: it must drop out of the mean
        logits[..., 2] += 0.5 * (labels == 2)  # some signal so IoUs differ
        miou.update_state(labels, logits)
        acc.update_state(labels[..., None], logits)
        all_labels.append(labels)
        all_preds.append(logits.argmax(-1))
    cm = _numpy_confusion(np.concatenate(all_labels), np.concatenate(all_preds), num_classes, ignore)
    ious, mean, pixel_acc = _numpy_scores(cm)
    assert np.isnan(ious[4]) and not np.isnan(ious[:4]).any()
    np.testing.assert_array_equal(np.asarray(miou.confusion()), cm)
    np.testing.assert_allclose(float(miou.result()), mean, atol=1e-6)
    np.testing.assert_allclose(float(acc.result()), pixel_acc, atol=1e-6)
    np.testing.assert_allclose(np.asarray(iou_from_confusion(miou.confusion())), ious, atol=1e-6)
    # one dataset-level matrix, not an average of per-batch mIoUs
    miou.reset_state()
    assert float(miou.result()) == 0.0 and np.asarray(miou.confusion()).sum() == 0


def test_confusion_matrix_takes_labels_or_logits_and_ignores_out_of_range(rng):
    from suite.unet.metrics import confusion_matrix

    labels = rng.integers(0, 3, size=(2, 5, 5))
    labels[0, 0, 0] = 7  # neither a class nor the ignore index: not counted
    preds = rng.integers(0, 3, size=(2, 5, 5))
    a = np.asarray(confusion_matrix(labels, preds, 3, ignore_index=255))
    b = np.asarray(confusion_matrix(labels, np.eye(3, dtype="float32")[preds], 3, ignore_index=255))
    np.testing.assert_array_equal(a, b)
    assert a.sum() == labels.size - 1


def test_scores_from_confusion_reports_absent_classes_as_none():
    from suite.unet.metrics import scores_from_confusion

    cm = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    s = scores_from_confusion(cm, class_names=["bg", "a", "b"])
    assert s["per_class"][2]["iou"] is None and s["per_class"][2]["pixels"] == 0
    np.testing.assert_allclose(s["mean_iou"], np.mean([5 / 8, 2 / 5]))
    np.testing.assert_allclose(s["pixel_accuracy"], 7 / 10)


def test_compile_fit_monitors_val_miou_and_everything_reloads(tmp_path):
    import keras

    from suite.unet.losses import get_loss
    from suite.unet.metrics import get_metrics
    from suite.unet.model import build_unet

    model = build_unet(None, num_classes=3, encoder_filters=(4, 8))
    model.compile(optimizer="adam", loss=get_loss("ce+dice", 3, class_weights=[1, 2, 2]), metrics=get_metrics(3))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 3, (4, 16, 16))
    y[:, :2] = 255
    history = model.fit(x, y, validation_data=(x, y), epochs=1, batch_size=2, verbose=0)
    assert {"miou", "val_miou", "pixel_accuracy", "val_pixel_accuracy"} <= set(history.history)
    assert 0.0 <= history.history["val_miou"][0] <= 1.0
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.loss.get_config() == model.loss.get_config()
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(after["miou"], before["miou"], atol=1e-6)
