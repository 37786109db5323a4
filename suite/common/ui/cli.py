"""What every CLI command shares: one-line errors instead of tracebacks, signals, and the
common options (``--device``, ``-q/--quiet``, ``-v/--verbose``, ``--no-progress``, ``--json``)."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys

import click

from suite.common.device import DEVICE_CHOICES
from suite.common.errors import first_line, missing_backend_message  # noqa: F401 - first_line: also the CLI's name for it

#: ``ctx.meta`` key: what a command tells the user after Ctrl-C (how to continue): a string, or a
#: function of no arguments that returns it (when the answer depends on how far the run got).
INTERRUPT_HINT = "suite.interrupt_hint"

#: ``ctx.meta`` keys: ``--json`` was given; its one object is out; what a failed run's object adds.
_JSON_WANTED = "suite.json_wanted"
_JSON_SENT = "suite.json_sent"
_JSON_PARTIAL = "suite.json_partial"


class SuiteGroup(click.Group):
    """A Click group that turns every failure into a one-line message and an exit status.

    ``SUITE_DEBUG=1`` shows the full traceback instead, for bug reports.
    """

    def invoke(self, ctx):
        previous = _install_sigterm_handler()
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit as e:
            if e.exit_code:
                _echo_json_failure(ctx, f"exit status {e.exit_code}")
            raise
        except click.ClickException as e:
            # Click prints the message (with the usage line for a usage error) on stderr.
            _echo_json_failure(ctx, (e.format_message().strip().splitlines() or [type(e).__name__])[0])
            raise
        except click.exceptions.Abort:
            _echo_json_failure(ctx, "Aborted!")
            raise
        except SystemExit as e:
            if e.code not in (None, 0):  # a command that printed its JSON object said what failed there
                _echo_json_failure(ctx, e.code if isinstance(e.code, str) else f"exit status {e.code}")
            raise
        except (KeyboardInterrupt, Terminated) as e:
            hint = ctx.meta.get(INTERRUPT_HINT, "Finished outputs are kept; re-run the same command to continue.")
            if callable(hint):
                hint = hint()
            what = "Terminated" if isinstance(e, Terminated) else "Interrupted"
            _echo_json_failure(ctx, f"{what}. {hint}", interrupted=what.lower())
            click.echo(f"\n{what}. {hint}", err=True)
            # The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
            sys.exit(128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT))
        except Exception as e:  # the last line of defence: a traceback in front of a user is a bug
            if os.environ.get("SUITE_DEBUG"):
                raise
            message = missing_backend_message(e) or first_line(e)
            _echo_json_failure(ctx, message)
            raise click.ClickException(message) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _echo_json_failure(ctx, error: str, **extra) -> None:
    """With ``--json``, the one JSON object of a failed run, unless the command printed its own.

    ``{"ok": false, "error": <the one-line message>}``, what the command
    registered with :func:`json_on_failure` (what it got done before failing)
    and ``extra``. The human-readable message still goes to stderr.
    """
    if not ctx.meta.get(_JSON_WANTED) or ctx.meta.get(_JSON_SENT):
        return
    partial = {}
    for key, value in ctx.meta.get(_JSON_PARTIAL, {}).items():
        value = value() if callable(value) else value
        if value is not None:
            partial[key] = value
    echo_json({"ok": False, "error": error, **extra, **partial})


def json_on_failure(**fields) -> None:
    """Fields of the JSON object printed if the running command fails (with ``--json``).

    A value may be a function of no arguments, called at the failure (what the
    run got done by then); ``None`` leaves the field out. Outside a command
    this does nothing.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault(_JSON_PARTIAL, {}).update(fields)


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so a job scheduler's stop unwinds like Ctrl-C.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that code catching
    ``Exception`` (to skip one bad file) does not swallow it.
    """


def _raise_terminated(signum, frame):
    raise Terminated()


def _install_sigterm_handler():
    """Turns SIGTERM into :class:`Terminated` (main thread only); returns the old handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, OSError):  # not allowed here (embedded interpreters)
        return None


def compute_options(func=None, *, auto_mixed_precision: bool = False, announce_auto: bool = True):
    """Adds ``--device`` and ``--mixed-precision``, and sets them up before the command runs.

    ``auto_mixed_precision``: the command's default is mixed precision on a
    CPU with bfloat16 instructions (``train``); elsewhere the default is off.
    ``announce_auto=False``: that automatic choice is told only with ``-v``.
    """
    if func is None:
        return functools.partial(
            compute_options, auto_mixed_precision=auto_mixed_precision, announce_auto=announce_auto
        )
    auto = "auto: bfloat16 on a CPU with bfloat16 instructions, else off" if auto_mixed_precision else "off"

    @click.option(
        "--device",
        type=click.Choice(DEVICE_CHOICES),
        default="auto",
        show_default=True,
        help="Where to compute: a GPU when there is one (auto), or force cpu/gpu.",
    )
    @click.option(
        "--mixed-precision/--no-mixed-precision",
        default=None,
        help=f"float16 compute on a GPU, bfloat16 on a CPU with bfloat16 instructions; weights stay float32 [{auto}].",
    )
    @functools.wraps(func)
    def wrapper(*args, device, mixed_precision, **kwargs):
        from suite.common.device import setup_device

        try:
            setup_device(
                device,
                mixed_precision if mixed_precision is not None else (None if auto_mixed_precision else False),
                auto_on_cpu=auto_mixed_precision,
                announce_auto=announce_auto,
            )
        except RuntimeError as e:
            raise click.UsageError(str(e)) from None
        return func(*args, **kwargs)

    return wrapper


def output_options(json_output: bool = True):
    """Adds ``-q/--quiet``, ``-v/--verbose``, ``--no-progress`` and, optionally, ``--json``.

    Put it above :func:`compute_options`, so that the device's notes already obey ``--quiet``.

    With ``json_output`` the command receives ``as_json``; it then prints one JSON
    object on stdout (:func:`echo_json`) and its human-readable lines go to stderr.
    A run that fails before printing it (a refused option, no input, an error, a
    signal) still prints one: ``{"ok": false, "error": <the one-line message>, ...}``
    (:class:`SuiteGroup`). Only errors that Click finds before ``--json`` itself is
    read (an unknown option) print no JSON.
    """

    def decorate(func):
        @click.option("-q", "--quiet", is_flag=True, help="Only errors and the result; no notes or progress bars.")
        @click.option(
            "-v",
            "--verbose",
            is_flag=True,
            help="More detail: backend (TensorFlow) logs, and one line per written file where a command writes many.",
        )
        @click.option("--no-progress", is_flag=True, help="No progress bars (notes and results still print).")
        @functools.wraps(func)
        def wrapper(*args, quiet, verbose, no_progress, **kwargs):
            from suite.common.log import output_settings

            if quiet and verbose:
                raise click.UsageError("-q/--quiet and -v/--verbose exclude each other")
            if verbose:
                os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
            with output_settings(quiet=quiet, verbose=verbose, progress=not no_progress):
                return func(*args, **kwargs)

        if json_output:
            wrapper = click.option(
                "--json",
                "as_json",
                is_flag=True,
                is_eager=True,  # known before the other options are checked: their errors are JSON too
                callback=_remember_json,
                help="Print one JSON object on stdout (the summary), for scripts; messages go to stderr.",
            )(wrapper)
        return wrapper

    return decorate


def _remember_json(ctx, param, value):
    if value:
        ctx.meta[_JSON_WANTED] = True
    return value


def echo_json(obj) -> None:
    """Prints ``obj`` as one JSON object on stdout (paths and numpy numbers made plain).

    A command prints one: if it fails after this, no second (failure) object follows.
    """
    click.echo(json.dumps(obj, default=_json_default, ensure_ascii=False))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_JSON_SENT] = True


def _json_default(o):
    from pathlib import PurePath

    if isinstance(o, PurePath):
        return str(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def say(message: str, as_json: bool = False) -> None:
    """A human-readable result line: stdout normally, stderr when stdout carries JSON."""
    click.echo(message, err=as_json)


def backbone_option(default="vgg16", allow_none=False, **kwargs):
    """``--backbone`` with the registry's names as choices."""
    from suite.common.nn.backbones import backbone_names

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
    from suite.common.io.images import DEFAULT_MAX_PIXELS

    return click.option(
        "--max-pixels",
        default=DEFAULT_MAX_PIXELS,
        show_default=True,
        type=click.IntRange(1, None),
        help="Refuse image files with more pixels than this (decompression bombs); raise it for huge scans.",
    )
