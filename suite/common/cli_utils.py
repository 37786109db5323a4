"""What every CLI command shares: the device options and one-line errors instead of tracebacks."""

from __future__ import annotations

import functools
import os
import sys

import click

from suite.common.device import DEVICE_CHOICES


#: ``ctx.meta`` key: what a command tells the user after Ctrl-C (how to continue).
INTERRUPT_HINT = "suite.interrupt_hint"


class SuiteGroup(click.Group):
    """A Click group that turns every failure into a one-line message and an exit status.

    ``SUITE_DEBUG=1`` shows the full traceback instead, for bug reports.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            hint = ctx.meta.get(INTERRUPT_HINT, "Finished outputs are kept; re-run the same command to continue.")
            click.echo(f"\nInterrupted. {hint}", err=True)
            sys.exit(130)
        except Exception as e:  # the last line of defence: a traceback in front of a user is a bug
            if os.environ.get("SUITE_DEBUG"):
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise click.ClickException(f"{msg}") from None


def compute_options(func):
    """Adds ``--device`` and ``--mixed-precision``, and sets them up before the command runs."""

    @click.option(
        "--device",
        type=click.Choice(DEVICE_CHOICES),
        default="auto",
        show_default=True,
        help="Where to compute: a GPU when there is one (auto), or force cpu/gpu.",
    )
    @click.option(
        "--mixed-precision/--no-mixed-precision",
        default=False,
        show_default=True,
        help="float16 compute with float32 weights, on GPU only (ignored with a warning on CPU).",
    )
    @functools.wraps(func)
    def wrapper(*args, device, mixed_precision, **kwargs):
        from suite.common.device import setup_device

        try:
            setup_device(device, mixed_precision)
        except RuntimeError as e:
            raise click.UsageError(str(e)) from None
        return func(*args, **kwargs)

    return wrapper


def backbone_option(default="vgg16", allow_none=False, **kwargs):
    """``--backbone`` with the registry's names as choices."""
    from suite.common.backbones import backbone_names

    choices = backbone_names() + (["none"] if allow_none else [])
    return click.option(
        "--backbone",
        type=click.Choice(choices, case_sensitive=False),
        default=default,
        show_default=True,
        **kwargs,
    )


def weights_option(default="auto", help_extra=""):
    """``--weights auto|imagenet|embedded|none|FILE``."""
    return click.option(
        "--weights",
        default=default,
        show_default=True,
        metavar="auto|imagenet|embedded|none|FILE",
        help="Backbone weights: auto = Keras cache, else the embedded weights (VGG16, MobileNetV2), else none. "
        "imagenet downloads (needs the network)." + help_extra,
    )


def max_pixels_option():
    """``--max-pixels``: the decompression-bomb limit, on by default, raised for huge scans."""
    from suite.common.image_io import DEFAULT_MAX_PIXELS

    return click.option(
        "--max-pixels",
        default=DEFAULT_MAX_PIXELS,
        show_default=True,
        type=click.IntRange(1, None),
        help="Refuse image files with more pixels than this (decompression bombs); raise it for huge scans.",
    )
