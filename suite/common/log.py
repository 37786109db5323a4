"""Notes for the user on stderr: which weights were loaded, what fell back, what was skipped."""

import os
import sys


def note(message: str) -> None:
    """Prints a one-line note to stderr unless ``SUITE_QUIET`` is set."""
    if os.environ.get("SUITE_QUIET"):
        return
    print(f"suite: {message}", file=sys.stderr, flush=True)
