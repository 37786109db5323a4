"""Rich progress bars for anything long."""

from __future__ import annotations


from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Progress and tables go to stderr, so stdout stays clean for scripts.
console = Console(stderr=True)


def make_progress(*extra_columns, transient: bool = False) -> Progress:
    """A progress display with bar, count, elapsed and remaining time, plus extra columns."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )
