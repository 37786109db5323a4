"""Loading saved models safely: a model file must not be able to run code on load."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from suite.common.errors import first_line


class ModelLoadError(ValueError):
    """A model file could not be loaded; ``str(err)`` is a one-line reason."""


def load_model(path, compile: bool = False):
    """Loads a ``.keras`` model with ``safe_mode=True``.

    Keras' safe mode refuses to deserialize Lambda layers and other arbitrary
    Python code, so an untrusted model file cannot execute anything on load.
    Suite layers and losses are registered, so no ``custom_objects`` are needed:
    the modules that define them are imported first (the task packages name
    theirs with :func:`register_serializable_modules` when they are imported).

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
        first = first_line(e)
        missing = re.match(r"Could not locate (?:class|function) '([^']+)'", first)
        if missing:  # Keras' line ends with the whole object config: name the class and its module instead
            module = re.search(r"'module': '([\w.]+)'", first)
            where = f" of {module.group(1)}" if module else ""
            first = (
                f"{missing.group(1)}{where} is not registered; import its package first "
                "(a suite task package registers its classes when imported)"
            )
        raise ModelLoadError(f"{path}: cannot load model ({first})") from None


#: Modules whose import registers Keras-serializable classes (``suite_export``), imported
#: before a model is loaded. Task packages add theirs with :func:`register_serializable_modules`.
_SERIALIZABLE_MODULES: list[str] = ["suite.common.nn.layers"]


def register_serializable_modules(*names: str) -> None:
    """Makes :func:`load_model` import these modules (by name, when it loads a model).

    A task package calls this when it is imported, with the modules that define
    its serializable layers, losses and models, so that common code never names
    a task. The modules themselves are imported only when a model is loaded
    (they import Keras); a module that is not installed is skipped.

    Example:
        >>> register_serializable_modules("suite.common.nn.layers")
    """
    for name in names:
        if name not in _SERIALIZABLE_MODULES:
            _SERIALIZABLE_MODULES.append(name)


def _import_registered_classes():
    """Imports every registered module that registers serializable classes."""
    import importlib

    for name in list(_SERIALIZABLE_MODULES):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
