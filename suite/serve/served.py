"""What the page may read: the served folders (bundled assets first) and the uploads.

Photos and clips (videos, animated GIFs: :data:`suite.common.io.video.VIDEO_EXTENSIONS`)
are both offered; clips only when PyAV (the ``video`` extra) is installed, and
bounded like photos: pixels per frame and seconds.

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
from suite.common.io.video import INSTALL_HINT, VIDEO_EXTENSIONS, VideoReadError, is_video_file

#: The bundled photos, artworks and demo U-Net: package data (``suite/assets/``), in a checkout and in a wheel.
BUNDLED_ASSETS = ASSETS_FOLDER
MODEL_EXTENSIONS = frozenset({".keras"})
#: Extensions a clip may have (a ``.gif`` is a clip when animated, else a photo).
CLIP_EXTENSIONS = VIDEO_EXTENSIONS
#: A clip's frame rate counted against its length: at most this many frames per allowed second.
MAX_CLIP_RATE = 60
#: Files listed per served folder: a folder picked by mistake (a home directory) must not stall the page.
MAX_LISTED = 500


class NotFound(LookupError):
    """An id that names nothing the page may read; ``str(err)`` is the message."""


class UploadRejected(ValueError):
    """An upload that is not a usable image or clip.

    Attributes:
        status: The HTTP status: 413 over the pixel or duration limit, 415 not an
            image (or a clip without PyAV on the server), 400 damaged.
    """

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Entry:
    """One file the page can pick: its id, a display name, where it came from and its kind."""

    id: str
    name: str
    source: str
    kind: str = "image"  # or "clip"

    def to_dict(self) -> dict:
        d = {"id": self.id, "name": self.name, "source": self.source}
        if self.kind != "image":  # photos, artworks and models keep their three fields
            d["kind"] = self.kind
        return d


class ServedFiles:
    """The served folders and the upload store of one server.

    Args:
        folders: Folders given to ``suite serve``; their images and ``.keras``
            models are offered on the pages.
        upload_dir: Where uploads are kept (a private temporary folder).
        max_pixels: Images (and clip frames) over this many pixels are refused (uploads) or not listed.
        max_uploads: Uploads kept; the oldest are removed first.
        bundled: The bundled assets folder, offered first when it exists.
        max_clip_seconds: Clips longer than this are refused (uploads and jobs).
    """

    def __init__(
        self,
        folders,
        upload_dir,
        max_pixels: int,
        max_uploads: int = 200,
        bundled: Path | None = BUNDLED_ASSETS,
        max_clip_seconds: float = 20.0,
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
        self.max_clip_seconds = float(max_clip_seconds)
        self._uploads: OrderedDict[str, tuple[Path, str, str]] = OrderedDict()  # token -> (path, name, kind)
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

    @staticmethod
    def clips_supported() -> bool:
        """Whether this server can read clips (PyAV, the ``video`` extra, is installed)."""
        import importlib.util

        return importlib.util.find_spec("av") is not None

    def catalog(self) -> dict:
        """Photos, clips, artworks and models the page can pick from, as JSON-able lists.

        In the bundled assets, photos come from ``photos/``, artworks from
        ``styles/`` and models are the ``.keras`` files; a served folder's images
        are offered both as photos and as artworks, its clips (animated GIFs
        included, a still GIF stays a photo) as clips, when PyAV is installed.
        """
        photos, artworks, models, clips = [], [], [], []
        with_clips = self.clips_supported()
        for k, (label, root) in enumerate(self.roots):
            bundled = k == 0 and self.has_bundled
            for sub, lists in (
                (("photos", [photos]), ("styles", [artworks])) if bundled else ((None, [photos, artworks]),)
            ):
                for p in self._files(root, IMAGE_EXTENSIONS, root / sub if sub else None):
                    if p.suffix.lower() in CLIP_EXTENSIONS and is_video_file(p):
                        continue  # an animated GIF is a clip
                    rel = p.relative_to(root).as_posix()
                    for lst in lists:
                        lst.append(Entry(f"f{k}/{rel}", rel, label).to_dict())
            for p in self._files(root, MODEL_EXTENSIONS):
                rel = p.relative_to(root).as_posix()
                models.append(Entry(f"f{k}/{rel}", rel, label).to_dict())
            if with_clips and not bundled:
                for p in self._files(root, CLIP_EXTENSIONS):
                    if is_video_file(p):
                        rel = p.relative_to(root).as_posix()
                        clips.append(Entry(f"f{k}/{rel}", rel, label, "clip").to_dict())
        return {"photos": photos, "clips": clips, "artworks": artworks, "models": models}

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
            kind: ``"image"`` (a photo or a clip: what a photo picker offers) or
                ``"model"`` (a ``.keras`` file in a served folder).

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
        allowed = (IMAGE_EXTENSIONS | CLIP_EXTENSIONS) if kind == "image" else MODEL_EXTENSIONS
        if path.suffix.lower() not in allowed or not self._inside(root, path):
            raise NotFound(f"no such file: {file_id!r}")
        return path.resolve()

    def is_clip(self, file_id: str) -> bool:
        """Whether an id names a clip (a video or an animated GIF) rather than a photo.

        Raises:
            NotFound: as :meth:`resolve`.
        """
        path = self.resolve(file_id)
        if str(file_id).startswith("u/"):
            with self._lock:
                hit = self._uploads.get(str(file_id)[2:])
            return hit is not None and hit[2] == "clip"
        return path.suffix.lower() in CLIP_EXTENSIONS and is_video_file(path)

    def check_clip(self, file_id: str):
        """The clip an id names, checked against the server's limits: its :class:`~suite.common.io.video.VideoInfo`.

        Raises:
            NotFound: as :meth:`resolve`.
            UploadRejected: PyAV missing (415), damaged (400), not a video (415),
                over the pixel or duration limit (413); messages name the clip, never a server path.
        """
        return self._check_clip(self.resolve(file_id), self.display_name(file_id))

    def _check_clip(self, path: Path, name: str):
        from suite.common.io.video import VideoSupportMissing, count_frames, probe

        try:
            info = probe(path)
        except VideoSupportMissing:
            raise UploadRejected(f"{name}: clips need PyAV on the server ({INSTALL_HINT})", 415) from None
        except VideoReadError as e:
            status = 415 if e.reason == "no video stream" else 400
            raise UploadRejected(f"{name}: {e.reason}", status) from None
        pixels = info.width * info.height
        if pixels > self.max_pixels:
            raise UploadRejected(
                f"{name}: {info.width}x{info.height} frames are {pixels:,} pixels, over the limit of "
                f"{self.max_pixels:,} (the server's --max-pixels)",
                413,
            )
        frames = count_frames(path)
        if frames == 0:
            raise UploadRejected(f"{name}: no decodable frame (truncated or damaged)", 400)
        # The header's duration, or the frames at the clip's rate, whichever is longer: a header cannot hide length.
        seconds = max(info.duration or 0.0, frames / float(info.rate or 25))
        limit = self.max_clip_seconds
        if seconds > limit + 1e-3:
            raise UploadRejected(
                f"{name}: {seconds:.1f} s long, over the limit of {limit:g} s (the server's --max-clip-seconds)", 413
            )
        if frames > limit * MAX_CLIP_RATE:
            raise UploadRejected(
                f"{name}: {frames} frames, over the limit of {int(limit * MAX_CLIP_RATE)} "
                f"({MAX_CLIP_RATE} per allowed second; the server's --max-clip-seconds)",
                413,
            )
        info.frames = frames
        info.duration = seconds
        return info

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

    def first_frame(self, file_id: str):
        """A clip's first frame as ``(H, W, 3)`` uint8 RGB.

        Raises:
            NotFound: unknown id. ``ValueError``: PyAV missing or the clip cannot be read (no server path).
        """
        from suite.common.io.video import VideoSupportMissing, read_frames

        path = self.resolve(file_id)
        try:
            for frame in read_frames(path):
                return frame.image
        except VideoReadError as e:
            raise ValueError(f"{self.display_name(file_id)}: {e.reason}") from None
        except VideoSupportMissing as e:
            raise ValueError(str(e)) from None
        raise ValueError(f"{self.display_name(file_id)}: no decodable frame")

    def thumbnail(self, file_id: str, side: int = 256) -> bytes:
        """A JPEG of the image an id names (a clip's first frame), at most ``side`` pixels on the long side."""
        from PIL import Image

        pixels = self.first_frame(file_id) if self.is_clip(file_id) else to_uint8(self.load(file_id))
        img = Image.fromarray(pixels)
        img.thumbnail((side, side))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        return buf.getvalue()

    # ------------------------------------------------------------ uploads
    def add_upload(self, data: bytes, filename: str) -> dict:
        """Checks and stores one uploaded image or clip; returns its catalog entry with its size.

        An image is decoded in full before it is accepted, so a damaged or
        disguised file is refused here with a reason, not later in a job. A
        file with a video extension (or an animated GIF) is a clip: its header,
        first frame and packets are read, and its frame size and length
        checked (:meth:`check_clip`); the entry adds ``kind: "clip"``,
        ``frames``, ``seconds`` and ``fps``.

        Raises:
            UploadRejected: with the status and a one-line message.
        """
        name = re.sub(r"[^\w.\- ]", "_", Path(filename or "upload").name)[:80] or "upload"
        if not data:
            raise UploadRejected(f"{name}: empty file", 400)
        token = secrets.token_hex(8)
        path = self.upload_dir / token
        path.write_bytes(data)
        ext = Path(name).suffix.lower()
        if ext in CLIP_EXTENSIONS and (ext != ".gif" or self._animated_gif(path)):
            return self._add_clip(token, path, name)
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
        self._keep(token, path, name, "image")
        h, w = image.shape[:2]
        return {**Entry(f"u/{token}", name, "upload").to_dict(), "width": int(w), "height": int(h)}

    @staticmethod
    def _animated_gif(path: Path) -> bool:
        from PIL import Image

        try:
            with Image.open(path) as img:
                return img.format == "GIF" and getattr(img, "n_frames", 1) > 1
        except Exception:  # not a GIF after all: the image checks say why
            return False

    def _add_clip(self, token: str, path: Path, name: str) -> dict:
        try:
            info = self._check_clip(path, name)
        except UploadRejected:
            path.unlink(missing_ok=True)
            raise
        self._keep(token, path, name, "clip")
        # The size as shown: a phone clip's display matrix turns its stored 160x120 frames to 120x160.
        w, h = (info.height, info.width) if info.rotation % 180 == 90 else (info.width, info.height)
        return {
            **Entry(f"u/{token}", name, "upload", "clip").to_dict(),
            "width": int(w),
            "height": int(h),
            "frames": int(info.frames),
            "seconds": round(float(info.duration), 2),
            "fps": round(float(info.rate), 3),
        }

    def _keep(self, token: str, path: Path, name: str, kind: str) -> None:
        with self._lock:
            self._uploads[token] = (path, name, kind)
            while len(self._uploads) > self.max_uploads:
                _, (old, _, _) = self._uploads.popitem(last=False)
                old.unlink(missing_ok=True)
