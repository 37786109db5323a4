"""What both tasks share: backbones, weights, image I/O, device setup, conv arithmetic."""

from suite.common.backbones import (
    backbone_names,
    feature_extractor,
    get_backbone,
    get_backbone_spec,
    pyramid_model,
    register_backbone,
)
from suite.common.image_io import (
    ImageReadError,
    OutputExistsError,
    list_images,
    load_image,
    save_image,
)
from suite.common.weights import WeightsError
