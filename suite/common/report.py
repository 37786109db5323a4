"""One report type for every folder run: ``segment`` (local or Beam) and ``stylize``.

Keras-free, so the library, the CLI, the Beam workers and the web page share it.
A failure is always ``{"input": path, "reason": one line}``: the same shape in
``report.json``, in ``--json`` output and in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from suite.common.errors import first_line, typed_first_line


def failure_reason(error: BaseException, *, typed: bool = True) -> str:
    """The one line a failed input is reported with.

    Errors that carry their own user-facing ``reason`` (unreadable images,
    damaged videos) give it as is; anything else gives its first line, with
    the exception's class name in front when ``typed`` (unexpected errors read
    better with it).

    Example:
        >>> failure_reason(OSError("disk full"))
        'OSError: disk full'
        >>> failure_reason(OSError("disk full"), typed=False)
        'disk full'
    """
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    return typed_first_line(error) if typed else first_line(error)


@dataclass
class RunReport:
    """What a folder run did. ``OUT/report.json`` holds :meth:`to_dict`.

    Attributes:
        output: The output file or folder (a path, or a URL for a Beam run).
        done: Inputs finished in this run (paths, as strings).
        skipped: Inputs whose outputs were already there (not overwritten).
        failed: ``{"input": path, "reason": one line}`` per failed input.
        not_images: Files in input folders that are not images (skipped).
        seconds: Wall time of the run.
        options: The run's options, as JSON.
        info: What else says where the result came from (``model``,
            ``runner``, ``dead_letter``...); each key appears at the top level
            of :meth:`to_dict`.
        done_count: For runs too large to list (a cluster run), the number of
            inputs done; ``None`` counts ``done``.
        skipped_count: The same for ``skipped``.
    """

    output: str = ""
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    not_images: list = field(default_factory=list)
    seconds: float = 0.0
    options: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    done_count: int | None = None
    skipped_count: int | None = None

    @property
    def ok(self) -> bool:
        """True if no input failed."""
        return not self.failed

    @property
    def n_done(self) -> int:
        return len(self.done) if self.done_count is None else self.done_count

    @property
    def n_skipped(self) -> int:
        return len(self.skipped) if self.skipped_count is None else self.skipped_count

    @property
    def images_per_second(self) -> float:
        return self.n_done / self.seconds if self.seconds > 0 else 0.0

    def add_failure(self, path, error_or_reason) -> str:
        """Records one failed input; returns its one-line reason."""
        reason = error_or_reason if isinstance(error_or_reason, str) else failure_reason(error_or_reason)
        self.failed.append({"input": str(path), "reason": reason})
        return reason

    def counts(self) -> dict:
        return {
            "done": self.n_done,
            "skipped": self.n_skipped,
            "failed": len(self.failed),
            "not_images": len(self.not_images),
        }

    def to_dict(self) -> dict:
        out = {
            "output": str(self.output),
            **self.info,
            "counts": self.counts(),
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 3),
            "failed": list(self.failed),
        }
        if self.done_count is None:
            out["done"] = list(self.done)
        if self.skipped_count is None:
            out["skipped"] = list(self.skipped)
        out["not_images"] = list(self.not_images)
        out["options"] = self.options
        return out
