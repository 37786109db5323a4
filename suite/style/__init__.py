"""Gatys neural style transfer on the shared backbones.

Public API (imported lazily, so ``import suite.style`` does not start Keras):

* :class:`StyleTransfer`, :func:`stylize` (:mod:`suite.style.transfer`);
* :func:`build_style_extractor` (:mod:`suite.style.extractor`);
* the losses in :mod:`suite.style.losses`;
* :func:`stylize_paths` (:mod:`suite.style.batch`), what ``suite stylize`` runs;
* :class:`StyleOptions` and :data:`METHODS`, the methods there are (``gatys``, ``fast``)
  (:mod:`suite.style.options`, Keras-free);
* fast style: :class:`FastStyleTransfer`, :class:`PresetStyleTransfer`, :func:`fast_stylize`
  (:mod:`suite.style.fast`), the Keras models in :mod:`suite.style.fast_models`, and
  :func:`fast_stylize_paths`, what ``suite stylize --method fast`` runs;
* :func:`gatys_engine` and :func:`fast_engine` (:mod:`suite.style.engines`), the engines a run is built
  from (Gatys with ``init="fast"`` starts from the fast network's result).
"""

from suite.common import lazy_attributes, lazy_dir
from suite.common.nn.saving import register_serializable_modules

# Saved fast-style models name this module's layers; load_model imports it (lazily) before loading.
register_serializable_modules("suite.style.fast_models")

_LAZY = {
    "StyleTransfer": "suite.style.transfer",
    "StyleResult": "suite.style.transfer",
    "stylize": "suite.style.transfer",
    "StyleTransferError": "suite.style.optimize",
    "build_style_extractor": "suite.style.extractor",
    "stylize_paths": "suite.style.batch",
    "FastStyleTransfer": "suite.style.fast",
    "PresetStyleTransfer": "suite.style.fast",
    "fast_stylize": "suite.style.fast",
    "fast_stylize_paths": "suite.style.batch",
    "gatys_engine": "suite.style.engines",
    "fast_engine": "suite.style.engines",
    "StyleOptions": "suite.style.options",
    "METHODS": "suite.style.options",
}

__all__ = list(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
__dir__ = lazy_dir(__name__, _LAZY)
