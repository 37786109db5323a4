"""The folder engine: plan a folder run, batch it by size, predict, write each image's outputs.

Both folder runners call it, so they write the same bytes: the local one
(:func:`suite.unet.segment.segment_folder`) and the Beam one
(:mod:`suite.unet.beam_runner`, inside each RunInference batch). The three steps:

1. :func:`plan_items` expands the inputs into :class:`FolderItem` records (the
   image, its output stem, the outputs it still needs), skipping finished ones;
2. :func:`split_by_size` reads each image's size from its header and separates
   the images to tile;
3. :func:`run_items` decodes in a thread pool ahead of prediction, groups
   images of similar size into padded batches (:func:`plan_batches`), tiles the
   large ones, and hands each result to :meth:`FolderRun.write`, which writes
   the mask PNG (last, so its presence marks the image finished), the overlay
   and the float16 probabilities atomically.

Results go to a :class:`suite.common.report.RunReport`: ``done``, ``skipped``,
and ``failed`` with a one-line reason (:func:`suite.common.report.failure_reason`).
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suite.common.io.atomic import OutputExistsError, atomic_write
from suite.common.io.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    collect_inputs,
    image_size,
    is_input_image,
    load_image,
    load_image_uint8,
    output_stems,
    without_earlier_outputs,
)
from suite.common.log import note
from suite.common.report import failure_reason
from suite.common.ui.viz import mask_image, overlay
from suite.unet import predict as P
from suite.unet.segment_options import (
    DEFAULT_BATCH_PIXELS,
    DEFAULT_MAX_UNTILED_PIXELS,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
)

#: A batch may pad its images up to this much more area than their own padded area.
BATCH_WASTE = 1.25
MASK_SUFFIX = ".png"
OVERLAY_SUFFIX = "_overlay.jpg"
PROBABILITIES_SUFFIX = ".npy"
#: The run's report in the output folder (:meth:`suite.common.report.RunReport.to_dict`).
REPORT_NAME = "report.json"


def grow_mask_dtype(mask, num_classes):
    """``mask`` as int32 once a model has more classes than uint8 holds (256); else ``mask`` itself."""
    return mask if num_classes <= 256 or mask.dtype == np.int32 else mask.astype(np.int32)


def needs_tiling(h: int, w: int, tile: int | None, max_untiled_pixels: int) -> bool:
    """True if an ``h`` x ``w`` image runs as tiles: larger than ``tile``, or (no ``tile``) over ``max_untiled_pixels``."""
    if tile is not None:
        return h > tile or w > tile
    return h * w > max_untiled_pixels


@dataclass
class FolderItem:
    """One image of a folder run and the outputs it still needs."""

    path: Path
    stem: Path  # output path without suffix, relative to OUT
    todo: tuple  # which outputs to write: "mask", "overlay", "probabilities"
    size: tuple = (0, 0)  # (H, W) from the header


def outputs_for(out_dir: Path, stem: Path) -> dict:
    """``{"mask", "overlay", "probabilities"}``: the paths of an image's outputs in ``out_dir``."""
    base = out_dir / stem
    return {
        "mask": base.with_name(base.name + MASK_SUFFIX),
        "overlay": base.with_name(base.name + OVERLAY_SUFFIX),
        "probabilities": base.with_name(base.name + PROBABILITIES_SUFFIX),
    }


def plan_batches(items: list, stride: int, batch_size: int, batch_pixels: int, waste: float = BATCH_WASTE) -> list:
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


class FolderRun:
    """The state of one folder run, shared by the reader, predictor and writer threads.

    Args:
        report: The :class:`~suite.common.report.RunReport` that collects ``done``,
            ``skipped`` and ``failed``.
        model: The loaded segmentation model.
        meta: Its :class:`~suite.unet.model_io.ModelMetadata`.
        out_dir: The output folder.
        overwrite: Replace existing outputs.
        progress: A ``rich`` progress bar to advance per image, and ``task`` its task.
    """

    def __init__(self, report, model, meta, out_dir, overwrite, progress=None, task=None):
        self.report, self.model, self.meta, self.out_dir = report, model, meta, out_dir
        self.class_names, self.overwrite = list(meta.class_names), overwrite
        self.progress, self.task = progress, task
        self.tta = "none"  # test-time augmentation of every prediction (SegmentOptions.tta)
        self.lock = threading.Lock()

    def fail(self, item, e):
        """Records ``item`` as failed, with ``e``'s one-line reason."""
        with self.lock:
            self.report.add_failure(item.path, e)
        self._advance()

    def finish(self, item, skipped=False):
        """Records ``item`` as done (or skipped: its outputs were there)."""
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
            outs = outputs_for(self.out_dir, item.stem)
            mask, probs = prediction if isinstance(prediction, tuple) else (prediction, None)
            if probs is not None and "probabilities" in item.todo:
                data = probs.astype(np.float16)
                atomic_write(outs["probabilities"], lambda fh: np.save(fh, data), overwrite=self.overwrite)
            if "overlay" in item.todo:
                ov = overlay(image, mask, self.class_names)
                atomic_write(
                    outs["overlay"], lambda fh: ov.save(fh, format="JPEG", quality=90), overwrite=self.overwrite
                )
            # The mask is written last: its presence marks the image as finished for a re-run.
            if "mask" in item.todo:
                img = mask_image(mask)
                atomic_write(
                    outs["mask"], lambda fh: img.save(fh, format="PNG", compress_level=1), overwrite=self.overwrite
                )
        except OutputExistsError:
            # Another run wrote it between our check and now: theirs is as good as ours.
            self.finish(item, skipped=True)
        except Exception as e:
            self.fail(item, e)
        else:
            self.finish(item)


def plan_items(
    inputs,
    out_dir,
    *,
    overlay: bool = False,
    probabilities: bool = False,
    overwrite: bool = False,
    recursive: bool = False,
) -> tuple[list, list, list]:
    """Expands inputs into the images to segment and the outputs each still needs.

    Output names depend only on the whole input list (see
    :func:`suite.common.io.images.output_stems`), so this runs once, over all inputs.

    Returns:
        ``(items, skipped, not_images)``: the work to do (``FolderItem`` with
        ``path``, ``stem`` and ``todo``), the inputs whose outputs all exist
        (``str``), and the non-image files found in folders.
    """
    out_dir = Path(out_dir)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found, not_images = collect_inputs(inputs, recursive=recursive)
    found = without_earlier_outputs(found, inputs, out_dir)  # our own outputs from an earlier run
    pairs, seen = [], set()
    for path, rel in found:
        real = os.path.realpath(path)
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
    for (path, _rel), stem in zip(pairs, output_stems([rel for _, rel in pairs])):
        outs = outputs_for(out_dir, stem)
        todo = tuple(k for k in wanted if overwrite or not outs[k].exists())
        if not todo:
            skipped.append(str(path))
            continue
        items.append(FolderItem(path=path, stem=stem, todo=todo))
    return items, skipped, not_images


def split_by_size(
    items,
    report,
    *,
    tile: int | None = None,
    max_untiled_pixels: int = DEFAULT_MAX_UNTILED_PIXELS,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[list, list]:
    """Reads each item's size from its header: ``(small, large)``, large ones to be tiled.

    Unreadable headers go to ``report.failed`` with their one-line reason.
    """
    small, large = [], []
    for item in items:
        try:
            w, h = image_size(item.path, max_pixels=max_pixels)
        except ImageReadError as e:
            report.add_failure(item.path, e)
            continue
        item.size = (h, w)
        (large if needs_tiling(h, w, tile, max_untiled_pixels) else small).append(item)
    return small, large


def run_items(
    run,
    small,
    large,
    *,
    stride: int,
    batch_size: int = 8,
    batch_pixels: int = DEFAULT_BATCH_PIXELS,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
) -> None:
    """Segments and writes items: small ones in batches of similar size, large ones tiled.

    Results go to ``run.report`` (``done``, ``skipped``, ``failed``).
    """
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    if run.meta.whole_image:
        # The model resizes each image to its network's input: tiles would each be segmented alone,
        # and padding inside a batch would show it content that is not in the image.
        small, large, waste = list(small) + list(large), [], 1.0
    else:
        waste = BATCH_WASTE
    with (
        ThreadPoolExecutor(workers, thread_name_prefix="segment-read") as readers,
        ThreadPoolExecutor(4, thread_name_prefix="segment-write") as writers,
    ):
        _run_batches(
            run,
            plan_batches(small, stride, batch_size, batch_pixels, waste=waste),
            readers,
            writers,
            stride,
            max_pixels,
            max_pending=2 * batch_size,
        )
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
            preds = P.predict_batch(
                run.model, images, stride=stride, target=target if fits else None, head=head, tta=run.tta
            )
        except Exception as e:
            if len(images) == 1:
                run.fail(good[0], RuntimeError(f"prediction failed: {failure_reason(e)}"))
                continue
            preds = []
            for im in images:  # e.g. out of memory: one at a time
                try:
                    preds.append(P.predict_batch(run.model, [im], stride=stride, head=head, tta=run.tta)[0])
                except Exception as e1:
                    preds.append(e1)
        for it, im, pred in zip(good, images, preds):
            if isinstance(pred, Exception):
                run.fail(it, RuntimeError(f"prediction failed: {failure_reason(pred)}"))
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
        bands = P.predict_tiled(
            run.model,
            image,
            tile=tile,
            overlap=overlap,
            stride=stride,
            tiles_per_batch=max(1, min(tiles_per_batch, DEFAULT_BATCH_PIXELS // (tile * tile))),
            tta=run.tta,
        )
        holder = {"mask": mask}

        def consume(fh=None):
            for y0, band in bands:
                holder["mask"] = m = grow_mask_dtype(holder["mask"], band.shape[-1])
                m[y0 : y0 + len(band)] = P.scores_to_mask(band)
                if fh is not None:
                    if y0 == 0:
                        np.lib.format.write_array_header_1_0(
                            fh,
                            {
                                "descr": np.lib.format.dtype_to_descr(np.dtype("<f2")),
                                "fortran_order": False,
                                "shape": (h, w, band.shape[-1]),
                            },
                        )
                    fh.write(np.ascontiguousarray(band, dtype="<f2").tobytes())

        if "probabilities" in item.todo:
            atomic_write(outputs_for(run.out_dir, item.stem)["probabilities"], consume, overwrite=run.overwrite)
        else:
            consume()
        mask = holder["mask"]
        if "overlay" not in item.todo:
            image = None
    except OutputExistsError:
        run.finish(item, skipped=True)
        return
    except Exception as e:
        run.fail(item, RuntimeError(f"prediction failed: {failure_reason(e)}"))
        return
    todo = tuple(k for k in item.todo if k != "probabilities")
    writers.submit(run.write, FolderItem(item.path, item.stem, todo, item.size), image, mask).result()
