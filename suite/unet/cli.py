"""The U-Net commands: ``suite train``, ``evaluate``, ``segment`` and ``export``, thin adapters over the library.

Each command's options come from the library: ``train`` from
:class:`suite.unet.options.TrainOptions` (names, defaults, types, choices and
help), ``segment`` from :class:`suite.unet.segment_options.SegmentOptions`;
this module adds only what is not a library option (data folders, class names,
output paths, Beam's pipeline options). Click only: no tensors here.

* ``suite train``: :func:`suite.unet.training.train`;
* ``suite evaluate``: :func:`suite.unet.evaluate.evaluate_model` / ``evaluate_predictions``;
* ``suite segment``: :func:`suite.unet.segment.segment_folder` (and the Beam runner,
  :func:`suite.unet.beam_runner.segment_beam`);
* ``suite export``: :func:`suite.unet.export.export_model`.

Importing this module registers the commands on the ``suite`` group.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from suite.common.errors import first_line
from suite.common.options import click_options, finite_float
from suite.common.ui.cli import compute_options, echo_json, max_pixels_option, output_options, say
from suite.common.ui.outputs import OutputFile, check_output_extension, check_output_folder
from suite.unet.data import LAYOUTS
from suite.unet.export import FORMATS
from suite.unet.options import TrainOptions
from suite.unet.segment_options import SegmentOptions, segment_options

# --------------------------------------------------------------------------- parameter types and options that segment, evaluate and export share


#: ``scheme://...``: a URL on a Beam file system (``gs://bucket/photos``).
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class ModelOrPreset(click.ParamType):
    """A ``.keras`` file that exists, or a preset name (suite.unet.presets) when no such file exists."""

    name = "MODEL|PRESET"

    def convert(self, value, param, ctx):
        from suite.unet.presets import is_preset, preset_names

        if isinstance(value, Path) or is_preset(value):
            return value if isinstance(value, Path) else str(value)
        if isinstance(value, str) and URL.match(value):
            return value  # a model on a Beam file system (--runner beam checks the rest)
        path = Path(value)
        if path.is_file():
            return path
        if path.exists():
            self.fail(f"{value!r} is a folder, not a model file", param, ctx)
        self.fail(f"{value!r} is neither a model file nor a preset ({', '.join(sorted(preset_names()))})", param, ctx)


MODEL_OR_PRESET = ModelOrPreset()


class PathOrURL(click.Path):
    """A ``click.Path`` that passes URLs (``gs://bucket/photos``) through as strings, for ``--runner beam``."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and URL.match(value):
            return value  # a pathlib.Path would fold "gs://" into "gs:/"
        return super().convert(value, param, ctx)


def model_option(required: bool = True, help: str | None = None):
    """``-m/--model MODEL|PRESET``: a ``.keras`` file or a preset name."""
    return click.option(
        "--model",
        "-m",
        "model",
        required=required,
        type=MODEL_OR_PRESET,
        help=help
        or "A trained segmentation model (.keras, or its URL with --runner beam), e.g. "
        "assets/demo_unet.keras, or a preset: person (MediaPipe selfie segmentation: background, "
        "person), person-landscape.",
    )


def parse_class_names(text: str | None, num_classes: int | None, option: str = "--class-names") -> list | None:
    """Comma-separated class names, checked: one per class, none empty, no two the same (a usage error otherwise)."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise click.BadParameter(f"empty name in {text!r}; give one non-empty name per class", param_hint=f"'{option}'")
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise click.BadParameter(f"{', '.join(doubles)} given twice; class names must differ", param_hint=f"'{option}'")
    if num_classes is not None and len(names) != num_classes:
        raise click.BadParameter(f"{len(names)} names for {num_classes} classes", param_hint=f"'{option}'")
    return names


def warn_ignore_index_is_a_class(ignore_index: int | None, num_classes: int | None) -> None:
    """A one-line warning when ``--ignore-index`` is one of the classes: that class is then never trained or scored."""
    if ignore_index is not None and num_classes is not None and 0 <= ignore_index < num_classes:
        from suite.common.log import note

        note(
            f"warning: --ignore-index {ignore_index} is one of the {num_classes} classes (0..{num_classes - 1}): "
            "that class is left out of every loss and score"
        )


# --------------------------------------------------------------------------- suite train


_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.option("--images", required=True, type=_DIR, help="Images folder, or an Oxford-IIIT Pet / Pascal VOC root.")
@click.option("--masks", type=_DIR, help="Masks folder: PNG class indices, paired with images by basename.")
@click.option(
    "--num-classes", required=True, type=click.IntRange(2, 65535), help="Number of classes, background included."
)
@click.option("--val-images", type=_DIR, help="Validation images (else --val-split of the training set).")
@click.option("--val-masks", type=_DIR, help="Validation masks.")
@click.option("--class-names", default=None, help="Comma-separated class names, stored in the model.")
@click_options(TrainOptions)
@click.option(
    "-o",
    "--output",
    "out",
    type=OutputFile((".keras",), what="model"),
    default=Path("model.keras"),
    show_default=True,
    help="Where to write the best model (.keras).",
)
@click.option(
    "--logdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="CSV log, curves.png, TensorBoard, backups, options.json [<output>_logs].",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run from the backup in --logdir.")
@click.option("--overwrite", is_flag=True, help="Replace --output and discard an old backup.")
@output_options()
@compute_options(auto_mixed_precision=True)
def train(
    images, masks, num_classes, val_images, val_masks, class_names, out, logdir, resume, overwrite, as_json, **options
):
    """Train a U-Net on image/mask folders (or Oxford-IIIT Pet / Pascal VOC) and keep the best by val mIoU.

    Unusable pairs (an unreadable image, labels outside the classes, a mask of
    another size) are left out with a one-line reason each and listed in
    <logdir>/skipped.json; the exit status is then 1 (--strict stops instead).
    A NaN loss stops the run, keeping the last good model, with exit status 3.

    \b
    Example:
      suite train --images data/images --masks data/masks --num-classes 3 --epochs 30
    """
    from suite.common.ui.cli import INTERRUPT_HINT
    from suite.unet.training import interrupted_hint
    from suite.unet.training import train as run

    # Read when the signal comes: which epoch the backup holds by then, if any.
    click.get_current_context().meta[INTERRUPT_HINT] = lambda: interrupted_hint(out, logdir)
    opts = TrainOptions(**options)
    if (val_images is None) != (val_masks is None) and opts.layout == "folders":
        raise click.UsageError("--val-images and --val-masks go together")
    if val_masks is not None and val_images is None:
        raise click.UsageError("--val-masks needs --val-images DIR")
    if val_images is not None and val_masks is None and opts.layout == "auto":
        from suite.unet.data import DatasetError, detect_layout

        try:
            detect_layout(val_images)  # an Oxford-IIIT Pet or VOC root needs no masks folder
        except DatasetError:
            raise click.UsageError(
                f"--val-images {val_images} needs --val-masks DIR (or point it at an "
                "Oxford-IIIT Pet or Pascal VOC root)"
            ) from None
    if isinstance(opts.class_weights, list) and len(opts.class_weights) != num_classes:
        raise click.BadParameter(
            f"{len(opts.class_weights)} weights for --num-classes {num_classes}; give one "
            "per class, or balanced, or none",
            param_hint="'--class-weights'",
        )
    names = parse_class_names(class_names, num_classes)
    warn_ignore_index_is_a_class(opts.ignore_index, num_classes)
    result = run(
        images,
        masks,
        num_classes,
        options=opts,
        val_images=val_images,
        val_masks=val_masks,
        class_names=names,
        out=out,
        logdir=logdir,
        resume=resume,
        overwrite=overwrite,
    )
    if as_json:
        echo_json(
            {
                "ok": result.stopped != "nan" and not result.skipped,
                "model": result.model_path,
                "best_miou": result.best_miou,
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "stopped": result.stopped,
                "train_seconds": round(result.train_seconds, 2),
                "logdir": result.logdir,
                "skipped": result.skipped,
                "history": result.history,
                "message": result.message,
                "options": result.options,
            }
        )
    else:
        say(result.message)
    if result.stopped == "nan":
        raise SystemExit(3)
    if result.skipped:
        # The model is usable, but a script should know that part of the data was not.
        click.echo(
            f"{len(result.skipped)} unusable pair(s) were left out (see {result.logdir / 'skipped.json'})", err=True
        )
        raise SystemExit(1)


# --------------------------------------------------------------------------- suite evaluate


def _print_table(report: dict) -> None:
    from rich.table import Table

    from suite.common.ui.progress import print_table

    source = report.get("model") or report.get("predictions")
    table = Table(title=f"{Path(str(source)).name} on {report['images']} images")
    for col, justify in (
        ("class", "right"),
        ("name", "left"),
        ("IoU", "right"),
        ("accuracy", "right"),
        ("pixels", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    for c in report["per_class"]:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731 - absent classes show a dash
        table.add_row(str(c["class"]), c["name"], fmt(c["iou"]), fmt(c["accuracy"]), f"{c['pixels']:,}")
    table.add_section()
    table.add_row("", "[b]mean IoU[/b]", f"[b]{report['mean_iou']:.4f}[/b]", "", "")
    table.add_row("", "pixel accuracy", f"{report['pixel_accuracy']:.4f}", "", f"{report['scored_pixels']:,}")
    table.add_row("", "images", str(report["images"]), "", "")
    print_table(table)
    absent = [c["name"] for c in report["per_class"] if c["iou"] is None]
    if absent:
        click.echo(f"classes absent from truth and prediction (left out of the mean): {', '.join(absent)}")


def _print_skipped(report: dict) -> None:
    # Messages, on stderr: one line per file whatever the terminal width, so it can be grepped.
    for s in report["skipped"][:20]:
        click.echo(f"skipped {s['reason']}", err=True)
    if len(report["skipped"]) > 20:
        click.echo(f"... and {len(report['skipped']) - 20} more skipped (listed in the report)", err=True)


@click.command()
@click.option(
    "--model",
    "-m",
    "model",
    type=MODEL_OR_PRESET,
    help="A trained segmentation model (.keras; loaded in safe mode: Lambda layers are refused) "
    "or a preset (person, person-landscape).",
)
@click.option(
    "--predictions",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Instead of --model: a folder of predicted masks <name>.png (e.g. from `suite segment`).",
)
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Images folder, or an Oxford-IIIT Pet / Pascal VOC root (not needed with --predictions).",
)
@click.option(
    "--masks",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Ground-truth masks folder (<name>.png, class indices), paired with --images (or --predictions) by basename.",
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="auto",
    show_default=True,
    help="Data set layout; auto detects Pet/VOC roots when --masks is not given.",
)
@click.option(
    "--split",
    default="val",
    show_default=True,
    help="Pascal VOC index file to score (ImageSets/Segmentation/<split>.txt).",
)
@click.option(
    "--num-classes",
    type=click.IntRange(2, None),
    default=None,
    help="Number of classes (default: the model's; required with --predictions).",
)
@click.option(
    "--ignore-index",
    default=255,
    show_default=True,
    type=click.IntRange(0, 255),
    help="Truth label left out of the scores.",
)
@click.option("--binary", is_flag=True, help="Masks are 0/255: map them to 0/1.")
@click.option("--class-names", default=None, help="Comma-separated class names for the table (default: the model's).")
@click.option(
    "-o",
    "--output",
    "report",
    type=OutputFile((".json",), what="report"),
    default=None,
    help="Write the scores as JSON here, and the confusion matrix as <output>_confusion.png next to it.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
@click.option("--strict", is_flag=True, help="Stop at the first pair that cannot be scored instead of skipping it.")
@click.option(
    "--tta",
    type=click.Choice(["none", "flip"]),
    default="none",
    show_default=True,
    help="Test-time augmentation (with --model): flip averages the class probabilities of each image "
    "and its horizontal mirror (twice the model calls).",
)
@max_pixels_option()
@output_options()
@compute_options(auto_mixed_precision=True, announce_auto=False)
def evaluate(
    model,
    predictions,
    images,
    masks,
    layout,
    split,
    num_classes,
    ignore_index,
    binary,
    class_names,
    report,
    overwrite,
    strict,
    tta,
    max_pixels,
    as_json,
):
    """Score a model (or predicted masks) against ground-truth masks.

    Prints per-class IoU, mean IoU (from one confusion matrix over every pixel of
    the data set, ignore-label pixels left out) and pixel accuracy. A pair that
    cannot be scored (unreadable file, labels outside the classes, a mask of
    another size) is skipped with a one-line reason and the exit status is 1.

    \b
    Examples:
      suite evaluate --model model.keras --images data/val/images --masks data/val/masks -o eval.json
      suite evaluate --predictions masks/ --masks data/val/masks --num-classes 5
    """
    from suite.common.device import import_backend_quietly
    from suite.unet.data import masks_only, open_source
    from suite.unet.evaluate import evaluate_model, evaluate_predictions, write_report

    if (model is None) == (predictions is None):
        raise click.UsageError("give exactly one of --model and --predictions")
    if predictions is not None and num_classes is None:
        raise click.UsageError("--predictions needs --num-classes")
    if predictions is not None and tta != "none":
        raise click.UsageError("--tta applies to --model only (--predictions are masks already)")
    if images is None and (model is not None or masks is None):
        raise click.UsageError(
            "--images is required with --model"
            if model is not None
            else "--predictions needs --masks (the ground truth), or --images for a data set root"
        )
    names = parse_class_names(class_names, num_classes)
    warn_ignore_index_is_a_class(ignore_index, num_classes)
    if report is not None and not overwrite:
        png = report.with_name(f"{report.stem}_confusion.png")
        for p in (report, png):
            if p.exists():
                raise click.UsageError(f"{p} exists (use --overwrite to replace it)")
    if report is not None:
        from suite.common.io.atomic import ensure_writable_folder

        ensure_writable_folder(report.parent)  # fail before scoring, not after

    if images is None:
        source = masks_only(masks)  # predictions are named after the masks; no image is needed
    else:
        source = open_source(
            images, masks, layout=layout, split=split, binary=binary, ignore_index=ignore_index, max_pixels=max_pixels
        )
    if predictions is not None:
        result = evaluate_predictions(predictions, source, num_classes, ignore_index, binary, names, strict=strict)
    else:
        import_backend_quietly()
        result = evaluate_model(model, source, num_classes, ignore_index, binary, names, strict=strict, tta=tta)
    if not as_json:
        _print_table(result)
    _print_skipped(result)
    if report is not None:
        json_path, png_path = write_report(result, report, overwrite=overwrite)
        click.echo(f"wrote {json_path}", err=True)
        click.echo(f"wrote {png_path}", err=True)
    if as_json:
        echo_json({"ok": not result["skipped"], **result})
    else:
        say(
            f"mIoU {result['mean_iou']:.4f}  pixel accuracy {result['pixel_accuracy']:.4f}  images {result['images']}"
            + (f" ({len(result['skipped'])} skipped)" if result["skipped"] else "")
        )
    if result["skipped"]:
        # The scores cover only part of the data: a script must be able to tell.
        raise SystemExit(1)


# --------------------------------------------------------------------------- suite segment


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=PathOrURL(exists=True, path_type=Path))
@model_option()
@click.option(
    "-o",
    "--output",
    required=True,
    type=PathOrURL(file_okay=False, path_type=Path),
    help="Output folder: <stem>.png masks (palette PNG of class indices) and report.json.",
)
@click_options(SegmentOptions)
@click.option(
    "--beam-option",
    "beam_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Beam pipeline option, repeatable, e.g. --beam-option direct_running_mode=multi_processing "
    "--beam-option direct_num_workers=2 (only with --runner beam).",
)
@click.option(
    "--dead-letter",
    default=None,
    type=PathOrURL(dir_okay=False, path_type=Path),
    help="With --runner beam: JSON-lines file of the images that failed (default OUTPUT/failed.jsonl).",
)
@output_options()
@compute_options(auto_mixed_precision=True, announce_auto=False)
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
    summary = (
        f"done {len(report.done)}, skipped {len(report.skipped)} (already there), "
        f"failed {len(report.failed)} in {report.seconds:.1f} s"
    )
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
        from suite.unet.segment import check_output_is_no_input

        try:
            check_output_is_no_input([p for p in inputs if not (isinstance(p, str) and URL.match(p))], output)
        except ValueError as e:
            raise click.UsageError(str(e)) from None
    if settings["dead_letter"] is not None:
        check_output_extension(settings["dead_letter"], (".jsonl", ".json"), option="--dead-letter", what="JSON-lines")


def _tell(report, summary, where, as_json):
    """Failures on stderr; the summary (or the report as JSON) on stdout; exit status 1 if any failed."""
    for f in report.failed[:20]:
        click.echo(f"failed {f['input']}: {f['reason']}", err=True)
    if len(report.failed) > 20:
        click.echo(f"... and {len(report.failed) - 20} more failed (listed in the report)", err=True)
    if as_json:
        echo_json({"ok": report.ok, **report.to_dict()})
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
    summary = (
        f"done {report.n_done}, skipped {report.n_skipped} (already there), failed {len(report.failed)} "
        f"in {report.seconds:.1f} s on Beam ({report.info['runner']})"
    )
    _tell(report, summary, f"report: {report_path(report.output)}; failures: {report.info['dead_letter']}", as_json)


# --------------------------------------------------------------------------- suite export


@click.command()
@model_option()
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(FORMATS),
    help="saved_model: TensorFlow SavedModel folder; onnx: .onnx file (needs the 'onnx' extra); litert: .tflite file.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the artefact (a folder for saved_model).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an earlier export of the same kind (never the working folder or a folder that is not a SavedModel).",
)
@click.option(
    "--size",
    default=256,
    show_default=True,
    type=click.IntRange(16, 4096),
    help="Side of the random sample image used for the parity check.",
)
@click.option(
    "--atol", default=1e-4, show_default=True, type=finite_float(0), help="Largest accepted |exported - Keras|."
)
@output_options()
@compute_options
def export(model, fmt, output, overwrite, size, atol, as_json):
    """Export a segmentation model (a .keras file or a preset such as person) to SavedModel, ONNX or LiteRT, then check it.

    The exported artefact is run on a sample image with its own runtime
    (tf.saved_model, onnxruntime, the LiteRT interpreter) and the largest absolute
    difference from the Keras model is reported; the exit status is 1 if it is
    over --atol, and the artefact is kept (for inspection) with a message saying so.

    --overwrite replaces only an earlier export of the same kind (a SavedModel
    folder, or a file for onnx and litert); the working folder, folders above it
    and other folders are refused before any work.
    """
    from suite.common.device import import_backend_quietly
    from suite.unet.export import EXTENSIONS, MissingExtraError, NotReplaceableError, check_output, export_model

    if fmt in EXTENSIONS:
        if output.suffix:  # a bare name gets the format's extension
            check_output_extension(output, (EXTENSIONS[fmt],), what=f"--format {fmt}")
    else:
        check_output_folder(output, what=f"a --format {fmt} folder")
    try:
        check_output(output, fmt, overwrite)  # before loading or converting anything
    except NotReplaceableError as e:
        raise click.ClickException(str(e)) from None
    import_backend_quietly()
    try:
        result = export_model(model, fmt, output, overwrite=overwrite, sample_size=size, atol=atol)
    except MissingExtraError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        echo_json(
            {
                "path": result.path,
                "format": result.format,
                "size_bytes": result.size_bytes,
                "runtime": result.runtime,
                "sample_shape": list(result.sample_shape),
                "max_abs_diff": float(result.max_abs_diff),
                "atol": atol,
                "ok": bool(result.ok),
            }
        )
    else:
        say(f"wrote {result.path} ({result.format}, {result.size_bytes / 1e6:.1f} MB)")
        say(
            f"parity on a {result.sample_shape[1]}x{result.sample_shape[2]} sample with {result.runtime}: "
            f"max |exported - keras| = {result.max_abs_diff:.3g} (tolerance {atol:g})"
        )
    if not result.ok:
        # The artefact is kept (for inspection); a re-run needs --overwrite to replace it.
        click.echo(
            f"parity check FAILED: max |exported - keras| = {result.max_abs_diff:.3g} is over --atol "
            f"{atol:g}; {result.path} is kept for inspection (re-run with --overwrite to replace it)",
            err=True,
        )
        sys.exit(1)


#: The commands ``suite/cli.py`` adds to the ``suite`` group.
COMMANDS = (
    train,
    evaluate,
    segment,
    export,
)
