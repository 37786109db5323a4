"""Shared checks: build, call, save/load round trip and get_config round trip."""

from __future__ import annotations

import copy

import numpy as np


def check_model_roundtrip(model, x, tmp_path, atol=1e-5):
    """Calls ``model`` on ``x``, saves it as ``.keras``, reloads it with plain
    ``keras.saving.load_model`` (no custom_objects) and checks the outputs match,
    then rebuilds from ``get_config`` and checks the config round-trips.

    Returns:
        The reloaded model.
    """
    import keras

    y = np.asarray(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    y2 = np.asarray(loaded(x))
    np.testing.assert_allclose(y, y2, atol=atol)
    config = model.get_config()
    # Keras' Functional.from_config consumes the dict it is given; compare against an untouched one.
    rebuilt = model.__class__.from_config(copy.deepcopy(config))
    assert rebuilt.get_config() == config
    return loaded


def check_layer_roundtrip(layer, x):
    """Calls a layer and checks that ``from_config(get_config())`` rebuilds an equal config."""
    y = layer(x)
    config = layer.get_config()
    rebuilt = layer.__class__.from_config(config)
    assert rebuilt.get_config() == config
    return y


def write_random_image(path, h=20, w=24, seed=0):
    """Writes a seeded random RGB image, creating the folder."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def tiny_segmenter(num_classes=4, *, down=0, seed=0, path=None, name="tiny_seg"):
    """A small fully convolutional segmentation model: ``(N, H, W, 3)`` RGB in ``[0, 255]`` to logits.

    Args:
        num_classes: Output channels.
        down: ``0``: two 3x3 convolutions at full resolution (receptive field
            5 px). ``k > 0``: ``k`` stride-2 convolutions, upsampling by
            ``2**k`` and a 1x1 convolution, like an encoder-decoder of stride ``2**k``.
        seed: Seeds the weights.
        path: Save it there (``.keras``) and return the path instead of the model.
        name: The model's name.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((None, None, 3))
    if down == 0:
        x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inp)
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
        x = keras.layers.Conv2D(num_classes, 3, padding="same", name="logits")(x)
    else:
        x = keras.layers.Rescaling(1 / 255.0, name="scale")(inp)
        for i in range(down):
            x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name=f"down{i}")(x)
        x = keras.layers.UpSampling2D(2**down, name="up")(x)
        x = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
    model = keras.Model(inp, x, name=name)
    if path is None:
        return model
    model.save(path)
    return path
