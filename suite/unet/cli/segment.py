"""``suite segment`` and ``suite export``: thin adapters over :mod:`suite.unet.segment` and :mod:`suite.unet.export`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from suite.cli import main
from suite.unet.export import FORMATS as EXPORT_FORMATS
from suite.common.cli_utils import compute_options, echo_json, max_pixels_option, output_options, say

class ModelOrPreset(click.ParamType):
    """A ``.keras`` file that exists, or a preset name (suite.unet.presets) when no such file exists."""

    name = "MODEL|PRESET"

    def convert(self, value, param, ctx):
        from suite.unet.presets import PRESETS, is_preset

        if isinstance(value, Path) or is_preset(value):
            return value if isinstance(value, Path) else str(value)
        path = Path(value)
        if path.is_file():
            return path
        if path.exists():
            self.fail(f"{value!r} is a folder, not a model file", param, ctx)
        self.fail(f"{value!r} is neither a model file nor a preset ({', '.join(sorted(PRESETS))})", param, ctx)


MODEL_OR_PRESET = ModelOrPreset()

_MODEL = click.option(
    "--model", "-m", "model", required=True, type=MODEL_OR_PRESET,
    help="A trained segmentation model (.keras), e.g. assets/demo_unet.keras, or a preset: "
         "person (MediaPipe selfie segmentation: background, person), person-landscape.",
)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_MODEL
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
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
@compute_options
@output_options()
def segment(inputs, model, output, overlay, probabilities, batch_size, tile, overlap, overwrite, recursive,
            max_pixels, workers, as_json):
    """Segment images: INPUTS are any mix of image files and folders.

    Writes OUTPUT/<stem>.png for each image: the class index of every pixel at the
    image's own (upright) size, with a colour palette so it is viewable. Existing
    outputs are skipped, so re-running an interrupted command finishes the rest.
    Unreadable images are listed with a reason in OUTPUT/report.json, and the exit
    status is 1 if any image failed.

    Example: suite segment photos/ --model assets/demo_unet.keras -o masks --overlay
    """
    from suite.common.log import progress_enabled
    from suite.unet.segment import segment_folder

    if tile is not None and 2 * overlap > tile:
        raise click.BadParameter(f"--overlap {overlap} is more than half of --tile {tile}", param_hint="--overlap")
    report = segment_folder(
        list(inputs), output, model, overlay=overlay, probabilities=probabilities, batch_size=batch_size,
        tile=tile, overlap=overlap, overwrite=overwrite, recursive=recursive, max_pixels=max_pixels,
        workers=workers, progress=progress_enabled(),
    )
    from suite.common.log import detail

    for d in report.done:
        detail(f"wrote {d}")
    for f in report.failed[:20]:
        click.echo(f"failed {f['input']}: {f['reason']}", err=True)
    if len(report.failed) > 20:
        click.echo(f"... and {len(report.failed) - 20} more failed (listed in {Path(output) / 'report.json'})", err=True)
    if as_json:
        echo_json(report.to_dict())
    else:
        summary = (f"done {len(report.done)}, skipped {len(report.skipped)} (already there), "
                   f"failed {len(report.failed)} in {report.seconds:.1f} s")
        if report.done:
            summary += f" ({report.images_per_second:.1f} images/s)"
        say(summary)
        say(f"report: {Path(output) / 'report.json'}")
    if not report.ok:
        sys.exit(1)


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
