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
import time
from pathlib import Path

import numpy as np
from rich.progress import ProgressColumn
from rich.text import Text

from suite.common.io.atomic import (
    ensure_writable_folder,
    remove_partial_files,
    save_json,
)
from suite.common.io.images import DEFAULT_MAX_PIXELS, as_rgb_array, refuse_input_folder_as_output
from suite.common.options import as_dict
from suite.common.report import RunReport
from suite.unet import predict as P
from suite.unet.errors import NoImagesError
from suite.unet.folder_engine import (
    REPORT_NAME,
    FolderRun,
    grow_mask_dtype,
    needs_tiling,
    plan_items,
    run_items,
    split_by_size,
)
from suite.unet.model_io import model_label, resolve_segmentation
from suite.unet.segment_options import (
    DEFAULT_MAX_UNTILED_PIXELS,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    SegmentOptions,
    segment_options,
)

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
    tta: str = "none",
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
        tta: ``"flip"``: average the class probabilities of the image and of its
            horizontal mirror (twice the model calls); ``"none"``: the image alone.

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
    if needs_tiling(h, w, tile, max_untiled_pixels):
        mask = np.empty((h, w), dtype=np.uint8)
        probs = None
        for y0, band in P.predict_tiled(
            model,
            image,
            tile=tile or DEFAULT_TILE,
            overlap=overlap,
            stride=stride,
            tiles_per_batch=tiles_per_batch,
            tta=tta,
        ):
            if probabilities and probs is None:
                probs = np.empty((h, w, band.shape[-1]), dtype=np.float32)
            mask = grow_mask_dtype(mask, band.shape[-1])
            mask[y0 : y0 + len(band)] = P.scores_to_mask(band)
            if probabilities:
                probs[y0 : y0 + len(band)] = band
        return (mask, probs) if probabilities else mask
    if probabilities:
        mask, probs = P.predict_batch(model, [image], stride=stride, head="mask+probabilities", tta=tta)[0]
        return mask, probs
    return P.predict_batch(model, [image], stride=stride, head="mask", tta=tta)[0]


# --------------------------------------------------------------------------- folders


def segment_folder(
    inputs, output, model, options: SegmentOptions | None = None, *, progress: bool = True, **changes
) -> RunReport:
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
        A :class:`suite.common.report.RunReport` (``info["model"]`` names the model);
        ``report.ok`` is false if any image failed.

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
        raise ValueError(
            f"segment_folder runs here (runner='local'); runner={opts.runner!r} is suite.unet.beam_runner.segment_beam"
        )
    check_output_is_no_input(inputs, output)
    start = time.perf_counter()
    created = not (Path(output).exists() or Path(output).is_symlink())
    out_dir = ensure_writable_folder(output)  # before the model is even loaded
    try:
        remove_partial_files(out_dir)  # what a killed earlier run was writing
        report = RunReport(output=str(out_dir), info={"model": model_label(model)}, options=as_dict(opts))
        model, meta = resolve_segmentation(model)
        items, report.skipped, not_images = plan_items(
            inputs,
            out_dir,
            overlay=opts.overlay,
            probabilities=opts.probabilities,
            overwrite=opts.overwrite,
            recursive=opts.recursive,
        )
        if not items and not report.skipped:
            raise NoImagesError(inputs, not_images)
    except BaseException:
        if created:  # a failed start leaves no empty output folder behind
            _remove_empty_folder(out_dir)
        raise
    report.not_images = [str(p) for p in not_images]
    tile, max_untiled_pixels = tiling_for(meta, opts.tile, opts.max_untiled_pixels)
    small, large = split_by_size(
        items, report, tile=tile, max_untiled_pixels=max_untiled_pixels, max_pixels=opts.max_pixels
    )
    try:
        run = FolderRun(report, model, meta, out_dir, opts.overwrite)
        run.tta = opts.tta
        _run_with_progress(run, small, large, opts, tile, progress)
    finally:
        report.seconds = time.perf_counter() - start
        report.failed.sort(key=lambda f: f["input"])
        report.done.sort()
        report.skipped.sort()
        save_json(report.to_dict(), out_dir / REPORT_NAME, overwrite=True)
    return report


def check_output_is_no_input(inputs, output) -> None:
    """Raises ``ValueError`` when the output folder is (resolves to) one of the input folders (the masks would
    mix with the images); an output folder *inside* an input folder is fine."""
    refuse_input_folder_as_output(inputs, output, "masks", "images")


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
        run_items(
            run,
            small,
            large,
            stride=run.meta.stride,
            batch_size=opts.batch_size,
            batch_pixels=opts.batch_pixels,
            tile=tile,
            overlap=opts.overlap,
            max_pixels=opts.max_pixels,
            workers=opts.workers,
        )
    finally:
        if bar:
            bar.stop()


class _RateColumn(ProgressColumn):
    """Images per second since the start."""

    def render(self, task):
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} img/s", style="progress.data.speed")
