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
:func:`suite.common.nn.saving.register_serializable_modules`). ``tests/test_layers.py``
checks both rules. Importing ``suite.common`` imports nothing else; the names
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
    "OutputExistsError": "suite.common.io.files",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'suite.common' has no attribute {name!r}")
