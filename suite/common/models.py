"""Loading saved models safely: a model file must not be able to run code on load."""

from __future__ import annotations

import zipfile
from pathlib import Path

from suite.common.errors import first_line


class ModelLoadError(ValueError):
    """A model file could not be loaded; ``str(err)`` is a one-line reason."""


def load_model(path, compile: bool = False):
    """Loads a ``.keras`` model with ``safe_mode=True``.

    Keras' safe mode refuses to deserialize Lambda layers and other arbitrary
    Python code, so an untrusted model file cannot execute anything on load.
    Suite layers and losses are registered, so no ``custom_objects`` are needed.

    Args:
        path: A ``.keras`` file.
        compile: Restore the training configuration too.

    Returns:
        The ``keras.Model``.

    Raises:
        ModelLoadError: missing, corrupt or unsafe files, with a one-line reason.
    """
    import keras


    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise ModelLoadError(f"{path}: expected a .keras model file (Keras 3 format)")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path}: not a valid .keras file (corrupt or truncated)")
    _import_registered_classes()
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as e:  # Keras raises ValueError/TypeError/KeyError for bad files
        text = str(e)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise ModelLoadError(
                f"{path}: refused to load: the model contains a Lambda layer or other arbitrary code, "
                "which could run on load (Keras safe_mode). Rebuild it without Lambda layers."
            ) from None
        raise ModelLoadError(f"{path}: cannot load model ({first_line(e)})") from None


def _import_registered_classes():
    """Imports every suite module that registers serializable classes."""
    import importlib

    for name in ("suite.common.layers", "suite.unet.model", "suite.unet.losses", "suite.unet.metrics", "suite.unet.selfie"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
