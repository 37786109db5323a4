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
