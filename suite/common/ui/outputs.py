"""Output names checked when the command line is parsed: a name the suite cannot write is refused
before any work, with the extensions it can write.

Each command names what its output option takes: a file of one of a few
extensions (:class:`OutputFile`), or a folder (:class:`OutputFolder`, which
refuses a name that looks like a file the user expects to get).
"""

from __future__ import annotations

from pathlib import Path

import click

from suite.common.io.images import IMAGE_EXTENSIONS

#: Suffixes that name a file, never a folder the suite would create (an existing folder is always taken).
FILE_EXTENSIONS = IMAGE_EXTENSIONS | frozenset(
    {
        ".keras",
        ".h5",
        ".hdf5",
        ".onnx",
        ".tflite",
        ".pb",
        ".json",
        ".jsonl",
        ".npz",
        ".npy",
        ".zip",
        ".txt",
        ".csv",
        ".pdf",
        ".svg",
    }
)


def image_extensions() -> tuple[str, ...]:
    """The extensions an image output can have (what :func:`suite.common.io.images.save_image` writes)."""
    from suite.common.io.images import SAVE_FORMATS

    return tuple(SAVE_FORMATS)


def extension_error(path, extensions, what: str = "") -> str | None:
    """Why ``path`` cannot be written as one of ``extensions`` (``None`` when it can).

    Args:
        path: The output name.
        extensions: Accepted suffixes, lower case with the dot (``(".keras",)``).
        what: What the file is, for the message (``"model"``).
    """
    suffix = Path(path).suffix.lower()
    if suffix in extensions:
        return None
    kind = f"a {what} " if what else ""
    got = f"has the extension {suffix!r}" if suffix else "has no extension"
    return f"{str(path)!r} {got}; {kind}output is written as {', '.join(extensions)}"


def check_output_extension(path, extensions, option: str = "-o/--output", what: str = "") -> None:
    """Raises Click's usage error naming ``option`` unless ``path`` ends with one of ``extensions``."""
    reason = extension_error(path, extensions, what)
    if reason:
        raise click.BadParameter(reason, param_hint=f"'{option}'")


def check_output_folder(path, option: str = "-o/--output", what: str = "a folder") -> None:
    """Raises Click's usage error unless ``path`` is an existing folder or a name that is not a file's."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() not in FILE_EXTENSIONS:
        return
    raise click.BadParameter(
        f"{str(path)!r} names a {path.suffix} file, but this output is {what}; "
        "give a folder name without a file extension",
        param_hint=f"'{option}'",
    )


class OutputFile(click.Path):
    """A ``click.Path`` for an output file that must end with one of ``extensions``.

    Args:
        extensions: Accepted suffixes, or a callable returning them (read when parsing).
        what: What the file is, for the message.
        **kwargs: ``click.Path`` arguments (``dir_okay=False`` by default).
    """

    def __init__(self, extensions, what: str = "", **kwargs):
        kwargs.setdefault("dir_okay", False)
        kwargs.setdefault("path_type", Path)
        super().__init__(**kwargs)
        self._extensions = extensions
        self.what = what

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(self._extensions() if callable(self._extensions) else self._extensions)

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        reason = extension_error(value, self.extensions, self.what)
        if reason:
            self.fail(reason, param, ctx)
        return value


class OutputFolder(click.Path):
    """A ``click.Path`` for an output folder: a name with a file's extension (``masks.png``) is refused.

    Args:
        what: What goes in the folder, for the message.
        **kwargs: ``click.Path`` arguments (``file_okay=False`` by default).
    """

    def __init__(self, what: str = "a folder", **kwargs):
        kwargs.setdefault("file_okay", False)
        kwargs.setdefault("path_type", Path)
        super().__init__(**kwargs)
        self.what = what

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        try:
            check_output_folder(value, what=self.what)
        except click.BadParameter as e:
            self.fail(e.message, param, ctx)
        return value
