"""One worker thread that runs heavy jobs (stylize, segment) one at a time, first come first served.

A page learns a job's state from :meth:`JobQueue.snapshot`; every change bumps
one shared version number under one condition variable, so an event stream can
wait for "anything new" without polling and the queue positions of all waiting
jobs stay right when the one ahead of them starts, ends or is cancelled.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from suite.common.errors import first_line

#: Job states; the last three are final.
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL = frozenset({DONE, FAILED, CANCELLED})


class JobCancelled(Exception):
    """Raised inside a running job (from its progress callback) when the page asked to cancel it."""


class QueueFull(RuntimeError):
    """More jobs are waiting than the server accepts; ``str(err)`` is the message for the page."""


@dataclass
class Job:
    """A heavy job and everything a page may ask about it.

    Attributes:
        id: Random, unguessable id (the page's handle for the job).
        kind: ``"style"`` or ``"segment"``.
        run: ``run(job)`` does the work; it reports progress with :meth:`JobQueue.update`
            and calls :meth:`JobQueue.check_cancel` often enough to stop promptly.
        state: One of ``queued``, ``running``, ``done``, ``failed``, ``cancelled``.
        progress: What the page shows while it runs (kind-specific, JSON-able).
        result: What the page shows when it is done (JSON-able).
        error: One-line reason when it failed.
        files: Name -> bytes the job produced (preview, result, sidecar, masks), served by id.
    """

    id: str
    kind: str
    run: Callable
    state: str = QUEUED
    progress: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)
    error: str | None = None
    files: dict = field(default_factory=dict)
    cancel_requested: bool = False
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None


class JobQueue:
    """A FIFO of jobs and the one daemon thread that runs them.

    Args:
        max_waiting: Jobs allowed to wait at once; more are refused with
            :class:`QueueFull` (a page cannot fill the memory with queued work).
        keep_finished: Finished jobs kept (with their files) for download; the
            oldest are forgotten first.
    """

    def __init__(self, max_waiting: int = 8, keep_finished: int = 32):
        self.max_waiting = int(max_waiting)
        self.keep_finished = int(keep_finished)
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[Job] = deque()
        self._finished: deque[str] = deque()
        self._cond = threading.Condition()
        self._version = itertools.count(1)
        self.version = 0
        self._thread = threading.Thread(target=self._work, name="suite-serve-jobs", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ page side
    def submit(self, kind: str, run: Callable) -> Job:
        """Queues ``run`` and returns its :class:`Job` (state ``queued``)."""
        with self._cond:
            if len(self._waiting) >= self.max_waiting:
                raise QueueFull(f"{len(self._waiting)} jobs are already waiting; try again when one has finished")
            job = Job(id=secrets.token_hex(8), kind=kind, run=run)
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._bump()
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or ``None`` (unknown or forgotten)."""
        with self._cond:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancels a waiting job at once, or asks a running one to stop at its next check."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.state in FINAL:
                return job
            if job.state == QUEUED:
                self._waiting.remove(job)
                self._finish(job, CANCELLED)
            else:
                job.cancel_requested = True
                self._bump()
            return job

    def snapshot(self, job: Job) -> dict:
        """The JSON-able state of ``job`` for a page, with its place in the queue."""
        with self._cond:
            position = None
            if job.state == QUEUED:
                # 1 = next to run; a running job ahead counts too, since it is what the page waits for.
                running = any(j.state == RUNNING for j in self._jobs.values())
                position = list(self._waiting).index(job) + 1 + int(running)
            return {
                "id": job.id,
                "kind": job.kind,
                "state": job.state,
                "position": position,
                "progress": dict(job.progress),
                "result": dict(job.result),
                "error": job.error,
                "cancelling": job.cancel_requested and job.state == RUNNING,
                "seconds": round((job.finished or time.time()) - job.started, 1) if job.started else None,
            }

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Blocks until the shared version passes ``since`` or ``timeout`` s pass; returns the version."""
        with self._cond:
            self._cond.wait_for(lambda: self.version > since, timeout=timeout)
            return self.version

    # ------------------------------------------------------------ job side
    def update(self, job: Job, progress: dict | None = None, files: dict | None = None) -> None:
        """Records progress (and files such as a preview) of a running job and wakes the pages."""
        with self._cond:
            if progress is not None:
                job.progress = progress
            if files:
                job.files.update(files)
            self._bump()

    def check_cancel(self, job: Job) -> None:
        """Raises :class:`JobCancelled` if the page asked to cancel ``job``."""
        if job.cancel_requested:
            raise JobCancelled()

    # ------------------------------------------------------------ internals
    def _bump(self):
        self.version = next(self._version)
        self._cond.notify_all()

    def _finish(self, job: Job, state: str, error: str | None = None):
        job.state, job.error, job.finished = state, error, time.time()
        self._finished.append(job.id)
        while len(self._finished) > self.keep_finished:
            self._jobs.pop(self._finished.popleft(), None)
        self._bump()

    def _work(self):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._waiting))
                job = self._waiting.popleft()
                job.state, job.started = RUNNING, time.time()
                self._bump()
            try:
                result = job.run(job) or {}
            except JobCancelled:
                with self._cond:
                    self._finish(job, CANCELLED)
            except Exception as e:  # a failed job is a message on the page, never a dead worker
                msg = first_line(e)
                with self._cond:
                    self._finish(job, FAILED, msg)
            else:
                with self._cond:
                    job.result = result
                    self._finish(job, DONE)
