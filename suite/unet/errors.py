"""The U-Net task's exceptions, each told in one line (``str(err)``): what a user reads instead of a traceback.

Keras-free and TensorFlow-free, so every module of the task, the CLI and the
web page import them from here without importing each other. The modules that
raise them keep the names too (``suite.unet.data.DatasetError`` is this
module's class).
"""

from __future__ import annotations

import os

from suite.common.io.images import ImageReadError


class TrainingError(RuntimeError):
    """Training could not run or had to stop; ``str(err)`` says why in one line."""


class DatasetError(ValueError):
    """A data set that cannot be used as given; ``str(err)`` is a one-line reason."""


class MaskError(ImageReadError):
    """A mask cannot be used as class indices; ``str(err)`` is one line naming the file.

    A subclass of :class:`~suite.common.io.images.ImageReadError`, so loops that
    skip unreadable files with a one-line reason skip bad masks the same way.
    """


class EvaluationError(ValueError):
    """Evaluation cannot go on; ``str(err)`` is one line naming the files involved."""


class PresetError(ValueError):
    """A preset name is unknown or its weights are missing; ``str(err)`` is one line."""


class NoImagesError(ValueError):
    """The inputs hold no image at all; ``str(err)`` is one line naming them."""

    def __init__(self, inputs, not_images=()):
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        names = ", ".join(str(i) for i in inputs) or "the inputs"
        others = f" ({len(not_images)} file(s) that are not images)" if not_images else ""
        super().__init__(f"no images found in {names}{others}")


class MissingExtraError(ImportError):
    """A format needs packages that are not installed; the message names the pip extra."""


class NotReplaceableError(FileExistsError):
    """``--overwrite`` was given for something that is not an earlier export of the same kind."""


class MissingBeamError(ImportError):
    """``apache_beam`` is not installed; the message says which extra to install."""
