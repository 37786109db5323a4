"""``suite stylize``: a thin adapter over :func:`suite.style.batch.stylize_paths`."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from suite.common.options import as_dict, click_options, finite_float
from suite.common.ui.cli import compute_options, echo_json, json_on_failure, max_pixels_option, output_options, say
from suite.style.options import StyleOptions  # Keras-free: `suite --help` stays fast


def _floats(ctx, param, value):
    if value is None or value == "":
        return None
    try:
        values = [float(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise click.BadParameter(f"expected finite numbers >= 0, got {value!r}")
    return values


class StyleArg(click.ParamType):
    """An artwork file, or ``preset:N`` (one of the 26 built-in styles of ``--method fast``)."""

    name = "FILE|preset:N"

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.lower().startswith("preset:"):
            from suite.style.presets import parse_preset  # Keras-free

            try:
                return f"preset:{parse_preset(value)}"
            except ValueError as e:
                self.fail(str(e), param, ctx)
        return click.Path(exists=True, dir_okay=False, path_type=Path).convert(value, param, ctx)


@click.command()
@click.argument("content", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-s",
    "--style",
    "styles",
    multiple=True,
    type=StyleArg(),
    help="Artwork image; repeat to blend several styles (or, with --mask-from, one per class). "
    "preset:0..preset:25 = built-in styles (--method fast).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output image file (one content) or folder (one result per content).",
)
@click.option(
    "--blend",
    callback=_floats,
    default=None,
    metavar="W1,W2,...",
    help="Blend weights, one per --style (normalised to sum 1). [default: equal]",
)
@click.option(
    "--mask",
    "masks",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Region mask image per --style (white = this style). Give one per style or none.",
)
@click.option(
    "--mask-from",
    default=None,
    metavar="MODEL|PRESET",
    help="Segment each photo with this model (.keras or a preset: person) and give each style its "
    "class's region, with feathered edges. Without --class-style, --style k goes to class k.",
)
@click.option(
    "--class-style",
    default=None,
    metavar="CLASS=FILE,...",
    help="With --mask-from: which artwork paints which class, e.g. background=b.jpg,person=a.jpg.",
)
@click.option(
    "--feather",
    default=0.01,
    show_default=True,
    type=finite_float(0, 0.25),
    help="With --mask-from: blur of the region edges (Gaussian sigma, fraction of the long side).",
)
@click_options(StyleOptions)
@click.option(
    "--save-every",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Write an intermediate image every N evaluations (0 = off).",
)
@click.option("--compare", is_flag=True, help="Also write <name>_compare.jpg: content | style | result.")
@click.option(
    "--ext",
    type=click.Choice(["png", "jpg"]),
    default="png",
    show_default=True,
    help="Output format when -o is a folder.",
)
@click.option("--recursive", is_flag=True, help="Descend into sub-folders of CONTENT folders.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (default: skip them, so re-runs resume).")
@max_pixels_option()
@output_options()
@compute_options
@click.pass_context
def stylize(
    ctx,
    content,
    styles,
    output,
    blend,
    masks,
    mask_from,
    class_style,
    feather,
    save_every,
    compare,
    ext,
    recursive,
    overwrite,
    max_pixels,
    as_json,
    **hyperparameters,
):
    """Paint CONTENT photos (files or folders) in the style of one or more artworks (Gatys et al., or one
    forward pass of Magenta's arbitrary-style network with --method fast).

    \b
    Examples:
      suite stylize photo.jpg --style art.jpg -o out.png
      suite stylize photos/ --style a.jpg --style b.jpg --blend 0.7,0.3 -o results/
      suite stylize photo.jpg --style art.jpg --preserve-colors --size 1024 -o big.png
      suite stylize photo.jpg --mask-from person --class-style background=b.jpg,person=a.jpg -o out.png
      suite stylize photos/ --style art.jpg --method fast --strength 0.8 -o results/
    """
    import time

    from suite.common.log import progress_enabled

    started = time.monotonic()
    _check_output(output, content, recursive)
    opts = StyleOptions(**hyperparameters)
    styles, regions = _styles_and_regions(styles, masks, mask_from, class_style, feather)
    _check_not_an_input(output, content, styles, masks)
    _check_usage(opts, styles, blend, masks)
    common = dict(
        overwrite=overwrite,
        compare=compare,
        ext="." + ext,
        recursive=recursive,
        progress=progress_enabled(),
        on_message=lambda m: click.echo(m, err=True),
        max_pixels=max_pixels,
        region_masks=regions,
    )
    size_given = ctx.get_parameter_source("size") != click.core.ParameterSource.DEFAULT
    content, video_report = _stylize_videos(
        list(content),
        styles,
        output,
        opts,
        blend,
        size_given,
        common,
        bool(masks or regions),
        mixed_precision=ctx.params.get("mixed_precision"),
    )
    if video_report is not None and not content:
        return _finish(video_report, as_json, opts=opts, started=started, size_given=size_given)
    if video_report is not None:
        common["skip"] = _is_video
    said = set()  # outputs whose `wrote` line is out (as each finishes: a killed run has said what it kept)
    written = []  # with --json: what a failed or interrupted run had written
    json_on_failure(written=written)
    photo_common = dict(common, on_written=written.append if as_json else lambda p: (_say_wrote(p), said.add(str(p))))
    if opts.method == "fast":
        from suite.style.batch import fast_stylize_paths

        # The network is fully convolutional: by default it runs at the photo's own size (size_given above).
        report = fast_stylize_paths(
            list(content),
            list(styles),
            output,
            blend=blend,
            strength=opts.strength,
            preserve_colors=opts.preserve_colors,
            size=opts.size if size_given else None,
            # --mixed-precision as given (None when not): the fast network's auto default is bfloat16 on a CPU
            # with bfloat16 instructions.
            mixed_precision=ctx.params.get("mixed_precision"),
            **photo_common,
        )
    else:
        from suite.style.batch import stylize_paths

        report = stylize_paths(
            list(content),
            list(styles),
            output,
            masks=list(masks) or None,
            save_every=save_every,
            blend=blend,
            options=opts,
            # As the fast network: None (auto) is bfloat16 convolutions in the feature network on a CPU with
            # bfloat16 instructions (suite.style.extractor.feature_dtype); --no-mixed-precision keeps float32.
            mixed_precision=ctx.params.get("mixed_precision"),
            **photo_common,
        )
    if video_report is not None:
        for name in ("done", "skipped", "failed"):
            getattr(report, name)[:0] = getattr(video_report, name)
        report.info.update(video_report.info)
    _finish(report, as_json, said, opts=opts, started=started, size_given=size_given)


def _say_wrote(path):
    say(f"wrote {path}")
    sys.stdout.flush()  # block-buffered when not a terminal: each line is out before a SIGTERM


def _check_output(output, content=(), recursive: bool = False):
    """``-o`` names an image (or, for a video input, a video) file the suite writes, or a folder (an existing one,
    or a name without a file's extension). A video's extension is a file's: photos alone with ``-o x.mp4`` are
    refused, not written into a new folder named ``x.mp4``."""
    from suite.common.io.video import OUTPUT_CODECS, VIDEO_EXTENSIONS
    from suite.common.ui.outputs import FILE_EXTENSIONS, image_extensions

    suffix = output.suffix.lower()
    if (
        output.is_dir()
        or not suffix
        or (suffix not in FILE_EXTENSIONS and suffix not in VIDEO_EXTENSIONS and not output.exists())
        or suffix in image_extensions()
    ):
        return
    named = [c for c in content if not Path(c).is_dir() and _is_named_video(c)]
    if named or (suffix in OUTPUT_CODECS and _folders_hold_videos(content, recursive)):
        if suffix in OUTPUT_CODECS:
            return
        raise click.BadParameter(
            f"{str(output)!r} has the extension {suffix!r}; stylize writes videos as "
            f"{', '.join(sorted(OUTPUT_CODECS))}, images as {', '.join(image_extensions())}, "
            "or into a folder",
            param_hint="'-o/--output'",
        )
    raise click.BadParameter(
        f"{str(output)!r} has the extension {suffix!r}; stylize writes images as "
        f"{', '.join(image_extensions())}, or into a folder",
        param_hint="'-o/--output'",
    )


def _folders_hold_videos(content, recursive: bool) -> bool:
    from suite.style.video import find_videos

    return bool(find_videos([c for c in content if Path(c).is_dir()], recursive=recursive))


def _check_not_an_input(output, content, styles, masks):
    """``-o`` must not be (resolve to) one of the inputs: the photo, an artwork or a mask would be replaced."""
    import os

    out_real = os.path.realpath(output)
    for kind, paths in (("photo", content), ("--style", styles), ("--mask", masks)):
        for p in paths:
            if isinstance(p, str) and p.lower().startswith("preset:"):
                continue
            if os.path.realpath(p) == out_real:
                if Path(p).is_dir():
                    what = "input folder"
                elif kind == "photo" and _is_named_video(p):
                    what = "video input"
                else:
                    what = f"{kind} input"
                raise click.UsageError(f"-o {output} is the {what} {p}: it would be replaced; give another output")


def _is_video(path) -> bool:
    from suite.common.io.video import is_video_file

    return is_video_file(path)


def _is_named_video(path) -> bool:
    """A CONTENT file the video path takes: a video, or an audio-only file (told "no video stream" there)."""
    from suite.common.io.video import is_audio_file

    return _is_video(path) or is_audio_file(path)


def _stylize_videos(content, styles, output, opts, blend, size_given, common, has_masks, mixed_precision=None):
    """Videos among CONTENT (files, or inside folders): stylized here. Returns ``(contents left for the photo
    path, report or None)``: video files leave the list, folders stay for their photos. ``mixed_precision``
    is the option as given (``None`` when not), as the photos' fast path takes it."""
    from suite.style.video import find_videos

    videos = find_videos(content, recursive=common["recursive"])
    if not videos:
        return content, None
    if has_masks:
        raise click.UsageError("--mask and --mask-from work with photos, not videos")
    compare_note = None
    if common["compare"]:
        # A side-by-side image of a clip would show one frame of it: --compare stays a photos' option, and says so.
        compare_note = f"--compare applies to photos only; no side-by-side for {_count(len(videos), 'video')}"
        common["on_message"](f"note: {compare_note}")
    from suite.common.io.video import VideoSupportMissing
    from suite.style.video import stylize_video_paths

    try:
        report = stylize_video_paths(
            videos,
            list(styles),
            output,
            n_contents=len(content),
            method=opts.method,
            options=opts,
            blend=blend,
            size=opts.size if size_given else None,
            overwrite=common["overwrite"],
            progress=common["progress"],
            on_message=common["on_message"],
            max_pixels=common["max_pixels"],
            mixed_precision=mixed_precision,
        )
    except VideoSupportMissing as e:
        raise click.ClickException(str(e)) from None
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if compare_note is not None:
        report.info.setdefault("notes", []).insert(0, compare_note)
    rest = [c for c in content if Path(c).is_dir() or not _is_named_video(c)]
    return rest, report


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _styles_and_regions(styles, masks, mask_from, class_style, feather):
    """``(styles, region masks or None)``: with ``--mask-from``, the artworks per segmented class."""
    if class_style is not None and mask_from is None:
        raise click.UsageError("--class-style needs --mask-from")
    if mask_from is None:
        return styles, None
    if masks:
        raise click.UsageError("give either --mask (hand-drawn) or --mask-from (segmented), not both")
    from suite.style.regions import parse_class_styles, region_masks

    try:
        pairs = parse_class_styles(class_style) if class_style is not None else None
        for _, f in pairs or ():
            if not Path(f).is_file():
                raise click.BadParameter(f"{f}: no such file", param_hint="--class-style")
        return region_masks(mask_from, styles, pairs, feather=feather)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


def _check_usage(opts, styles, blend, masks):
    """What Click's types cannot check alone: counts that must agree, options that need another."""
    if not styles:
        raise click.UsageError("give at least one --style (or --mask-from with --class-style)")
    if blend is not None and len(blend) != len(styles):
        raise click.UsageError(f"--blend has {len(blend)} weights for {len(styles)} --style images")
    if blend is not None and (any(b < 0 for b in blend) or sum(blend) <= 0):
        raise click.UsageError("--blend weights must be >= 0 with a positive sum")
    if masks and len(masks) != len(styles):
        raise click.UsageError(f"--mask given {len(masks)} times for {len(styles)} --style images; give one per style")
    scales, iterations = list(opts.scales), opts.iterations
    iterations = [iterations] if isinstance(iterations, int) else list(iterations)
    if not scales or any(not 0 < s <= 1 for s in scales) or scales != sorted(scales):
        raise click.UsageError(f"--scales must increase within (0, 1], got {scales}")
    if len(iterations) not in (1, len(scales)):
        raise click.UsageError(f"--iterations needs 1 or {len(scales)} numbers (one per scale), got {len(iterations)}")
    if sum(iterations) == 0:
        raise click.UsageError("--iterations are all 0")
    for flag, layers in (("--content-layers", opts.content_layers), ("--style-layers", opts.style_layers)):
        if not tuple(layers or ()):
            raise click.UsageError(f"{flag} is empty; give at least one layer name")
    presets = [isinstance(s, str) for s in styles]
    if any(presets) and opts.method != "fast":
        raise click.UsageError("preset:N styles need --method fast")
    if any(presets) and not all(presets):
        raise click.UsageError("preset:N styles and artwork files cannot be mixed (they drive different networks)")
    if opts.method == "fast" and masks:
        raise click.UsageError("--mask works with --method gatys only")
    if opts.method != "fast" and opts.strength != 1.0:
        raise click.UsageError("--strength works with --method fast only")


#: What the fast method reads of StyleOptions (the rest is Gatys'): the --json summary's options for it.
FAST_OPTIONS = ("method", "size", "strength", "preserve_colors", "temporal", "start", "duration", "frame_batch")


def _finish(report, as_json, said=(), *, opts=None, started=None, size_given=True):
    """Written paths (or one JSON object) on stdout, the counts on stderr; exit status 1 if any failed.

    The JSON is the run's :class:`~suite.common.report.RunReport` (as ``segment --json`` prints its own), with
    ``written`` (the outputs written, the same list as ``done``) kept for scripts that read it. Its options are
    those that applied: for the fast method not the Gatys settings, and ``size`` null when each input kept
    its own. A run with videos adds ``frames`` (written) and ``frames_per_second``.
    """
    import time

    if started is not None:
        report.seconds = time.monotonic() - started
    if opts is not None:
        report.options = as_dict(opts)
        if opts.method == "fast":
            report.options = {k: report.options[k] for k in FAST_OPTIONS}
            if not size_given:
                report.options["size"] = None
    if "frames" in report.info:
        seconds = report.seconds
        report.info["frames_per_second"] = round(report.info["frames"] / seconds, 3) if seconds > 0 else 0.0
    if as_json:
        echo_json({"ok": not report.failed, **report.to_dict(), "written": report.done})
    else:
        for p in report.done:
            if p not in said:
                _say_wrote(p)
    click.echo(
        f"{len(report.done)} written, {len(report.skipped)} skipped (exist), {len(report.failed)} failed", err=True
    )
    if report.failed:
        sys.exit(1)


#: The commands ``suite/cli.py`` adds to the ``suite`` group.
COMMANDS = (stylize,)
