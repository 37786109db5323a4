"""Segmentation data sets on disk: layouts, image/mask pairing and mask label mapping.

Three layouts are understood, all paired by basename (any image extension,
masks are ``.png``):

* **folders**: ``--images DIR --masks DIR``;
* **Oxford-IIIT Pet**: a root with ``images/`` and ``annotations/trimaps/``.
  Trimap values 1 = pet, 2 = background, 3 = border become classes
  1 (pet) and 0 (background); the border becomes the ignore index unless
  ``trimap_border`` says otherwise;
* **Pascal VOC**: a root (``VOC2012/`` or the ``VOCdevkit`` above it) with
  ``JPEGImages/``, ``SegmentationClass/`` (palette PNGs, read by index) and
  ``ImageSets/Segmentation/{train,val,trainval}.txt``; 255 is the ignore label.

Nothing here imports a deep-learning backend: this module finds files and
reads masks with numpy/Pillow. The ``tf.data`` pipeline is in
:mod:`suite.unet.tfdata`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from suite.common.io.images import DEFAULT_MAX_PIXELS, ImageReadError, load_image, scan_folder
from suite.common.log import note
from suite.unet.errors import DatasetError

LAYOUTS = ("auto", "folders", "oxford-pet", "voc")
#: How training images reach the crop size (:func:`suite.unet.tfdata.make_dataset`).
RESIZE_MODES = ("crop", "resize")
TRIMAP_BORDER = ("ignore", "pet", "background")


@dataclass
class SegmentationSource:
    """A list of image/mask pairs and how to turn a mask file into class indices.

    Attributes:
        pairs: ``[(image_path, mask_path)]``, sorted by basename.
        layout: ``"folders"``, ``"oxford-pet"`` or ``"voc"``.
        lut: ``None``, or a 256-entry uint8/int32 lookup table applied to the
            raw mask values (trimaps, ``binary`` masks).
        binary: Masks are 0/255 and were mapped to 0/1.
        unpaired_images: Images without a mask.
        unpaired_masks: Masks without an image.
        root: The folder the pairs came from (for messages).
        ambiguous: Images left out because another image has the same basename.
        max_pixels: Image and mask files with more pixels are refused (decompression bombs).
    """

    pairs: list
    layout: str = "folders"
    lut: np.ndarray | None = None
    binary: bool = False
    unpaired_images: list = field(default_factory=list)
    unpaired_masks: list = field(default_factory=list)
    root: Path | None = None
    ambiguous: list = field(default_factory=list)
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __len__(self):
        return len(self.pairs)

    @property
    def image_paths(self):
        return [str(p[0]) for p in self.pairs]

    @property
    def mask_paths(self):
        return [str(p[1]) for p in self.pairs]

    def read_mask(self, path) -> np.ndarray:
        """Class indices ``(H, W)`` int32 for one of this source's masks."""
        return read_mask(path, lut=self.lut, binary=self.binary, max_pixels=self.max_pixels)

    def subset(self, indices) -> SegmentationSource:
        """A source with only the pairs at ``indices`` (same mapping)."""
        return SegmentationSource(
            [self.pairs[i] for i in indices],
            self.layout,
            self.lut,
            self.binary,
            root=self.root,
            max_pixels=self.max_pixels,
        )


def read_mask(path, lut=None, binary: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads a mask PNG as class indices, applying a layout's lookup table.

    Palette PNGs are read by index, never by colour (see
    :func:`suite.unet.masks.load_mask`).

    Args:
        path: The mask file.
        lut: Optional 256-entry table mapping raw values to class indices.
        binary: Map 0/255 masks to 0/1 (any non-zero value becomes 1).
        max_pixels: Refuse files with more pixels than this (decompression bombs).

    Returns:
        ``(H, W)`` int32 array.
    """
    from suite.unet.masks import load_mask

    mask = np.asarray(load_mask(path, binary=binary, max_pixels=max_pixels))
    if mask.ndim == 3:
        mask = mask[..., 0]
    mask = mask.astype(np.int32)
    if lut is not None:
        if mask.min() < 0 or mask.max() >= len(lut):
            raise ImageReadError(
                path,
                f"mask values {sorted(set(np.unique(mask).tolist()) - set(range(len(lut))))[:8]} outside the layout's range",
            )
        mask = lut[mask].astype(np.int32)
    return mask


def trimap_lut(border: str = "ignore", ignore_index: int = 255) -> np.ndarray:
    """Lookup table for Oxford-IIIT Pet trimaps: 1 pet -> 1, 2 background -> 0, 3 border -> ``border``.

    Args:
        border: ``"ignore"`` (the default: the ignore index), ``"pet"`` or ``"background"``.
        ignore_index: The label that losses and metrics skip.
    """
    if border not in TRIMAP_BORDER:
        raise ValueError(f"Expected border in {TRIMAP_BORDER}. Received: border={border!r}")
    lut = np.full(256, ignore_index, np.int32)
    lut[1], lut[2] = 1, 0
    lut[3] = {"ignore": ignore_index, "pet": 1, "background": 0}[border]
    return lut


#: Mask formats that store class indices exactly.
LOSSLESS_MASK_EXTENSIONS = frozenset({".png", ".bmp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".pbm"})
#: Formats whose compression changes pixel values, so a mask in them no longer holds exact labels.
LOSSY_MASK_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jfif", ".webp"})


def pair_folders(images_dir, masks_dir, recursive: bool = False):
    """Pairs images with masks of the same basename.

    Masks are read from lossless formats (PNG, BMP, TIFF, GIF, PNM). A JPEG or
    WebP mask is not used, since lossy compression changes the labels at every
    edge; it is returned in ``lossy_masks`` so the caller can say so.

    Args:
        images_dir: Folder of images (any extension).
        masks_dir: Folder of masks.
        recursive: Also look in sub-folders (pairs by relative path).

    Returns:
        ``(pairs, unpaired_images, unpaired_masks, ambiguous, lossy_masks)``;
        ``ambiguous`` lists images that share a basename with another image
        (``a.jpg`` and ``a.png``): a mask cannot be assigned to one of them, so
        none is used.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for d, what in ((images_dir, "images"), (masks_dir, "masks")):
        if not d.is_dir():
            raise DatasetError(f"{what} folder {d} does not exist or is not a folder")
    images = scan_folder(images_dir, recursive=recursive)[0]
    all_masks = scan_folder(masks_dir, recursive=recursive)[0]
    masks = [p for p in all_masks if p.suffix.lower() in LOSSLESS_MASK_EXTENSIONS]
    lossy = [p for p in all_masks if p.suffix.lower() in LOSSY_MASK_EXTENSIONS]

    def key(p, root):
        rel = p.relative_to(root)
        return str(rel.with_suffix(""))

    by_key = {}
    for p in images:
        by_key.setdefault(key(p, images_dir), []).append(p)
    img_index = {k: v[0] for k, v in by_key.items() if len(v) == 1}
    ambiguous = sorted(p for v in by_key.values() if len(v) > 1 for p in v)
    mask_index = {}
    for p in masks:
        # a.png beside a.tif: PNG wins, the usual mask format
        k = key(p, masks_dir)
        if k not in mask_index or p.suffix.lower() == ".png":
            mask_index[k] = p
    common = sorted(set(img_index) & set(mask_index))
    pairs = [(img_index[k], mask_index[k]) for k in common]
    lossy_masks = sorted(p for p in lossy if key(p, masks_dir) in by_key and key(p, masks_dir) not in mask_index)
    lossy_keys = {key(p, masks_dir) for p in lossy_masks}
    unpaired_images = sorted(img_index[k] for k in set(img_index) - set(mask_index) - lossy_keys)
    unpaired_masks = sorted(mask_index[k] for k in set(mask_index) - set(by_key))
    return pairs, unpaired_images, unpaired_masks, ambiguous, lossy_masks


def _find_voc_root(root: Path) -> Path | None:
    for cand in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (cand / "JPEGImages").is_dir() and (cand / "SegmentationClass").is_dir():
            return cand
    return None


def _is_pet_root(root: Path) -> bool:
    return (root / "images").is_dir() and (root / "annotations" / "trimaps").is_dir()


def detect_layout(images, masks=None) -> str:
    """``"folders"`` when masks are given, else ``"oxford-pet"`` or ``"voc"`` by the root's sub-folders."""
    if masks is not None:
        return "folders"
    root = Path(images)
    if _is_pet_root(root):
        return "oxford-pet"
    if _find_voc_root(root) is not None:
        return "voc"
    raise DatasetError(
        f"{root}: give --masks DIR, or point --images at an Oxford-IIIT Pet root "
        "(images/ + annotations/trimaps/) or a Pascal VOC root (JPEGImages/ + SegmentationClass/)"
    )


def _voc_ids(voc: Path, split: str) -> list[str]:
    index = voc / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not index.is_file():
        available = sorted(p.stem for p in (voc / "ImageSets" / "Segmentation").glob("*.txt"))
        raise DatasetError(f"VOC split '{split}' not found: {index} (available: {', '.join(available) or 'none'})")
    ids = []
    root = voc.resolve()
    for n, line in enumerate(index.read_text().splitlines(), 1):
        name = line.strip().split()[0] if line.strip() else ""
        if not name:
            continue
        # An index line is a file stem; anything that would leave the data set is refused.
        for sub, ext in (("JPEGImages", ".jpg"), ("SegmentationClass", ".png")):
            target = (voc / sub / f"{name}{ext}").resolve()
            if root / sub not in target.parents:
                raise DatasetError(f"{index}:{n}: '{name}' points outside the data set root {voc}")
        ids.append(name)
    return ids


def open_source(
    images,
    masks=None,
    layout: str = "auto",
    split: str | None = None,
    binary: bool = False,
    ignore_index: int = 255,
    trimap_border: str = "ignore",
    recursive: bool = False,
    warn: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> SegmentationSource:
    """Finds the image/mask pairs of a data set in any supported layout.

    Args:
        images: Images folder, or a data set root (Oxford-IIIT Pet, Pascal VOC).
        masks: Masks folder (``folders`` layout).
        layout: ``"auto"``, ``"folders"``, ``"oxford-pet"`` or ``"voc"``.
        split: VOC index file (``train``, ``val``, ``trainval``); default ``train``.
        binary: Masks are 0/255; map them to 0/1.
        ignore_index: The label losses and metrics skip (trimap borders map here).
        trimap_border: What Oxford-IIIT Pet's border class becomes; see :func:`trimap_lut`.
        recursive: Look into sub-folders (``folders`` layout).
        warn: Print a note listing unpaired files.
        max_pixels: Refuse image and mask files with more pixels than this
            (decompression bombs); ``None`` disables the check.

    Returns:
        A :class:`SegmentationSource`.

    Raises:
        DatasetError: for missing folders, an unknown layout or no pairs at all.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Expected layout in {LAYOUTS}. Received: layout={layout!r}")
    if layout == "auto":
        layout = detect_layout(images, masks)
    root = Path(images)
    lut = None
    ambiguous, lossy = [], []
    if layout == "folders":
        if masks is None:
            raise DatasetError("the folders layout needs --masks DIR")
        if Path(images).is_dir() and Path(masks).is_dir() and Path(images).resolve() == Path(masks).resolve():
            raise DatasetError(
                f"--images and --masks are the same folder ({images}): images and masks are paired by "
                "name across two folders, so keep the masks in a folder of their own"
            )
        pairs, un_i, un_m, ambiguous, lossy = pair_folders(images, masks, recursive=recursive)
        _refuse_masks_as_images(pairs, images, max_pixels)
    elif layout == "oxford-pet":
        if not _is_pet_root(root):
            raise DatasetError(f"{root} is not an Oxford-IIIT Pet root (images/ + annotations/trimaps/)")
        pairs, un_i, un_m, ambiguous, lossy = pair_folders(root / "images", root / "annotations" / "trimaps")
        lut = trimap_lut(trimap_border, ignore_index)
    else:
        voc = _find_voc_root(root)
        if voc is None:
            raise DatasetError(f"{root} is not a Pascal VOC root (JPEGImages/ + SegmentationClass/)")
        ids = _voc_ids(voc, split or "train")
        pairs, un_i, un_m = [], [], []
        for name in ids:
            img, msk = voc / "JPEGImages" / f"{name}.jpg", voc / "SegmentationClass" / f"{name}.png"
            if img.is_file() and msk.is_file():
                pairs.append((img, msk))
            elif img.is_file():
                un_i.append(img)
            else:
                un_m.append(msk if msk.is_file() else img)
        root = voc
    if binary and lut is not None:
        raise DatasetError("--binary applies to 0/255 masks in the folders layout, not to trimaps")
    if lossy and not pairs:
        raise DatasetError(_lossy_message(lossy, masks if masks is not None else root))
    if warn and lossy:
        note(f"warning: {_lossy_message(lossy, masks if masks is not None else root)}")
    if warn and (un_i or un_m or ambiguous):
        _warn_unpaired(un_i, un_m, ambiguous)
    if not pairs:
        raise DatasetError(f"no image/mask pairs found in {root}" + (f" and {masks}" if masks else ""))
    return SegmentationSource(pairs, layout, lut, binary, un_i, un_m, root, ambiguous, max_pixels)


def _refuse_masks_as_images(pairs, images_dir, max_pixels, sample: int = 4) -> None:
    """A masks folder given as ``--images`` (its first files are all label masks) is a usage error, not data."""
    from suite.unet.masks import looks_like_mask

    if not pairs:
        return
    firsts = [img for img, _ in pairs[:sample]]
    if all(looks_like_mask(p, max_pixels=max_pixels) for p in firsts):
        raise DatasetError(
            f"--images {images_dir} holds label masks, not photos ({firsts[0].name} is a one-channel image of a few "
            "values): pass the photos' folder as --images and the masks' folder as --masks"
        )


def masks_only(masks_dir, recursive: bool = False) -> list:
    """``(mask, mask)`` pairs for scoring predicted masks against truth without the images.

    ``suite evaluate --predictions`` needs only the truth masks: a prediction is
    found by the mask's name and must have its size.

    Raises:
        DatasetError: no usable mask (with the reason when they are JPEG).
    """
    masks_dir = Path(masks_dir)
    if not masks_dir.is_dir():
        raise DatasetError(f"masks folder {masks_dir} does not exist or is not a folder")
    found = scan_folder(masks_dir, recursive=recursive)[0]
    masks = [p for p in found if p.suffix.lower() in LOSSLESS_MASK_EXTENSIONS]
    lossy = [p for p in found if p.suffix.lower() in LOSSY_MASK_EXTENSIONS]
    if lossy and not masks:
        raise DatasetError(_lossy_message(lossy, masks_dir))
    if lossy:
        note(f"warning: {_lossy_message(lossy, masks_dir)}")
    if not masks:
        raise DatasetError(f"no mask files found in {masks_dir}")
    return [(p, p) for p in masks]


def _lossy_message(lossy, folder) -> str:
    kinds = sorted({p.suffix.lower().lstrip(".").upper().replace("JPG", "JPEG") for p in lossy})
    return (
        f"{len(lossy)} mask(s) in {folder} are {'/'.join(kinds)} ({lossy[0].name}, ...): lossy compression "
        "changes the class labels at every edge, so they are not used; save masks as PNG "
        "(class indices, or a palette PNG)"
    )


def _warn_unpaired(images, masks, ambiguous=(), show: int = 5):
    for what, files in (
        ("images without a mask", images),
        ("masks without an image", masks),
        ("images sharing a basename with another image, so no mask can be assigned", ambiguous),
    ):
        if files:
            names = ", ".join(p.name for p in files[:show]) + (
                f", ... ({len(files) - show} more)" if len(files) > show else ""
            )
            note(f"warning: {len(files)} {what} (skipped): {names}")


def split_indices(n: int, val_fraction: float, seed: int = 0):
    """A seeded random split of ``range(n)``: ``(train_indices, val_indices)``, both sorted, ``val`` non-empty."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"Expected 0 < val_fraction < 1. Received: val_fraction={val_fraction}")
    if n < 2:
        raise DatasetError(f"cannot split {n} pair(s) into training and validation sets")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    return sorted(order[n_val:]), sorted(order[:n_val])


def split_source(source: SegmentationSource, val_fraction: float, seed: int = 0):
    """A seeded random train/validation split of one source.

    Returns:
        ``(train, val)`` sources; ``val`` has at least one pair.
    """
    train_idx, val_idx = split_indices(len(source), val_fraction, seed)
    return source.subset(train_idx), source.subset(val_idx)


@dataclass
class SourceStats:
    """What a check of every pair found.

    Attributes:
        class_pixels: Pixels per class over the usable pairs.
        ignored_pixels: Pixels with the ignore index.
        sizes: ``(H, W)`` of every usable pair, in order.
        bad: ``[{"image", "mask", "reason"}]`` for the pairs that cannot be used.
        kept: Indices (into the checked source) of the usable pairs.
        pair_pixels: Per usable pair, its class pixel counts (for :meth:`subset`).
        pair_ignored: Per usable pair, its ignored pixels.
    """

    class_pixels: np.ndarray
    ignored_pixels: int
    sizes: list
    bad: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    pair_pixels: list = field(default_factory=list, repr=False)
    pair_ignored: list = field(default_factory=list, repr=False)

    @property
    def max_size(self):
        return (max(s[0] for s in self.sizes), max(s[1] for s in self.sizes)) if self.sizes else (0, 0)

    def subset(self, positions) -> SourceStats:
        """The statistics of the usable pairs at ``positions`` (indices into ``kept``, like ``source.subset``)."""
        positions = list(positions)
        pixels = [self.pair_pixels[i] for i in positions]
        counts = np.sum(pixels, axis=0) if pixels else np.zeros_like(self.class_pixels)
        return SourceStats(
            counts.astype(np.int64),
            int(sum(self.pair_ignored[i] for i in positions)),
            [self.sizes[i] for i in positions],
            [],
            list(range(len(positions))),
            pixels,
            [self.pair_ignored[i] for i in positions],
        )


def _check_pair(source: SegmentationSource, img_path, mask_path, num_classes: int, ignore_index: int):
    """``(class_pixels, ignored, (H, W))`` for one pair, or a one-line reason (``str``) it cannot be used."""
    from suite.common.io.images import open_image
    from suite.unet.masks import check_foreground_not_ignored, check_same_size, validate_mask

    try:
        mask = source.read_mask(mask_path)
        # A full decode: a truncated file passes a header read but would stop training at its first epoch.
        with open_image(img_path, max_pixels=source.max_pixels) as img:
            w, h = img.size
        # evaluate's checks, so both commands give the same reasons
        check_same_size((h, w), mask.shape, img_path, mask_path)
        validate_mask(mask, num_classes, ignore_index, mask_path)
        if source.lut is None and source.layout != "voc":  # VOC and trimaps: the suite knows their labels
            check_foreground_not_ignored(mask, num_classes, ignore_index, mask_path)
    except ImageReadError as e:
        return str(e)
    flat = mask.ravel()
    ignored = int(np.count_nonzero(flat == ignore_index)) if not 0 <= ignore_index < num_classes else 0
    values = np.bincount(flat[(flat >= 0) & (flat < num_classes)], minlength=num_classes)
    return values.astype(np.int64), ignored, (h, w)


def check_source(
    source: SegmentationSource,
    num_classes: int,
    ignore_index: int = 255,
    progress: bool = True,
    skip_bad: bool = False,
    what: str = "pairs",
) -> SourceStats:
    """Reads every pair once: the image decodes, labels are in range, the mask has the image's size.

    Files are decoded in a few threads (Pillow releases the GIL while decoding).

    Args:
        source: The pairs to check.
        num_classes: Valid labels are ``0 .. num_classes - 1`` and ``ignore_index``.
        ignore_index: The label losses and metrics skip.
        progress: Show a progress bar.
        skip_bad: Collect unusable pairs in ``stats.bad`` (each with a one-line
            reason naming the file) and keep the others. Without it, any bad
            pair raises, listing the problems of the whole set.
        what: What the pairs are, for messages (``"training pairs"``).

    Returns:
        :class:`SourceStats` for the usable pairs; ``stats.kept`` indexes them
        in ``source`` (``source.subset(stats.kept)``).

    Raises:
        DatasetError: bad pairs without ``skip_bad``, or no usable pair at all.
    """
    from concurrent.futures import ThreadPoolExecutor

    n = len(source)
    ctx = None
    if progress and n > 50:
        from suite.common.ui.progress import make_progress

        ctx = make_progress(transient=True)
        ctx.start()
        task = ctx.add_task(f"checking {what}", total=n)
    results = []
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            jobs = pool.map(lambda p: _check_pair(source, p[0], p[1], num_classes, ignore_index), source.pairs)
            for result in jobs:
                results.append(result)
                if ctx is not None:
                    ctx.advance(task)
    finally:
        if ctx is not None:
            ctx.stop()
    bad = [
        {"image": str(img), "mask": str(msk), "reason": r}
        for (img, msk), r in zip(source.pairs, results)
        if isinstance(r, str)
    ]
    kept = [i for i, r in enumerate(results) if not isinstance(r, str)]
    if bad and (not skip_bad or not kept):
        problems = [b["reason"] for b in bad]
        more = _more_problems(problems)
        if skip_bad:
            raise DatasetError(f"none of the {n} {what} is usable: {problems[0]}{more}")
        raise DatasetError(problems[0] + more)
    good = [results[i] for i in kept]
    stats = SourceStats(
        np.sum([g[0] for g in good], axis=0).astype(np.int64) if good else np.zeros(num_classes, np.int64),
        int(sum(g[1] for g in good)),
        [g[2] for g in good],
        bad,
        kept,
        [g[0] for g in good],
        [g[1] for g in good],
    )
    if stats.class_pixels[1:].sum() == 0 and stats.ignored_pixels > 0 and not source.binary:
        from suite.unet.masks import foreground_ignored_message

        # 0/255 masks read as labels: every foreground pixel is the ignore label. A model trained (or a
        # score computed) on what is left knows only the background: a wrong result, so an error.
        folder = Path(source.pairs[stats.kept[0]][1]).parent if stats.kept else None
        raise DatasetError(foreground_ignored_message(folder, ignore_index))
    return stats


def load_pair(source: SegmentationSource, index: int):
    """``(image float32 (H, W, 3) in [0, 255], mask int32 (H, W))`` for one pair, through the suite's readers."""
    img_path, mask_path = source.pairs[index]
    return load_image(img_path), source.read_mask(mask_path)


def _more_problems(problems: list) -> str:
    """What follows the first problem in a one-line error: files with the same reason are only named.

    Each problem reads ``"<file>: <reason>"``; twenty 0/255 masks give one reason and twenty names, not the
    same sentence twenty times.
    """
    if len(problems) < 2:
        return ""

    def split(p):
        where, sep, text = p.partition(": ")
        return (where, text) if sep else ("", p)

    first = split(problems[0])[1]
    same = [split(p)[0] for p in problems[1:] if split(p)[1] == first]
    other = [p for p in problems[1:] if split(p)[1] != first]
    parts = []
    if same:
        parts.append(f"the same for {len(same)} more: {', '.join(same[:3])}{', ...' if len(same) > 3 else ''}")
    if other:
        parts.append(f"{len(other)} other problem(s); first ones: {'; '.join(other[:3])}")
    return f" ({'; '.join(parts)})"
