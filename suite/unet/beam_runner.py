"""``suite segment --runner beam``: folder segmentation on Apache Beam RunInference.

The same pipeline runs on one machine (Beam's DirectRunner, also in
multi-process mode) and on a cluster (Dataflow, Flink, Spark), chosen with
Beam's own pipeline options. It does not re-implement segmentation: each
RunInference batch goes through the very functions the local runner uses
(:func:`suite.unet.segment.split_by_size` and
:func:`suite.unet.segment.run_items`: decoding with EXIF and modes, batches of
similar size padded to the stride, tiles for large images, the compiled head,
palette PNGs, overlays, float16 probabilities, atomic writes), so a mask is
byte for byte what ``suite segment`` writes locally.

How the work is split:

- The driver plans the outputs exactly as the local runner does
  (:func:`suite.unet.segment.plan_items`): output names depend on the whole
  input list, so a re-run finds the same names, and images whose outputs all
  exist are skipped before the pipeline starts.
- Elements are small ``{"path", "stem", "todo"}`` records, so nothing heavy
  crosses a shuffle; workers read the pixels themselves.
- :class:`SegmentationModelHandler` loads the model once per worker process
  with the suite's safe loader (Beam's TF handler loads with ``tf.keras`` and
  does not know the suite's layers), and RunInference hands it batches of
  ``min_batch_size`` to ``max_batch_size`` records.
- Every record comes out as ``done``, ``skipped`` or ``failed``; failures go
  to a dead-letter file of JSON lines (``{"input": ..., "reason": ...}``) and
  the pipeline goes on. Counts come back through Beam metrics.

Inputs and the output folder are paths that every worker can open: local paths
for the DirectRunner, a shared mount (NFS, gcsfuse, ...) on a cluster. Cloud
URLs (``gs://``, ``s3://``) are refused with a one-line error: the suite's
readers and atomic writers work on paths.

``apache_beam`` is imported only when this module is; the rest of the suite
works without the ``beam`` extra.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from suite.common.image_io import DEFAULT_MAX_PIXELS, ensure_writable_folder, remove_partial_files, save_json
from suite.common.log import note
from suite.unet import segment as S

MISSING_BEAM = 'the Beam runner needs Apache Beam: pip install "keras-cv-suite[beam]"'


class MissingBeamError(ImportError):
    """``apache_beam`` is not installed; the message says which extra to install."""


try:
    import apache_beam as beam
    from apache_beam.metrics.metric import Metrics, MetricsFilter
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError as e:  # pragma: no cover - exercised in an environment without the extra
    raise MissingBeamError(MISSING_BEAM) from e

#: Where the dead-letter records go by default, inside the output folder.
DEAD_LETTER_NAME = "failed.jsonl"
METRICS_NAMESPACE = "suite.segment"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_OPTION = re.compile(r"^-{0,2}([A-Za-z_][A-Za-z0-9_-]*)(?:=(.*))?$", re.S)


# --------------------------------------------------------------------------- the model handler


class SegmentationModelHandler(ModelHandler):
    """A RunInference model handler that segments and writes batches of images.

    Examples are ``{"path": str, "stem": str, "todo": [str, ...]}`` records
    from :func:`plan_records`; each prediction is ``{"status": "done" |
    "skipped" | "failed", "reason": str | None}``. The outputs themselves are
    written by the handler, with the local runner's code, because a tiled
    image streams its probabilities to disk band by band and never exists
    whole in memory.

    Args:
        model_path: The ``.keras`` model, loaded once per worker with
            :func:`suite.unet.segment.load_segmentation_model` (safe mode).
        output: The output folder.
        overwrite: Replace existing outputs.
        batch_size: At most this many images per model call (images are
            grouped by size inside each RunInference batch).
        min_batch_size: Fewest records per RunInference batch.
        max_batch_size: Most records per RunInference batch.
        tile: Tile images larger than this (``None``: only above
            ``max_untiled_pixels``).
        overlap: Pixels shared by neighbouring tiles.
        max_pixels: Refuse images with more pixels than this.
        max_untiled_pixels: Tile images above this many pixels.
        batch_pixels: At most this many padded pixels per model call.
        workers: Decoding threads per batch (default: up to 4).
    """

    def __init__(self, model_path, output, *, overwrite: bool = False, batch_size: int = 8,
                 min_batch_size: int | None = None, max_batch_size: int | None = None, tile: int | None = None,
                 overlap: int = S.DEFAULT_OVERLAP, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 max_untiled_pixels: int = S.DEFAULT_MAX_UNTILED_PIXELS, batch_pixels: int = S.DEFAULT_BATCH_PIXELS,
                 workers: int | None = None):
        min_batch_size = min_batch_size or batch_size
        # A RunInference batch is a group of files; larger groups give the size sorting
        # and the read-ahead threads more to work with.
        max_batch_size = max_batch_size or max(min_batch_size, 4 * batch_size)
        if not 1 <= min_batch_size <= max_batch_size:
            raise ValueError("Expected 1 <= min_batch_size <= max_batch_size. "
                             f"Received: min_batch_size={min_batch_size}, max_batch_size={max_batch_size}")
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        # Absolute, because worker processes need not share the driver's working directory.
        self.model_path = os.path.abspath(model_path)
        self.output = os.path.abspath(output)
        self.overwrite = overwrite
        self.batch_size = batch_size
        self.tile = tile
        self.overlap = overlap
        self.max_pixels = max_pixels
        self.max_untiled_pixels = max_untiled_pixels
        self.batch_pixels = batch_pixels
        self.workers = workers

    def load_model(self):
        """Loads the model with the suite's safe loader, ready to predict."""
        from suite.common.device import import_backend_quietly

        import_backend_quietly()
        return S.load_segmentation_model(self.model_path)

    def run_inference(self, batch: Sequence[dict], model, inference_args: dict | None = None) -> Iterable:
        """Segments a batch of records and writes their outputs; yields one result per record."""
        from suite.unet import predict as P

        items = [S._Item(path=Path(r["path"]), stem=Path(r["stem"]), todo=tuple(r["todo"])) for r in batch]
        report = S.SegmentReport(output=self.output, model=self.model_path)
        small, large = S.split_by_size(items, report, tile=self.tile, max_untiled_pixels=self.max_untiled_pixels,
                                       max_pixels=self.max_pixels)
        _, class_names = P.model_classes(model)
        run = S._Run(report, model, Path(self.output), class_names, self.overwrite, None, None)
        S.run_items(run, small, large, stride=P.model_stride(model), batch_size=self.batch_size,
                    batch_pixels=self.batch_pixels, tile=self.tile, overlap=self.overlap,
                    max_pixels=self.max_pixels, workers=self.workers)
        status = {p: {"status": "done", "reason": None} for p in report.done}
        status.update({p: {"status": "skipped", "reason": None} for p in report.skipped})
        status.update({f["input"]: {"status": "failed", "reason": f["reason"]} for f in report.failed})
        for record in batch:
            yield PredictionResult(record, status.get(
                record["path"], {"status": "failed", "reason": "no result (internal error)"}))

    def get_num_bytes(self, batch: Sequence[dict]) -> int:
        return sum(len(r["path"]) + len(r["stem"]) for r in batch)

    def get_metrics_namespace(self) -> str:
        return "suite.segment.RunInference"


# --------------------------------------------------------------------------- pipeline pieces


def plan_records(inputs, output, *, overlay: bool = False, probabilities: bool = False, overwrite: bool = False,
                 recursive: bool = False) -> tuple[list[dict], list[str], list[str]]:
    """What the pipeline must do, planned once in the driver exactly as the local runner plans it.

    Returns:
        ``(records, skipped, not_images)``: one ``{"path", "stem", "todo"}``
        record per image that still needs an output, the inputs whose
        outputs all exist, and the files found in folders that are not images.
    """
    items, skipped, not_images = S.plan_items(inputs, output, overlay=overlay, probabilities=probabilities,
                                              overwrite=overwrite, recursive=recursive)
    records = [{"path": str(it.path), "stem": str(it.stem), "todo": list(it.todo)} for it in items]
    return records, skipped, [str(p) for p in not_images]


def _count(result: PredictionResult) -> PredictionResult:
    Metrics.counter(METRICS_NAMESPACE, result.inference["status"]).inc()
    return result


def _dead_letter(result: PredictionResult) -> Iterable[str]:
    if result.inference["status"] == "failed":
        yield json.dumps({"input": result.example["path"], "reason": result.inference["reason"]}, ensure_ascii=False)


def build_pipeline(pipeline, records: list[dict], handler: SegmentationModelHandler, dead_letter: str):
    """Adds the segmentation steps to ``pipeline``: records in, outputs written, failures to ``dead_letter``.

    Args:
        pipeline: A ``beam.Pipeline``.
        records: From :func:`plan_records`.
        handler: The :class:`SegmentationModelHandler`.
        dead_letter: Path of the JSON-lines file of failures (one file,
            written even when empty, so its presence says the run finished).

    Returns:
        The PCollection of ``PredictionResult`` (one per record).
    """
    results = (
        pipeline
        | "Images" >> beam.Create(records, reshuffle=True)
        | "Segment" >> RunInference(handler)
        | "Count" >> beam.Map(_count)
    )
    _ = (
        results
        | "Failures" >> beam.FlatMap(_dead_letter)
        | "DeadLetter" >> beam.io.WriteToText(dead_letter, shard_name_template="", num_shards=1)
    )
    return results


def parse_beam_options(options: Sequence[str] | Mapping[str, Any] | None) -> list[str]:
    """Turns ``KEY=VALUE`` strings (or a mapping) into Beam command-line flags.

    ``runner=DataflowRunner`` becomes ``--runner=DataflowRunner``; a bare
    ``KEY`` is a flag (``--save_main_session``); leading dashes are accepted.

    Raises:
        ValueError: an entry that is not ``KEY`` or ``KEY=VALUE``.
    """
    if not options:
        return []
    if isinstance(options, Mapping):
        options = [k if v is True else f"{k}={v}" for k, v in options.items()]
    flags = []
    for opt in options:
        m = _OPTION.match(str(opt).strip())
        if not m:
            raise ValueError(f"Expected a Beam option as KEY=VALUE (e.g. runner=DirectRunner). Received: {opt!r}")
        key, value = m.group(1), m.group(2)
        flags.append(f"--{key}" if value is None else f"--{key}={value}")
    return flags


def _unknown_options(options: PipelineOptions) -> list[str]:
    """Options no Beam module defines: Beam would drop them silently (a typo on a cluster costs money)."""
    known = options.get_all_options(retain_unknown_options=False)
    every = options.get_all_options(retain_unknown_options=True)
    return sorted(set(every) - set(known))


def _check_path(what: str, path) -> None:
    if _URL.match(str(path)):
        raise ValueError(f"{what} {path}: --runner beam reads and writes paths that every worker can open "
                         "(local, or a shared mount such as NFS or gcsfuse); URLs are not supported yet")


# --------------------------------------------------------------------------- the run


@dataclass
class BeamSegmentReport:
    """What a :func:`segment_beam` run did; ``OUT/report.json`` holds :meth:`to_dict`.

    ``done`` and ``skipped`` are counts (a cluster run may cover millions of
    images); ``failed`` lists every failure, as the dead-letter file does.
    """

    output: str
    model: str
    runner: str
    dead_letter: str
    done: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)
    not_images: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True if no image failed."""
        return not self.failed

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "output": self.output,
            "model": self.model,
            "runner": self.runner,
            "counts": {"done": self.done, "skipped": self.skipped, "failed": len(self.failed),
                       "not_images": len(self.not_images)},
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 3),
            "dead_letter": self.dead_letter,
            "failed": self.failed,
            "not_images": self.not_images,
        }


def segment_beam(
    inputs,
    output,
    model,
    *,
    overlay: bool = False,
    probabilities: bool = False,
    batch_size: int = 8,
    min_batch_size: int | None = None,
    max_batch_size: int | None = None,
    tile: int | None = None,
    overlap: int = S.DEFAULT_OVERLAP,
    overwrite: bool = False,
    recursive: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_untiled_pixels: int = S.DEFAULT_MAX_UNTILED_PIXELS,
    workers: int | None = None,
    beam_options: Sequence[str] | Mapping[str, Any] | None = None,
    dead_letter=None,
) -> BeamSegmentReport:
    """Segments every image in ``inputs`` on Apache Beam and writes the same files as :func:`~suite.unet.segment.segment_folder`.

    Args:
        inputs: A file or folder, or a sequence of them (paths every worker can open).
        output: The output folder (created if missing).
        model: The path of a ``.keras`` segmentation model, readable by every worker.
        overlay: Also write ``<stem>_overlay.jpg``.
        probabilities: Also write ``<stem>.npy`` float16 probabilities.
        batch_size: At most this many images per model call.
        min_batch_size: Fewest records per RunInference batch (default ``batch_size``).
        max_batch_size: Most records per RunInference batch (default ``4 * batch_size``).
        tile: Tile images larger than this.
        overlap: Pixels shared by neighbouring tiles.
        overwrite: Replace existing outputs (by default they are skipped).
        recursive: Descend into sub-folders, mirroring them in ``output``.
        max_pixels: Refuse images with more pixels than this.
        max_untiled_pixels: Tile images above this many pixels.
        workers: Decoding threads per worker.
        beam_options: Beam pipeline options, as ``["runner=DirectRunner",
            "direct_num_workers=2"]`` or a mapping. Default: the DirectRunner.
        dead_letter: JSON-lines file for failures (default ``OUT/failed.jsonl``).

    Returns:
        A :class:`BeamSegmentReport`; ``report.ok`` is false if any image failed.

    Raises:
        MissingBeamError: (on import) Apache Beam is not installed.
        ValueError: a URL input or output, a bad option, or not a segmentation model.

    Example:
        >>> report = segment_beam("photos", "masks", "demo_unet.keras",
        ...                       beam_options=["direct_running_mode=multi_processing",
        ...                                     "direct_num_workers=2"])  # doctest: +SKIP
    """
    start = time.perf_counter()
    if batch_size < 1:
        raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")
    if tile is not None and tile < 16:
        raise ValueError(f"Expected tile >= 16. Received: tile={tile}")
    if overlap < 0 or (tile is not None and 2 * overlap > tile):
        raise ValueError(f"Expected 0 <= overlap <= tile / 2. Received: overlap={overlap}, tile={tile}")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    for inp in inputs:
        _check_path("input", inp)
    _check_path("output", output)
    _check_path("model", model)
    if dead_letter is not None:
        _check_path("dead letter", dead_letter)
    flags = parse_beam_options(beam_options)
    if not any(f.split("=")[0] == "--default_sdk_harness_log_level" for f in flags):
        # Workers log every bundle at INFO; the suite's summary and the dead letter say what matters.
        flags.append("--default_sdk_harness_log_level=WARNING")
    options = PipelineOptions(flags)
    unknown = _unknown_options(options)
    if unknown:
        note(f"Beam does not know the option(s) {', '.join(unknown)}; they are ignored")
    runner = options.get_all_options().get("runner") or "DirectRunner"
    out_dir = ensure_writable_folder(output)  # before the model is even loaded
    remove_partial_files(out_dir)
    # Loaded here once so a wrong file is a one-line error now, not one per worker later.
    S.load_segmentation_model(model)
    dead_letter = Path(dead_letter) if dead_letter is not None else out_dir / DEAD_LETTER_NAME
    records, skipped, not_images = plan_records(inputs, out_dir, overlay=overlay, probabilities=probabilities,
                                                overwrite=overwrite, recursive=recursive)
    report = BeamSegmentReport(output=str(out_dir), model=str(model), runner=runner, dead_letter=str(dead_letter),
                               skipped=len(skipped), not_images=not_images)
    if records:
        handler = SegmentationModelHandler(
            model, out_dir, overwrite=overwrite, batch_size=batch_size, min_batch_size=min_batch_size,
            max_batch_size=max_batch_size, tile=tile, overlap=overlap, max_pixels=max_pixels,
            max_untiled_pixels=max_untiled_pixels, workers=workers)
        note(f"segmenting {len(records)} image(s) on Beam ({runner}); {len(skipped)} already done")
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, records, handler, str(dead_letter))
        result = pipeline.run()
        result.wait_until_finish()
        counts = _counters(result)
        report.done = counts.get("done", 0)
        report.skipped += counts.get("skipped", 0)
        report.failed = _read_dead_letter(dead_letter)
    else:
        # Nothing to run: still leave an (empty) dead-letter file, as a finished run does.
        dead_letter.parent.mkdir(parents=True, exist_ok=True)
        dead_letter.write_text("")
    report.failed.sort(key=lambda f: f["input"])
    report.seconds = time.perf_counter() - start
    save_json(report.to_dict(), out_dir / S.REPORT_NAME, overwrite=True)
    return report


def _counters(result) -> dict:
    counts = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        counts[c.key.metric.name] = counts.get(c.key.metric.name, 0) + int(value or 0)
    return counts


def _read_dead_letter(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
