"""Reading segmentation masks as class indices and checking their labels.

A mask is a single-channel array of class indices, one per pixel:

* palette PNGs (Pascal VOC's ``SegmentationClass``) are read by **index**,
  never by colour;
* grayscale PNGs (8 or 16 bit) are read as values;
* RGB masks whose three channels are equal are read as grayscale; RGB
  *colour* masks are refused with a message, because the colour -> class
  mapping is not in the file;
* ``binary=True`` maps 0/255 masks to 0/1 (masks already 0/1 are kept).

Pixels equal to the ignore index (255 by default, Pascal VOC's "void")
contribute to no loss and no metric.

Pairing images with masks (by basename, in the folders / Oxford-IIIT Pet /
Pascal VOC layouts) is :func:`suite.unet.data.open_source`.
"""

from __future__ import annotations

import numpy as np

from suite.common.io.images import DEFAULT_MAX_PIXELS, ImageReadError
from suite.unet.errors import MaskError


def _mask_array(img, path) -> np.ndarray:
    mode = img.mode
    if mode in ("P", "L", "1"):
        # "P" keeps the palette indices; converting would turn them into colours.
        return np.asarray(img).astype(np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return np.asarray(img).astype(np.int32)
    if mode in ("LA", "PA"):
        return np.asarray(img)[..., 0].astype(np.uint8)
    if mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr"):
        rgb = np.asarray(img.convert("RGB"))
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return rgb[..., 0].astype(np.uint8)
        colours = np.unique(rgb.reshape(-1, 3), axis=0)
        shown = ", ".join(str(tuple(int(v) for v in c)) for c in colours[:4])
        more = f" and {len(colours) - 4} more" if len(colours) > 4 else ""
        raise MaskError(
            path,
            f"RGB colour mask (colours {shown}{more}); masks must hold class indices: "
            "save a palette PNG or a grayscale PNG whose values are the class numbers",
        )
    raise MaskError(path, f"unsupported mask mode {mode!r}; expected a palette or grayscale PNG")


def load_mask(path, binary: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads a mask file as an ``(H, W)`` array of class indices.

    Args:
        path: A PNG (palette, grayscale 8/16-bit, or gray-valued RGB).
        binary: Map a 0/255 mask to 0/1; a mask already in {0, 1} is kept.
        max_pixels: Refuse files with more pixels than this (decompression
            bombs); ``None`` disables the check.

    Returns:
        ``(H, W)`` uint8 array (int32 for 16-bit masks).

    Raises:
        MaskError: RGB colour masks, non-binary values with ``binary=True``.
        suite.common.io.images.ImageReadError: unreadable files.

    Example:
        >>> mask = load_mask("annotations/trimaps/Abyssinian_1.png")
        >>> mask.ndim
        2
    """
    from suite.common.io.images import open_image

    img = open_image(path, max_pixels=max_pixels)
    mask = _mask_array(img, path)
    if binary:
        values = np.unique(mask)
        if np.isin(values, (0, 255)).all():
            mask = (mask == 255).astype(np.uint8)
        elif not np.isin(values, (0, 1)).all():
            bad = [int(v) for v in values if v not in (0, 1, 255)]
            raise MaskError(
                path,
                f"--binary expects a 0/255 (or 0/1) mask, found values {_show(bad)}; "
                "threshold the mask first, or drop --binary for class-index masks",
            )
        else:
            mask = mask.astype(np.uint8)
    return mask


def _show(values, limit=10) -> str:
    values = [int(v) for v in values]
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f" ... ({len(values)} values)" if len(values) > limit else "")


def invalid_labels(mask: np.ndarray, num_classes: int, ignore_index: int | None = 255) -> list[int]:
    """The distinct labels in ``mask`` that are neither a class nor the ignore index."""
    values = np.unique(np.asarray(mask))
    bad = (values < 0) | (values >= num_classes)
    if ignore_index is not None:
        bad &= values != ignore_index
    return [int(v) for v in values[bad]]


def validate_mask(mask: np.ndarray, num_classes: int, ignore_index: int | None = 255, path=None) -> np.ndarray:
    """Checks that every label is a class index (``0..num_classes-1``) or the ignore index.

    Args:
        mask: ``(H, W)`` integer array.
        num_classes: Number of classes.
        ignore_index: Label that is ignored (``None``: none).
        path: The file, for the message.

    Returns:
        ``mask``, unchanged.

    Raises:
        MaskError: naming the file and the offending values.
    """
    bad = invalid_labels(mask, num_classes, ignore_index)
    if bad:
        ignore = f" and not the ignore index {ignore_index}" if ignore_index is not None else ""
        raise MaskError(
            path,
            f"labels {_show(bad)} are outside 0..{num_classes - 1}{ignore} "
            f"(num_classes={num_classes}); check --num-classes, --ignore-index or --binary",
        )
    return mask


def check_same_size(image_shape, mask_shape, image_path, mask_path) -> None:
    """Raises :class:`MaskError` naming the pair when image and mask sizes differ."""
    if tuple(image_shape[:2]) != tuple(mask_shape[:2]):
        ih, iw = image_shape[:2]
        mh, mw = mask_shape[:2]
        raise MaskError(None, f"size mismatch: image {image_path} is {iw}x{ih} but mask {mask_path} is {mw}x{mh}")


def foreground_ignored_message(folder, ignore_index: int) -> str:
    """Why masks holding only 0 and the ignore index cannot be meant as they are, and the fix, in one line."""
    where = f"the masks in {folder}" if folder is not None else "the masks"
    return (
        f"{where} hold only 0 and {ignore_index}, the ignore index: every foreground pixel would be left out; "
        f"pass --binary for 0/{ignore_index} masks (or another --ignore-index if {ignore_index} is a class)"
    )


def check_foreground_not_ignored(mask: np.ndarray, num_classes: int, ignore_index: int | None, path=None) -> np.ndarray:
    """Refuses one mask that holds only 0 and the ignore index: a 0/255 mask read without ``--binary``.

    With the default ignore index 255 such a mask's foreground would silently
    be left out of every loss and metric, even when the other masks of the set
    hold class indices. The folder-wide check (:func:`only_background_and_ignore`)
    only sees the case where every mask is like this.

    Args:
        mask: ``(H, W)`` integer array, as read (after ``--binary``/trimap mapping).
        num_classes: Number of classes.
        ignore_index: The ignored label (``None``: none, nothing to check).
        path: The file, for the message.

    Returns:
        ``mask``, unchanged.

    Raises:
        MaskError: naming the file and the fix (``--binary``).
    """
    if ignore_index is None or 0 <= ignore_index < num_classes:
        return mask
    values = {int(v) for v in np.unique(np.asarray(mask))}
    if ignore_index in values and values <= {0, ignore_index}:
        raise MaskError(
            path,
            f"holds only 0 and {ignore_index}, the ignore index: its foreground would be left out; "
            f"pass --binary for 0/{ignore_index} masks (or another --ignore-index if {ignore_index} is a class)",
        )
    return mask


def only_background_and_ignore(label_sets, num_classes: int, ignore_index: int | None) -> bool:
    """True when the masks (their label sets) hold class 0 and the ignore index and no other class at all.

    That is what 0/255 masks read without ``binary`` look like with the
    default ignore index 255: every foreground pixel is ignored.
    """
    if ignore_index is None or 0 <= ignore_index < num_classes:
        return False
    seen = set()
    for labels in label_sets:
        labels = {int(v) for v in labels}
        if labels - {0, ignore_index}:
            return False
        seen |= labels
    return ignore_index in seen


#: Modes of single-channel images: what masks are saved as, and what photos rarely are.
_SINGLE_CHANNEL_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N")


def looks_like_mask(path, max_labels: int = 32, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bool:
    """Whether an image file looks like a label mask: one channel and at most ``max_labels`` distinct values.

    A photo, even a grayscale one, has far more grey levels; a palette or
    grayscale PNG of class indices has a handful.
    """
    from pathlib import Path

    from PIL import Image

    from suite.common.io.images import open_image

    if not Path(path).is_file():  # a pipe would block; links and folders are reported where they are read
        return False
    try:  # the header first: a photo (RGB) is told apart without decoding it
        with Image.open(path) as img:
            if img.mode not in _SINGLE_CHANNEL_MODES:
                return False
    except Exception:  # unreadable here: the pair's own check gives the reason
        return False
    try:
        with open_image(path, max_pixels=max_pixels) as img:
            if img.mode not in _SINGLE_CHANNEL_MODES:
                return False
            values = np.unique(np.asarray(img))
    except ImageReadError:
        return False
    return len(values) <= max_labels
