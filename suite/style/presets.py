"""The style methods' constants, built-in style names and blend weights; Keras-free.

The CLI parses ``preset:N`` names and the web page checks blend weights without
importing a backend; the networks (:mod:`suite.style.fast_models`) read their
sizes from here.
"""

from __future__ import annotations

import math

#: Length of Magenta's style vector.
STYLE_DIM = 100
#: Magenta's style images are a central square resized to this side.
PREDICTOR_SIZE = 256
#: Built-in styles of the 26-style network.
NUM_PRESETS = 26
PRESET_PREFIX = "preset:"


def is_preset(style) -> bool:
    """Whether a ``--style`` value names a built-in style (``preset:N``) rather than a file."""
    return isinstance(style, str) and style.lower().startswith(PRESET_PREFIX)


def parse_preset(style) -> int:
    """``"preset:7"`` -> 7.

    Raises:
        ValueError: not ``preset:N`` with ``0 <= N < 26``.
    """
    text = str(style)[len(PRESET_PREFIX) :] if is_preset(style) else ""
    if not text.strip().isdigit() or not 0 <= int(text) < NUM_PRESETS:
        raise ValueError(f"Expected preset:N with N in 0..{NUM_PRESETS - 1}. Received: {style!r}")
    return int(text)


def normalised_blend(blend, n: int, what: str = "style") -> list[float]:
    """Blend weights, one per style, normalised to sum 1; ``None`` is equal weights.

    Args:
        blend: ``None`` or ``n`` numbers.
        n: How many styles (artworks or presets) they weigh.
        what: What one weight is for, in the error message (``"style"``, ``"preset"``).

    Raises:
        ValueError: not ``n`` weights, or not all finite and ``>= 0`` with a positive sum.

    Example:
        >>> normalised_blend([1, 3], 2)
        [0.25, 0.75]
    """
    blend = [1.0] * n if blend is None else [float(b) for b in blend]
    if len(blend) != n:
        raise ValueError(f"Expected one blend weight per {what} ({n}). Received: blend={blend}")
    if not all(math.isfinite(b) and b >= 0 for b in blend) or sum(blend) <= 0:
        raise ValueError(f"Blend weights must be finite, >= 0 with a positive sum. Received: blend={blend}")
    return [b / sum(blend) for b in blend]
