"""Frozen-feature caching (suite.unet.feature_cache): exact losses, invalidation, the memory cap, the saved model."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_train import _dataset


def _unet(seed=0, num_classes=3):
    import keras

    from suite.unet.model import UNet

    keras.utils.set_random_seed(seed)
    return UNet("vgg16", num_classes=num_classes, weights="none", freeze_encoder=True, decoder_filters=(16, 8, 8, 8, 8))


def _batch(seed=0, n=2, size=64, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    y = rng.integers(0, classes, (n, size, size)).astype("int32")
    y[:, :4] = 255  # some ignored pixels
    return x, y


def _losses_plain_and_cached(policy):
    import keras

    from suite.unet import feature_cache as fc
    from suite.unet.losses import get_loss

    keras.mixed_precision.set_global_policy(policy)
    try:
        unet = _unet()
        x, y = _batch()
        storage, _ = fc._storage_dtype(keras.mixed_precision.global_policy().compute_dtype)
        feats = fc._encode(unet.get_layer("encoder"), list(x), storage)
        dec = fc.decoder_model(unet)
        feats = {k: keras.ops.cast(v, dec.input[k].dtype) for k, v in feats.items()}
        loss = get_loss("ce", num_classes=3, ignore_index=255, class_weights=[0.5, 1.0, 2.0])
        out = []
        for training in (False, True):  # BatchNorm on moving statistics, then on the batch's
            out.append((float(loss(y, unet(x, training=training))), float(loss(y, dec(feats, training=training)))))
        return out
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_cached_features_give_the_plain_loss_float32():
    # float16 storage of float32 features: equal within float16 rounding.
    for plain, cached in _losses_plain_and_cached("float32"):
        assert cached == pytest.approx(plain, rel=2e-3)


def test_cached_features_give_the_plain_loss_bfloat16():
    # Under mixed_bfloat16 the encoder's own output is bfloat16, which is what is stored: the same numbers.
    for plain, cached in _losses_plain_and_cached("mixed_bfloat16"):
        assert cached == pytest.approx(plain, rel=1e-5)


def test_decoder_model_shares_the_unet_layers():
    from suite.unet import feature_cache as fc

    unet = _unet()
    dec = fc.decoder_model(unet)
    assert "encoder" not in [layer.name for layer in dec.layers]
    shared = {id(v) for v in unet.trainable_variables}
    assert {id(v) for v in dec.trainable_variables} == shared  # training it trains the U-Net's decoder


def test_window_grid_covers_the_image_and_pads_small_axes():
    from suite.unet import feature_cache as fc

    corners = fc.window_grid((200, 100), (64, 128), "overlap")
    ys = sorted({y for y, _ in corners})
    assert ys[0] == 0 and ys[-1] == 200 - 64 and all(b - a <= 32 for a, b in zip(ys, ys[1:]))
    assert {x for _, x in corners} == {-14}  # 100 < 128: centred padding, as the plain validation crop
    assert len(fc.window_grid((200, 100), (64, 128), "adjacent")) < len(corners)
    assert fc.window_grid((200, 100), (64, 128), "one") == [(68, -14)]


def test_cut_window_matches_the_pipeline_centre_crop():
    import tensorflow as tf

    from suite.unet import feature_cache as fc
    from suite.unet.tfdata import crop_or_pad

    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (50, 90, 3)).astype("float32")
    mask = rng.integers(0, 3, (50, 90)).astype("int32")
    crop = (64, 64)
    (corner,) = fc.window_grid(mask.shape, crop, "one")
    got_i, got_m = fc.cut_window(image, mask, corner, crop, 255)
    want_i, want_m = crop_or_pad(tf.constant(image), tf.constant(mask), crop, 255, random=False)
    np.testing.assert_array_equal(got_i, want_i.numpy())
    np.testing.assert_array_equal(got_m, want_m.numpy())


def test_fingerprint_changes_with_weights_window_and_resizing(tmp_path):
    from suite.unet import data as sdata
    from suite.unet import feature_cache as fc

    images, masks = _dataset(tmp_path / "d", n=3, size=40)
    src = sdata.open_source(images, masks)
    sizes = [(40, 40)] * 3
    unet = _unet()
    cache = fc.build(
        unet, src.subset([0, 1]), sizes[:2], src.subset([2]), sizes[2:], (32, 32), flips=[(False, False), (True, False)]
    )
    enc = unet.get_layer("encoder")
    assert cache.dtype == "float16" and cache.matches(enc, (32, 32), "crop")
    assert cache.windows == 2 * 4 * 2  # two images, 2x2 overlapping 32 px windows, each also flipped
    assert cache.val_masks.shape == (1, 32, 32)
    assert not cache.matches(enc, (64, 64), "crop")
    assert not cache.matches(enc, (32, 32), "resize")
    w = enc.weights[0]
    w.assign(w.numpy() + 1e-3)
    assert not cache.matches(enc, (32, 32), "crop")
    # the flipped window's mask is the mirror of the first
    np.testing.assert_array_equal(cache.masks[1], cache.masks[0][:, ::-1])


def test_cap_thins_the_grid_then_gives_up(tmp_path):
    from suite.unet import feature_cache as fc

    enc = _unet().get_layer("encoder")
    sizes, crop, flips = [(100, 100)] * 4, (32, 32), [(False, False)]
    one = fc.estimate_bytes(enc, crop, 1)
    assert fc.plan(enc, sizes, sizes, crop, "crop", flips, 10**12)[0] == "overlap"
    assert fc.plan(enc, sizes, sizes, crop, "crop", flips, one * (4 * 16 + 4))[0] == "adjacent"
    assert fc.plan(enc, sizes, sizes, crop, "crop", flips, one * 8)[0] == "one"
    assert fc.plan(enc, sizes, sizes, crop, "crop", flips, one * 7) is None


def test_pixel_augmentation_blocks_the_cache_and_flips_do_not():
    from suite.unet import feature_cache as fc
    from suite.unet.options import TrainOptions
    from suite.unet.training import augment_keywords

    opts = TrainOptions(pixel_augment=True)
    pix = fc.pixel_augmentations(augment_keywords(opts))
    assert "rotation" in pix and "hue" in pix
    assert "augmentation changes pixels" in fc.reason_not_to_cache(opts, False, pix)
    flips_only = TrainOptions(pixel_augment=False)
    assert fc.pixel_augmentations(augment_keywords(flips_only)) == []
    assert fc.pixel_augmentations(augment_keywords(TrainOptions())) == []  # the defaults: flips only, cached
    assert fc.reason_not_to_cache(flips_only, False, []) is None
    assert fc.reason_not_to_cache(flips_only, True, []) == "the encoder is trained in this phase"
    assert fc.reason_not_to_cache(TrainOptions(pixel_augment=False, feature_cache="off"), False, []) is not None
    assert fc.flips_of(augment_keywords(flips_only)) == [(False, False), (True, False)]


class _Grab:
    """Keeps the fitted model and the decoder weights before training."""

    def __new__(cls):
        import keras

        class Grab(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.before = [v.numpy().copy() for v in self.model.trainable_variables]

        return Grab()


@pytest.mark.slow
def test_train_with_cache_saves_the_full_unet_that_predicts_like_the_trained_one(tmp_path):
    import keras

    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data", n=8, size=48)
    grab = _Grab()
    out = tmp_path / "m.keras"
    result = train(
        images,
        masks,
        3,
        backbone="vgg16",
        weights="none",
        freeze_encoder_epochs=1,
        epochs=1,
        image_size=32,
        batch_size=2,
        decoder_filters=(16, 8, 8, 8, 8),
        progress=False,
        tensorboard=False,
        val_split=0.25,
        pixel_augment=False,
        out=out,
        callbacks=[grab],
        patience=0,
    )
    assert result.feature_cache is not None and result.feature_cache["windows"] == 6 * 4 * 2
    assert result.feature_cache["megabytes"] > 0 and result.feature_cache["dtype"] in ("float16", "bfloat16")
    fitted = grab.model
    assert fitted.name.endswith("_decoder")
    changed = [not np.allclose(b, v.numpy()) for b, v in zip(grab.before, fitted.trainable_variables)]
    assert any(changed)  # the decoder did train
    saved = keras.saving.load_model(out)
    assert saved.count_params() > fitted.count_params()  # encoder + decoder
    x, _ = _batch(3, n=2, size=64)
    feats = saved.get_layer("encoder")(x)
    np.testing.assert_allclose(
        saved.predict(x, verbose=0), fitted(dict(feats), training=False).numpy(), rtol=1e-4, atol=1e-4
    )


@pytest.mark.slow
def test_train_falls_back_to_the_plain_path_over_the_cap_and_with_pixel_augmentation(tmp_path):
    from suite.unet.training import train

    images, masks = _dataset(tmp_path / "data", n=6, size=40)
    common = dict(
        backbone="vgg16",
        weights="none",
        freeze_encoder_epochs=1,
        epochs=1,
        image_size=32,
        batch_size=2,
        decoder_filters=(16, 8, 8, 8, 8),
        progress=False,
        tensorboard=False,
        val_split=0.34,
        patience=0,
    )
    r = train(images, masks, 3, pixel_augment=False, feature_cache_mb=0.1, out=tmp_path / "a.keras", **common)
    assert r.feature_cache is None and r.best_miou is not None
    r = train(images, masks, 3, pixel_augment=True, out=tmp_path / "b.keras", **common)  # rotation, colour...
    assert r.feature_cache is None and r.best_miou is not None
