"""U-Net semantic segmentation on the shared backbones.

Public API (imported lazily, so ``import suite.unet`` does not start Keras):

* the model: :class:`UNet`, :func:`build_unet`, :func:`set_encoder_trainable`
  (:mod:`suite.unet.model`);
* training: :func:`train`, :class:`TrainResult`, :class:`TrainingError` (:mod:`suite.unet.training`,
  the task's exceptions in :mod:`suite.unet.errors`),
  :class:`TrainOptions` and :func:`train_options` (:mod:`suite.unet.options`);
* data: :func:`open_source`, :class:`SegmentationSource` (:mod:`suite.unet.data`),
  :func:`load_mask` (:mod:`suite.unet.masks`), :class:`SegmentationAugmenter`;
* inference: :func:`segment_image`, :func:`segment_folder` (:mod:`suite.unet.segment`),
  :class:`SegmentOptions`, :func:`predict_mask`, :func:`predict_logits`;
* models and presets: :func:`load_segmentation`, :func:`model_metadata`
  (:mod:`suite.unet.model_io`), :func:`load_preset`, :func:`preset_names`;
* scores and exports: :func:`evaluate_model`, :func:`evaluate_predictions`
  (:mod:`suite.unet.evaluate`), :func:`export_model` (:mod:`suite.unet.export`);
* losses and metrics: :func:`get_loss`, :func:`get_metrics`.

Example:
    >>> import suite.unet
    >>> model = suite.unet.UNet("vgg16", num_classes=3)  # doctest: +SKIP
    >>> mask = suite.unet.segment_image("person", "photo.jpg")  # doctest: +SKIP
"""

from suite.common import lazy_attributes, lazy_dir
from suite.common.nn.saving import register_serializable_modules

# Saved U-Nets name these modules' classes; load_model imports them (lazily) before loading.
register_serializable_modules("suite.unet.model", "suite.unet.losses", "suite.unet.metrics", "suite.unet.selfie")

_LAZY = {
    "UNet": "suite.unet.model",
    "build_unet": "suite.unet.model",
    "set_encoder_trainable": "suite.unet.model",
    "train": "suite.unet.training",
    "TrainResult": "suite.unet.training",
    "TrainingError": "suite.unet.errors",
    "TrainOptions": "suite.unet.options",
    "train_options": "suite.unet.options",
    "open_source": "suite.unet.data",
    "SegmentationSource": "suite.unet.data",
    "DatasetError": "suite.unet.errors",
    "load_mask": "suite.unet.masks",
    "MaskError": "suite.unet.errors",
    "SegmentationAugmenter": "suite.unet.augment",
    "segment_image": "suite.unet.segment",
    "segment_folder": "suite.unet.segment",
    "SegmentOptions": "suite.unet.segment_options",
    "predict_mask": "suite.unet.predict",
    "predict_logits": "suite.unet.predict",
    "load_segmentation": "suite.unet.model_io",
    "model_metadata": "suite.unet.model_io",
    "ModelMetadata": "suite.unet.model_io",
    "load_preset": "suite.unet.presets",
    "preset_names": "suite.unet.presets",
    "evaluate_model": "suite.unet.evaluate",
    "evaluate_predictions": "suite.unet.evaluate",
    "EvaluationError": "suite.unet.errors",
    "export_model": "suite.unet.export",
    "get_loss": "suite.unet.losses",
    "get_metrics": "suite.unet.metrics",
}

__all__ = list(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)


__dir__ = lazy_dir(__name__, _LAZY)
