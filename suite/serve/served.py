"""What the page may read: the served folders (bundled assets first) and the uploads.

The page never sends a path. It sends ids that this module hands out:
``f<k>/<relative path>`` for a file in served folder ``k`` and ``u/<hex>`` for an
upload. An id resolves only to a regular file inside its folder after every
symlink and ``..`` is followed, so nothing the page sends can leave the
folders the server was started with.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from suite.assets import FOLDER as ASSETS_FOLDER
from suite.common.io.images import IMAGE_EXTENSIONS, ImageReadError, load_image, to_uint8

#: The bundled photos, artworks and demo U-Net: package data (``suite/assets/``), in a checkout and in a wheel.
BUNDLED_ASSETS = ASSETS_FOLDER
MODEL_EXTENSIONS = frozenset({".keras"})
#: Files listed per served folder: a folder picked by mistake (a home directory) must not stall the page.
MAX_LISTED = 500


class NotFound(LookupError):
    """An id that names nothing the page may read; ``str(err)`` is the message."""


class UploadRejected(ValueError):
    """An upload that is not a usable image.

    Attributes:
        status: The HTTP status: 413 over the pixel limit, 415 not an image, 400 damaged.
    """

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Entry:
    """One file the page can pick: its id, a display name and where it came from."""

    id: str
    name: str
    source: str

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "source": self.source}


class ServedFiles:
    """The served folders and the upload store of one server.

    Args:
        folders: Folders given to ``suite serve``; their images and ``.keras``
            models are offered on the pages.
        upload_dir: Where uploads are kept (a private temporary folder).
        max_pixels: Images over this many pixels are refused (uploads) or not listed.
        max_uploads: Uploads kept; the oldest are removed first.
        bundled: The bundled assets folder, offered first when it exists.
    """

    def __init__(
        self, folders, upload_dir, max_pixels: int, max_uploads: int = 200, bundled: Path | None = BUNDLED_ASSETS
    ):
        roots = []
        self.has_bundled = bundled is not None and Path(bundled).is_dir()
        if self.has_bundled:
            roots.append(("bundled", Path(bundled).resolve()))
        for f in folders:
            f = Path(f)
            if not f.is_dir():
                raise ValueError(f"{f} is not a folder")
            roots.append((f.name or str(f), f.resolve()))
        self.roots = roots
        self.upload_dir = Path(upload_dir)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.max_pixels = int(max_pixels)
        self.max_uploads = int(max_uploads)
        self._uploads: OrderedDict[str, tuple[Path, str]] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ catalog
    def _files(self, root: Path, extensions, start: Path | None = None) -> list[Path]:
        # os.walk stops early and skips hidden folders: a big folder served by mistake lists quickly.
        found = []
        for folder, dirs, names in os.walk(start or root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                p = Path(folder) / name
                if not name.startswith(".") and p.suffix.lower() in extensions and self._inside(root, p):
                    found.append(p)
                    if len(found) >= MAX_LISTED:
                        return found
        return found

    def catalog(self) -> dict:
        """Photos, artworks and models the page can pick from, as JSON-able lists.

        In the bundled assets, photos come from ``photos/``, artworks from
        ``styles/`` and models are the ``.keras`` files; a served folder's images
        are offered both as photos and as artworks.
        """
        photos, artworks, models = [], [], []
        for k, (label, root) in enumerate(self.roots):
            bundled = k == 0 and self.has_bundled
            for sub, lists in (
                (("photos", [photos]), ("styles", [artworks])) if bundled else ((None, [photos, artworks]),)
            ):
                for p in self._files(root, IMAGE_EXTENSIONS, root / sub if sub else None):
                    rel = p.relative_to(root).as_posix()
                    for lst in lists:
                        lst.append(Entry(f"f{k}/{rel}", rel, label).to_dict())
            for p in self._files(root, MODEL_EXTENSIONS):
                rel = p.relative_to(root).as_posix()
                models.append(Entry(f"f{k}/{rel}", rel, label).to_dict())
        return {"photos": photos, "artworks": artworks, "models": models}

    # ------------------------------------------------------------ resolving ids
    @staticmethod
    def _inside(root: Path, path: Path) -> bool:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return False
        return real.is_file() and real.is_relative_to(root)

    def resolve(self, file_id: str, kind: str = "image") -> Path:
        """The file an id names, checked to be inside its folder.

        Args:
            file_id: An id from :meth:`catalog` or :meth:`add_upload`.
            kind: ``"image"`` or ``"model"`` (a ``.keras`` file in a served folder).

        Raises:
            NotFound: anything else, including ids that would leave a folder.
        """
        file_id = str(file_id or "")
        if kind == "image" and file_id.startswith("u/"):
            with self._lock:
                hit = self._uploads.get(file_id[2:])
            if hit is None:
                raise NotFound("that upload is gone (the server keeps the latest ones only); upload it again")
            return hit[0]
        m = re.fullmatch(r"f(\d+)/(.+)", file_id)
        if m is None or int(m.group(1)) >= len(self.roots):
            raise NotFound(f"no such file: {file_id!r}")
        root = self.roots[int(m.group(1))][1]
        rel = Path(m.group(2))
        if rel.is_absolute() or ".." in rel.parts:
            raise NotFound(f"no such file: {file_id!r}")
        path = root / rel
        allowed = IMAGE_EXTENSIONS if kind == "image" else MODEL_EXTENSIONS
        if path.suffix.lower() not in allowed or not self._inside(root, path):
            raise NotFound(f"no such file: {file_id!r}")
        return path.resolve()

    def display_name(self, file_id: str) -> str:
        """The name to show (and record in a sidecar) for an id: never a server path."""
        if file_id.startswith("u/"):
            with self._lock:
                hit = self._uploads.get(file_id[2:])
            return f"upload:{hit[1]}" if hit else file_id
        return file_id.split("/", 1)[1] if "/" in file_id else file_id

    def load(self, file_id: str):
        """The image an id names, as an ``(H, W, 3)`` float32 RGB array.

        Raises:
            NotFound: unknown id. ``ImageReadError`` reasons become ``ValueError`` without the server path.
        """
        path = self.resolve(file_id)
        try:
            return load_image(path, max_pixels=self.max_pixels)
        except ImageReadError as e:
            raise ValueError(f"{self.display_name(file_id)}: {e.reason}") from None

    def thumbnail(self, file_id: str, side: int = 256) -> bytes:
        """A JPEG of the image an id names, at most ``side`` pixels on the long side."""
        from PIL import Image

        img = Image.fromarray(to_uint8(self.load(file_id)))
        img.thumbnail((side, side))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        return buf.getvalue()

    # ------------------------------------------------------------ uploads
    def add_upload(self, data: bytes, filename: str) -> dict:
        """Checks and stores one uploaded image; returns its catalog entry with its size.

        The file is decoded in full before it is accepted, so a damaged or
        disguised file is refused here with a reason, not later in a job.

        Raises:
            UploadRejected: with the status and a one-line message.
        """
        name = re.sub(r"[^\w.\- ]", "_", Path(filename or "upload").name)[:80] or "upload"
        if not data:
            raise UploadRejected(f"{name}: empty file", 400)
        token = secrets.token_hex(8)
        path = self.upload_dir / token
        path.write_bytes(data)
        try:
            image = load_image(path, max_pixels=self.max_pixels)
        except ImageReadError as e:
            path.unlink(missing_ok=True)
            if "over the limit" in e.reason:
                status = 413
            elif "not an image" in e.reason:
                status = 415
            else:
                status = 400
            # The library's hint names a CLI option the page's user cannot pass.
            reason = e.reason.split(" (possible decompression bomb")[0]
            if status == 413:
                reason += " (the server's --max-pixels)"
            raise UploadRejected(f"{name}: {reason}", status) from None
        with self._lock:
            self._uploads[token] = (path, name)
            while len(self._uploads) > self.max_uploads:
                _, (old, _) = self._uploads.popitem(last=False)
                old.unlink(missing_ok=True)
        h, w = image.shape[:2]
        return {**Entry(f"u/{token}", name, "upload").to_dict(), "width": int(w), "height": int(h)}
