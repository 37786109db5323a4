"""``suite segment --runner beam``: folder segmentation on Apache Beam RunInference.

The same pipeline runs on one machine (Beam's DirectRunner, also in
multi-process mode) and on a cluster (Dataflow, Flink, Spark), chosen with
Beam's own pipeline options. It does not re-implement segmentation: each
RunInference batch goes through the folder engine the local runner uses
(:func:`suite.unet.folder_engine.split_by_size` and
:func:`suite.unet.folder_engine.run_items`: decoding with EXIF and modes, batches of
similar size padded to the stride, tiles for large images, the compiled head,
palette PNGs, overlays, float16 probabilities, atomic writes), so a mask is
byte for byte what ``suite segment`` writes locally.

How the work is split:

- The driver plans the outputs exactly as the local runner does
  (:func:`suite.unet.folder_engine.plan_items`): output names depend on the whole
  input list, so a re-run finds the same names, and images whose outputs all
  exist are skipped before the pipeline starts.
- Elements are small ``{"path", "stem", "todo"}`` records, read from a
  JSON-lines work list the driver writes into the output folder (and removes
  at the end), so nothing heavy crosses a shuffle and the job description
  stays small; workers read the pixels themselves.
- :class:`SegmentationModelHandler` loads the model once per worker process
  with the suite's safe loader (Beam's TF handler loads with ``tf.keras`` and
  does not know the suite's layers), and RunInference hands it batches of
  ``min_batch_size`` to ``max_batch_size`` records.
- Every record comes out as ``done``, ``skipped`` or ``failed``; failures go
  to a dead-letter file of JSON lines (``{"input": ..., "reason": ...}``) and
  the pipeline goes on. Counts come back through Beam metrics.

Inputs, the model and the output folder are local paths (DirectRunner, or a
folder every worker mounts) or URLs of any file system Beam knows (``gs://``,
``s3://``, ``hdfs://``... once Beam's extra for it is installed). For URLs,
folders are listed with Beam's ``FileSystems`` and images are found by
extension; each worker copies its images into a temporary folder, runs the
same per-image code there, and uploads the finished files (mask last, so its
presence still means the image is finished; object stores make an object
visible only when it is complete).

``apache_beam`` is imported only when this module is; the rest of the suite
works without the ``beam`` extra.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from suite.common.io.atomic import ensure_writable_folder, remove_partial_files, save_json
from suite.common.io.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, output_stems
from suite.common.log import note
from suite.common.options import as_dict
from suite.common.report import RunReport, failure_reason
from suite.unet import folder_engine as E
from suite.unet.errors import MissingBeamError
from suite.unet.model_io import load_segmentation_model, model_metadata
from suite.unet.segment_options import (
    DEFAULT_BATCH_PIXELS,
    DEFAULT_MAX_UNTILED_PIXELS,
    DEFAULT_OVERLAP,
    SegmentOptions,
    segment_options,
)

MISSING_BEAM = 'the Beam runner needs Apache Beam: pip install "keras-cv-suite[beam]"'


try:
    import apache_beam as beam
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.metrics.metric import Metrics, MetricsFilter
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError as e:  # pragma: no cover - exercised in an environment without the extra
    raise MissingBeamError(MISSING_BEAM) from e

#: Where the dead-letter records go by default, inside the output folder.
DEAD_LETTER_NAME = "failed.jsonl"
#: The work list the pipeline reads, in the output folder while a run lasts (hidden: never an input).
MANIFEST_NAME = ".suite-beam-todo.jsonl"
METRICS_NAMESPACE = "suite.segment"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB = re.compile(r"[*?[]")
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
            :func:`suite.unet.model_io.load_segmentation_model` (safe mode).
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

    def __init__(
        self,
        model_path,
        output,
        *,
        overwrite: bool = False,
        batch_size: int = 8,
        min_batch_size: int | None = None,
        max_batch_size: int | None = None,
        tile: int | None = None,
        overlap: int = DEFAULT_OVERLAP,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        max_untiled_pixels: int = DEFAULT_MAX_UNTILED_PIXELS,
        batch_pixels: int = DEFAULT_BATCH_PIXELS,
        workers: int | None = None,
    ):
        min_batch_size = min_batch_size or batch_size
        # A RunInference batch is a group of files; larger groups give the size sorting
        # and the read-ahead threads more to work with.
        max_batch_size = max_batch_size or max(min_batch_size, 4 * batch_size)
        if not 1 <= min_batch_size <= max_batch_size:
            raise ValueError(
                "Expected 1 <= min_batch_size <= max_batch_size. "
                f"Received: min_batch_size={min_batch_size}, max_batch_size={max_batch_size}"
            )
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        # Absolute, because worker processes need not share the driver's working directory.
        self.model_path = _absolute(model_path)
        self.output = _absolute(output)
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
        return _load_model(self.model_path)

    def run_inference(self, batch: Sequence[dict], model, inference_args: dict | None = None) -> Iterable:
        """Segments a batch of records and writes their outputs; yields one result per record."""
        remote_out = _is_url(self.output)
        if not remote_out and not any(_is_url(r["path"]) for r in batch):
            report = self._segment(batch, model, Path(self.output))
        else:
            with tempfile.TemporaryDirectory(prefix="suite-beam-") as tmp:
                report = self._segment_staged(batch, model, Path(tmp), remote_out)
        status = {p: {"status": "done", "reason": None} for p in report.done}
        status.update({p: {"status": "skipped", "reason": None} for p in report.skipped})
        status.update({f["input"]: {"status": "failed", "reason": f["reason"]} for f in report.failed})
        for record in batch:
            key = record["path"] if record["path"] in status else str(Path(record["path"]))
            yield PredictionResult(
                record, status.get(key, {"status": "failed", "reason": "no result (internal error)"})
            )

    def _segment(self, records, model, out_dir: Path):
        """The local runner's code on local files: decode, batch by size or tile, predict, write."""
        items = [E.FolderItem(path=Path(r["path"]), stem=Path(r["stem"]), todo=tuple(r["todo"])) for r in records]
        report = RunReport(output=self.output)
        small, large = E.split_by_size(
            items, report, tile=self.tile, max_untiled_pixels=self.max_untiled_pixels, max_pixels=self.max_pixels
        )
        run = E.FolderRun(report, model, model_metadata(model), out_dir, self.overwrite)
        E.run_items(
            run,
            small,
            large,
            stride=run.meta.stride,
            batch_size=self.batch_size,
            batch_pixels=self.batch_pixels,
            tile=self.tile,
            overlap=self.overlap,
            max_pixels=self.max_pixels,
            workers=self.workers,
        )
        return report

    def _segment_staged(self, records, model, tmp: Path, remote_out: bool):
        """URLs: copy the images into ``tmp``, run :meth:`_segment` there, upload the outputs."""
        report = RunReport(output=self.output)
        local, origin = [], {}
        for i, r in enumerate(records):
            path = r["path"]
            if _is_url(path):
                dst = tmp / "in" / str(i) / posixpath.basename(path)
                try:
                    _download(path, dst)
                except Exception as e:
                    report.add_failure(path, f"cannot read: {failure_reason(e)}")
                    continue
                path = str(dst)
            else:
                path = str(Path(path))  # as the local code will name it ("./a.jpg" is "a.jpg")
            origin[path] = r["path"]
            local.append({**r, "path": path})
        out_dir = tmp / "out" if remote_out else Path(self.output)
        staged = self._segment(local, model, out_dir)
        report.failed += [{"input": origin[f["input"]], "reason": f["reason"]} for f in staged.failed]
        report.skipped += [origin[p] for p in staged.skipped]
        if not remote_out:
            report.done += [origin[p] for p in staged.done]
            return report
        todo = {origin[r["path"]]: r for r in local}
        for path in (origin[p] for p in staged.done):
            r = todo[path]
            try:
                written = _upload_outputs(out_dir, self.output, r["stem"], r["todo"], self.overwrite)
            except Exception as e:
                report.add_failure(path, f"cannot write: {failure_reason(e)}")
                continue
            (report.done if written else report.skipped).append(path)
        return report

    def get_num_bytes(self, batch: Sequence[dict]) -> int:
        return sum(len(r["path"]) + len(r["stem"]) for r in batch)

    def get_metrics_namespace(self) -> str:
        return "suite.segment.RunInference"


# --------------------------------------------------------------------------- file systems


def _is_url(path) -> bool:
    return bool(_URL.match(str(path)))


def _join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if _is_url(folder) else os.path.join(folder, name)


def _absolute(path) -> str:
    from suite.unet.presets import is_preset

    # A preset name (person) is resolved by every worker's loader, like a URL.
    return str(path) if _is_url(path) or is_preset(path) else os.path.abspath(path)


def _download(url: str, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    # UNCOMPRESSED: Beam would otherwise gunzip a file named like an archive.
    with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as src, open(dst, "wb") as fh:
        shutil.copyfileobj(src, fh, 1 << 20)


def _write_url(url: str, data: bytes | None = None, src: Path | None = None) -> None:
    with FileSystems.create(url, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        if src is not None:
            with open(src, "rb") as f:
                shutil.copyfileobj(f, fh, 1 << 20)
        else:
            fh.write(data)


def _upload_outputs(staging: Path, output: str, stem: str, todo: Sequence[str], overwrite: bool) -> bool:
    """Uploads one image's staged outputs; the mask last. False if the mask was there already."""
    local = E.outputs_for(staging, Path(stem))
    remote = {k: FileSystems.join(output, *Path(stem).parts[:-1], p.name) for k, p in local.items()}
    for kind in ("probabilities", "overlay", "mask"):
        if kind not in todo:
            continue
        if not overwrite and FileSystems.exists(remote[kind]):
            if kind == "mask":
                return False  # another run finished it meanwhile: theirs is as good as ours
            continue
        _write_url(remote[kind], src=local[kind])
    return True


def _check_file_systems(paths) -> None:
    """A URL whose file system Beam lacks is a one-line error before anything is created."""
    for path in paths:
        if _is_url(path):
            try:
                FileSystems.get_filesystem(str(path))
            except ValueError:
                scheme = str(path).split("://", 1)[0]
                raise ValueError(
                    f"{path}: Beam has no file system for {scheme}:// here; install Beam's extra "
                    f"for it (gs:// needs apache-beam[gcp], s3:// apache-beam[aws])"
                ) from None


def _load_model(path: str):
    """The suite's safe loader; a model at a URL is copied to a temporary file first."""
    if not _is_url(path):
        return load_segmentation_model(path)
    with tempfile.TemporaryDirectory(prefix="suite-beam-model-") as tmp:
        local = Path(tmp) / posixpath.basename(path)
        try:
            _download(path, local)
        except Exception as e:
            raise ValueError(f"cannot read the model {path}: {failure_reason(e)}") from None
        return load_segmentation_model(local)


def _list_input(inp: str, recursive: bool) -> list[tuple[str, str]]:
    """``(path, relative name)`` of every file an input names: a file, a folder or a glob, on any Beam file system."""
    inp = str(inp)
    if _GLOB.search(inp):
        prefix = re.match(r"^[^[*?]*", inp).group(0)
        base, found = prefix.rsplit("/", 1)[0] if "/" in prefix else "", FileSystems.match([inp])[0].metadata_list
    else:
        base = inp.rstrip("/")
        found = FileSystems.match([FileSystems.join(base, "**" if recursive else "*")])[0].metadata_list
        if not found:  # not a folder (object stores have none): a single file
            found = FileSystems.match([inp])[0].metadata_list
            base = inp.rsplit("/", 1)[0] if "/" in inp else ""
            if not found:
                raise FileNotFoundError(f"{inp} does not exist (or matches no file)")
    out = []
    for m in found:
        rel = m.path[len(base) :].lstrip("/") if base and m.path.startswith(base) else posixpath.basename(m.path)
        if posixpath.basename(rel).startswith("."):
            continue  # hidden files, and the temporary files of an interrupted upload
        out.append((m.path, rel))
    return sorted(out)


def _plan_urls(inputs, output: str, *, overlay, probabilities, overwrite, recursive):
    """:func:`suite.unet.folder_engine.plan_items` for URLs: images by extension, one listing of the output."""
    found, seen = [], set()
    for inp in inputs:
        for path, rel in _list_input(inp, recursive):
            if path not in seen and not path.startswith(output.rstrip("/") + "/"):
                seen.add(path)
                found.append((path, rel))
    pairs, not_images = [], []
    for path, rel in found:
        (pairs if posixpath.splitext(path)[1].lower() in IMAGE_EXTENSIONS else not_images).append((path, rel))
    if not_images:
        shown = ", ".join(posixpath.basename(p) for p, _ in not_images[:5]) + (" ..." if len(not_images) > 5 else "")
        note(f"skipped {len(not_images)} file(s) that are not images (by extension): {shown}")
    try:
        existing = {m.path for m in FileSystems.match([FileSystems.join(output, "**")])[0].metadata_list}
    except Exception:
        existing = set()
    wanted = ("mask",) + (("overlay",) if overlay else ()) + (("probabilities",) if probabilities else ())
    records, skipped = [], []
    for (path, _), stem in zip(pairs, output_stems([Path(rel) for _, rel in pairs])):
        names = {
            k: FileSystems.join(output, *stem.parts[:-1], p.name) for k, p in E.outputs_for(Path("."), stem).items()
        }
        todo = [k for k in wanted if overwrite or names[k] not in existing]
        if todo:
            records.append({"path": path, "stem": stem.as_posix(), "todo": todo})
        else:
            skipped.append(path)
    return records, skipped, [p for p, _ in not_images]


# --------------------------------------------------------------------------- pipeline pieces


def plan_records(
    inputs,
    output,
    *,
    overlay: bool = False,
    probabilities: bool = False,
    overwrite: bool = False,
    recursive: bool = False,
) -> tuple[list[dict], list[str], list[str]]:
    """What the pipeline must do, planned once in the driver exactly as the local runner plans it.

    With URLs (or a URL output) the listing goes through Beam's ``FileSystems``
    and images are recognised by extension, since sniffing millions of objects
    from the driver would cost a read each.

    Returns:
        ``(records, skipped, not_images)``: one ``{"path", "stem", "todo"}``
        record per image that still needs an output, the inputs whose
        outputs all exist, and the files found in folders that are not images.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if _is_url(output) or any(_is_url(i) for i in inputs):
        return _plan_urls(
            [str(i) for i in inputs],
            str(output),
            overlay=overlay,
            probabilities=probabilities,
            overwrite=overwrite,
            recursive=recursive,
        )
    items, skipped, not_images = E.plan_items(
        inputs, output, overlay=overlay, probabilities=probabilities, overwrite=overwrite, recursive=recursive
    )
    records = [{"path": str(it.path), "stem": str(it.stem), "todo": list(it.todo)} for it in items]
    return records, skipped, [str(p) for p in not_images]


def _count(result: PredictionResult) -> PredictionResult:
    Metrics.counter(METRICS_NAMESPACE, result.inference["status"]).inc()
    return result


def _dead_letter(result: PredictionResult) -> Iterable[str]:
    if result.inference["status"] == "failed":
        yield json.dumps({"input": result.example["path"], "reason": result.inference["reason"]}, ensure_ascii=False)


def build_pipeline(pipeline, manifest: str, handler: SegmentationModelHandler, dead_letter: str):
    """Adds the segmentation steps to ``pipeline``: records in, outputs written, failures to ``dead_letter``.

    Args:
        pipeline: A ``beam.Pipeline``.
        manifest: A JSON-lines file of the records from :func:`plan_records`.
            Read as text rather than embedded with ``beam.Create``, because a
            runner ships ``Create``'s values inside the job description, which
            has a size limit (10 MB on Dataflow, some 50,000 records of 200 bytes).
        handler: The :class:`SegmentationModelHandler`.
        dead_letter: Path of the JSON-lines file of failures (one file,
            written even when empty, so its presence says the run finished).

    Returns:
        The PCollection of ``PredictionResult`` (one per record).
    """
    results = (
        pipeline
        | "Images" >> beam.io.ReadFromText(manifest)
        | "Parse" >> beam.Map(json.loads)
        # A small manifest is one split of the text source: spread the records over the workers.
        | "Spread" >> beam.Reshuffle()
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


# --------------------------------------------------------------------------- the run


def report_path(output: str) -> str:
    """Where a run into ``output`` writes ``report.json``: a path, or a URL for a URL output."""
    return _join(output, E.REPORT_NAME)


def segment_beam(
    inputs,
    output,
    model,
    options: SegmentOptions | None = None,
    *,
    min_batch_size: int | None = None,
    max_batch_size: int | None = None,
    **changes,
) -> RunReport:
    """Segments every image in ``inputs`` on Apache Beam and writes the same files as :func:`~suite.unet.segment.segment_folder`.

    Args:
        inputs: A file, folder or glob, or a sequence of them: local paths, or
            URLs of a file system Beam knows (``gs://bucket/photos``).
        output: The output folder (created if missing), a local path or a URL.
        model: The ``.keras`` segmentation model (a path or URL every worker
            can read) or a preset name.
        options: A :class:`~suite.unet.segment_options.SegmentOptions`, as for
            :func:`~suite.unet.segment.segment_folder`; ``workers`` are the
            decoding threads per worker, ``beam_options`` Beam's pipeline
            options (``["runner=DirectRunner", "direct_num_workers=2"]`` or a
            mapping; default: the DirectRunner) and ``dead_letter`` the
            JSON-lines file for failures (default ``OUT/failed.jsonl``; a path or URL).
        min_batch_size: Fewest records per RunInference batch (default ``batch_size``).
        max_batch_size: Most records per RunInference batch (default ``4 * batch_size``).
        **changes: Fields of ``options`` to change, e.g. ``overlay=True``.

    Returns:
        A :class:`suite.common.report.RunReport`; ``report.ok`` is false if any image failed.
        ``done`` and ``skipped`` are counts only (``n_done``, ``n_skipped``: a cluster
        run may cover millions of images); ``failed`` lists every failure, as the
        dead-letter file does; ``info`` holds the ``model``, the ``runner`` and the
        ``dead_letter`` file.

    Raises:
        MissingBeamError: (on import) Apache Beam is not installed.
        ValueError: a bad option, or not a segmentation model.

    Example:
        >>> report = segment_beam("photos", "masks", "demo_unet.keras",
        ...                       beam_options=["direct_running_mode=multi_processing",
        ...                                     "direct_num_workers=2"])  # doctest: +SKIP
    """
    start = time.perf_counter()
    opts = segment_options(options, **{**changes, "runner": "beam"})
    if opts.tta != "none":
        raise ValueError(f"--tta {opts.tta} runs with --runner local only (the Beam runner predicts each image once)")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    dead_letter = opts.dead_letter
    _check_file_systems([*inputs, output, model] + ([dead_letter] if dead_letter is not None else []))
    options_, runner = _pipeline_options(opts.beam_options)
    out = _prepare_output(output)
    # Loaded here once so a wrong file is a one-line error now, not one per worker later.
    _load_model(_absolute(model))
    dead_letter = str(dead_letter) if dead_letter is not None else _join(out, DEAD_LETTER_NAME)
    records, skipped, not_images = plan_records(
        inputs,
        out,
        overlay=opts.overlay,
        probabilities=opts.probabilities,
        overwrite=opts.overwrite,
        recursive=opts.recursive,
    )
    report = RunReport(
        output=out,
        info={"model": str(model), "runner": runner, "dead_letter": dead_letter},
        done_count=0,
        skipped_count=len(skipped),
        not_images=not_images,
        options=as_dict(opts),
    )
    if records:
        handler = SegmentationModelHandler(
            model,
            out,
            overwrite=opts.overwrite,
            batch_size=opts.batch_size,
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            tile=opts.tile,
            overlap=opts.overlap,
            max_pixels=opts.max_pixels,
            max_untiled_pixels=opts.max_untiled_pixels,
            batch_pixels=opts.batch_pixels,
            workers=opts.workers,
        )
        note(f"segmenting {len(records)} image(s) on Beam ({runner}); {len(skipped)} already done")
        _run_pipeline(options_, records, handler, out, dead_letter, report)
    else:
        # Nothing to run: still leave an (empty) dead-letter file, as a finished run does.
        _write_url(_absolute(dead_letter), b"")
    report.failed.sort(key=lambda f: f["input"])
    report.seconds = time.perf_counter() - start
    _write_report(report, out)
    return report


def _pipeline_options(beam_options) -> tuple[PipelineOptions, str]:
    """Beam's ``PipelineOptions`` from ``KEY=VALUE`` strings, and the runner's name; unknown options get a note."""
    flags = parse_beam_options(beam_options)
    if not any(f.split("=")[0] == "--default_sdk_harness_log_level" for f in flags):
        # Workers log every bundle at INFO; the suite's summary and the dead letter say what matters.
        flags.append("--default_sdk_harness_log_level=WARNING")
    options = PipelineOptions(flags)
    unknown = _unknown_options(options)
    if unknown:
        note(f"Beam does not know the option(s) {', '.join(unknown)}; they are ignored")
    return options, options.get_all_options().get("runner") or "DirectRunner"


def _prepare_output(output) -> str:
    """The output folder as a string: a URL as given, a local folder checked writable and cleaned of partial files."""
    if _is_url(output):
        return str(output).rstrip("/")
    out = str(ensure_writable_folder(output))  # before the model is even loaded
    remove_partial_files(out)
    return out


def _run_pipeline(options, records, handler, out: str, dead_letter: str, report: RunReport) -> None:
    """Writes the work list, runs the pipeline to the end, and reads the counts and failures into ``report``."""
    manifest = _join(out, MANIFEST_NAME)
    _write_url(_absolute(manifest), "".join(json.dumps(r) + "\n" for r in records).encode())
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, _absolute(manifest), handler, _absolute(dead_letter))
    result = pipeline.run()
    result.wait_until_finish()
    FileSystems.delete([_absolute(manifest)])
    counts = _counters(result)
    report.done_count = counts.get("done", 0)
    report.skipped_count += counts.get("skipped", 0)
    report.failed = _read_dead_letter(_absolute(dead_letter))


def _write_report(report: RunReport, out: str) -> None:
    if _is_url(out):
        _write_url(report_path(out), (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    else:
        save_json(report.to_dict(), Path(out) / E.REPORT_NAME, overwrite=True)


def _counters(result) -> dict:
    counts = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        counts[c.key.metric.name] = counts.get(c.key.metric.name, 0) + int(value or 0)
    return counts


def _read_dead_letter(path: str) -> list[dict]:
    if not FileSystems.exists(path):
        return []
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return [json.loads(line) for line in fh.read().decode("utf-8").splitlines() if line.strip()]
