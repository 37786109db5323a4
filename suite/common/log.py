"""Notes for the user on stderr, and the run-wide output settings (quiet, verbose, progress).

The settings come from the command's ``-q/--quiet``, ``-v/--verbose`` and
``--no-progress`` options (see :func:`suite.common.ui.cli.output_options`),
or, for library use, from the ``SUITE_QUIET``, ``SUITE_VERBOSE`` and
``SUITE_NO_PROGRESS`` environment variables.
"""

from __future__ import annotations

import contextlib
import os
import sys

QUIET, NORMAL, VERBOSE = 0, 1, 2

# None means "not set by a command": fall back to the environment.
_settings: dict = {"verbosity": None, "progress": None}


def verbosity() -> int:
    """The current verbosity: ``QUIET``, ``NORMAL`` or ``VERBOSE``."""
    if _settings["verbosity"] is not None:
        return _settings["verbosity"]
    if os.environ.get("SUITE_QUIET"):
        return QUIET
    if os.environ.get("SUITE_VERBOSE"):
        return VERBOSE
    return NORMAL


def progress_enabled() -> bool:
    """Whether progress bars are shown (off with ``--no-progress``, ``-q`` or ``SUITE_NO_PROGRESS``)."""
    if _settings["progress"] is not None:
        return _settings["progress"]
    return not os.environ.get("SUITE_NO_PROGRESS") and verbosity() > QUIET


@contextlib.contextmanager
def output_settings(quiet: bool = False, verbose: bool = False, progress: bool = True):
    """Applies a command's output options for the duration of the command."""
    saved = dict(_settings)
    _settings["verbosity"] = QUIET if quiet else VERBOSE if verbose else NORMAL
    _settings["progress"] = progress and not quiet
    try:
        yield
    finally:
        _settings.update(saved)


def note(message: str) -> None:
    """Prints a one-line note to stderr unless quiet."""
    if verbosity() == QUIET:
        return
    print(f"suite: {message}", file=sys.stderr, flush=True)


def detail(message: str) -> None:
    """Prints a one-line note to stderr only with ``-v/--verbose``."""
    if verbosity() == VERBOSE:
        print(f"suite: {message}", file=sys.stderr, flush=True)
