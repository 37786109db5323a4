"""Mask-safe augmentation with Keras 3 preprocessing layers.

Keras' geometric layers transform ``{"images", "segmentation_masks"}``
together (masks with nearest-neighbour sampling), but they fill the area
brought in from outside the image with the same ``fill_value`` for both, so a
rotated or zoomed-out mask would get class 0 ("background") where nothing is
known. Here masks travel shifted by +1 through the geometric layers with a
constant fill of 0, and that 0 becomes the ignore index afterwards: pixels
from outside the image are never trained on. Colour changes touch the images
only. Masks stay integer throughout.
"""

from __future__ import annotations

import keras
from keras import ops


class SegmentationAugmenter:
    """Random flips, rotation, zoom, translation and colour jitter for image/mask batches.

    Args:
        flip: Random horizontal flips.
        vertical_flip: Also flip vertically (off by default: most scenes have an up).
        rotation: Maximum rotation as a fraction of a full turn (``0.05`` = 18 degrees).
        zoom: Maximum zoom in/out as a fraction of the size (``0.2`` = 80% to 120%).
        translation: Maximum shift as a fraction of the size.
        brightness: Maximum brightness change as a fraction of the value range.
        contrast: Maximum contrast change factor.
        saturation: Maximum saturation change (0 = none); images only.
        hue: Maximum hue shift as a fraction of the colour wheel; images only.
        ignore_index: The label given to mask pixels from outside the image.
        seed: Seed for the random transforms.

    Example:
        >>> aug = SegmentationAugmenter(rotation=0.1, seed=0)
        >>> images, masks = aug(images, masks)  # (N, H, W, 3) float, (N, H, W) int
    """

    def __init__(
        self,
        flip: bool = True,
        vertical_flip: bool = False,
        rotation: float = 0.05,
        zoom: float = 0.2,
        translation: float = 0.1,
        brightness: float = 0.2,
        contrast: float = 0.2,
        saturation: float = 0.2,
        hue: float = 0.02,
        ignore_index: int = 255,
        seed: int | None = None,
    ):
        for name, value in (
            ("rotation", rotation),
            ("zoom", zoom),
            ("translation", translation),
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
            ("hue", hue),
        ):
            if value < 0:
                raise ValueError(f"Expected {name} >= 0. Received: {name}={value}")
        self.ignore_index = int(ignore_index)

        def s(k):
            return None if seed is None else seed + k

        fill = dict(fill_mode="constant", fill_value=0.0)
        self.geometric = []
        if flip or vertical_flip:
            mode = "horizontal_and_vertical" if (flip and vertical_flip) else ("horizontal" if flip else "vertical")
            self.geometric.append(keras.layers.RandomFlip(mode, seed=s(1), name="aug_flip"))
        if rotation:
            self.geometric.append(keras.layers.RandomRotation(rotation, seed=s(2), name="aug_rotation", **fill))
        if zoom:
            self.geometric.append(keras.layers.RandomZoom((-zoom, zoom), seed=s(3), name="aug_zoom", **fill))
        if translation:
            self.geometric.append(
                keras.layers.RandomTranslation(translation, translation, seed=s(4), name="aug_translation", **fill)
            )
        self.colour = []
        vr = (0, 255)
        if brightness:
            self.colour.append(
                keras.layers.RandomBrightness(brightness, value_range=vr, seed=s(5), name="aug_brightness")
            )
        if contrast:
            self.colour.append(keras.layers.RandomContrast(contrast, value_range=vr, seed=s(6), name="aug_contrast"))
        if saturation:
            self.colour.append(
                keras.layers.RandomSaturation(
                    (0.5 - saturation / 2, 0.5 + saturation / 2), value_range=vr, seed=s(7), name="aug_saturation"
                )
            )
        if hue:
            self.colour.append(keras.layers.RandomHue(hue, value_range=vr, seed=s(8), name="aug_hue"))

    def __call__(self, images, masks, training: bool = True):
        """Augments a batch.

        Args:
            images: ``(N, H, W, 3)`` float RGB in ``[0, 255]``.
            masks: ``(N, H, W)`` or ``(N, H, W, 1)`` integer class indices.
            training: Without it, the inputs come back unchanged.

        Returns:
            ``(images, masks)`` with the input shapes; masks int32.
        """
        if not training:
            return images, masks
        squeeze = len(masks.shape) == 3
        m = ops.cast(masks, "int32")
        if squeeze:
            m = ops.expand_dims(m, -1)
        # +1 so that the constant fill (0) can be told apart from class 0.
        m = m + 1
        x = images
        for layer in self.geometric:
            out = layer({"images": x, "segmentation_masks": m}, training=True)
            x = out["images"]
            m = ops.cast(ops.round(out["segmentation_masks"]), "int32")
        m = ops.where(m <= 0, self.ignore_index, m - 1)
        for layer in self.colour:
            x = layer(x, training=True)
        x = ops.clip(x, 0.0, 255.0)
        if squeeze:
            m = ops.squeeze(m, -1)
        return x, m
