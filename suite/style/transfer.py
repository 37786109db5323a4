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

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

from suite.common.io.images import as_rgb_array, as_rgb_arrays, long_side_shape, resize_float
from suite.common.options import as_dict, replace

# The colour helpers are re-exported: transfer_luminance is the "preserve colours" step of every method.
from suite.style.color import rgb_to_ycbcr, transfer_luminance, ycbcr_to_rgb  # noqa: F401

# OPTIMIZERS and INITS are re-exported: the web page reads its choices from this module.
from suite.style.optimize import OPTIMIZERS, StyleTransferError, adam, lbfgs, lbfgsb_scipy  # noqa: F401
from suite.style.options import INITS, StyleOptions, check_style_options  # noqa: F401
from suite.style.presets import normalised_blend

#: VGG pools four times before block5: smaller sides vanish on the way.
MIN_SIDE = 16

#: The library's defaults, ``{option: value}`` (chosen by benchmarks/bench_style.py, see docs/style.md).
DEFAULTS = dataclasses.asdict(StyleOptions())

_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(StyleOptions))


# ---------------------------------------------------------------- image helpers (numpy)
def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of an ``(H, W, C)`` float image (any range), channel by channel, float32."""
    return resize_float(image, height, width)


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaged resize of a ``(H, W)`` mask in ``[0, 1]``."""
    mask = np.asarray(mask, dtype=np.float32)
    if mask.shape == (height, width):
        return mask
    return np.clip(resize_float(mask, height, width, resample="box"), 0.0, 1.0).astype(np.float32)


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
        feature_dtype: The compute dtype of the feature network inside the
            optimized objective (``"bfloat16"``, ``"float16"`` or ``"float32"``):
            ``losses`` are that objective's, as optimized.
    """

    image: np.ndarray
    losses: dict
    seconds: float
    evaluations: list = field(default_factory=list)
    sizes: list = field(default_factory=list)
    feature_dtype: str = "float32"


def _check_styles(styles) -> list[np.ndarray]:
    """One style image or a list (paths, PIL images or arrays), as float32 ``(H, W, 3)`` arrays in ``[0, 255]``."""
    styles = as_rgb_arrays(styles, "styles")
    if not styles:
        raise ValueError("At least one style image is needed. Received: styles=[]")
    return styles


class StyleTransfer:
    """Gatys style transfer with one or more styles, reusable across content images.

    The constructor takes the data and the machinery (styles, blend, a
    prebuilt extractor); every hyperparameter is in ``options``, a
    :class:`suite.style.options.StyleOptions` (size, scales, iterations,
    optimizer, weights of the loss terms, backbone, layers...; each field's
    help says what it does). Keyword arguments named like its fields are
    applied on top of ``options``, so ``StyleTransfer(art, size=256,
    optimizer="adam")`` works as before. The options are readable as
    ``st.options`` and as attributes (``st.iterations`` is the per-scale budget).

    Args:
        styles: One style image or a list: image files, PIL images or ``(H, W, 3)`` arrays in ``[0, 255]``.
        options: A :class:`StyleOptions`; default ``StyleOptions()``.
        blend: One weight per style (normalised to sum 1); default equal.
        extractor: A prebuilt extractor (overrides ``options.backbone``/``weights``).
        quiet: No notes about weights.
        mixed_precision: The precision of the feature network inside the
            optimization (:func:`suite.style.extractor.feature_dtype`): ``None``
            (auto) is bfloat16 convolutions on a CPU with bfloat16 instructions
            (0.58-0.66x float32's time per evaluation at 128-512 px on 2 cores;
            at equal evaluations the final loss was 3.5-10% higher, which the
            default schedule's extra evaluations more than make up; see
            docs/style.md) and float32 elsewhere, ``False`` float32 (the CLI's
            ``--no-mixed-precision``). Gram matrices, loss sums, the optimizer's
            state and the pixels are float32 either way, and the targets (photo
            features, style Grams) come from the float32 network; the result's
            ``losses`` are the optimized (bfloat16-network) objective's.
        initializer: The starting image of ``init="fast"``: ``initializer(photo)``
            gives an ``(h, w, 3)`` image in ``[0, 255]`` for the photo at the first
            scale's size. Default: the fast network's result with the same
            artworks and blend (:class:`suite.style.fast.FastStart`).
        **overrides: :class:`StyleOptions` fields. ``backbone`` may also be a
            built backbone (a ``keras.Model`` from the registry).

    Raises:
        ValueError: a bad option, named in one line (``Received: optimizer='sgd'``).
        TypeError: a keyword that is no option.

    Example:
        >>> st = StyleTransfer(style_array, size=256)            # doctest: +SKIP
        >>> result = st.transfer(photo_array)                     # doctest: +SKIP
        >>> result.image.shape                                    # doctest: +SKIP
    """

    def __init__(
        self,
        styles,
        options: StyleOptions | None = None,
        *,
        blend=None,
        extractor=None,
        quiet=False,
        initializer=None,
        mixed_precision=None,
        **overrides,
    ):
        self.styles = _check_styles(styles)
        self.blend = normalised_blend(blend, len(self.styles))
        backbone_model = overrides.pop("backbone") if not isinstance(overrides.get("backbone", ""), str) else None
        self.options = check_style_options(replace(options or StyleOptions(), **overrides))
        if self.options.method != "gatys":
            raise ValueError(
                f"StyleTransfer is the gatys method; use suite.style.fast for the fast one. "
                f"Received: method={self.options.method!r}"
            )
        if self.options.init == "fast" and initializer is None:
            from suite.style.fast import FastStart

            initializer = FastStart(self.styles, self.blend)
        self.initializer = initializer
        if extractor is None:
            from suite.style.extractor import build_style_extractor

            o = self.options
            extractor = build_style_extractor(
                backbone_model if backbone_model is not None else o.backbone,
                o.weights,
                o.style_layers,
                o.content_layers,
                quiet=quiet,
            )
        self.extractor = extractor
        self.mixed_precision = mixed_precision
        self.backbone_description = getattr(extractor, "weights_description", getattr(extractor, "name", "custom"))
        self._gram_cache: dict = {}
        self._value_and_grad = None
        self._loops: dict = {}  # compiled optimizer loops, by optimizer (and image shape for L-BFGS)

    def __getattr__(self, name):
        # ``st.size``, ``st.iterations``...: the options, read-only, without copying each into an attribute.
        options = self.__dict__.get("options")
        if options is not None and name in _OPTION_NAMES:
            return getattr(options, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------ options for sidecars
    def get_options(self) -> dict:
        """The settings that reproduce a result (what the JSON sidecar records).

        ``as_dict(self.options)``, with the normalised ``blend`` and, as
        ``backbone``, the network actually loaded (e.g. the embedded VGG16
        that stood in for VGG19).
        """
        return {**as_dict(self.options), "blend": self.blend, "backbone": self.backbone_description}

    @property
    def feature_precision(self) -> str:
        """The compute dtype of the feature network the optimization runs (``"bfloat16"`` on a CPU with
        bfloat16 instructions by default, else ``"float32"``; ``"float16"`` under ``mixed_float16``).
        The targets (photo features, style Grams) come from the float32 network either way."""
        import keras

        from suite.style.extractor import feature_dtype

        return keras.DTypePolicy(feature_dtype(self.mixed_precision)).compute_dtype

    # ------------------------------------------------------------ the compiled objective
    def _objective(self):
        if self._value_and_grad is None:
            from keras import ops

            from suite.style.extractor import feature_dtype, with_dtype_policy
            from suite.style.grad import compiled_value_and_grad
            from suite.style.losses import style_transfer_objective

            extractor = with_dtype_policy(self.extractor, feature_dtype(self.mixed_precision))
            o = self.options
            kw = dict(
                style_weight=o.style_weight,
                content_weight=o.content_weight,
                tv_weight=o.tv_weight,
                style_layer_weights=o.style_layer_weights,
                normalization=o.normalization,
                content_normalization=o.content_normalization,
                tv_power=o.tv_power,
                tv_smoothing=o.tv_smoothing,
            )

            def loss_fn(x, content_targets, style_targets, blend, masks):
                feats = {k: ops.cast(v, "float32") for k, v in extractor(x).items()}
                total, terms = style_transfer_objective(
                    x, feats, content_targets, style_targets, style_blend=blend, style_masks=masks, **kw
                )
                terms = dict(terms)
                terms["total"] = total
                return total, terms

            self._value_and_grad = compiled_value_and_grad(loss_fn)
        return self._value_and_grad

    def _features(self, image_hw3: np.ndarray) -> dict:
        out = self.extractor(np.asarray(image_hw3, dtype=np.float32)[None])
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}

    def style_targets(self, long_side: int) -> list[dict]:
        """Gram targets ``[{layer: (1, C, C)}]`` of each style at a working long side (cached)."""
        from suite.style.losses import gram_matrix

        key = int(long_side)
        if key not in self._gram_cache:
            targets = []
            for style in self.styles:
                h, w = long_side_shape(style.shape, max(16, round(self.options.style_scale * long_side)))
                feats = self._features(resize_image(style, h, w))
                targets.append(
                    {
                        name: np.asarray(gram_matrix(feats[name], self.options.normalization))
                        for name in self.options.style_layers
                    }
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
        layers = self.options.style_layers
        if masks is None:
            if len(targets) == 1:
                return targets, [1.0], None
            blended = {name: sum(b * t[name] for b, t in zip(self.blend, targets)) for name in layers}
            return [blended], [1.0], None
        layer_masks = []
        for m in masks:
            full = resize_mask(m, *hw)
            layer_masks.append({name: resize_mask(full, *feature_shapes[name])[None, ..., None] for name in layers})
        return targets, list(self.blend), layer_masks

    # ------------------------------------------------------------ one content image
    def transfer(self, content, masks=None, callback=None, callback_every: int = 1) -> StyleResult:
        """Stylizes one content image.

        Args:
            content: The photo: an image file, a PIL image or an ``(H, W, 3)`` RGB array in ``[0, 255]`` (float arrays too, not ``[0, 1]``: multiply those by 255; a warning says so).
            masks: ``None`` or one ``(H, W)`` mask in ``[0, 1]`` per style (any
                size; resized to the content): style ``k`` applies where mask
                ``k`` is 1. Overlapping masks blend with the blend weights.
            callback: ``callback(info)`` after every evaluation, with ``info``
                keys ``scale`` (index), ``scales``, ``size`` ``(h, w)``, ``step``,
                ``steps``, ``loss``, ``terms`` and ``image`` (``(h, w, 3)``,
                the current pixels).
            callback_every: Evaluations between callbacks (and after each
                scale's last). The optimizers run this many steps per compiled
                call, so a larger value costs fewer host round trips (on a GPU).

        Returns:
            A :class:`StyleResult` at ``size`` on the long side.

        Raises:
            StyleTransferError: the loss became NaN/Inf.
        """
        content, masks = self._checked_inputs(content, masks)
        o = self.options
        rng = np.random.default_rng(o.seed)
        start = time.perf_counter()
        x = None
        state = None  # Adam's moments, carried (upsampled) from scale to scale with warm_start
        sizes, final_terms = [], {}
        for si, (frac, steps) in enumerate(zip(o.scales, o.iterations)):
            long_side, (h, w) = self._scale_shape(content, frac)
            content_s = resize_image(content, h, w)
            args = self._scale_args(content_s, long_side, masks, (h, w))
            x = np.clip(self._start_image(x, content_s, rng), 0, 255)[None]
            where = f"at scale {si + 1}/{len(o.scales)} ({w}x{h})"
            state = self._resized_state(state, (h, w))
            x, state = self._optimize(
                x, steps, args, self._scale_callback(callback, si, steps, (h, w)), where, state, callback_every
            )
            x = np.clip(x, 0, 255)
            sizes.append((h, w))
            if si == len(o.scales) - 1:
                loss, final_terms, _ = self._objective()(x, *args)
                if not math.isfinite(loss):
                    raise StyleTransferError(f"the final loss is {loss} {where}")
            x = x[0]
        seconds = time.perf_counter() - start
        image = x
        if o.preserve_colors:
            image = transfer_luminance(image, resize_image(content, *image.shape[:2]))
        losses = {k: float(v) for k, v in final_terms.items()}
        return StyleResult(
            image=image.astype(np.float32),
            losses=losses,
            seconds=seconds,
            evaluations=list(o.iterations),
            sizes=sizes,
            feature_dtype=self.feature_precision,
        )

    def _checked_inputs(self, content, masks):
        """``content`` as float32 ``(H, W, 3)``, ``masks`` as one ``(H, W)`` array in ``[0, 1]`` per style."""
        content = as_rgb_array(content, "content")
        if masks is not None:
            masks = [np.asarray(m, dtype=np.float32) for m in masks]
            if len(masks) != len(self.styles):
                raise ValueError(f"Expected one mask per style ({len(self.styles)}). Received: {len(masks)} masks")
            masks = [m[..., 0] if m.ndim == 3 else m for m in masks]
            if any(m.max() > 1.0 for m in masks):
                masks = [m / 255.0 for m in masks]
        return content, masks

    def _scale_shape(self, content, frac):
        """``(long_side, (h, w))`` of one scale; too small a side is a :class:`StyleTransferError`."""
        long_side = max(16, round(self.options.size * frac))
        h, w = long_side_shape(content.shape, long_side)
        if min(h, w) < MIN_SIDE:
            raise StyleTransferError(
                f"too small for style transfer: {w}x{h} px at this scale, and the network needs at least "
                f"{MIN_SIDE} px per side (the image is {content.shape[1]}x{content.shape[0]}; use a larger --size "
                "or a less elongated image)"
            )
        return long_side, (h, w)

    def _scale_args(self, content_s, long_side, masks, hw):
        """The objective's arguments at one scale (content and style targets, blend, masks), as backend tensors."""
        from suite.style.grad import to_backend

        feats = self._features(content_s)
        content_targets = {name: feats[name] for name in self.options.content_layers}
        shapes = {name: feats[name].shape[1:3] for name in self.options.style_layers}
        del feats  # every layer's activations of the photo: ~1.9 GiB at 2048 px, and only the targets are needed
        style_targets, blend, layer_masks = self._targets_for(long_side, masks, shapes, hw)
        return to_backend(content_targets), to_backend(style_targets), blend, to_backend(layer_masks)

    def _start_image(self, x, content_s, rng):
        """The first scale's initialization, or the previous scale's result upsampled to this one."""
        o = self.options
        h, w = content_s.shape[:2]
        if x is None:
            if o.init == "content":
                return content_s
            if o.init == "noise":
                return rng.uniform(0.0, 255.0, size=(h, w, 3)).astype(np.float32)
            if o.init == "fast":
                return np.asarray(self.initializer(content_s), dtype=np.float32)
            return resize_image(self.styles[0], h, w)
        prev_hw = x.shape[:2]
        x = resize_image(x, h, w)
        if o.carry_detail and o.init in ("content", "fast"):
            # Upsampling loses the photo's fine detail; add back what the
            # coarse scale could not hold (a Laplacian-pyramid level).
            x = x + content_s - resize_image(resize_image(content_s, *prev_hw), h, w)
        return x

    def _scale_callback(self, callback, si, steps, hw):
        """The optimizers' ``cb(step, loss, terms, image)`` as the user's ``callback(info)``; ``None`` without one."""
        if callback is None:
            return None
        n = len(self.options.scales)

        def cb(step, loss, terms, image):
            callback(
                {
                    "scale": si,
                    "scales": n,
                    "size": hw,
                    "step": step,
                    "steps": steps,
                    "loss": loss,
                    "terms": terms,
                    "image": image[0],
                }
            )

        return cb

    def _resized_state(self, state, hw):
        """Adam's ``(m, v, t)`` of the previous scale, upsampled to this one (``None`` without warm start)."""
        if state is None or not self.options.warm_start:
            return None
        m, v, t = state
        if m.shape[1:3] == tuple(hw):
            return state
        return (resize_image(m[0], *hw)[None], np.maximum(resize_image(v[0], *hw), 0.0)[None], t)

    def _optimize(self, x, steps, args, cb, where, state=None, callback_every=1):
        """``steps`` evaluations of the chosen optimizer from ``x`` (``(1, h, w, 3)``); returns ``(x, state)``."""
        if steps <= 0:
            return x, state
        o = self.options
        vg = self._objective()
        if o.optimizer == "lbfgsb":
            x, _, _ = lbfgsb_scipy(
                lambda xx: vg(xx, *args), x, steps, cb, o.parametrization, o.step_size, o.corrections, where=where
            )
            return x, None
        from suite.style.grad import compile_loop

        if o.optimizer == "lbfgs":
            key = ("lbfgs", x.shape)
            if key not in self._loops:
                from suite.style.optimize import lbfgs_loop

                init, run = lbfgs_loop(vg.on_device, x.shape, o.corrections)
                self._loops[key] = compile_loop(init), compile_loop(run)
            x, _, _, _ = lbfgs(
                vg.on_device,
                x,
                steps,
                cb,
                o.step_size,
                o.corrections,
                where=where,
                callback_every=callback_every,
                loops=self._loops[key],
                args=args,
            )
            return x, None
        if "adam" not in self._loops:
            from suite.style.optimize import adam_loop

            self._loops["adam"] = compile_loop(adam_loop(vg.on_device))
        x, _, _, state = adam(
            vg.on_device,
            x,
            steps,
            cb,
            o.learning_rate,
            o.beta_1,
            o.beta_2,
            o.epsilon,
            o.decay_to,
            where=where,
            ema=o.ema,
            state=state,
            callback_every=callback_every,
            loop=self._loops["adam"],
            args=args,
        )
        return x, state


def stylize(content, styles, blend=None, masks=None, callback=None, **kwargs) -> np.ndarray:
    """Stylizes one image; a one-call front end to :class:`StyleTransfer`.

    Args:
        content: The photo: an image file, a PIL image or an ``(H, W, 3)`` RGB array in ``[0, 255]`` (float arrays too, not ``[0, 1]``: multiply those by 255; a warning says so).
        styles: One style image or a list of them (files, PIL images or arrays in ``[0, 255]``).
        blend: Blend weights, one per style.
        masks: Optional region masks, one per style.
        callback: Per-evaluation callback (see :meth:`StyleTransfer.transfer`).
        **kwargs: :class:`StyleTransfer` arguments: ``options`` (a
            :class:`suite.style.options.StyleOptions`), ``extractor``, ``quiet``,
            ``initializer`` (the start of ``init="fast"``), or any option by name
            (``size``, ``optimizer``, ``iterations``, ``scales``, ``preserve_colors``, ...).

    Returns:
        The stylized ``(h, w, 3)`` float32 image in ``[0, 255]``, long side ``size``.

    Example:
        >>> from suite.common.io.images import load_image
        >>> out = stylize(load_image("assets/photos/chelsea.jpg"),
        ...               load_image("assets/styles/mosaic.png"), size=256)  # doctest: +SKIP
    """
    return StyleTransfer(styles, blend=blend, **kwargs).transfer(content, masks=masks, callback=callback).image
