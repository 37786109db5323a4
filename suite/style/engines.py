"""The style engines a run is built from: Gatys, the fast arbitrary-style network, the 26 presets, and artworks
per segmented region.

:mod:`suite.style.fast` knows nothing of :mod:`suite.style.transfer`; Gatys
``init="fast"`` uses :class:`suite.style.fast.FastStart`. The photo batches
(:mod:`suite.style.batch`), the video loop (:mod:`suite.style.video`) and the
web page build their engines here.
"""

from __future__ import annotations

import time

import numpy as np

from suite.common.io.images import resize_float
from suite.style.fast import FastStyleTransfer, PresetStyleTransfer
from suite.style.presets import is_preset
from suite.style.transfer import StyleTransfer


def gatys_engine(styles, options=None, *, blend=None, **kwargs) -> StyleTransfer:
    """A :class:`suite.style.transfer.StyleTransfer` (with ``init="fast"`` it starts from the fast network's result).

    Args:
        styles, options, blend, **kwargs: As :class:`StyleTransfer` (``extractor``, ``quiet``, options by name).
    """
    return StyleTransfer(styles, options, blend=blend, **kwargs)


def fast_engine(styles, *, blend=None, region_masks=None, **options):
    """The feed-forward engine for ``styles``: the 26-style network for ``"preset:N"`` names, Magenta's
    arbitrary-style network for artworks, or one artwork per region with ``region_masks``.

    Args:
        styles: ``"preset:N"`` names, or artworks (files, PIL images or arrays).
        blend: One weight per style (not with ``region_masks``: the masks mix the artworks).
        region_masks: ``f(photo) -> one (H, W) mask per artwork`` (e.g. :class:`suite.style.regions.RegionMasks`).
        **options: :class:`suite.style.fast.FastStyleTransfer` arguments (``strength``, ``preserve_colors``,
            ``size``, prebuilt networks).

    Raises:
        ValueError: presets with ``region_masks``.
    """
    if styles is not None and all(is_preset(s) for s in styles):
        if region_masks is not None:
            raise ValueError("--mask-from takes artwork files, not preset:N styles")
        return PresetStyleTransfer(list(styles), blend=blend, **options)
    if region_masks is not None:
        return RegionStyleTransfer(styles, region_masks, **options)
    return FastStyleTransfer(styles, blend=blend, **options)


class RegionStyleTransfer:
    """The fast method with one artwork per region: each artwork alone, mixed by soft masks.

    The masks sum to 1 where every class has a style; elsewhere the photo shows.

    Args:
        style_images: The artworks, one per mask.
        region_masks: ``f(photo) -> one (H, W) mask per artwork`` in ``[0, 1]``.
        **options: :class:`suite.style.fast.FastStyleTransfer` arguments (not ``blend``).
    """

    def __init__(self, style_images, region_masks, **options):
        first = FastStyleTransfer(style_images[0], **options)
        # One network pair serves every artwork; only the style vectors differ.
        self.engines = [first] + [
            FastStyleTransfer(s, predictor=first.predictor, transformer=first.transformer, **options)
            for s in style_images[1:]
        ]
        self.region_masks = region_masks

    def get_options(self) -> dict:
        return {**self.engines[0].get_options(), "blend": None, "regions": len(self.engines)}

    def transfer(self, content):
        t0 = time.perf_counter()
        results = [e.transfer(content) for e in self.engines]
        h, w = results[0].image.shape[:2]
        photo = content if content.shape[:2] == (h, w) else resize_float(content, h, w)
        masks = [m[..., None] for m in self.region_masks(photo)]
        covered = np.clip(sum(masks), 0.0, 1.0)
        image = sum(m * r.image.astype(np.float32) for m, r in zip(masks, results)) + (1.0 - covered) * photo
        out = results[0]
        out.image = np.clip(image, 0, 255).astype(results[0].image.dtype)
        out.seconds = time.perf_counter() - t0
        return out
