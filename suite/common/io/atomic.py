"""Files the suite writes: atomically, never over an existing file unless asked.

A crash leaves either no file or the whole file (:func:`atomic_write`); a
killed run's temporary files are removed by the next run
(:func:`remove_partial_files`); an unwritable destination is a one-line error
before any long computation (:func:`ensure_writable_folder`).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


class OutputExistsError(FileExistsError):
    """An output file exists and overwriting was not requested."""

    def __init__(self, path, hint: str = "use --overwrite to replace it"):
        self.path = Path(path)
        super().__init__(f"{self.path} exists ({hint})")


class OutputFolderError(PermissionError):
    """An output folder cannot be created or written to. ``str(err)`` is a one-line reason."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        super().__init__(f"cannot write to {self.path}: {reason}")


def ensure_writable_folder(folder) -> Path:
    """Creates ``folder`` if needed and proves a file can be written there.

    Called before any long computation, so a read-only or full destination is
    a one-line error at the start, not after an hour of work. The probe is a
    real (hidden, removed) file, because permission bits say nothing about
    read-only mounts, ACLs or quotas.

    Raises:
        OutputFolderError: the folder cannot be created or written to.
        NotADirectoryError: ``folder`` is an existing file.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=".suite-write-test.", suffix=".part", dir=folder):
            pass
    except OSError as e:
        raise OutputFolderError(folder, e.strerror.lower() if e.strerror else type(e).__name__) from None
    return folder


def temp_file(folder, prefix: str, suffix: str) -> tuple[int, str]:
    """Creates a new, uniquely named file in ``folder``; returns ``(fd, path)`` like ``tempfile.mkstemp``.

    Unlike ``mkstemp`` (always ``0600``), the file gets the permissions of any
    new file (``0666`` less the umask, applied by the system), so an output
    renamed into place is an ordinary file, and the process umask is never
    read or changed (``os.umask`` can only be read by setting it, process-wide).
    The random part has no dots, so :func:`remove_partial_files` can read the
    writer's PID from a ``.<name>.<pid>-<random>.part`` name.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = os.path.join(folder, f"{prefix}{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def atomic_write(path, write: Callable[[io.BufferedWriter], None], overwrite: bool = False) -> Path:
    """Writes a file through ``write(fh)`` into a temporary file, then moves it into place.

    A crash at any point leaves either no file or the complete file. Without
    ``overwrite`` an existing file is never replaced, even if it appears while
    writing (the final step is a hard link, which fails on an existing name).

    Raises:
        OutputExistsError: if ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's PID is in the name, so that a second run on the same folder can tell
    # a killed run's leftovers (removable) from a live run's file in progress (not).
    fd, tmp = temp_file(path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise OutputExistsError(path) from None
            except OSError:
                # File systems without hard links: fall back to a checked rename.
                if path.exists():
                    raise OutputExistsError(path) from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _writer_alive(name: str) -> bool:
    """Whether the process that is writing temporary file ``name`` still runs."""
    import re

    m = re.search(r"\.(\d+)-[^.]*\.part$", name)
    if not m:
        return False  # an older naming, or not ours: a leftover
    pid = int(m.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_partial_files(folder, recursive: bool = True) -> list[Path]:
    """Deletes the temporary files that a killed :func:`atomic_write` left behind.

    They are named ``.<name>.<pid>-<random>.part``; nothing else is touched,
    and a file whose writer process is still alive (another run on the same
    folder, at the same time) is left alone. Commands that write into an output
    folder call this first, so a re-run after ``kill -9`` leaves no partial file.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(".*.part") if recursive else folder.glob(".*.part")
    removed = []
    for p in found:
        if _writer_alive(p.name):
            continue
        if p.is_file() and not p.is_symlink():
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def save_json(obj, path, overwrite: bool = False) -> Path:
    """Writes ``obj`` as indented JSON, atomically."""
    data = (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode()
    return atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)
