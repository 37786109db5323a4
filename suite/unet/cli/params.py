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
