"""Progress bars for anything long, and tables that scripts and pipes can read.

Progress, notes and warnings go to stderr; tables and summaries go to stdout,
never cut to the terminal's width, so ``suite backbones | grep mobilenet`` and
``suite backbones > table.txt`` work.
"""

from __future__ import annotations

import sys

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

from suite.common.log import progress_enabled

#: Progress and messages go to stderr, so stdout stays clean for scripts.
#: ``soft_wrap``: a message line is never broken at the (assumed 80-column) width of a pipe.
console = Console(stderr=True, soft_wrap=True)


def make_progress(*extra_columns, transient: bool = False) -> Progress:
    """A progress display with bar, count, elapsed and remaining time, plus extra columns.

    It is disabled (draws nothing) under ``--no-progress`` or ``-q``, and when
    stderr is not a terminal: a log file gets the commands' own one-line
    messages, not a bar's last frame squeezed to 80 columns.
    """
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
        disable=not progress_enabled() or not console.is_terminal,
    )


def print_table(table, file=None) -> None:
    """Prints a rich table to stdout (or ``file``) at its natural width.

    Rich squeezes tables into the console's width, which cuts names and numbers
    (``mobilen…``) in a narrow terminal and in pipes, where it assumes 80 columns.
    Measuring the table first and printing at that width never cuts a cell; a
    terminal narrower than the table wraps lines instead. Colour only on a terminal.
    """
    file = file or sys.stdout
    probe = Console(width=100_000, file=file)
    width = probe.measure(table).maximum
    out = Console(
        file=file,
        width=max(width, 20),
        soft_wrap=False,
        highlight=False,
        force_terminal=None,
        no_color=not file.isatty(),
    )
    out.print(table)
