"""Exceptions told in one line: what a user reads instead of a traceback.

Keras-free and Click-free, so the library, the CLI and the web page share it.
"""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its class name when it has none.

    Example:
        >>> first_line(ValueError("bad size\\nTraceback detail"))
        'bad size'
        >>> first_line(KeyError())
        'KeyError'
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def typed_first_line(error: BaseException) -> str:
    """``"ValueError: first line"`` (or just the class name): for reasons listed without context.

    Example:
        >>> typed_first_line(OSError("disk full"))
        'OSError: disk full'
    """
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


class WeightsError(ValueError):
    """Weights were asked for that cannot be had; the message says why and what to do."""


#: Keras backends the suite installs only through an extra: the module that is missing, and the extra.
BACKEND_EXTRAS = {"jax": "jax", "jaxlib": "jax", "torch": "torch"}


def missing_backend_message(error: BaseException) -> str | None:
    """The one line to show when Keras' backend (``KERAS_BACKEND=jax`` or ``torch``) is not installed.

    Returns:
        A message naming the extra that installs it, or ``None`` when ``error``
        is something else.

    Example:
        >>> 'pip install "keras-cv-suite[jax]"' in missing_backend_message(
        ...     ModuleNotFoundError("No module named 'jax'", name="jax"))
        True
    """
    if not isinstance(error, ImportError):
        return None
    name = (getattr(error, "name", None) or "").split(".")[0]
    extra = BACKEND_EXTRAS.get(name)
    if extra is None:
        return None
    import os

    where = f"KERAS_BACKEND={extra}" if os.environ.get("KERAS_BACKEND") == extra else "in ~/.keras/keras.json"
    return (
        f"Keras' {extra} backend is selected ({where}) but {name} is not installed: "
        f'pip install "keras-cv-suite[{extra}]", or unset KERAS_BACKEND to use TensorFlow'
    )
