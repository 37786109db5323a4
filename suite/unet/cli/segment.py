"""``suite segment``: a thin adapter over :func:`suite.unet.segment.segment_folder` (and the Beam runner).

Its behaviour options come from :class:`suite.unet.segment_options.SegmentOptions`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from suite.cli import main
from suite.common.ui.cli import compute_options, echo_json, output_options, say
from suite.common.errors import first_line
from suite.common.options import click_options
from suite.common.ui.outputs import check_output_extension, check_output_folder
from suite.unet.cli.params import URL, PathOrURL, model_option
from suite.unet.segment_options import SegmentOptions, segment_options


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=PathOrURL(exists=True, path_type=Path))
@model_option()
@click.option("-o", "--output", required=True, type=PathOrURL(file_okay=False, path_type=Path),
              help="Output folder: <stem>.png masks (palette PNG of class indices) and report.json.")
@click_options(SegmentOptions)
@click.option("--beam-option", "beam_options", multiple=True, metavar="KEY=VALUE",
              help="A Beam pipeline option, repeatable, e.g. --beam-option direct_running_mode=multi_processing "
                   "--beam-option direct_num_workers=2 (only with --runner beam).")
@click.option("--dead-letter", default=None, type=PathOrURL(dir_okay=False, path_type=Path),
              help="With --runner beam: JSON-lines file of the images that failed (default OUTPUT/failed.jsonl).")
@compute_options
@output_options()
def segment(inputs, model, output, as_json, **settings):  # settings: the SegmentOptions fields
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

    _check_usage(inputs, model, output, settings)
    opts = segment_options(**settings)
    if opts.runner == "beam":
        _segment_beam(inputs, model, output, opts, as_json=as_json)
        return
    report = segment_folder(list(inputs), output, model, opts, progress=progress_enabled())
    from suite.common.log import detail

    for d in report.done:
        detail(f"wrote {d}")
    summary = (f"done {len(report.done)}, skipped {len(report.skipped)} (already there), "
               f"failed {len(report.failed)} in {report.seconds:.1f} s")
    _tell(report, summary, f"report: {Path(output) / 'report.json'}", as_json)


def _check_usage(inputs, model, output, settings: dict) -> None:
    """Usage errors Click's types cannot see: the overlap against the tile, Beam-only options and URLs."""
    tile, overlap = settings["tile"], settings["overlap"]
    if tile is not None and 2 * overlap > tile:
        raise click.BadParameter(f"--overlap {overlap} is more than half of --tile {tile}", param_hint="--overlap")
    if settings["runner"] != "beam" and (settings["beam_options"] or settings["dead_letter"]):
        raise click.UsageError("--beam-option and --dead-letter need --runner beam")
    if settings["runner"] != "beam" and any(isinstance(p, str) and URL.match(p) for p in (*inputs, model, output)):
        raise click.UsageError("URLs (gs://..., s3://...) need --runner beam")
    if not (isinstance(output, str) and URL.match(output)):
        check_output_folder(output, what="a folder of <stem>.png masks and report.json")
    if settings["dead_letter"] is not None:
        check_output_extension(settings["dead_letter"], (".jsonl", ".json"), option="--dead-letter",
                               what="JSON-lines")


def _tell(report, summary, where, as_json):
    """Failures on stderr; the summary (or the report as JSON) on stdout; exit status 1 if any failed."""
    for f in report.failed[:20]:
        click.echo(f"failed {f['input']}: {f['reason']}", err=True)
    if len(report.failed) > 20:
        click.echo(f"... and {len(report.failed) - 20} more failed (listed in the report)", err=True)
    if as_json:
        echo_json(report.to_dict())
    else:
        if report.n_done:
            summary += f" ({report.images_per_second:.1f} images/s)"
        say(summary)
        say(where)
    if not report.ok:
        sys.exit(1)


def _segment_beam(inputs, model, output, opts: SegmentOptions, as_json=False):
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
        if not any(o.lstrip("-").startswith("default_sdk_harness_log_level") for o in opts.beam_options):
            opts = segment_options(opts, beam_options=(*opts.beam_options, "default_sdk_harness_log_level=ERROR"))
    try:
        try:
            from suite.unet.beam_runner import report_path, segment_beam
        except ImportError as e:  # beam_runner's own message names the extra to install
            raise click.ClickException(first_line(e)) from None
        import_backend_quietly()
        report = segment_beam(list(inputs), output, model, opts)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    summary = (f"done {report.n_done}, skipped {report.n_skipped} (already there), failed {len(report.failed)} "
               f"in {report.seconds:.1f} s on Beam ({report.info['runner']})")
    _tell(report, summary, f"report: {report_path(report.output)}; failures: {report.info['dead_letter']}", as_json)
