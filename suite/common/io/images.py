"""Image input and output at the edges of the suite.

Reading handles what real folders contain: EXIF orientation, grayscale,
palette, RGBA (composited on white), CMYK and 16-bit files, and refuses
decompression bombs. Every failure is one :class:`ImageReadError` with a
one-line reason. Writing is atomic and never overwrites unless asked
(:func:`suite.common.io.atomic.atomic_write`).

Importing this module changes nothing process-wide: Pillow's own pixel limit
(``PIL.Image.MAX_IMAGE_PIXELS``) is left as it is, and raised only for the
duration of one read when the caller's ``max_pixels`` is looser than it.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from suite.common.errors import first_line
from suite.common.io.atomic import atomic_write

#: Default pixel limit: a 11585 x 11585 image. An 8000 x 8000 photo passes.
DEFAULT_MAX_PIXELS = 134_217_728

_PILLOW_LIMIT_LOCK = threading.Lock()

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".jfif",
        ".heic",
        ".heif",
        ".avif",
    }
)

# ISO-BMFF brands of HEIF files (iPhone photos); Pillow reads them only with the pillow-heif plugin.
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")

# Leading bytes of the formats Pillow reads here, for finding images by content.
_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF little-endian
    b"MM\x00*",  # TIFF big-endian
    b"P1",
    b"P2",
    b"P3",
    b"P4",
    b"P5",
    b"P6",
)


class ImageReadError(ValueError):
    """An input file could not be read as an image. ``str(err)`` is a one-line reason."""

    def __init__(self, path, reason: str):
        self.path = Path(path) if path is not None else None
        self.reason = reason
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")


def _file_head(path: Path, size: int = 16) -> bytes:
    """The file's first ``size`` bytes; ``b""`` when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def _looks_like_image(path: Path) -> bool:
    head = _file_head(path)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return True
    if head[4:8] == b"ftyp" and (head[8:12] in _HEIF_BRANDS or head[8:12] in (b"avif", b"avis")):
        return True
    return any(head.startswith(m) for m in _MAGIC)


def _is_heif(path: Path) -> bool:
    head = _file_head(path, 12)
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


_heif_state = {"tried": False}


def _register_heif() -> bool:
    """Lets Pillow read HEIC/HEIF when the optional ``pillow-heif`` plugin is installed.

    Returns True only the first time it registers the plugin, so a file that
    still cannot be read is not retried.
    """
    if _heif_state["tried"]:
        return False
    _heif_state["tried"] = True
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def is_image_file(path) -> bool:
    """True if ``path`` has an image extension or starts like an image file."""
    path = Path(path)
    return path.is_file() and (path.suffix.lower() in IMAGE_EXTENSIONS or _looks_like_image(path))


def _unreadable(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return False
    except OSError:
        return True


def is_input_image(path) -> bool:
    """Whether a folder entry is an input to process: an image, or a file that cannot be inspected.

    Besides image files (:func:`is_image_file`), this takes the entries whose
    reading fails, so that each becomes a failure with a one-line reason
    instead of a silently skipped non-image: a broken symbolic link, a file
    that cannot be opened (no permission), and anything named like an image
    that is not a regular file (a folder, a named pipe). Nothing here opens a
    named pipe, which would block.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return True
    named_like_image = path.suffix.lower() in IMAGE_EXTENSIONS
    if not path.is_file():
        return named_like_image and path.exists()
    return named_like_image or _unreadable(path) or _looks_like_image(path)


def _entry_problem(path: Path) -> ImageReadError | None:
    """Why a path cannot be read as a file, before anything opens it (a named pipe would block)."""
    import stat

    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return ImageReadError(
                path, f"broken symbolic link (it points to {os.readlink(path)}, which does not exist)"
            )
        return ImageReadError(path, "file not found")
    except OSError as e:
        return ImageReadError(path, f"cannot read file ({e.strerror or e})")
    if stat.S_ISDIR(info.st_mode):
        return ImageReadError(path, "is a folder, not an image")
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a named pipe" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "a device"
        )
        return ImageReadError(path, f"not a regular file ({kind})")
    if info.st_size == 0:
        return ImageReadError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        return ImageReadError(path, f"cannot read file ({e.strerror or e})")
    return None


def list_images(folder, recursive: bool = False) -> list[Path]:
    """Image files in ``folder``, sorted, found by extension or by content.

    Files that are neither are skipped (see :func:`scan_folder` for the list of
    skipped files). Entries that cannot be inspected (a broken symbolic link,
    a file without read permission, a folder or pipe named like an image) are
    listed too, so that reading them fails with a reason (:func:`is_input_image`).
    With ``recursive``, symlinked folders are followed once: a symlink loop
    cannot make the walk run forever.

    Args:
        folder: A directory.
        recursive: Descend into sub-folders.

    Returns:
        Sorted list of paths.
    """
    return scan_folder(folder, recursive=recursive)[0]


def scan_folder(folder, recursive: bool = False) -> tuple[list[Path], list[Path]]:
    """Like :func:`list_images`, but also returns the files that were skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    images, skipped = [], []
    seen_dirs = set()
    for root, dirs, files in os.walk(folder, followlinks=recursive):
        real = os.path.realpath(root)
        if real in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs.sort()
        for name in files:
            p = Path(root) / name
            if name.startswith("."):
                continue
            (images if is_input_image(p) else skipped).append(p)
        if not recursive:
            # A sub-folder named like an image is not looked into: reading it says so, with its name.
            images.extend(
                Path(root) / d for d in dirs if not d.startswith(".") and Path(d).suffix.lower() in IMAGE_EXTENSIONS
            )
            break
    return sorted(images), sorted(skipped)


def is_within(path, folder) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved: links, ``..``)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return (path + os.sep).startswith(folder + os.sep)


def refuse_input_folder_as_output(inputs, output, results: str = "results", sources: str = "photos") -> None:
    """Raises ``ValueError`` when the output folder is (resolves to) one of the input folders.

    The ``results`` would be written among the ``sources`` (and could replace
    them), and the sources would be taken for earlier outputs. An output folder
    *inside* an input folder is fine: its files are never inputs.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out_real = os.path.realpath(output)
    for p in inputs:
        if Path(p).is_dir() and os.path.realpath(p) == out_real:
            raise ValueError(
                f"-o {output} is the input folder {p}: the {results} would mix with (and could replace) "
                f"the {sources}; give another output folder"
            )


def without_earlier_outputs(items, inputs, output) -> list:
    """The ``(path, rel)`` items of :func:`collect_inputs` less those a run's own output folder holds, when that
    folder lies inside an input folder (its results are not new inputs on the next, recursive, run).

    Files named in ``inputs``, and input folders that are themselves inside ``output`` (``-o .``), are always
    inputs.
    """
    inputs = [Path(p) for p in inputs]
    if not any(p.is_dir() and is_within(output, p) for p in inputs):
        return list(items)
    named = {os.path.realpath(p) for p in inputs if not p.is_dir()}
    return [(p, rel) for p, rel in items if os.path.realpath(p) in named or not is_within(p, output)]


def collect_inputs(inputs: Iterable, recursive: bool = False) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Expands a mix of files and folders into image paths.

    Returns:
        ``(items, skipped)`` where items are ``(path, relative_path)`` pairs
        (relative to the folder it came from, or just the name for files) and
        skipped are non-image files found in folders.
    """
    items, skipped = [], []
    for inp in inputs:
        inp = Path(inp)
        if inp.is_dir():
            found, skip = scan_folder(inp, recursive=recursive)
            items.extend((p, p.relative_to(inp)) for p in found)
            skipped.extend(skip)
        elif inp.exists():
            items.append((inp, Path(inp.name)))
        else:
            raise FileNotFoundError(f"{inp} does not exist")
    return items, skipped


def output_stems(rel_paths: Sequence[Path]) -> list[Path]:
    """Distinct output stems (relative paths without suffix) for input relative paths.

    Names that would collide (``a.jpg`` and ``a.png``, or two inputs named the
    same) get their extension appended (``a_jpg``, ``a_png``), then a counter
    (``a_jpg_2``) if that still collides. Comparison ignores case, so outputs do
    not overwrite each other on case-insensitive file systems either. The result
    depends only on the input list, so re-running a command finds the same names.
    """
    stems = [Path(r).with_suffix("") for r in rel_paths]
    keys = [str(s).lower() for s in stems]
    count = defaultdict(int)
    for k in keys:
        count[k] += 1
    used = {k for k in keys if count[k] == 1}
    out = []
    for rel, stem, key in zip(rel_paths, stems, keys):
        if count[key] == 1:
            out.append(stem)
            continue
        ext = Path(rel).suffix.lstrip(".").lower() or "noext"
        base = stem.with_name(f"{stem.name}_{ext}")
        cand, i = base, 2
        while str(cand).lower() in used:
            cand, i = base.with_name(f"{base.name}_{i}"), i + 1
        used.add(str(cand).lower())
        out.append(cand)
    return out


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / peak * 255.0, 0, 255).astype(np.float32)
        return np.repeat(arr[..., None], 3, axis=-1)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        peak = 1.0 if arr.max() <= 1.0 else 255.0
        arr = np.clip(arr / peak * 255.0, 0, 255)
        return np.repeat(arr[..., None], 3, axis=-1)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    elif mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.float32)


def _unidentified(path: Path) -> ImageReadError | None:
    """Why Pillow could not identify ``path``; ``None`` if a HEIF plugin was just registered (try again)."""
    if not _is_heif(path):
        return ImageReadError(path, "not an image file (unrecognised format)")
    if _register_heif():
        return None
    import importlib.util

    if importlib.util.find_spec("pillow_heif") is None:
        return ImageReadError(
            path,
            "HEIC/HEIF image, which needs the pillow-heif plugin: "
            "pip install 'keras-cv-suite[heic]' (or convert it to JPEG)",
        )
    return ImageReadError(path, "corrupt HEIC/HEIF image")


def _over_limit(path: Path, w: int, h: int, max_pixels: int) -> ImageReadError:
    return ImageReadError(
        path,
        f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
        "(possible decompression bomb; raise it with --max-pixels)",
    )


def _bomb(path: Path, error: Exception, max_pixels: int | None) -> ImageReadError:
    """The one-line reason for Pillow's own refusal (``DecompressionBombError``) of a huge image."""
    m = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{int(m.group(1)):,} pixels" if m else "the image"
    limit = max_pixels if max_pixels is not None else 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return ImageReadError(
        path, f"{size} is over the limit of {limit:,} (possible decompression bomb; raise it with --max-pixels)"
    )


@contextlib.contextmanager
def _pillow_pixel_limit(max_pixels: int | None):
    """Lets Pillow open images up to ``max_pixels`` (``None``: any size) for the duration.

    Pillow refuses, at ``Image.open``, images over twice its process-wide
    ``Image.MAX_IMAGE_PIXELS`` (about 179 million pixels by default); the suite
    checks its own per-call ``max_pixels`` before decoding instead. Only when
    that limit is looser than Pillow's (``--max-pixels`` raised for huge scans)
    is Pillow's raised, under a lock, for this read only, then restored.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit is None or (max_pixels is not None and max_pixels <= 2 * limit):
        yield
        return
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None if max_pixels is None else max_pixels // 2 + 1
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def open_image(path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Opens, checks and fully decodes an image with Pillow, EXIF-transposed.

    Raises:
        ImageReadError: for missing, empty, truncated, oversized or non-image files.
    """
    path = Path(path)
    problem = _entry_problem(path)
    if problem is not None:
        raise problem
    try:
        with warnings.catch_warnings(), _pillow_pixel_limit(max_pixels):
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the limit is checked here
            img = Image.open(path)
            w, h = img.size
            if w < 1 or h < 1:
                raise ImageReadError(path, f"image has no pixels ({w}x{h})")
            if max_pixels is not None and w * h > max_pixels:
                raise _over_limit(path, w, h, max_pixels)
            img.load()
            img = ImageOps.exif_transpose(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as e:  # over Pillow's own limit, which is not looser than ours
        raise _bomb(path, e, max_pixels) from None
    except UnidentifiedImageError:
        error = _unidentified(path)
        if error is None:  # a HEIF plugin was just registered: read it with that
            return open_image(path, max_pixels=max_pixels)
        raise error from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = first_line(e)
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            msg = f"truncated or corrupt image ({msg})"
        else:
            msg = f"corrupt image ({msg})"
        raise ImageReadError(path, msg) from None
    return img


def load_image(path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads an image file as an upright RGB ``float32`` array in ``[0, 255]``.

    Handles EXIF orientation, grayscale, palette, RGBA/LA (alpha composited on
    white), CMYK and 16-bit files (scaled to the 8-bit range, keeping the extra
    precision as fractions).

    Args:
        path: The image file.
        max_pixels: Refuse images with more pixels than this (decompression
            bombs). ``None`` disables the check.

    Returns:
        Array of shape ``(H, W, 3)``, dtype float32, values in ``[0, 255]``.

    Raises:
        ImageReadError: with a one-line reason, for any unreadable input.

    Example:
        >>> img = load_image("assets/photos/astronaut.jpg")
        >>> img.shape[-1]
        3
    """
    img = open_image(path, max_pixels=max_pixels)
    try:
        return _to_rgb_array(img)
    except (OSError, ValueError) as e:
        raise ImageReadError(path, f"cannot convert to RGB ({e})") from None


def load_image_uint8(path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Like :func:`load_image`, but uint8: a quarter of the memory.

    Used for images big enough to be tiled: an 8000 x 8000 photo is 192 MB as
    uint8 but 768 MB as float32, and tiles are converted to float32 one batch
    at a time. Plain RGB files never go through float32 at all.
    """
    img = open_image(path, max_pixels=max_pixels)
    if img.mode == "RGB":
        return np.asarray(img)
    del img
    arr = load_image(path, max_pixels=max_pixels)  # modes with alpha, 16 bits, CMYK...: the shared rules
    np.rint(arr, out=arr)
    np.clip(arr, 0, 255, out=arr)
    return arr.astype(np.uint8)


def image_size(path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of an image after EXIF orientation, reading only the header.

    Raises:
        ImageReadError: with the same one-line reasons as :func:`load_image`
            for missing, empty, non-image and oversized files.
    """
    path = Path(path)
    problem = _entry_problem(path)
    if problem is not None:
        raise problem
    try:
        with warnings.catch_warnings(), _pillow_pixel_limit(max_pixels):
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                w, h = img.size
                # PNG's getexif() decodes the whole image to find a trailing eXIf
                # chunk; JPEG/TIFF/WebP keep EXIF in the header, so read it there only.
                if max_pixels is not None and w * h > max_pixels:
                    orientation = 1
                elif img.format in ("JPEG", "MPO", "TIFF", "WEBP"):
                    orientation = img.getexif().get(0x0112, 1)
                else:
                    orientation = 1
    except Image.DecompressionBombError as e:
        raise _bomb(path, e, max_pixels) from None
    except UnidentifiedImageError:
        error = _unidentified(path)
        if error is None:
            return image_size(path, max_pixels=max_pixels)
        raise error from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = first_line(e)
        raise ImageReadError(path, f"truncated or corrupt image ({msg})") from None
    if max_pixels is not None and w * h > max_pixels:
        raise _over_limit(path, w, h, max_pixels)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return w, h


#: How far outside [0, 255] an array's values may be (resampling overshoot) before :func:`as_rgb_array` refuses it.
_RANGE_SLACK = 128


def as_rgb_array(image, name: str = "image", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image given as a file path, a PIL image or an array, as the ``(H, W, 3)`` float32 RGB array in ``[0, 255]``
    that the library's functions work on.

    * a path (``str`` or ``os.PathLike``) is read as the command line reads it
      (:func:`load_image`: EXIF orientation, grayscale, palette, alpha on white, 16 bits);
    * a ``PIL.Image.Image`` is EXIF-transposed and converted to RGB by the same rules;
    * an array is checked: ``(H, W, 3)`` RGB, or ``(H, W)``/``(H, W, 1)`` grayscale
      (repeated to three channels), a real (not boolean) dtype, finite values in ``[0, 255]``
      (up to 128 grey levels beyond, as a bicubic resize overshoots; the values are kept).
      Float arrays are in ``[0, 255]`` too, not ``[0, 1]``: one whose maximum is at most 1
      gets a warning (once per ``name``), as it is nearly black on that scale.

    Args:
        image: The image.
        name: What to call it in messages (``"content"``, ``"styles[1]"``).
        max_pixels: For paths: refuse files with more pixels than this.

    Returns:
        A float32 ``(H, W, 3)`` array in ``[0, 255]`` (an array that already is
        one is returned as it is, not copied).

    Raises:
        ImageReadError: an unreadable file (one line naming it).
        ValueError: an array or object that is not an image, naming ``name``.

    Example:
        >>> as_rgb_array(np.zeros((4, 5), np.uint8)).shape
        (4, 5, 3)
    """
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, max_pixels=max_pixels)
    if isinstance(image, Image.Image):
        try:
            return _to_rgb_array(ImageOps.exif_transpose(image))
        except (OSError, ValueError) as e:
            raise ValueError(
                f"{name}: cannot convert the PIL image (mode {image.mode}) to RGB ({first_line(e)})"
            ) from None
    if not hasattr(image, "shape") and not isinstance(image, (list, tuple)):
        raise ValueError(
            f"Expected {name} to be an image file path, a PIL image or an (H, W, 3) array. "
            f"Received: {name} of type {type(image).__name__}"
        )
    array = np.asarray(image)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"Expected {name} to hold numbers in [0, 255]. Received: {name}.dtype={array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3 or min(array.shape[:2]) < 1:
        raise ValueError(
            f"Expected {name} to be an (H, W, 3) RGB image. Received: {name}.shape={tuple(np.shape(image))}"
        )
    if array.dtype != np.uint8:
        low, high = float(np.min(array)), float(np.max(array))
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"Expected {name} to hold finite numbers. Received: NaN or infinite values in {name}")
        # Slack for resampling: a bicubic resize overshoots [0, 255] by tens of grey levels at sharp edges.
        # What is refused is another scale altogether (16-bit values, 0..65535), not an overshoot.
        if low < -_RANGE_SLACK or high > 255 + _RANGE_SLACK:
            raise ValueError(f"Expected {name} in [0, 255]. Received: values from {low:g} to {high:g} in {name}")
        if np.issubdtype(array.dtype, np.floating) and 0 < high <= 1.0:
            _warn_unit_range(name, high)
    return array if array.dtype == np.float32 else array.astype(np.float32)


def _warn_unit_range(name: str, high: float) -> None:
    """Once per argument name: a float array whose values look like ``[0, 1]`` is read as ``[0, 255]`` (near black)."""
    import warnings

    if name in _WARNED_UNIT_RANGE:
        return
    _WARNED_UNIT_RANGE.add(name)
    warnings.warn(
        f"{name} is a float array with values up to {high:g}: it is read in [0, 255], so it is nearly "
        f"black; multiply a [0, 1] image by 255 first",
        UserWarning,
        stacklevel=3,
    )


_WARNED_UNIT_RANGE: set = set()


def as_rgb_arrays(images, name: str = "images", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[np.ndarray]:
    """One image or a list of them (each as :func:`as_rgb_array` takes it), as a list of arrays.

    One image is a path, a PIL image or a 2-D/3-D array; anything else is
    iterated (``name[0]``, ``name[1]``, ... in messages).
    """
    single = isinstance(images, (str, os.PathLike, Image.Image)) or (hasattr(images, "ndim") and images.ndim in (2, 3))
    if single:
        return [as_rgb_array(images, f"{name}[0]", max_pixels)]
    try:
        items = list(images)
    except TypeError:
        raise ValueError(
            f"Expected {name} to be an image or a list of images. Received: {name} of type {type(images).__name__}"
        ) from None
    return [as_rgb_array(im, f"{name}[{i}]", max_pixels) for i, im in enumerate(items)]


def to_uint8(array) -> np.ndarray:
    """Rounds and clips a ``[0, 255]`` float array to uint8."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def resize_float(image, height: int, width: int, resample: str = "bicubic") -> np.ndarray:
    """Resizes a float image of any range with PIL, channel by channel, without rounding to 8 bits.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array (converted to float32).
        height, width: The new size.
        resample: ``"bicubic"`` (images) or ``"box"`` (area average: masks).

    Returns:
        A float32 array shaped ``(height, width)`` or ``(height, width, C)``;
        the input itself (as float32) when the size is already right.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape[:2] == (height, width):
        return image
    method = {"bicubic": Image.BICUBIC, "box": Image.BOX}[resample]

    def one(channel):
        plane = Image.fromarray(np.ascontiguousarray(channel), mode="F")
        return np.asarray(plane.resize((width, height), method), dtype=np.float32)

    if image.ndim == 2:
        return one(image)
    return np.stack([one(image[..., c]) for c in range(image.shape[-1])], axis=-1)


def long_side_shape(shape, long_side: int) -> tuple[int, int]:
    """``(h, w)`` with the long side ``long_side`` and ``shape``'s aspect ratio (``shape`` as ``array.shape``)."""
    h, w = shape[:2]
    s = long_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


#: The extensions :func:`save_image` writes, and their Pillow formats.
SAVE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}


def _format_for(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in SAVE_FORMATS:
        raise ValueError(f"Unsupported output extension '{ext}' for {path}; use one of {sorted(SAVE_FORMATS)}")
    return SAVE_FORMATS[ext]


def save_image(
    array_or_image, path, overwrite: bool = False, quality: int = 95, compress_level: int | None = None
) -> Path:
    """Saves an RGB (or grayscale) array in ``[0, 255]``, or a PIL image, atomically.

    Args:
        array_or_image: ``(H, W, 3)``/``(H, W)`` array or a ``PIL.Image``.
        path: Output file; the format follows the extension.
        overwrite: Replace an existing file.
        quality: JPEG quality.
        compress_level: PNG zlib level, 0-9 (``None``: Pillow's default, 6). Lossless at every level; 1
            encodes a 1024 px photo in about two thirds of the time for about 6% more bytes.

    Raises:
        OutputExistsError: if the file exists and ``overwrite`` is false.
    """
    path = Path(path)
    fmt = _format_for(path)
    img = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(to_uint8(array_or_image))
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG" and compress_level is not None:
        kwargs["compress_level"] = int(compress_level)
    return atomic_write(path, lambda fh: img.save(fh, format=fmt, **kwargs), overwrite=overwrite)
