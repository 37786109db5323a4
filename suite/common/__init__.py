"""What the tasks share, in layers; each layer may import only from itself and the layers above it here.

* ``suite.common`` basics: :mod:`~suite.common.options`, :mod:`~suite.common.log`,
  :mod:`~suite.common.device` (no Keras, Pillow or rich at import);
* :mod:`suite.common.io`: images and files on disk (may import the basics);
* :mod:`suite.common.nn`: model parts, such as backbones, weights, layers and saved models
  (may import io and the basics);
* :mod:`suite.common.ui`: what people see, such as the CLI helpers, progress bars, pictures and
  the mask palette (may import nn, io and the basics).

Nothing here imports a task package (``suite.unet``, ``suite.style``, ``suite.serve``):
a task registers what common code must know about (see
:func:`suite.common.nn.saving.register_serializable_modules`). The import-linter contracts
in pyproject.toml check both rules. Importing ``suite.common`` imports nothing else; the names
below load their module on first use.
"""

_LAZY = {
    "backbone_names": "suite.common.nn.backbones",
    "feature_extractor": "suite.common.nn.backbones",
    "get_backbone": "suite.common.nn.backbones",
    "get_backbone_spec": "suite.common.nn.backbones",
    "pyramid_model": "suite.common.nn.backbones",
    "register_backbone": "suite.common.nn.backbones",
    "WeightsError": "suite.common.nn.weights",
    "ImageReadError": "suite.common.io.images",
    "list_images": "suite.common.io.images",
    "load_image": "suite.common.io.images",
    "save_image": "suite.common.io.images",
    "OutputExistsError": "suite.common.io.atomic",
}

__all__ = list(_LAZY)


def lazy_attributes(package: str, table: dict):
    """A package's module ``__getattr__`` (PEP 562): ``table[name]`` is the module that defines ``name``,
    imported on first use, so importing the package itself imports nothing.

    Example:
        >>> __getattr__ = lazy_attributes(__name__, {"load_image": "suite.common.io.images"})  # doctest: +SKIP
    """

    def __getattr__(name):
        if name in table:
            import importlib

            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def lazy_dir(package: str, table: dict):
    """A package's module ``__dir__`` (PEP 562) that lists the lazy names of ``table`` too.

    ``dir(package)`` and tab completion (IPython, the ``python`` prompt) see a
    lazy name before its module is imported, as if the package had imported it.
    """

    def __dir__():
        import sys

        return sorted(set(vars(sys.modules[package])) | set(table))

    return __dir__


__getattr__ = lazy_attributes(__name__, _LAZY)
__dir__ = lazy_dir(__name__, _LAZY)
