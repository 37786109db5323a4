"""``SegmentOptions``: the settings of a ``suite segment`` run, in one Keras-free dataclass.

:func:`suite.unet.segment.segment_folder` and
:func:`suite.unet.beam_runner.segment_beam` read them, ``OUT/report.json``
records them (:func:`suite.common.options.as_dict`), and ``suite segment``
builds its command-line options from the same fields
(:func:`suite.common.options.click_options`).

Example:
    >>> opts = SegmentOptions(tile=256, overlay=True)
    >>> check_segment_options(opts).overlap
    64
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.common.io.images import DEFAULT_MAX_PIXELS
from suite.common.options import check, option

#: Test-time augmentation modes (``suite.unet.predict.TTA_MODES``, repeated here to stay Keras-free).
TTA_MODES = ("none", "flip")
#: Where a folder run can run: this process, or an Apache Beam RunInference pipeline.
RUNNERS = ("local", "beam")
#: Images with more pixels than this are tiled even without ``tile`` (about 1448 x 1448;
#: a 1920 x 1080 frame still runs whole).
DEFAULT_MAX_UNTILED_PIXELS = 2_100_000
#: Default tile side and overlap for large images.
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64
#: Upper bound on the pixels of one batch (all images padded), to bound activation memory.
DEFAULT_BATCH_PIXELS = 2**21


@dataclass
class SegmentOptions:
    """How ``suite segment`` segments a folder: what it writes, batching, tiling, the runner.

    Every field is a keyword of :func:`suite.unet.segment.segment_folder`
    and :func:`suite.unet.beam_runner.segment_beam`; fields with a command-line
    name are options of ``suite segment``.
    """

    overlay: bool = option(
        False, "Also write <stem>_overlay.jpg: the image with class colours and a legend.", flag="--overlay"
    )
    probabilities: bool = option(
        False, "Also write <stem>.npy: (H, W, C) float16 class probabilities.", flag="--probabilities"
    )
    tta: str = option(
        "none",
        "Test-time augmentation: flip averages the class probabilities of each image and its "
        "horizontal mirror (twice the model calls).",
        choices=TTA_MODES,
    )
    batch_size: int = option(8, "Images of similar size per model call.", low=1, high=1024)
    tile: int | None = option(
        None,
        "Run images larger than this as overlapping tiles of this size "
        "(default: only images over ~2.1 megapixels, with 512 px tiles).",
        low=16,
        high=16384,
        kind=int,
    )
    overlap: int = option(
        DEFAULT_OVERLAP, "Pixels shared by neighbouring tiles (at most half the tile).", low=0, high=8192
    )
    overwrite: bool = option(
        False, "Replace existing outputs (by default they are skipped, so a re-run resumes).", flag="--overwrite"
    )
    recursive: bool = option(
        False, "Descend into sub-folders, mirroring them in the output folder.", flag="--recursive -r"
    )
    max_pixels: int | None = option(
        DEFAULT_MAX_PIXELS,
        "Refuse image files with more pixels than this (decompression bombs); raise it for huge scans.",
        low=1,
    )
    workers: int | None = option(None, "Decoding threads (default: up to 4).", low=1, high=64, kind=int)
    runner: str = option(
        "local",
        "local: this process. beam: an Apache Beam RunInference pipeline (DirectRunner "
        "by default; Dataflow, Flink or Spark with --beam-option runner=...); needs the "
        "'beam' extra.",
        choices=RUNNERS,
    )
    # Declared by hand on the command line (repeatable; a path or a URL), kept here for the report.
    beam_options: tuple = option((), "Beam pipeline options, KEY=VALUE (runner beam only).", cli="")
    dead_letter: str | None = option(
        None, "JSON-lines file of the images that failed (runner beam only; default OUTPUT/failed.jsonl).", cli=""
    )
    # Library settings, not on the command line.
    max_untiled_pixels: int = option(DEFAULT_MAX_UNTILED_PIXELS, "Tile images above this many pixels.", low=1, cli="")
    batch_pixels: int = option(DEFAULT_BATCH_PIXELS, "At most this many padded pixels per model call.", low=1, cli="")


def check_segment_options(opts: SegmentOptions) -> SegmentOptions:
    """Checks every field (:func:`suite.common.options.check`) and the overlap against the tile.

    Raises:
        ValueError: one line naming the option, what was expected and what was received.
    """
    check(opts)
    if opts.tile is not None and 2 * opts.overlap > opts.tile:
        raise ValueError(f"Expected 0 <= overlap <= tile / 2. Received: overlap={opts.overlap}, tile={opts.tile}")
    return opts


def segment_options(options: SegmentOptions | None = None, **changes) -> SegmentOptions:
    """A checked :class:`SegmentOptions`: ``options`` (or the defaults) with ``changes``.

    Raises:
        TypeError: a keyword that is not a field (the message lists them).
        ValueError: a value out of range (one line).
    """
    import dataclasses

    base = options if options is not None else SegmentOptions()
    names = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise TypeError(f"Unknown segment option(s) {unknown}; known: {sorted(names)}")
    return check_segment_options(dataclasses.replace(base, **changes))
