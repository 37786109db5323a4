"""Looking at what a layer extracts: activation maps of one image."""

from __future__ import annotations

import numpy as np


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resizes an ``(H, W, 3)`` float image so its long side is ``size``, keeping the aspect ratio."""
    from suite.common.io.images import resize_float

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return image.astype(np.float32)
    return np.clip(resize_float(image, nh, nw), 0, 255).astype(np.float32)


def layer_activations(image, backbone="vgg16", layer="block3_conv1", weights="auto", size=256) -> np.ndarray:
    """Activations ``(H', W', C)`` of ``layer`` for an image: a file, a PIL image or an ``(H, W, 3)`` array in [0, 255]."""
    from suite.common.io.images import as_rgb_array
    from suite.common.nn.backbones import feature_extractor, get_backbone

    arr = resize_long_side(as_rgb_array(image), size)
    model = backbone if hasattr(backbone, "pyramid_outputs") else get_backbone(backbone, weights=weights)
    extractor = feature_extractor(model, [layer])
    out = extractor(arr[None])[layer]
    return np.asarray(out)[0]


def feature_grid(image, backbone="vgg16", layer="block3_conv1", weights="auto", size=256, max_maps=64):
    """A PIL grid of ``layer``'s activation maps for ``image``, strongest channels first."""
    from suite.common.ui.viz import activation_grid

    acts = layer_activations(image, backbone=backbone, layer=layer, weights=weights, size=size)
    name = backbone if isinstance(backbone, str) else backbone.name
    title = f"{name} {layer}: {acts.shape[-1]} maps of {acts.shape[0]}x{acts.shape[1]} (top {min(max_maps, acts.shape[-1])} by mean activation)"
    return activation_grid(acts, max_maps=max_maps, title=title)
