"""Every hyperparameter of ``suite stylize`` in one Keras-free dataclass: :class:`StyleOptions`.

Each field carries its default, a one-sentence help, its choices (from the
library's constants and registries) and its range. The library validates an
instance once (:func:`suite.common.options.check`), :class:`suite.style.transfer.StyleTransfer`
runs it and writes it as the JSON sidecar's ``options``
(:func:`suite.common.options.as_dict`), and ``suite stylize`` builds its
Click options from the same fields (:func:`suite.common.options.click_options`).
Adding a style option is one field here, plus the code that uses it.

The vocabularies below live here (not in the Keras-importing modules that use
them) so that ``suite --help`` reads the choices without starting Keras;
:mod:`suite.style.losses` and :mod:`suite.style.transfer` import them from here.

Example:
    >>> from suite.common.options import replace
    >>> replace(StyleOptions(), size=256, optimizer="adam").iterations
    (150, 250)
"""

from __future__ import annotations

import dataclasses
import math

from suite.common.options import check, option, parse_floats
from suite.style.extractor import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from suite.style.optimize import LBFGS_PARAMETRIZATIONS, OPTIMIZERS

#: ``"gatys"`` optimizes the image; ``"fast"`` is one forward pass of Magenta's arbitrary-style network.
METHODS = ("gatys", "fast")
#: Starting images of the Gatys optimization (``"fast"`` = the fast method's result).
INITS = ("content", "noise", "style", "fast")
#: Gram normalizations of the style loss (:mod:`suite.style.losses` adds ``"none"``, for checks only).
NORMALIZATIONS = ("mean", "gatys")
#: Content-loss normalizations.
CONTENT_NORMALIZATIONS = ("mean", "gatys")


def _style_backbones():
    from suite.common.nn.backbones import style_backbone_names

    return style_backbone_names()


def parse_counts(text: str):
    """``"300"`` -> ``300`` (every scale); ``"100,300"`` -> ``(100, 300)`` (one per scale)."""
    try:
        values = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise ValueError(f"expected non-negative integers, got {text!r}")
    return values[0] if len(values) == 1 else values


def parse_names(text: str) -> tuple[str, ...]:
    """``"block1_conv1, block2_conv1"`` -> ``("block1_conv1", "block2_conv1")``."""
    return tuple(v.strip() for v in str(text).split(",") if v.strip())


def _parse_scales(text: str) -> tuple[float, ...]:
    return parse_floats(",".join(v for v in str(text).split(",") if v.strip()))


@dataclasses.dataclass
class StyleOptions:
    """The hyperparameters of one style-transfer run (Gatys, and the fast method's few).

    Attributes are documented by each field's help (``suite stylize --help``
    prints them with their defaults).
    """

    size: int = option(512, "Output long side in pixels (aspect ratio kept).", low=16, high=8192)
    scales: tuple = option(
        (0.5, 1.0),
        "Coarse-to-fine: fractions of --size to optimize at, ending at 1.",
        parse=_parse_scales,
        metavar="F1,F2,...",
    )
    iterations: int | tuple = option(
        (150, 250),
        "Loss-and-gradient evaluations per scale (one number for every scale, or one per scale).",
        parse=parse_counts,
        metavar="N|N1,N2,...",
    )
    optimizer: str = option(
        "lbfgs",
        "Pixel optimizer: adam or lbfgs (both on the device, many steps per "
        "compiled call), or lbfgsb (scipy's L-BFGS-B on the host).",
        choices=OPTIMIZERS,
    )
    content_weight: float = option(1e3, "Weight of the content loss.", low=0)
    style_weight: float = option(1e-2, "Weight of the style loss.", low=0)
    tv_weight: float = option(1.0, "Weight of total variation (smoothness).", low=0)
    init: str = option("content", "Starting image (fast = the --method fast result).", choices=INITS)
    seed: int = option(0, "Seed for --init noise.", low=0)
    preserve_colors: bool = option(False, "Keep the photo's colours: transfer luminance only.")
    style_scale: float = option(
        1.0, "Style image size relative to the output (bigger = bigger strokes).", low=0.05, high=8
    )
    method: str = option(
        "gatys",
        "gatys = optimize the image (minutes); fast = Magenta's arbitrary-style network, one forward pass "
        "at the photo's own size unless --size is given (Gatys-only options are ignored).",
        choices=METHODS,
    )
    strength: float = option(
        1.0,
        "--method fast: 0 keeps the photo's own style, 1 is the artwork's (interpolates style vectors).",
        low=0,
        high=1,
    )
    backbone: str = option(
        "vgg19",
        "Feature network (VGG19 offline falls back to the embedded VGG16, with a note).",
        choices=_style_backbones,
    )
    weights: str = option(
        "auto",
        "Backbone weights: auto = Keras cache, else the embedded weights (VGG16, MobileNetV2), else none. "
        "imagenet downloads (needs the network).",
        metavar="auto|imagenet|embedded|none|FILE",
    )
    style_layers: tuple = option(DEFAULT_STYLE_LAYERS, "Layers whose Gram matrices define style.", parse=parse_names)
    content_layers: tuple = option(
        DEFAULT_CONTENT_LAYERS, "Layers whose activations define content.", parse=parse_names
    )
    normalization: str = option(
        "mean",
        "Gram normalization: mean = tutorial's mean((G-A)^2) with G/(HW); gatys = 1/(2 nH nW nC)^2 sum((G-A)^2).",
        choices=NORMALIZATIONS,
    )
    learning_rate: float = option(0.02, "Adam learning rate ([0, 1] image units).", low=0, low_open=True, cli="--lr")
    beta_1: float = option(0.9, "Adam's first-moment decay.", low=0, high=1, high_open=True)
    beta_2: float = option(0.999, "Adam's second-moment decay.", low=0, high=1, high_open=True)
    ema: float = option(
        0.0,
        "Adam: the result is an exponential moving average of the iterates with this decay (0 = the last iterate).",
        low=0,
        high=1,
        high_open=True,
    )
    warm_start: bool = option(True, "Adam: carry its moments (upsampled) from one scale to the next.")
    epsilon: float = option(1e-3, "Adam's epsilon ([0, 1] image units).", low=0, low_open=True)
    decay_to: float = option(
        1.0, "Adam: cosine-decay the learning rate to this fraction of itself by the last step.", low=0, high=1
    )
    parametrization: str = option(
        "bounded",
        "lbfgsb variables: bounded (box constraints), scaled (unbounded, clipped at the end) or sigmoid.",
        choices=LBFGS_PARAMETRIZATIONS,
    )
    step_size: float = option(2.0, "L-BFGS: RMS grey-level change of the first step.", low=0, low_open=True)
    corrections: int = option(10, "L-BFGS memory (number of corrections).", low=1)
    content_normalization: str = option(
        "mean",
        "Content-loss normalization: mean = mean((F-P)^2); gatys = 1/2 sum((F-P)^2).",
        choices=CONTENT_NORMALIZATIONS,
    )
    tv_power: float = option(1.0, "Total variation power: 1 = absolute differences, 2 = squared.", low=1, high=2)
    tv_smoothing: float = option(0.0, "Charbonnier smoothing of the TV term in grey levels (0 = exact |d|).", low=0)
    carry_detail: bool = option(
        True,
        "With --init content or fast: add back the photo's detail that a coarse "
        "scale cannot hold when moving to the next scale.",
    )
    style_layer_weights: dict | None = option(
        None, "{layer: weight} of the style layers; default equal, summing to 1.", cli=""
    )
    # Videos (suite.style.video): the defaults are measured by benchmarks/bench_video.py.
    temporal: float = option(
        0.7,
        "Videos: share of the previous result kept where the picture only moved (0 = frame by frame; stops flicker).",
        low=0,
        high=0.95,
    )
    start: float = option(0.0, "Videos: second to start at.", low=0, metavar="SECONDS")
    duration: float | None = option(
        None,
        "Videos: seconds to stylize from --start [default: to the end].",
        low=0,
        low_open=True,
        kind=float,
        metavar="SECONDS",
        show_default=False,
    )
    frame_batch: int = option(
        1,
        "Videos, --method fast: frames per forward pass (1 was fastest on 2 CPU cores; more can pay on a GPU).",
        low=1,
        high=256,
    )
    frame_iterations: int = option(
        20,
        "Videos, --method gatys: evaluations per frame after the first, each starting from the previous result.",
        low=1,
    )


def check_style_options(opts: StyleOptions) -> StyleOptions:
    """Checks every field and what one field cannot say alone; returns a copy with canonical values.

    Canonical: ``scales`` and ``iterations`` as tuples with one entry per
    scale, numbers as ``float``/``int``, layers as tuples, so library code
    reads ``options.iterations[k]`` as scale ``k``'s budget.

    Raises:
        ValueError: one line naming the option, e.g. ``Received: scales=[1.0, 0.5]``.
    """
    scales = opts.scales if isinstance(opts.scales, (list, tuple)) else (opts.scales,)
    scales = tuple(float(s) for s in scales)
    if not scales or any(not 0 < s <= 1 for s in scales) or list(scales) != sorted(scales):
        raise ValueError(f"Expected increasing scales in (0, 1]. Received: scales={list(scales)}")
    iterations = opts.iterations
    if isinstance(iterations, (int, float)):
        iterations = (iterations,) * len(scales)
    iterations = tuple(int(i) for i in iterations)
    if len(iterations) != len(scales):
        raise ValueError(
            f"Expected {len(scales)} values for iterations (one per scale). Received: iterations={list(iterations)}"
        )
    if any(i < 0 for i in iterations) or sum(iterations) == 0:
        raise ValueError(f"Expected non-negative iterations, not all zero. Received: iterations={list(iterations)}")
    for name in ("content_layers", "style_layers"):
        if not tuple(getattr(opts, name) or ()):
            raise ValueError(f"Expected at least one layer in {name}. Received: {name}=[]")
    for name in ("content_weight", "style_weight", "tv_weight"):
        w = getattr(opts, name)
        if not (w >= 0 and math.isfinite(w)):
            raise ValueError(f"Expected {name} >= 0. Received: {name}={w}")
    numbers = {
        f.name: type(f.default)(getattr(opts, f.name))
        for f in dataclasses.fields(opts)
        if type(f.default) in (int, float)
    }
    return check(
        dataclasses.replace(
            opts,
            scales=scales,
            iterations=iterations,
            style_layers=tuple(opts.style_layers),
            content_layers=tuple(opts.content_layers),
            preserve_colors=bool(opts.preserve_colors),
            carry_detail=bool(opts.carry_detail),
            warm_start=bool(opts.warm_start),
            style_layer_weights=dict(opts.style_layer_weights) if opts.style_layer_weights else None,
            **numbers,
        )
    )
