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
