"""Click parameter types and options that ``segment``, ``evaluate`` and ``export`` share."""

from __future__ import annotations

import re
from pathlib import Path

import click

#: ``scheme://...``: a URL on a Beam file system (``gs://bucket/photos``).
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class ModelOrPreset(click.ParamType):
    """A ``.keras`` file that exists, or a preset name (suite.unet.presets) when no such file exists."""

    name = "MODEL|PRESET"

    def convert(self, value, param, ctx):
        from suite.unet.presets import is_preset, preset_names

        if isinstance(value, Path) or is_preset(value):
            return value if isinstance(value, Path) else str(value)
        if isinstance(value, str) and URL.match(value):
            return value  # a model on a Beam file system (--runner beam checks the rest)
        path = Path(value)
        if path.is_file():
            return path
        if path.exists():
            self.fail(f"{value!r} is a folder, not a model file", param, ctx)
        self.fail(f"{value!r} is neither a model file nor a preset ({', '.join(sorted(preset_names()))})", param, ctx)


MODEL_OR_PRESET = ModelOrPreset()


class PathOrURL(click.Path):
    """A ``click.Path`` that passes URLs (``gs://bucket/photos``) through as strings, for ``--runner beam``."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and URL.match(value):
            return value  # a pathlib.Path would fold "gs://" into "gs:/"
        return super().convert(value, param, ctx)


def model_option(required: bool = True, help: str | None = None):
    """``-m/--model MODEL|PRESET``: a ``.keras`` file or a preset name."""
    return click.option(
        "--model", "-m", "model", required=required, type=MODEL_OR_PRESET,
        help=help or "A trained segmentation model (.keras, or its URL with --runner beam), e.g. "
                     "assets/demo_unet.keras, or a preset: person (MediaPipe selfie segmentation: background, "
                     "person), person-landscape.",
    )


def parse_class_names(text: str | None, num_classes: int | None, option: str = "--class-names") -> list | None:
    """Comma-separated class names, checked: one per class, none empty, no two the same (a usage error otherwise)."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise click.BadParameter(f"empty name in {text!r}; give one non-empty name per class", param_hint=f"'{option}'")
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise click.BadParameter(f"{', '.join(doubles)} given twice; class names must differ", param_hint=f"'{option}'")
    if num_classes is not None and len(names) != num_classes:
        raise click.BadParameter(f"{len(names)} names for {num_classes} classes", param_hint=f"'{option}'")
    return names


def warn_ignore_index_is_a_class(ignore_index: int | None, num_classes: int | None) -> None:
    """A one-line warning when ``--ignore-index`` is one of the classes: that class is then never trained or scored."""
    if ignore_index is not None and num_classes is not None and 0 <= ignore_index < num_classes:
        from suite.common.log import note

        note(f"warning: --ignore-index {ignore_index} is one of the {num_classes} classes (0..{num_classes - 1}): "
             "that class is left out of every loss and score")
