"""The ``suite`` command line. Each command is a short adapter over one public function."""

from __future__ import annotations

from pathlib import Path

import click

from suite import __version__
from suite.common.device import jax_compilation_cache, quiet_backend_logs
from suite.common.ui.cli import (
    SuiteGroup,
    backbone_option,
    compute_options,
    echo_json,
    max_pixels_option,
    output_options,
    weights_option,
)
from suite.common.ui.outputs import OutputFile, image_extensions
from suite.serve.cli import COMMANDS as serve_commands
from suite.style.cli import COMMANDS as style_commands
from suite.unet.cli import COMMANDS as unet_commands


@click.group(cls=SuiteGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="suite")
def main():
    """Keras 3 computer-vision suite: shared VGG16/VGG19/MobileNetV2 backbones,
    U-Net segmentation and Gatys neural style transfer.

    Offline, VGG16 loads the embedded weights; see `suite backbones`.
    """
    # Before any command imports the backend (they all import it lazily), not at import:
    # importing suite.cli changes nothing process-wide.
    quiet_backend_logs()
    jax_compilation_cache()  # KERAS_BACKEND=jax: compiled programs kept between runs


@main.command()
@output_options()
def backbones(as_json):
    """Table of the registered backbones: size, pyramid, receptive fields, offline weights.

    The table goes to stdout at its full width (pipe it, grep it); --json prints
    the same facts as one JSON object.
    """
    from rich.table import Table

    from suite.common.device import import_backend_quietly
    from suite.common.nn.backbones import backbone_names, backbone_summary
    from suite.common.ui.progress import print_table

    import_backend_quietly()
    summaries = {name: backbone_summary(name) for name in backbone_names()}
    if as_json:
        echo_json({"backbones": summaries})
        return
    table = Table(title="Backbones: Pn is the feature map at stride 2^n; RF is its receptive field in pixels")
    for col, justify in (
        ("backbone", "left"),
        ("params", "right"),
        ("level", "left"),
        ("layer", "left"),
        ("stride", "right"),
        ("channels", "right"),
        ("RF", "right"),
        ("offline weights (auto)", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    for name, s in summaries.items():
        for i, (level, lv) in enumerate(s["pyramid"].items()):
            first = i == 0
            table.add_row(
                name if first else "",
                f"{s['parameters']:,}" if first else "",
                level,
                lv["layer"],
                str(lv["stride"]),
                str(lv["channels"]),
                str(lv["receptive_field"]),
                s["offline_weights"] if first else "",
                end_section=i == len(s["pyramid"]) - 1,
            )
    print_table(table)


@main.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@backbone_option(default="vgg16")
@click.option("--layer", default="block3_conv1", show_default=True, help="Layer whose activations to show.")
@weights_option()
@click.option(
    "--size", default=256, show_default=True, type=click.IntRange(16, 4096), help="Resize the long side to this."
)
@click.option("--max-maps", default=64, show_default=True, type=click.IntRange(1, 1024), help="Channels to show.")
@click.option(
    "-o",
    "--output",
    type=OutputFile(image_extensions, what="image"),
    default=Path("features.png"),
    show_default=True,
    help="The grid image (.png, .jpg, ...).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@max_pixels_option()
@output_options(json_output=False)
@compute_options
def features(image, backbone, layer, weights, size, max_maps, output, overwrite, max_pixels):
    """Grid of one layer's activation maps for IMAGE: low layers show edges, deep layers parts."""
    from suite.common.io.atomic import OutputExistsError, ensure_writable_folder
    from suite.common.io.images import load_image, save_image
    from suite.common.ui.features import feature_grid

    if output.resolve() == image.resolve():
        raise click.UsageError(f"-o {output} is the input image {image}: it would be replaced; give another output")
    if output.exists() and not overwrite:
        raise OutputExistsError(output)
    ensure_writable_folder(output.parent)
    pixels = load_image(image, max_pixels=max_pixels)
    grid = feature_grid(pixels, backbone=backbone, layer=layer, weights=weights, size=size, max_maps=max_maps)
    save_image(grid, output, overwrite=overwrite)
    click.echo(f"wrote {output}")


# Task commands live with their tasks; the group adds them (they know nothing of it).
for _command in (*style_commands, *unet_commands, *serve_commands):
    main.add_command(_command)


if __name__ == "__main__":
    main()
