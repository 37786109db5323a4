"""Segment images and whole folders with a trained model: batched, tiled, resumable.

:func:`segment_image` turns one image (array or file) into a class-index mask,
tiling it when it is large. :func:`segment_folder` runs a model over any mix of
files and folders and writes, for each image, ``OUT/<stem>.png`` (a palette PNG
of class indices at the image's own size), and optionally an overlay JPEG and
float16 probabilities. It is the library behind ``suite segment``.

How the folder run is fast and safe:

- Image sizes are read from the file headers first, so images of similar size
  are sorted next to each other and predicted in batches (padded to a shared
  size, each cropped back).
- Decoding runs in a thread pool ahead of prediction, and post-processing plus
  PNG/JPEG encoding in writer threads behind it; the model is called through
  ``predict_on_batch``, whose compiled function is traced once per size class.
- Large images (or all, with ``tile``) go through overlapping tiles blended
  with a smooth window, one row band at a time, so memory stays flat.
- Outputs that exist are skipped unless ``overwrite``; every file is written
  atomically, so a killed run leaves no half-written file and re-running the
  same command finishes the rest.
- A bad file gets a one-line reason in ``OUT/report.json`` and the run goes on.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import ProgressColumn
from rich.text import Text

from suite.common.errors import typed_first_line
from suite.common.io.atomic import (
    OutputExistsError,
    atomic_write,
    ensure_writable_folder,
    remove_partial_files,
    save_json,
)
from suite.common.io.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    as_rgb_array,
    collect_inputs,
    image_size,
    is_input_image,
    load_image,
    load_image_uint8,
    output_stems,
)
from suite.common.log import note
from suite.common.options import as_dict
from suite.common.ui.viz import mask_image, overlay
from suite.unet import predict as P
from suite.unet.model_io import model_label, resolve_segmentation
from suite.unet.segment_options import (  # noqa: F401 - the defaults, also read from here
    DEFAULT_BATCH_PIXELS,
    DEFAULT_MAX_UNTILED_PIXELS,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    SegmentOptions,
    segment_options,
)

#: A batch may pad its images up to this much more area than their own padded area.
_BATCH_WASTE = 1.25

MASK_SUFFIX = ".png"
OVERLAY_SUFFIX = "_overlay.jpg"
PROBABILITIES_SUFFIX = ".npy"
REPORT_NAME = "report.json"


# --------------------------------------------------------------------------- one image


def segment_image(
    model,
    image,
    *,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    max_untiled_pixels: int = DEFAULT_MAX_UNTILED_PIXELS,
    probabilities: bool = False,
    tiles_per_batch: int = 4,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
):
    """Segments one image into a class-index mask at the image's own size.

    Small images run whole (padded to the model's stride and cropped back);
    images over ``max_untiled_pixels``, or larger than ``tile`` when it is
    given, run as overlapping tiles blended with a smooth window.

    Args:
        model: A segmentation model (``(N, H, W, 3)`` RGB in ``[0, 255]`` to
            ``(N, H, W, C)`` logits) or the path of a ``.keras`` file.
        image: An image file (read as ``suite segment`` reads it: EXIF
            orientation applied), a PIL image, or an ``(H, W, 3)`` RGB array
            in ``[0, 255]``.
        tile: Tile side in pixels; ``None`` tiles only large images (with
            :data:`DEFAULT_TILE`).
        overlap: Pixels shared by neighbouring tiles.
        max_untiled_pixels: Tile automatically above this many pixels.
        probabilities: Also return the per-class probabilities.
        tiles_per_batch: Tiles per model call.
        max_pixels: Refuse image files with more pixels than this.

    Returns:
        The ``(H, W)`` mask of class indices, uint8 (int32 for a model with
        more than 256 classes), or ``(mask, probabilities)`` with ``(H, W, C)``
        float32 probabilities in ``[0, 1]`` if ``probabilities`` (``C = 1`` for
        a one-channel binary model: the probability of class 1).

    Example:
        >>> mask = segment_image("demo_unet.keras", "photo.jpg")  # doctest: +SKIP
    """
    model, meta = resolve_segmentation(model)
    image = as_rgb_array(image, "image", max_pixels=max_pixels)
    h, w = image.shape[:2]
    stride = meta.stride
    tile, max_untiled_pixels = tiling_for(meta, tile, max_untiled_pixels)
    if _needs_tiling(h, w, tile, max_untiled_pixels):
        mask = np.empty((h, w), dtype=np.uint8)
        probs = None
        for y0, band in P.predict_tiled(model, image, tile=tile or DEFAULT_TILE, overlap=overlap,
                                        stride=stride, tiles_per_batch=tiles_per_batch):
            if probabilities and probs is None:
                probs = np.empty((h, w, band.shape[-1]), dtype=np.float32)
            mask = _grow_mask_dtype(mask, band.shape[-1])
            mask[y0:y0 + len(band)] = P.scores_to_mask(band)
            if probabilities:
                probs[y0:y0 + len(band)] = band
        return (mask, probs) if probabilities else mask
    if probabilities:
        mask, probs = P.predict_batch(model, [image], stride=stride, head="mask+probabilities")[0]
        return mask, probs
    return P.predict_batch(model, [image], stride=stride, head="mask")[0]


def _grow_mask_dtype(mask, num_classes):
    return mask if num_classes <= 256 or mask.dtype == np.int32 else mask.astype(np.int32)


def _needs_tiling(h: int, w: int, tile: int | None, max_untiled_pixels: int) -> bool:
    if tile is not None:
        return h > tile or w > tile
    return h * w > max_untiled_pixels


# --------------------------------------------------------------------------- folders


@dataclass
class SegmentReport:
    """What a :func:`segment_folder` run did. ``OUT/report.json`` holds :meth:`to_dict`."""

    output: str
    model: str
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    not_images: list = field(default_factory=list)
    seconds: float = 0.0
    options: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if no image failed."""
        return not self.failed

    @property
    def images_per_second(self) -> float:
        return len(self.done) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "output": self.output,
            "model": self.model,
            "counts": {"done": len(self.done), "skipped": len(self.skipped), "failed": len(self.failed),
                       "not_images": len(self.not_images)},
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 3),
            "failed": self.failed,
            "done": self.done,
            "skipped": self.skipped,
            "not_images": self.not_images,
            "options": self.options,
        }


@dataclass
class _Item:
    path: Path
    stem: Path  # output path without suffix, relative to OUT
    todo: tuple  # which outputs to write: "mask", "overlay", "probabilities"
    size: tuple = (0, 0)  # (H, W) from the header


def _outputs_for(out_dir: Path, stem: Path) -> dict:
    base = out_dir / stem
    return {
        "mask": base.with_name(base.name + MASK_SUFFIX),
        "overlay": base.with_name(base.name + OVERLAY_SUFFIX),
        "probabilities": base.with_name(base.name + PROBABILITIES_SUFFIX),
    }


def _reason(e: BaseException) -> str:
    if isinstance(e, ImageReadError):
        return e.reason
    return typed_first_line(e)


def _plan_batches(items: list, stride: int, batch_size: int, batch_pixels: int, waste: float = _BATCH_WASTE) -> list:
    """Groups items (sorted by padded size) into batches of similar size.

    ``waste=1.0`` batches only images of the same padded size.

    Returns:
        A list of ``(items, (H, W))``: the images and the size they are padded to.
    """
    def padded(it):
        h, w = it.size
        return math.ceil(h / stride) * stride, math.ceil(w / stride) * stride

    order = sorted(items, key=lambda it: (padded(it), str(it.path)))
    batches, cur, th, tw, own = [], [], 0, 0, 0
    for it in order:
        ph, pw = padded(it)
        nh, nw = max(th, ph), max(tw, pw)
        cost = (len(cur) + 1) * nh * nw
        if cur and (len(cur) >= batch_size or cost > batch_pixels or cost > waste * (own + ph * pw)):
            batches.append((cur, (th, tw)))
            cur, th, tw, own = [], 0, 0, 0
            nh, nw = ph, pw
        cur.append(it)
        th, tw, own = nh, nw, own + ph * pw
    if cur:
        batches.append((cur, (th, tw)))
    return batches


class _Run:
    """The state of one folder run, shared by the reader, predictor and writer threads."""

    def __init__(self, report, model, meta, out_dir, overwrite, progress=None, task=None):
        self.report, self.model, self.meta, self.out_dir = report, model, meta, out_dir
        self.class_names, self.overwrite = list(meta.class_names), overwrite
        self.progress, self.task = progress, task
        self.lock = threading.Lock()

    def fail(self, item, e):
        with self.lock:
            self.report.failed.append({"input": str(item.path), "reason": _reason(e)})
        self._advance()

    def finish(self, item, skipped=False):
        with self.lock:
            (self.report.skipped if skipped else self.report.done).append(str(item.path))
        self._advance()

    def _advance(self):
        if self.progress is not None:
            self.progress.advance(self.task)

    # Runs in a writer thread: PNG/JPEG encoding and file writes release the
    # GIL, so they overlap with the next batch's prediction.
    def write(self, item, image, prediction):
        """Writes an image's outputs; ``prediction`` is a mask or a ``(mask, probabilities)`` pair."""
        try:
            outs = _outputs_for(self.out_dir, item.stem)
            mask, probs = prediction if isinstance(prediction, tuple) else (prediction, None)
            if probs is not None and "probabilities" in item.todo:
                data = probs.astype(np.float16)
                atomic_write(outs["probabilities"], lambda fh: np.save(fh, data), overwrite=self.overwrite)
            if "overlay" in item.todo:
                ov = overlay(image, mask, self.class_names)
                atomic_write(outs["overlay"], lambda fh: ov.save(fh, format="JPEG", quality=90),
                             overwrite=self.overwrite)
            # The mask is written last: its presence marks the image as finished for a re-run.
            if "mask" in item.todo:
                img = mask_image(mask)
                atomic_write(outs["mask"], lambda fh: img.save(fh, format="PNG", compress_level=1),
                             overwrite=self.overwrite)
        except OutputExistsError:
            # Another run wrote it between our check and now: theirs is as good as ours.
            self.finish(item, skipped=True)
        except Exception as e:
            self.fail(item, e)
        else:
            self.finish(item)


def segment_folder(inputs, output, model, options: SegmentOptions | None = None, *, progress: bool = True,
                   **changes) -> SegmentReport:
    """Segments every image in ``inputs`` and writes masks (and more) into ``output``.

    For each image ``OUT/<stem>.png`` is a palette PNG of class indices at the
    image's upright size. Folders are scanned for images by content; other
    files are listed as not images. Unreadable images are recorded with a
    one-line reason and the run continues. The run ends by writing
    ``OUT/report.json``, which also records the options.

    Args:
        inputs: A file or folder, or a sequence of them.
        output: The output folder (created if missing). Files inside it are
            never taken as inputs.
        model: A segmentation model, the path of a ``.keras`` file or a preset name.
        options: A :class:`~suite.unet.segment_options.SegmentOptions`
            (default: its defaults). Among them: ``overlay`` (also write
            ``<stem>_overlay.jpg`` with a legend), ``probabilities`` (also
            write ``<stem>.npy``, float16), ``batch_size``, ``tile`` and
            ``overlap`` (images larger than ``tile``, or by default over
            ``max_untiled_pixels``, run as overlapping tiles), ``overwrite``
            (by default existing outputs are skipped, so an interrupted run is
            finished by running it again), ``recursive``, ``max_pixels``
            (decompression bombs), ``batch_pixels`` and ``workers`` (decoding threads).
        progress: Show a progress bar with images per second.
        **changes: Fields of ``options`` to change, e.g. ``overlay=True``.

    Returns:
        A :class:`SegmentReport`; ``report.ok`` is false if any image failed.

    Raises:
        ValueError: an option out of range, ``runner`` other than ``"local"``
            (see :func:`suite.unet.beam_runner.segment_beam`), or a model that
            is not a segmentation model.

    Example:
        >>> report = segment_folder("photos", "masks", "demo_unet.keras", overlay=True)  # doctest: +SKIP
        >>> report.to_dict()["counts"]  # doctest: +SKIP
        {'done': 4, 'skipped': 0, 'failed': 0, 'not_images': 0}
    """
    opts = segment_options(options, **changes)
    if opts.runner != "local":
        raise ValueError(f"segment_folder runs here (runner='local'); runner={opts.runner!r} is "
                         "suite.unet.beam_runner.segment_beam")
    start = time.perf_counter()
    created = not (Path(output).exists() or Path(output).is_symlink())
    out_dir = ensure_writable_folder(output)  # before the model is even loaded
    try:
        remove_partial_files(out_dir)  # what a killed earlier run was writing
        report = SegmentReport(output=str(out_dir), model=model_label(model), options=as_dict(opts))
        model, meta = resolve_segmentation(model)
        items, report.skipped, not_images = plan_items(inputs, out_dir, overlay=opts.overlay,
                                                       probabilities=opts.probabilities, overwrite=opts.overwrite,
                                                       recursive=opts.recursive)
        if not items and not report.skipped:
            raise NoImagesError(inputs, not_images)
    except BaseException:
        if created:  # a failed start leaves no empty output folder behind
            _remove_empty_folder(out_dir)
        raise
    report.not_images = [str(p) for p in not_images]
    tile, max_untiled_pixels = tiling_for(meta, opts.tile, opts.max_untiled_pixels)
    small, large = split_by_size(items, report, tile=tile, max_untiled_pixels=max_untiled_pixels,
                                 max_pixels=opts.max_pixels)
    try:
        _run_with_progress(_Run(report, model, meta, out_dir, opts.overwrite), small, large, opts, tile, progress)
    finally:
        report.seconds = time.perf_counter() - start
        report.failed.sort(key=lambda f: f["input"])
        report.done.sort()
        report.skipped.sort()
        save_json(report.to_dict(), out_dir / REPORT_NAME, overwrite=True)
    return report


class NoImagesError(ValueError):
    """The inputs hold no image at all; ``str(err)`` is one line naming them."""

    def __init__(self, inputs, not_images=()):
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        names = ", ".join(str(i) for i in inputs) or "the inputs"
        others = f" ({len(not_images)} file(s) that are not images)" if not_images else ""
        super().__init__(f"no images found in {names}{others}")


def _remove_empty_folder(folder: Path) -> None:
    """Removes ``folder`` if nothing is in it (what a failed start had just created)."""
    try:
        folder.rmdir()  # only succeeds on an empty folder
    except OSError:
        pass


def tiling_for(meta, tile: int | None, max_untiled_pixels: int) -> tuple[int | None, float]:
    """``(tile, max_untiled_pixels)`` for a model: whole-image models are never tiled."""
    if meta.whole_image:
        # The model resizes each image to its network's input: tiles would each be segmented
        # alone, and padding inside a batch would show it content that is not in the image.
        return None, math.inf
    return tile, max_untiled_pixels


def _run_with_progress(run, small, large, opts: SegmentOptions, tile, progress: bool) -> None:
    """:func:`run_items` under a progress bar with images per second."""
    from suite.common.ui.progress import make_progress

    n_todo = len(small) + len(large)
    bar = make_progress(_RateColumn()) if progress and n_todo else None
    if bar is not None:
        done = len(run.report.skipped)
        run.progress = bar
        run.task = bar.add_task(f"segment ({done} already done)" if done else "segment", total=n_todo)
    try:
        if bar:
            bar.start()
        run_items(run, small, large, stride=run.meta.stride, batch_size=opts.batch_size,
                  batch_pixels=opts.batch_pixels, tile=tile, overlap=opts.overlap, max_pixels=opts.max_pixels,
                  workers=opts.workers)
    finally:
        if bar:
            bar.stop()


# The three steps of a folder run, shared by :func:`segment_folder` and the Beam
# runner (:mod:`suite.unet.beam_runner`), so both produce the same bytes.


def plan_items(inputs, out_dir, *, overlay: bool = False, probabilities: bool = False, overwrite: bool = False,
               recursive: bool = False) -> tuple[list, list, list]:
    """Expands inputs into the images to segment and the outputs each still needs.

    Output names depend only on the whole input list (see
    :func:`suite.common.io.images.output_stems`), so this runs once, over all inputs.

    Returns:
        ``(items, skipped, not_images)``: the work to do (``_Item`` with
        ``path``, ``stem`` and ``todo``), the inputs whose outputs all exist
        (``str``), and the non-image files found in folders.
    """
    out_dir = Path(out_dir)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found, not_images = collect_inputs(inputs, recursive=recursive)
    out_real = os.path.realpath(out_dir)
    pairs, seen = [], set()
    for path, rel in found:
        real = os.path.realpath(path)
        if real == out_real or real.startswith(out_real + os.sep):
            continue  # our own outputs from an earlier run
        if real in seen:
            continue  # the same file named twice (a folder and a file in it, a symlink)
        seen.add(real)
        if not is_input_image(path):  # a broken link or unreadable file stays: it fails with its reason
            not_images.append(path)
            continue
        pairs.append((path, rel))
    not_images = list({os.path.realpath(p): p for p in not_images}.values())
    if not_images:
        shown = ", ".join(p.name for p in not_images[:5]) + (" ..." if len(not_images) > 5 else "")
        note(f"skipped {len(not_images)} file(s) that are not images: {shown}")
    wanted = ("mask",) + (("overlay",) if overlay else ()) + (("probabilities",) if probabilities else ())
    items, skipped = [], []
    for (path, rel), stem in zip(pairs, output_stems([rel for _, rel in pairs])):
        outs = _outputs_for(out_dir, stem)
        todo = tuple(k for k in wanted if overwrite or not outs[k].exists())
        if not todo:
            skipped.append(str(path))
            continue
        items.append(_Item(path=path, stem=stem, todo=todo))
    return items, skipped, not_images


def split_by_size(items, report, *, tile: int | None = None, max_untiled_pixels: int = DEFAULT_MAX_UNTILED_PIXELS,
                  max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[list, list]:
    """Reads each item's size from its header: ``(small, large)``, large ones to be tiled.

    Unreadable headers go to ``report.failed`` with their one-line reason.
    """
    small, large = [], []
    for item in items:
        try:
            w, h = image_size(item.path, max_pixels=max_pixels)
        except ImageReadError as e:
            report.failed.append({"input": str(item.path), "reason": e.reason})
            continue
        item.size = (h, w)
        (large if _needs_tiling(h, w, tile, max_untiled_pixels) else small).append(item)
    return small, large


def run_items(run, small, large, *, stride: int, batch_size: int = 8, batch_pixels: int = DEFAULT_BATCH_PIXELS,
              tile: int | None = None, overlap: int = DEFAULT_OVERLAP, max_pixels: int | None = DEFAULT_MAX_PIXELS,
              workers: int | None = None) -> None:
    """Segments and writes items: small ones in batches of similar size, large ones tiled.

    Results go to ``run.report`` (``done``, ``skipped``, ``failed``).
    """
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    if run.meta.whole_image:
        # The model resizes each image to its network's input: tiles would each be segmented alone,
        # and padding inside a batch would show it content that is not in the image.
        small, large, waste = list(small) + list(large), [], 1.0
    else:
        waste = _BATCH_WASTE
    with ThreadPoolExecutor(workers, thread_name_prefix="segment-read") as readers, \
            ThreadPoolExecutor(4, thread_name_prefix="segment-write") as writers:
        _run_batches(run, _plan_batches(small, stride, batch_size, batch_pixels, waste=waste), readers, writers,
                     stride, max_pixels, max_pending=2 * batch_size)
        for item in sorted(large, key=lambda it: str(it.path)):
            _run_tiled(run, item, writers, tile or DEFAULT_TILE, overlap, stride, batch_size, max_pixels)


def _read(path, max_pixels):
    return load_image(path, max_pixels=max_pixels)


def _run_batches(run, batches, readers, writers, stride, max_pixels, max_pending, prefetch=2):
    queue = deque()
    batch_iter = iter(batches)

    def submit_next():
        nxt = next(batch_iter, None)
        if nxt is not None:
            items, target = nxt
            queue.append((items, target, [readers.submit(_read, it.path, max_pixels) for it in items]))

    for _ in range(prefetch):
        submit_next()
    pending = deque()
    while queue:
        items, target, futures = queue.popleft()
        submit_next()
        good, images = [], []
        for it, fut in zip(items, futures):
            try:
                images.append(fut.result())
                good.append(it)
            except Exception as e:
                run.fail(it, e)
        if not images:
            continue
        fits = all(im.shape[0] <= target[0] and im.shape[1] <= target[1] for im in images)
        head = "mask+probabilities" if any("probabilities" in it.todo for it in good) else "mask"
        try:
            preds = P.predict_batch(run.model, images, stride=stride, target=target if fits else None, head=head)
        except Exception as e:
            if len(images) == 1:
                run.fail(good[0], RuntimeError(f"prediction failed: {_reason(e)}"))
                continue
            preds = []
            for it, im in zip(good, images):  # e.g. out of memory: one at a time
                try:
                    preds.append(P.predict_batch(run.model, [im], stride=stride, head=head)[0])
                except Exception as e1:
                    preds.append(e1)
        for it, im, pred in zip(good, images, preds):
            if isinstance(pred, Exception):
                run.fail(it, RuntimeError(f"prediction failed: {_reason(pred)}"))
                continue
            pending.append(writers.submit(run.write, it, im if "overlay" in it.todo else None, pred))
        while len(pending) > max_pending:
            pending.popleft().result()
    for fut in pending:
        fut.result()


def _run_tiled(run, item, writers, tile, overlap, stride, tiles_per_batch, max_pixels):
    """One large image: tiles in row bands, probabilities streamed to disk, memory flat."""
    try:
        image = load_image_uint8(item.path, max_pixels=max_pixels)
    except Exception as e:
        run.fail(item, e)
        return
    try:
        h, w = image.shape[:2]
        mask = np.empty((h, w), dtype=np.uint8)
        bands = P.predict_tiled(run.model, image, tile=tile, overlap=overlap, stride=stride,
                                tiles_per_batch=max(1, min(tiles_per_batch, DEFAULT_BATCH_PIXELS // (tile * tile))))
        holder = {"mask": mask}

        def consume(fh=None):
            for y0, band in bands:
                holder["mask"] = m = _grow_mask_dtype(holder["mask"], band.shape[-1])
                m[y0:y0 + len(band)] = P.scores_to_mask(band)
                if fh is not None:
                    if y0 == 0:
                        np.lib.format.write_array_header_1_0(
                            fh, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f2")),
                                 "fortran_order": False, "shape": (h, w, band.shape[-1])})
                    fh.write(np.ascontiguousarray(band, dtype="<f2").tobytes())

        if "probabilities" in item.todo:
            atomic_write(_outputs_for(run.out_dir, item.stem)["probabilities"], consume, overwrite=run.overwrite)
        else:
            consume()
        mask = holder["mask"]
        if "overlay" not in item.todo:
            image = None
    except OutputExistsError:
        run.finish(item, skipped=True)
        return
    except Exception as e:
        run.fail(item, RuntimeError(f"prediction failed: {_reason(e)}"))
        return
    todo = tuple(k for k in item.todo if k != "probabilities")
    writers.submit(run.write, _Item(item.path, item.stem, todo, item.size), image, mask).result()


class _RateColumn(ProgressColumn):
    """Images per second since the start."""

    def render(self, task):
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} img/s", style="progress.data.speed")
