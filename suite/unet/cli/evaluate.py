"""``suite evaluate``: a thin adapter over :func:`suite.unet.evaluate.evaluate_model` / ``evaluate_predictions``."""

from __future__ import annotations

from pathlib import Path

import click

from suite.cli import main
from suite.common.ui.cli import compute_options, echo_json, max_pixels_option, output_options, say
from suite.common.ui.outputs import OutputFile
from suite.unet.cli.params import MODEL_OR_PRESET, parse_class_names, warn_ignore_index_is_a_class
from suite.unet.data import LAYOUTS


def _print_table(report: dict) -> None:
    from rich.table import Table

    from suite.common.ui.progress import print_table

    source = report.get("model") or report.get("predictions")
    table = Table(title=f"{Path(str(source)).name} on {report['images']} images")
    for col, justify in (("class", "right"), ("name", "left"), ("IoU", "right"), ("accuracy", "right"), ("pixels", "right")):
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


@main.command()
@click.option("--model", "-m", "model", type=MODEL_OR_PRESET,
              help="A trained segmentation model (.keras; loaded in safe mode: Lambda layers are refused) "
                   "or a preset (person, person-landscape).")
@click.option("--predictions", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Instead of --model: a folder of predicted masks <name>.png (e.g. from `suite segment`).")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Images folder, or an Oxford-IIIT Pet / Pascal VOC root (not needed with --predictions).")
@click.option("--masks", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Ground-truth masks folder (<name>.png, class indices), paired with --images (or --predictions) by basename.")
@click.option("--layout", type=click.Choice(LAYOUTS), default="auto", show_default=True,
              help="Data set layout; auto detects Pet/VOC roots when --masks is not given.")
@click.option("--split", default="val", show_default=True, help="Pascal VOC index file to score (ImageSets/Segmentation/<split>.txt).")
@click.option("--num-classes", type=click.IntRange(2, None), default=None,
              help="Number of classes (default: the model's; required with --predictions).")
@click.option("--ignore-index", default=255, show_default=True, type=click.IntRange(0, 255),
              help="Truth label left out of the scores.")
@click.option("--binary", is_flag=True, help="Masks are 0/255: map them to 0/1.")
@click.option("--class-names", default=None, help="Comma-separated class names for the table (default: the model's).")
@click.option("-o", "--output", "report", type=OutputFile((".json",), what="report"), default=None,
              help="Write the scores as JSON here, and the confusion matrix as <output>_confusion.png next to it.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
@click.option("--strict", is_flag=True, help="Stop at the first pair that cannot be scored instead of skipping it.")
@max_pixels_option()
@compute_options
@output_options()
def evaluate(model, predictions, images, masks, layout, split, num_classes, ignore_index, binary, class_names,
             report, overwrite, strict, max_pixels, as_json):
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
    if images is None and (model is not None or masks is None):
        raise click.UsageError("--images is required with --model" if model is not None
                               else "--predictions needs --masks (the ground truth), or --images for a data set root")
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
        source = open_source(images, masks, layout=layout, split=split, binary=binary, ignore_index=ignore_index,
                             max_pixels=max_pixels)
    if predictions is not None:
        result = evaluate_predictions(predictions, source, num_classes, ignore_index, binary, names, strict=strict)
    else:
        import_backend_quietly()
        result = evaluate_model(model, source, num_classes, ignore_index, binary, names, strict=strict)
    if not as_json:
        _print_table(result)
    _print_skipped(result)
    if report is not None:
        json_path, png_path = write_report(result, report, overwrite=overwrite)
        click.echo(f"wrote {json_path}", err=True)
        click.echo(f"wrote {png_path}", err=True)
    if as_json:
        echo_json(result)
    else:
        say(f"mIoU {result['mean_iou']:.4f}  pixel accuracy {result['pixel_accuracy']:.4f}  images {result['images']}"
            + (f" ({len(result['skipped'])} skipped)" if result["skipped"] else ""))
    if result["skipped"]:
        # The scores cover only part of the data: a script must be able to tell.
        raise SystemExit(1)
