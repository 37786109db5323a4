"""``suite segment`` and ``suite export``: thin adapters over :mod:`suite.unet.segment` and :mod:`suite.unet.export`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from suite.cli import main
from suite.common.errors import first_line
from suite.common.cli_utils import compute_options, echo_json, max_pixels_option, output_options, say
from suite.unet.export import FORMATS as EXPORT_FORMATS


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class ModelOrPreset(click.ParamType):
    """A ``.keras`` file that exists, or a preset name (suite.unet.presets) when no such file exists."""

    name = "MODEL|PRESET"

    def convert(self, value, param, ctx):
        from suite.unet.presets import PRESETS, is_preset

        if isinstance(value, Path) or is_preset(value):
            return value if isinstance(value, Path) else str(value)
        if isinstance(value, str) and _URL.match(value):
            return value  # a model on a Beam file system (--runner beam checks the rest)
        path = Path(value)
        if path.is_file():
            return path
        if path.exists():
            self.fail(f"{value!r} is a folder, not a model file", param, ctx)
        self.fail(f"{value!r} is neither a model file nor a preset ({', '.join(sorted(PRESETS))})", param, ctx)


MODEL_OR_PRESET = ModelOrPreset()

class _PathOrURL(click.Path):
    """A ``click.Path`` that passes URLs (``gs://bucket/photos``) through as strings, for ``--runner beam``."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and _URL.match(value):
            return value  # a pathlib.Path would fold "gs://" into "gs:/"
        return super().convert(value, param, ctx)


_MODEL = click.option(
    "--model", "-m", "model", required=True, type=MODEL_OR_PRESET,
    help="A trained segmentation model (.keras, or its URL with --runner beam), e.g. assets/demo_unet.keras, "
         "or a preset: person (MediaPipe selfie segmentation: background, person), person-landscape.",
)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=_PathOrURL(exists=True, path_type=Path))
@_MODEL
@click.option("-o", "--output", required=True, type=_PathOrURL(file_okay=False, path_type=Path),
              help="Output folder: <stem>.png masks (palette PNG of class indices) and report.json.")
@click.option("--overlay", is_flag=True, help="Also write <stem>_overlay.jpg: the image with class colours and a legend.")
@click.option("--probabilities", is_flag=True, help="Also write <stem>.npy: (H, W, C) float16 class probabilities.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1, 1024),
              help="Images of similar size per model call.")
@click.option("--tile", default=None, type=click.IntRange(16, 16384),
              help="Run images larger than this as overlapping tiles of this size "
                   "(default: only images over ~2.1 megapixels, with 512 px tiles).")
@click.option("--overlap", default=64, show_default=True, type=click.IntRange(0, 8192),
              help="Pixels shared by neighbouring tiles (at most half the tile).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (by default they are skipped, so a re-run resumes).")
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders, mirroring them in the output folder.")
@max_pixels_option()
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="Decoding threads (default: up to 4).")
@click.option("--runner", type=click.Choice(["local", "beam"]), default="local", show_default=True,
              help="local: this process. beam: an Apache Beam RunInference pipeline (DirectRunner by default; "
                   "Dataflow, Flink or Spark with --beam-option runner=...); needs the 'beam' extra.")
@click.option("--beam-option", "beam_options", multiple=True, metavar="KEY=VALUE",
              help="A Beam pipeline option, repeatable, e.g. --beam-option direct_running_mode=multi_processing "
                   "--beam-option direct_num_workers=2 (only with --runner beam).")
@click.option("--dead-letter", default=None, type=_PathOrURL(dir_okay=False, path_type=Path),
              help="With --runner beam: JSON-lines file of the images that failed (default OUTPUT/failed.jsonl).")
@compute_options
@output_options()
def segment(inputs, model, output, overlay, probabilities, batch_size, tile, overlap, overwrite, recursive,
            max_pixels, workers, runner, beam_options, dead_letter, as_json):
    """Segment images: INPUTS are any mix of image files and folders.

    Writes OUTPUT/<stem>.png for each image: the class index of every pixel at the
    image's own (upright) size, with a colour palette so it is viewable. Existing
    outputs are skipped, so re-running an interrupted command finishes the rest.
    Unreadable images are listed with a reason in OUTPUT/report.json, and the exit
    status is 1 if any image failed.

    With --runner beam the same work runs as an Apache Beam RunInference pipeline
    (DirectRunner here; Dataflow, Flink or Spark via --beam-option), and INPUTS,
    --model and OUTPUT may be URLs such as gs://bucket/photos.

    Example: suite segment photos/ --model assets/demo_unet.keras -o masks --overlay
    """
    from suite.common.log import progress_enabled
    from suite.unet.segment import segment_folder

    if tile is not None and 2 * overlap > tile:
        raise click.BadParameter(f"--overlap {overlap} is more than half of --tile {tile}", param_hint="--overlap")
    if runner != "beam" and (beam_options or dead_letter):
        raise click.UsageError("--beam-option and --dead-letter need --runner beam")
    if runner != "beam" and any(isinstance(p, str) and _URL.match(p) for p in (*inputs, model, output)):
        raise click.UsageError("URLs (gs://..., s3://...) need --runner beam")
    if runner == "beam":
        _segment_beam(inputs, model, output, overlay=overlay, probabilities=probabilities, batch_size=batch_size,
                      tile=tile, overlap=overlap, overwrite=overwrite, recursive=recursive, max_pixels=max_pixels,
                      workers=workers, beam_options=beam_options, dead_letter=dead_letter, as_json=as_json)
        return
    report = segment_folder(
        list(inputs), output, model, overlay=overlay, probabilities=probabilities, batch_size=batch_size,
        tile=tile, overlap=overlap, overwrite=overwrite, recursive=recursive, max_pixels=max_pixels,
        workers=workers, progress=progress_enabled(),
    )
    from suite.common.log import detail

    for d in report.done:
        detail(f"wrote {d}")
    summary = (f"done {len(report.done)}, skipped {len(report.skipped)} (already there), "
               f"failed {len(report.failed)} in {report.seconds:.1f} s")
    _tell(report, summary, f"report: {Path(output) / 'report.json'}", as_json)


def _tell(report, summary, where, as_json):
    """Failures on stderr; the summary (or the report as JSON) on stdout; exit status 1 if any failed."""
    for f in report.failed[:20]:
        click.echo(f"failed {f['input']}: {f['reason']}", err=True)
    if len(report.failed) > 20:
        click.echo(f"... and {len(report.failed) - 20} more failed (listed in the report)", err=True)
    if as_json:
        echo_json(report.to_dict())
    else:
        if report.done:
            summary += f" ({report.images_per_second:.1f} images/s)"
        say(summary)
        say(where)
    if not report.ok:
        sys.exit(1)


def _segment_beam(inputs, model, output, *, beam_options, dead_letter, as_json=False, **kwargs):
    """``suite segment --runner beam``: the same outputs, made by an Apache Beam pipeline."""
    import logging

    import os

    from suite.common.device import import_backend_quietly

    # Beam logs environment notes and every bundle through `logging`, in this process and
    # in its workers; the suite's notes, the summary and the dead letter are what a user
    # reads. Errors still show; SUITE_DEBUG=1 shows everything.
    loggers = [logging.getLogger(), logging.getLogger("apache_beam")]
    levels = [lg.level for lg in loggers]
    if not os.environ.get("SUITE_DEBUG"):
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        if not any(o.lstrip("-").startswith("default_sdk_harness_log_level") for o in beam_options):
            beam_options = (*beam_options, "default_sdk_harness_log_level=ERROR")
    try:
        try:
            from suite.unet.beam_runner import segment_beam
        except ImportError as e:  # beam_runner's own message names the extra to install
            raise click.ClickException(first_line(e)) from None
        import_backend_quietly()
        report = segment_beam(list(inputs), output, model, beam_options=list(beam_options), dead_letter=dead_letter,
                              **kwargs)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    summary = (f"done {report.done}, skipped {report.skipped} (already there), failed {len(report.failed)} "
               f"in {report.seconds:.1f} s on Beam ({report.runner})")
    _tell(report, summary, f"report: {report.report_path}; failures: {report.dead_letter}", as_json)


@main.command()
@_MODEL
@click.option("--format", "fmt", required=True, type=click.Choice(EXPORT_FORMATS),
              help="saved_model: TensorFlow SavedModel folder; onnx: .onnx file (needs the 'onnx' extra); "
                   "litert: .tflite file.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Where to write the artefact (a folder for saved_model).")
@click.option("--overwrite", is_flag=True, help="Replace an existing artefact.")
@click.option("--size", default=256, show_default=True, type=click.IntRange(16, 4096),
              help="Side of the random sample image used for the parity check.")
@click.option("--atol", default=1e-4, show_default=True, type=float, help="Largest accepted |exported - Keras|.")
@compute_options
@output_options()
def export(model, fmt, output, overwrite, size, atol, as_json):
    """Export a segmentation model (a .keras file or a preset such as person) to SavedModel, ONNX or LiteRT, then check it.

    The exported artefact is run on a sample image with its own runtime
    (tf.saved_model, onnxruntime, the LiteRT interpreter) and the largest absolute
    difference from the Keras model is reported; the exit status is 1 if it is
    over --atol.
    """
    from suite.common.device import import_backend_quietly
    from suite.unet.export import MissingExtraError, export_model

    import_backend_quietly()
    try:
        result = export_model(model, fmt, output, overwrite=overwrite, sample_size=size, atol=atol)
    except MissingExtraError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        echo_json({"path": result.path, "format": result.format, "size_bytes": result.size_bytes,
                   "runtime": result.runtime, "sample_shape": list(result.sample_shape),
                   "max_abs_diff": float(result.max_abs_diff), "atol": atol, "ok": bool(result.ok)})
    else:
        say(f"wrote {result.path} ({result.format}, {result.size_bytes / 1e6:.1f} MB)")
        say(f"parity on a {result.sample_shape[1]}x{result.sample_shape[2]} sample with {result.runtime}: "
            f"max |exported - keras| = {result.max_abs_diff:.3g} (tolerance {atol:g})")
    if not result.ok:
        click.echo("parity check FAILED", err=True)
        sys.exit(1)
