"""Named pretrained segmentation models, resolved in one place (as keras-hub's ``from_preset``).

``suite segment photos/ --model person`` and
``suite.unet.model_io.load_segmentation("person")`` both come here.
A preset name wins only when no file of that name exists, so a model file
called ``person`` in the working folder is still loaded as a file; a folder
of that name (``suite segment photo.jpg --model person -o person``) does not
hide the preset.

Presets:

- ``person``: MediaPipe selfie segmentation, general model (256 x 256 input),
  classes ``background, person``; weights converted by
  ``assets/convert_selfie.py`` (Apache-2.0, Google MediaPipe) into the
  package data ``suite/assets/selfie_general.npz``.
- ``person-landscape``: the landscape model (144 x 256 input), a little faster,
  meant for wide video frames.

Both run any image size: resized to the network's input, probabilities
upsampled (bilinear) to the image's size (:class:`suite.unet.selfie.SelfieSegmenter`).
"""

from __future__ import annotations

from pathlib import Path

from suite.assets import FOLDER as ASSETS  # the converted weights are package data (suite/assets/)
from suite.unet.errors import PresetError

PRESETS = {
    "person": {
        "description": "MediaPipe selfie segmentation (general, 256x256): background, person",
        "variant": "general",
        "weights": "selfie_general.npz",
        "licence": "Apache-2.0 (Google MediaPipe)",
    },
    "person-landscape": {
        "description": "MediaPipe selfie segmentation (landscape, 144x256): background, person",
        "variant": "landscape",
        "weights": "selfie_landscape.npz",
        "licence": "Apache-2.0 (Google MediaPipe)",
    },
}


def preset_names() -> list[str]:
    """The preset names, for CLI choices and the web page."""
    return list(PRESETS)


def list_presets() -> dict:
    """``{name: description}`` of every preset."""
    return {name: p["description"] for name, p in PRESETS.items()}


def is_preset(name) -> bool:
    """True if ``name`` is a preset name and no file of that name exists (a folder is no model)."""
    return isinstance(name, (str, Path)) and str(name) in PRESETS and not Path(name).is_file()


def load_preset(name: str, antialias: bool = False):
    """Builds a preset model with its pretrained weights.

    Args:
        name: One of :data:`PRESETS` (``"person"``, ``"person-landscape"``).
        antialias: Antialias the downscaling to the network's input (see
            :class:`suite.unet.selfie.SelfieSegmenter`).

    Returns:
        A ``keras.Model`` mapping ``(N, H, W, 3)`` RGB in ``[0, 255]`` to
        ``(N, H, W, 2)`` logits, with ``class_names``.

    Raises:
        PresetError: an unknown name (the message lists the valid ones) or
            missing weights.

    Example:
        >>> model = load_preset("person")  # doctest: +SKIP
        >>> model.class_names  # doctest: +SKIP
        ['background', 'person']
    """
    name = str(name)
    if name not in PRESETS:
        raise PresetError(f"Unknown preset. Expected one of {sorted(PRESETS)}. Received: {name!r}")
    preset = PRESETS[name]
    weights = ASSETS / preset["weights"]
    if not weights.is_file():
        raise PresetError(
            f"preset {name!r}: weights file {weights} is missing "
            "(the package is incomplete: reinstall keras-cv-suite, or in a checkout "
            "make it with assets/convert_selfie.py; see its docstring)"
        )
    from suite.unet.selfie import SelfieSegmenter, load_selfie_weights, weights_loaded_next

    with weights_loaded_next():
        model = SelfieSegmenter(variant=preset["variant"], antialias=antialias, name=name.replace("-", "_"))
    load_selfie_weights(model.network, weights)
    return model
