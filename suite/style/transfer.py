"""Gatys neural style transfer: :class:`StyleTransfer` and :func:`stylize`.

One :class:`StyleTransfer` holds the extractor, the compiled loss-and-gradient
function and the style Gram targets (computed once per working size and reused
for every content image). Each content image is optimized coarse to fine: at
the first scale from its initialization, then each result is upsampled and
refined at the next scale.

Reference:
    Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural
    Networks", CVPR 2016; Gatys et al., "Preserving Color in Neural Artistic
    Style Transfer", arXiv:1606.05897 (luminance-only transfer).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from suite.style.extractor import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from suite.style.losses import CONTENT_NORMALIZATIONS, GRAM_NORMALIZATIONS
from suite.style.optimize import LBFGS_PARAMETRIZATIONS, StyleTransferError, adam, lbfgs

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style", "fast")

#: Defaults chosen by benchmarks/bench_style.py (see docs/style.md for the measurement).
#: VGG pools four times before block5: smaller sides vanish on the way.
MIN_SIDE = 16

DEFAULTS = dict(
    size=512,
    scales=(0.5, 1.0),
    iterations=(100, 300),
    optimizer="lbfgs",
    content_weight=1e3,
    style_weight=1e-2,
    tv_weight=1.0,
)


# ---------------------------------------------------------------- image helpers (numpy)
def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of an ``(H, W, C)`` float image (any range), channel by channel, float32."""
    from PIL import Image

    image = np.asarray(image, dtype=np.float32)
    if image.shape[:2] == (height, width):
        return image
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F").resize((width, height), Image.BICUBIC))
        for c in range(image.shape[-1])
    ]
    return np.stack(chans, axis=-1).astype(np.float32)


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaged resize of a ``(H, W)`` mask in ``[0, 1]``."""
    from PIL import Image

    mask = np.asarray(mask, dtype=np.float32)
    if mask.shape == (height, width):
        return mask
    out = np.asarray(Image.fromarray(mask, mode="F").resize((width, height), Image.BOX))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def long_side_shape(shape, long_side: int) -> tuple[int, int]:
    """``(h, w)`` with the long side ``long_side`` and ``shape``'s aspect ratio."""
    h, w = shape[:2]
    s = long_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """BT.601 full-range YCbCr of an RGB image in ``[0, 255]`` (chroma centred on 0)."""
    return np.asarray(image, dtype=np.float32) @ _YCC.T


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`."""
    return np.asarray(ycc, dtype=np.float32) @ np.linalg.inv(_YCC).T.astype(np.float32)


def transfer_luminance(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's luminance with the content's colours (JNS ``-original_colors 1``).

    Args:
        result: Stylized RGB ``(H, W, 3)`` in ``[0, 255]``.
        content: The content photo, same size.

    Returns:
        RGB in ``[0, 255]``: Y from ``result``, Cb/Cr from ``content``.
    """
    y = rgb_to_ycbcr(result)[..., :1]
    cc = rgb_to_ycbcr(content)[..., 1:]
    return np.clip(ycbcr_to_rgb(np.concatenate([y, cc], axis=-1)), 0, 255)


# ---------------------------------------------------------------- results
@dataclass
class StyleResult:
    """What :meth:`StyleTransfer.transfer` returns.

    Attributes:
        image: ``(H, W, 3)`` float32 RGB in ``[0, 255]``.
        losses: Final ``{"total", "content", "style", "tv"}`` of the returned
            image (before colour preservation), at the output size.
        seconds: Wall time of the optimization.
        evaluations: Loss-and-gradient evaluations per scale.
        sizes: ``(h, w)`` of each scale.
    """

    image: np.ndarray
    losses: dict
    seconds: float
    evaluations: list = field(default_factory=list)
    sizes: list = field(default_factory=list)


def _as_list(value, n, name):
    if isinstance(value, (int, float)):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"Expected {n} values for {name} (one per scale). Received: {name}={value}")
    return value


class StyleTransfer:
    """Gatys style transfer with one or more styles, reusable across content images.

    Args:
        styles: One style image or a list: ``(H, W, 3)`` arrays in ``[0, 255]``.
        blend: One weight per style (normalised to sum 1); default equal.
        backbone: Registry name or a built backbone. ``"vgg19"`` offline
            falls back to the embedded VGG16 with a note.
        weights: Backbone weights (``"auto"``, ``"imagenet"``, ``"embedded"``, a file).
        style_layers: Layers whose Gram matrices define style.
        content_layers: Layers whose activations define content.
        style_layer_weights: ``{layer: weight}``; default equal, summing to 1.
        content_weight, style_weight, tv_weight: Weights of the three terms.
        normalization: Gram normalization, ``"mean"`` (tutorial) or ``"gatys"``;
            see :mod:`suite.style.losses`.
        content_normalization: ``"mean"`` or ``"gatys"``.
        tv_power: 1 (absolute differences) or 2 (squared).
        tv_smoothing: Charbonnier smoothing of the TV term in grey levels
            (0 = exact ``|d|``); a smooth TV lets L-BFGS build useful curvature.
        carry_detail: With ``init="content"``, add the photo's detail that a
            coarse scale cannot hold when moving to the next scale.
        optimizer: ``"lbfgs"`` or ``"adam"``.
        iterations: Loss-and-gradient evaluations per scale: an int for every
            scale, or one per scale.
        size: Long side of the output in pixels; the aspect ratio is kept.
        scales: Fractions of ``size`` to optimize at, coarse to fine, ending at 1.
        init: ``"content"``, ``"noise"``, ``"style"`` or ``"fast"`` (the fast
            network's result, see :mod:`suite.style.fast`), for the first scale.
        seed: Seed of the noise initialization.
        preserve_colors: Keep the content's colours: the result's luminance
            with the photo's chroma (as jcjohnson/neural-style ``-original_colors``).
        style_scale: Style image long side relative to the working long side
            (bigger = larger brush strokes).
        learning_rate, beta_1, epsilon, decay_to: Adam settings in ``[0, 1]`` image units.
        parametrization, step_size, corrections: L-BFGS settings; see :mod:`suite.style.optimize`.
        extractor: A prebuilt extractor (overrides ``backbone``/``weights``).
        quiet: No notes about weights.

    Example:
        >>> st = StyleTransfer(style_array, size=256)            # doctest: +SKIP
        >>> result = st.transfer(photo_array)                     # doctest: +SKIP
        >>> result.image.shape                                    # doctest: +SKIP
    """

    def __init__(
        self,
        styles,
        blend=None,
        backbone="vgg19",
        weights="auto",
        style_layers=DEFAULT_STYLE_LAYERS,
        content_layers=DEFAULT_CONTENT_LAYERS,
        style_layer_weights=None,
        content_weight=DEFAULTS["content_weight"],
        style_weight=DEFAULTS["style_weight"],
        tv_weight=DEFAULTS["tv_weight"],
        normalization="mean",
        content_normalization="mean",
        tv_power=1.0,
        tv_smoothing=0.0,
        carry_detail=True,
        optimizer=DEFAULTS["optimizer"],
        iterations=DEFAULTS["iterations"],
        size=DEFAULTS["size"],
        scales=DEFAULTS["scales"],
        init="content",
        seed=0,
        preserve_colors=False,
        style_scale=1.0,
        learning_rate=0.02,
        beta_1=0.9,
        epsilon=1e-3,
        decay_to=1.0,
        parametrization="bounded",
        step_size=2.0,
        corrections=20,
        extractor=None,
        quiet=False,
    ):
        styles = [styles] if isinstance(styles, np.ndarray) and styles.ndim == 3 else list(styles)
        if not styles:
            raise ValueError("At least one style image is needed. Received: styles=[]")
        for i, s in enumerate(styles):
            s = np.asarray(s)
            if s.ndim != 3 or s.shape[-1] != 3:
                raise ValueError(f"Style images must be (H, W, 3) RGB. Received: styles[{i}].shape={s.shape}")
        if blend is None:
            blend = [1.0] * len(styles)
        blend = [float(b) for b in blend]
        if len(blend) != len(styles):
            raise ValueError(f"Expected one blend weight per style ({len(styles)}). Received: blend={blend}")
        if any(b < 0 for b in blend) or sum(blend) <= 0:
            raise ValueError(f"Blend weights must be >= 0 with a positive sum. Received: blend={blend}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Expected optimizer in {OPTIMIZERS}. Received: optimizer={optimizer!r}")
        if init not in INITS:
            raise ValueError(f"Expected init in {INITS}. Received: init={init!r}")
        if normalization not in GRAM_NORMALIZATIONS:
            raise ValueError(f"Expected normalization in {GRAM_NORMALIZATIONS}. Received: normalization={normalization!r}")
        if content_normalization not in CONTENT_NORMALIZATIONS:
            raise ValueError(
                f"Expected content_normalization in {CONTENT_NORMALIZATIONS}. Received: content_normalization={content_normalization!r}"
            )
        if parametrization not in LBFGS_PARAMETRIZATIONS:
            raise ValueError(f"Expected parametrization in {LBFGS_PARAMETRIZATIONS}. Received: parametrization={parametrization!r}")
        if int(size) < 16:
            raise ValueError(f"Expected size >= 16. Received: size={size}")
        scales = [float(s) for s in (scales if isinstance(scales, (list, tuple)) else [scales])]
        if not scales or any(not 0 < s <= 1 for s in scales) or scales != sorted(scales):
            raise ValueError(f"Expected increasing scales in (0, 1]. Received: scales={scales}")
        iterations = [int(i) for i in _as_list(iterations, len(scales), "iterations")]
        if any(i < 0 for i in iterations) or sum(iterations) == 0:
            raise ValueError(f"Expected non-negative iterations, not all zero. Received: iterations={iterations}")
        if style_scale <= 0:
            raise ValueError(f"Expected style_scale > 0. Received: style_scale={style_scale}")
        for name, w in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight", tv_weight)):
            if not (w >= 0 and math.isfinite(w)):
                raise ValueError(f"Expected {name} >= 0. Received: {name}={w}")

        self.styles = [np.asarray(s, dtype=np.float32) for s in styles]
        self.blend = [b / sum(blend) for b in blend]
        self.style_layers = list(style_layers)
        self.content_layers = list(content_layers)
        self.style_layer_weights = dict(style_layer_weights) if style_layer_weights else None
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.normalization = normalization
        self.content_normalization = content_normalization
        self.tv_power = float(tv_power)
        self.tv_smoothing = float(tv_smoothing)
        self.carry_detail = bool(carry_detail)
        self.optimizer = optimizer
        self.iterations = iterations
        self.size = int(size)
        self.scales = scales
        self.init = init
        self.seed = int(seed)
        self.preserve_colors = bool(preserve_colors)
        self.style_scale = float(style_scale)
        self.learning_rate = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.epsilon = float(epsilon)
        self.decay_to = float(decay_to)
        self.parametrization = parametrization
        self.step_size = float(step_size)
        self.corrections = int(corrections)

        if extractor is None:
            from suite.style.extractor import build_style_extractor

            extractor = build_style_extractor(backbone, weights, self.style_layers, self.content_layers, quiet=quiet)
        self.extractor = extractor
        self.backbone_description = getattr(extractor, "weights_description", getattr(extractor, "name", "custom"))
        self._gram_cache: dict = {}
        self._value_and_grad = None
        self._fast = None  # the fast network of init="fast", built on first use

    # ------------------------------------------------------------ options for sidecars
    def get_options(self) -> dict:
        """The settings that reproduce a result (what the CLI's JSON sidecar records)."""
        return {
            "blend": self.blend,
            "backbone": self.backbone_description,
            "style_layers": self.style_layers,
            "content_layers": self.content_layers,
            "style_layer_weights": self.style_layer_weights,
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "tv_weight": self.tv_weight,
            "normalization": self.normalization,
            "content_normalization": self.content_normalization,
            "tv_power": self.tv_power,
            "tv_smoothing": self.tv_smoothing,
            "carry_detail": self.carry_detail,
            "optimizer": self.optimizer,
            "iterations": self.iterations,
            "size": self.size,
            "scales": self.scales,
            "init": self.init,
            "seed": self.seed,
            "preserve_colors": self.preserve_colors,
            "style_scale": self.style_scale,
            "learning_rate": self.learning_rate,
            "beta_1": self.beta_1,
            "epsilon": self.epsilon,
            "decay_to": self.decay_to,
            "parametrization": self.parametrization,
            "step_size": self.step_size,
            "corrections": self.corrections,
        }

    # ------------------------------------------------------------ the compiled objective
    def _objective(self):
        if self._value_and_grad is None:
            from suite.style.grad import compiled_value_and_grad
            from suite.style.losses import style_transfer_objective

            extractor = self.extractor
            style_layers = self.style_layers
            kw = dict(
                style_weight=self.style_weight,
                content_weight=self.content_weight,
                tv_weight=self.tv_weight,
                style_layer_weights=self.style_layer_weights,
                normalization=self.normalization,
                content_normalization=self.content_normalization,
                tv_power=self.tv_power,
                tv_smoothing=self.tv_smoothing,
            )

            def loss_fn(x, content_targets, style_targets, blend, masks):
                feats = extractor(x)
                total, terms = style_transfer_objective(
                    x, feats, content_targets, style_targets, style_blend=blend, style_masks=masks, **kw
                )
                terms = dict(terms)
                terms["total"] = total
                return total, terms

            del style_layers
            self._value_and_grad = compiled_value_and_grad(loss_fn)
        return self._value_and_grad

    def _features(self, image_hw3: np.ndarray) -> dict:
        out = self.extractor(np.asarray(image_hw3, dtype=np.float32)[None])
        return {k: np.asarray(v) for k, v in out.items()}

    def style_targets(self, long_side: int) -> list[dict]:
        """Gram targets ``[{layer: (1, C, C)}]`` of each style at a working long side (cached)."""
        from suite.style.losses import gram_matrix

        key = int(long_side)
        if key not in self._gram_cache:
            targets = []
            for style in self.styles:
                h, w = long_side_shape(style.shape, max(16, round(self.style_scale * long_side)))
                feats = self._features(resize_image(style, h, w))
                targets.append(
                    {name: np.asarray(gram_matrix(feats[name], self.normalization)) for name in self.style_layers}
                )
            self._gram_cache[key] = targets
        return self._gram_cache[key]

    def _targets_for(self, long_side, masks, feature_shapes, hw):
        """Style targets, blend and per-layer masks for one scale.

        Without masks the styles blend by blending their Gram targets
        (jcjohnson/neural-style's way): the gradient is the same as the
        blend-weighted sum of per-style losses, for one Gram per layer.
        """
        targets = self.style_targets(long_side)
        if masks is None:
            if len(targets) == 1:
                return targets, [1.0], None
            blended = {
                name: sum(b * t[name] for b, t in zip(self.blend, targets)) for name in self.style_layers
            }
            return [blended], [1.0], None
        layer_masks = []
        for m in masks:
            full = resize_mask(m, *hw)
            layer_masks.append(
                {name: resize_mask(full, *feature_shapes[name])[None, ..., None] for name in self.style_layers}
            )
        return targets, list(self.blend), layer_masks

    def _fast_start(self, content_s):
        """The fast network's result for this photo at this size: the starting image of ``init="fast"``."""
        if self._fast is None:
            from suite.style.fast import FastStyleTransfer

            # Same artworks and blend; colours are handled at the end, as for every init.
            self._fast = FastStyleTransfer(self.styles, blend=self.blend)
        return self._fast.transfer(content_s).image

    # ------------------------------------------------------------ one content image
    def transfer(self, content, masks=None, callback=None) -> StyleResult:
        """Stylizes one content image.

        Args:
            content: ``(H, W, 3)`` RGB array in ``[0, 255]``.
            masks: ``None`` or one ``(H, W)`` mask in ``[0, 1]`` per style (any
                size; resized to the content): style ``k`` applies where mask
                ``k`` is 1. Overlapping masks blend with the blend weights.
            callback: ``callback(info)`` after every evaluation, with ``info``
                keys ``scale`` (index), ``scales``, ``size`` ``(h, w)``, ``step``,
                ``steps``, ``loss``, ``terms`` and ``image`` (``(h, w, 3)``,
                the current pixels).

        Returns:
            A :class:`StyleResult` at ``size`` on the long side.

        Raises:
            StyleTransferError: the loss became NaN/Inf.
        """
        from suite.style.grad import to_backend

        content = np.asarray(content, dtype=np.float32)
        if content.ndim != 3 or content.shape[-1] != 3:
            raise ValueError(f"Content must be (H, W, 3) RGB. Received: shape={content.shape}")
        if masks is not None:
            masks = [np.asarray(m, dtype=np.float32) for m in masks]
            if len(masks) != len(self.styles):
                raise ValueError(f"Expected one mask per style ({len(self.styles)}). Received: {len(masks)} masks")
            masks = [m[..., 0] if m.ndim == 3 else m for m in masks]
            if any(m.max() > 1.0 for m in masks):
                masks = [m / 255.0 for m in masks]
        vg = self._objective()
        rng = np.random.default_rng(self.seed)
        start = time.perf_counter()
        x = None
        sizes, evals = [], []
        final_terms = {}
        for si, (frac, steps) in enumerate(zip(self.scales, self.iterations)):
            long_side = max(16, round(self.size * frac))
            h, w = long_side_shape(content.shape, long_side)
            if min(h, w) < MIN_SIDE:
                raise StyleTransferError(
                    f"too small for style transfer: {w}x{h} px at this scale, and the network needs at least "
                    f"{MIN_SIDE} px per side (the image is {content.shape[1]}x{content.shape[0]}; use a larger --size "
                    "or a less elongated image)"
                )
            content_s = resize_image(content, h, w)
            feats = self._features(content_s)
            content_targets = {name: feats[name] for name in self.content_layers}
            shapes = {name: feats[name].shape[1:3] for name in self.style_layers}
            del feats  # every layer's activations of the photo: ~1.9 GiB at 2048 px, and only the targets are needed
            style_targets, blend, layer_masks = self._targets_for(long_side, masks, shapes, (h, w))
            if x is None:
                if self.init == "content":
                    x = content_s
                elif self.init == "noise":
                    x = rng.uniform(0.0, 255.0, size=(h, w, 3)).astype(np.float32)
                elif self.init == "fast":
                    x = self._fast_start(content_s)
                else:
                    x = resize_image(self.styles[0], h, w)
            else:
                prev_hw = x.shape[:2]
                x = resize_image(x, h, w)
                if self.carry_detail and self.init in ("content", "fast"):
                    # Upsampling loses the photo's fine detail; add back what the
                    # coarse scale could not hold (a Laplacian-pyramid level).
                    x = x + content_s - resize_image(resize_image(content_s, *prev_hw), h, w)
            x = np.clip(x, 0, 255)[None]
            args = (to_backend(content_targets), to_backend(style_targets), blend, to_backend(layer_masks))

            def f(xx, _args=args):
                return vg(xx, *_args)

            def cb(step, loss, terms, image, _si=si, _steps=steps, _hw=(h, w)):
                if callback is not None:
                    callback({"scale": _si, "scales": len(self.scales), "size": _hw, "step": step, "steps": _steps,
                              "loss": loss, "terms": terms, "image": image[0]})

            where = f"at scale {si + 1}/{len(self.scales)} ({w}x{h})"
            if steps > 0:
                if self.optimizer == "lbfgs":
                    x, _, _ = lbfgs(f, x, steps, cb, self.parametrization, self.step_size, self.corrections, where=where)
                else:
                    x, _, _ = adam(f, x, steps, cb, self.learning_rate, self.beta_1, 0.999, self.epsilon,
                                   self.decay_to, where=where)
            x = np.clip(x, 0, 255)
            sizes.append((h, w))
            evals.append(steps)
            if si == len(self.scales) - 1:
                loss, final_terms, _ = f(x)
                if not math.isfinite(loss):
                    raise StyleTransferError(f"the final loss is {loss} {where}")
            x = x[0]
        seconds = time.perf_counter() - start
        image = x
        if self.preserve_colors:
            image = transfer_luminance(image, resize_image(content, *image.shape[:2]))
        losses = {k: float(v) for k, v in final_terms.items()}
        return StyleResult(image=image.astype(np.float32), losses=losses, seconds=seconds, evaluations=evals, sizes=sizes)


def stylize(content, styles, blend=None, masks=None, callback=None, **kwargs) -> np.ndarray:
    """Stylizes one image; a one-call front end to :class:`StyleTransfer`.

    Args:
        content: ``(H, W, 3)`` RGB array in ``[0, 255]``.
        styles: One style image or a list of them (arrays in ``[0, 255]``).
        blend: Blend weights, one per style.
        masks: Optional region masks, one per style.
        callback: Per-evaluation callback (see :meth:`StyleTransfer.transfer`).
        **kwargs: Any :class:`StyleTransfer` argument (``size``, ``optimizer``,
            ``iterations``, ``scales``, ``preserve_colors``, ...).

    Returns:
        The stylized ``(h, w, 3)`` float32 image in ``[0, 255]``, long side ``size``.

    Example:
        >>> from suite.common.io.images import load_image
        >>> out = stylize(load_image("assets/photos/chelsea.jpg"),
        ...               load_image("assets/styles/mosaic.png"), size=256)  # doctest: +SKIP
    """
    return StyleTransfer(styles, blend=blend, **kwargs).transfer(content, masks=masks, callback=callback).image
