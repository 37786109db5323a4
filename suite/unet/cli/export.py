"""``suite export``: a thin adapter over :func:`suite.unet.export.export_model`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from suite.cli import main
from suite.common.options import finite_float
from suite.common.ui.cli import compute_options, echo_json, output_options, say
from suite.common.ui.outputs import check_output_extension, check_output_folder
from suite.unet.cli.params import model_option
from suite.unet.export import FORMATS


@main.command()
@model_option()
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS),
              help="saved_model: TensorFlow SavedModel folder; onnx: .onnx file (needs the 'onnx' extra); "
                   "litert: .tflite file.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Where to write the artefact (a folder for saved_model).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export of the same kind (never the working folder or a folder that is not a SavedModel).")
@click.option("--size", default=256, show_default=True, type=click.IntRange(16, 4096),
              help="Side of the random sample image used for the parity check.")
@click.option("--atol", default=1e-4, show_default=True, type=finite_float(0), help="Largest accepted |exported - Keras|.")
@compute_options
@output_options()
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
        echo_json({"path": result.path, "format": result.format, "size_bytes": result.size_bytes,
                   "runtime": result.runtime, "sample_shape": list(result.sample_shape),
                   "max_abs_diff": float(result.max_abs_diff), "atol": atol, "ok": bool(result.ok)})
    else:
        say(f"wrote {result.path} ({result.format}, {result.size_bytes / 1e6:.1f} MB)")
        say(f"parity on a {result.sample_shape[1]}x{result.sample_shape[2]} sample with {result.runtime}: "
            f"max |exported - keras| = {result.max_abs_diff:.3g} (tolerance {atol:g})")
    if not result.ok:
        # The artefact is kept (for inspection); a re-run needs --overwrite to replace it.
        click.echo(f"parity check FAILED: max |exported - keras| = {result.max_abs_diff:.3g} is over --atol "
                   f"{atol:g}; {result.path} is kept for inspection (re-run with --overwrite to replace it)", err=True)
        sys.exit(1)
