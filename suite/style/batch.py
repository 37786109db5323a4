"""Style transfer over files and folders in batches: the I/O edge the ``suite stylize`` command adapts.

One loop (:func:`stylize_paths` for Gatys, :func:`fast_stylize_paths` for the
feed-forward networks) runs any engine of :mod:`suite.style.engines` over the
photos. Outputs are written atomically with a JSON sidecar each
(:func:`write_sidecar`); existing outputs are skipped unless ``overwrite``, so
re-running a command resumes it. A bad input file gets a one-line error and the
rest continue. The run is a :class:`suite.common.report.RunReport`.
"""

from __future__ import annotations

import os
import re
import time
from functools import partial
from pathlib import Path

from suite.common.io.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS
from suite.common.report import RunReport, failure_reason


def plan_outputs(
    contents,
    output,
    ext: str = ".png",
    recursive: bool = False,
    *,
    compare: bool = False,
    save_every: int = 0,
    protect=(),
):
    """Pairs each content image with its output path.

    One content file and an ``output`` with an image extension: that file.
    Otherwise ``output`` is a folder with one ``<stem><ext>`` per content,
    keeping sub-folders of folder inputs. Output names are distinct from each
    other and from the side files of the other outputs (``<stem>_compare.jpg``
    with ``compare``, ``<stem>_scale<k>_<step>.jpg`` with ``save_every``): a
    photo named ``a_compare.jpg`` next to ``a.jpg`` gets ``a_compare_2``.

    Args:
        contents: Files and/or folders of content images.
        output: An image file (one content) or a folder.
        ext: Output extension when ``output`` is a folder.
        recursive: Descend into sub-folders of folder inputs.
        compare: The run also writes ``<stem>_compare.jpg`` per output.
        save_every: The run also writes intermediates (``<stem>_scale<k>_<step>.jpg``).
        protect: Other input files (styles, masks) no output may replace.

    Returns:
        ``(pairs, skipped_non_images)`` with pairs ``[(content, output)]``.

    Raises:
        ValueError: ``output`` is (or would write over) one of the inputs, or
            is the folder of a folder input.
    """
    from suite.common.io.images import (
        collect_inputs,
        output_stems,
        refuse_input_folder_as_output,
        without_earlier_outputs,
    )

    items, skipped = collect_inputs(contents, recursive=recursive)
    output = Path(output)
    refuse_input_folder_as_output(contents, output, "results", "photos")
    single_file = (
        len(contents) == 1
        and Path(contents[0]).is_file()
        and output.suffix.lower() in IMAGE_EXTENSIONS
        and not output.is_dir()
    )
    if single_file:
        pairs = [(items[0][0], output)]
    else:
        if output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir():
            raise ValueError(
                f"{output} looks like an image file, but there are {len(items)} content images; give a folder"
            )
        # An output folder inside an input folder: its results (and compare sheets) are never
        # taken as new content on the next, recursive, run. Files named on the command line, and
        # folders that are themselves inside the output folder (`-o .`), are always content.
        items = without_earlier_outputs(items, contents, output)
        # Inputs whose names would collide (a.jpg and a.png) get distinct outputs, never an overwrite.
        stems = _clear_of_side_files(output_stems([rel for _, rel in items]), ext, compare, save_every)
        pairs = [(path, output / stem.with_name(stem.name + ext)) for (path, _), stem in zip(items, stems)]
    _check_not_inputs(
        pairs,
        [p for p, _ in items]
        + [Path(p) for p in protect if not isinstance(p, str) or not p.lower().startswith("preset:")],
        compare,
    )
    return pairs, skipped


def _side_files(stem: Path, compare: bool) -> list:
    """The files written next to output ``<stem>.<ext>`` besides it (the sidecar is ``<name>.json``)."""
    return [stem.with_name(f"{stem.name}_compare.jpg")] if compare else []


def _clear_of_side_files(stems, ext: str, compare: bool, save_every: int) -> list:
    """``stems`` renamed (``_2``, ``_3``...) where an output would be another output's side file."""
    if not compare and not save_every:
        return stems
    keys = {str(s).lower() for s in stems}
    side = {str(f).lower() for s in stems for f in _side_files(s, compare)}
    taken = {str(s.with_name(s.name + ext)).lower() for s in stems} | side

    def clashes(stem, own):
        name = str(stem.with_name(stem.name + ext)).lower()
        if name in side and name not in own:
            return True
        m = re.fullmatch(r"(.*)_scale\d+_\d{4,}", str(stem).lower()) if save_every and ext == ".jpg" else None
        return bool(m and m.group(1) in keys)

    out = []
    for stem in stems:
        own = {str(f).lower() for f in _side_files(stem, compare)}
        if clashes(stem, own):
            i = 2
            while True:
                cand = stem.with_name(f"{stem.name}_{i}")
                names = {str(cand.with_name(cand.name + ext)).lower()} | {
                    str(f).lower() for f in _side_files(cand, compare)
                }
                if not names & taken and not clashes(cand, set()):
                    break
                i += 1
            stem = cand
            taken |= names
        out.append(stem)
    return out


def _check_not_inputs(pairs, inputs, compare: bool) -> None:
    """Refuses outputs (or their sidecars and side-by-sides) that are one of the input files."""
    real = {}
    for p in inputs:
        real.setdefault(os.path.realpath(p), p)
    if not real:
        return
    for _, dst in pairs:
        for f in [dst, sidecar_path(dst), *_side_files(dst.with_suffix(""), compare)]:
            hit = real.get(os.path.realpath(f))
            if hit is not None:
                raise ValueError(f"the output {f} is the input {hit}: it would be replaced; choose another -o")


def _plan_work(
    contents, output, ext, recursive, overwrite, report, say, skip=None, *, compare=False, save_every=0, protect=()
) -> list:
    """The ``(content, output)`` pairs still to do; existing outputs go to ``report.skipped``.

    Output folders are checked to be writable first (a read-only destination
    fails now, not after the work), and a killed earlier run's partial files
    are removed.
    """
    pairs, skipped_files = plan_outputs(
        contents, output, ext=ext, recursive=recursive, compare=compare, save_every=save_every, protect=protect
    )
    handled_elsewhere = False
    if skip is not None:  # files another path handles (videos: suite.style.video)
        n = len(pairs) + len(skipped_files)
        pairs = [(src, dst) for src, dst in pairs if not skip(src)]
        skipped_files = [p for p in skipped_files if not skip(p)]
        handled_elsewhere = len(pairs) + len(skipped_files) < n
    if not pairs and not handled_elsewhere:
        folders = [str(c) for c in contents if Path(c).is_dir()]
        if folders:
            raise ValueError(f"no images found in {', '.join(folders)}")
    prepare_output_folders(pairs)
    for p in skipped_files:
        report.not_images.append(str(p))  # --json's not_images and counts.not_images, as the line says
        say(f"skipped {p}: not an image")
    return split_existing(pairs, overwrite, report, say)


def prepare_output_folders(pairs) -> None:
    """Checks each output folder of ``[(source, output)]`` is writable (a read-only destination fails now, not
    after the work) and removes a killed earlier run's partial files there."""
    from suite.common.io.atomic import ensure_writable_folder, remove_partial_files

    for folder in sorted({dst.parent for _, dst in pairs}):
        ensure_writable_folder(folder)
        remove_partial_files(folder, recursive=False)


def split_existing(pairs, overwrite: bool, report, say) -> list:
    """The ``(source, output)`` pairs still to do; an existing output is skipped (re-runs resume) unless
    ``overwrite``, recorded in ``report.skipped`` and said in one line."""
    todo = []
    for src, dst in pairs:
        if dst.exists() and not overwrite:
            report.skipped.append(str(dst))
            say(f"skipped {src}: {dst} exists (use --overwrite to replace it)")
        else:
            todo.append((src, dst))
    return todo


def losses_note(feature_dtype: str) -> str:
    """What a Gatys result's ``losses`` are: the objective as optimized, with the network that ran."""
    return (
        f"the objective as optimized: the image's features from the {feature_dtype} feature network, "
        "the targets (photo features, style Grams) from the float32 one"
    )


def gatys_sidecar(st, result) -> dict:
    """What a Gatys result's JSON sidecar records about the run: size, options, the feature network's
    precision, losses (:func:`losses_note`), timing, scales."""
    return {
        "output_size": [int(result.image.shape[1]), int(result.image.shape[0])],
        "options": st.get_options(),
        "feature_dtype": result.feature_dtype,
        "losses": result.losses,
        "losses_note": losses_note(result.feature_dtype),
        "seconds": round(result.seconds, 2),
        "evaluations": result.evaluations,
        "scale_sizes": [[w, h] for h, w in result.sizes],
    }


def sidecar_path(output: Path) -> Path:
    """``result.png`` -> ``result.png.json``: the output's full name, so that it never is a file of the
    user's (``notes.json`` next to ``-o notes.png``) nor another output's (``out.jpeg`` and ``out.webp``)."""
    output = Path(output)
    return output.with_name(output.name + ".json")


def write_sidecar(src, dst, styles, record: dict, inputs: dict | None = None) -> Path:
    """``<output>.json``: what made the output ``dst`` (a photo or a video).

    Args:
        src: The content file.
        dst: The output file.
        styles: The style files (or ``preset:N`` names).
        inputs: What else went in (masks...), recorded before ``output``.
        record: What the engine says about the result (size, options, losses, timing...).

    Returns:
        The sidecar's path (:func:`sidecar_path`).
    """
    from suite.common.io.atomic import save_json

    sidecar = {
        "content": str(src),
        "styles": [str(s) for s in styles],
        **(inputs or {}),
        "output": str(dst),
        **record,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return save_json(sidecar, sidecar_path(dst), overwrite=True)


def record_outcome(report: RunReport, src, dst, work, say, errors=(ValueError, OSError)) -> bool:
    """Runs ``work()`` for one input and records what came of it in ``report``: ``dst`` done; skipped when
    another run wrote it first (theirs is as good as ours); or, for ``errors``, a one-line failure (said too)
    and the run goes on. Returns whether ``dst`` was done."""
    from suite.common.io.atomic import OutputExistsError

    try:
        work()
    except OutputExistsError:
        report.skipped.append(str(dst))
        say(f"skipped {dst}: another run wrote it first")
        return False
    except errors as e:
        reason = report.add_failure(src, failure_reason(e, typed=False))
        say(f"error {src}: {reason}")
        return False
    report.done.append(str(dst))
    return True


def _save_compare(dst: Path, content, style_images, result_image, names) -> None:
    """``<name>_compare.jpg``: content | styles | result, labelled."""
    from suite.common.io.images import save_image
    from suite.common.ui.viz import labelled_row

    row = labelled_row([content, *style_images, result_image], names, height=min(384, result_image.shape[0]))
    save_image(row, dst.with_name(f"{dst.stem}_compare.jpg"), overwrite=True, quality=90)


def _mask_from(region_masks) -> dict:
    return {"mask_from": region_masks.describe()} if hasattr(region_masks, "describe") else {}


class _GatysPhotos:
    """The Gatys engine of a batch: its progress in evaluations, ``--save-every`` intermediates, the masks."""

    def __init__(self, st, masks, mask_images, region_masks, save_every):
        self.st = st
        self.steps = sum(st.options.iterations)
        self.masks, self.mask_images, self.region_masks = masks, mask_images, region_masks
        self.save_every = save_every

    def _callback(self, dst, on_progress):
        """The per-evaluation callback of one image: the progress bar, and ``--save-every`` intermediates."""
        from suite.common.io.images import save_image

        iterations, save_every = self.st.options.iterations, self.save_every
        if on_progress is None and not save_every:
            return None

        def callback(info):
            step = sum(iterations[: info["scale"]]) + info["step"]
            if on_progress is not None:
                h, w = info["size"]
                on_progress(
                    min(step, self.steps),
                    f"scale {info['scale'] + 1}/{info['scales']} {w}x{h}  loss {info['loss']:.4g}",
                )
            if save_every and info["step"] % save_every == 0:
                inter = dst.with_name(f"{dst.stem}_scale{info['scale'] + 1}_{info['step']:04d}.jpg")
                save_image(info["image"], inter, overwrite=True, quality=90)

        return callback

    def stylize(self, content, dst, on_progress):
        """``(image, inputs, record)`` of one photo: the result and what its sidecar says."""
        mk = self.region_masks(content) if self.region_masks is not None else self.mask_images
        result = self.st.transfer(content, masks=mk, callback=self._callback(dst, on_progress))
        inputs = {"masks": [str(m) for m in self.masks] if self.masks else None, **_mask_from(self.region_masks)}
        return result.image, inputs, gatys_sidecar(self.st, result)


class _FastPhotos:
    """A feed-forward engine of a batch (artworks, presets or regions): one forward pass per photo."""

    steps = None  # no per-photo progress

    def __init__(self, engine, region_masks):
        self.engine = engine
        self.region_masks = region_masks

    def stylize(self, content, dst, on_progress):
        result = self.engine.transfer(content)
        record = {
            "output_size": [int(result.image.shape[1]), int(result.image.shape[0])],
            "options": self.engine.get_options(),
            **_mask_from(self.region_masks),
            "seconds": round(result.seconds, 3),
        }
        return result.image, {}, record


#: zlib level of the PNG results: lossless as every level, and at 1024 px about 0.07 s instead of 0.10 s per
#: photo (Pillow's default 6) for about 6% more bytes (docs/fast_style.md).
PNG_COMPRESS_LEVEL = 1


def _run_photos(
    photos, todo, report, say, *, styles, style_images, overwrite, compare, max_pixels, progress, on_written
) -> RunReport:
    """The one batch loop: each ``(content, output)`` of ``todo`` through ``photos`` (a Gatys or feed-forward
    engine), its output, sidecar and, with ``compare``, the side-by-side written; the outcome in ``report``.

    The next photo is decoded, and the previous result encoded and written, on threads while the engine
    runs (Pillow's decoders and zlib release the GIL): at 1024 px a PNG takes about as long as the fast
    network. One writer thread records every outcome (failures too) in ``todo``'s order, calling
    ``on_written`` as each output is finished; an interrupted run finishes and records what it handed to
    the writer (no partial file) before it stops.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from suite.common.io.images import ImageReadError, load_image, save_image
    from suite.common.ui.progress import make_progress
    from suite.style.optimize import StyleTransferError

    errors = (ImageReadError, StyleTransferError, ValueError, OSError)
    if style_images:
        names = ["content"] + [f"style {Path(s).stem}" for s in styles] + ["result"]
    else:
        names = ["content", "result " + ", ".join(str(s) for s in styles)]
    bar = None
    if progress and (photos.steps is not None or len(todo) > 1):
        if photos.steps is not None:
            from rich.progress import TextColumn

            bar = make_progress(TextColumn("{task.fields[info]}"), transient=False)
        else:
            bar = make_progress(transient=False)
        bar.start()
    overall = bar.add_task("images", total=len(todo), info="") if bar is not None and len(todo) > 1 else None

    def write(src, dst, content, image, inputs, record):
        save_image(image, dst, overwrite=overwrite, compress_level=PNG_COMPRESS_LEVEL)
        write_sidecar(src, dst, styles, record, inputs)
        if compare:
            _save_compare(dst, content, style_images, image, names)

    def fail(error):
        raise error

    def finish(src, dst, work):  # on the writer thread, one photo after the other
        try:
            done = record_outcome(report, src, dst, work, say, errors=errors)
        finally:
            if overall is not None:
                bar.advance(overall)
        if done and on_written is not None:
            on_written(dst)

    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="stylize-read") as reader,
            ThreadPoolExecutor(1, thread_name_prefix="stylize-write") as writer,
        ):
            reads = deque(reader.submit(load_image, src, max_pixels=max_pixels) for src, _ in todo[:1])
            finishing = deque()
            for k, (src, dst) in enumerate(todo):
                if k + 1 < len(todo):
                    reads.append(reader.submit(load_image, todo[k + 1][0], max_pixels=max_pixels))
                read = reads.popleft()
                task = (
                    bar.add_task(src.name, total=photos.steps, info="")
                    if bar is not None and photos.steps is not None
                    else None
                )

                def on_progress(completed, info, task=task):
                    bar.update(task, completed=completed, info=info)

                try:
                    content = read.result()
                    image, inputs, record = photos.stylize(content, dst, on_progress if task is not None else None)
                    work = partial(write, src, dst, content, image, inputs, record)
                except errors as e:  # this photo's failure, recorded in its turn
                    work = partial(fail, e)
                finally:
                    if task is not None:
                        bar.update(task, completed=photos.steps)
                finishing.append(writer.submit(finish, src, dst, work))
                # At most two results wait for the writer; an unexpected error there stops the run here.
                while finishing and (finishing[0].done() or len(finishing) > 2):
                    finishing.popleft().result()
            for future in finishing:
                future.result()
    finally:
        if bar is not None:
            bar.stop()
    return report


def stylize_paths(
    contents,
    styles,
    output,
    masks=None,
    overwrite: bool = False,
    compare: bool = False,
    save_every: int = 0,
    ext: str = ".png",
    recursive: bool = False,
    progress: bool = True,
    on_message=None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    region_masks=None,
    skip=None,
    on_written=None,
    **options,
) -> RunReport:
    """Stylizes image files and folders with one set of styles (Gram targets computed once).

    Args:
        contents: Files and/or folders of content images.
        styles: Style image files.
        output: An image file (one content) or a folder.
        masks: ``None`` or one mask image file per style (white = apply the style).
        overwrite: Replace existing outputs (default: skip them, so re-runs resume).
        compare: Also write ``<name>_compare.jpg``: content | style(s) | result.
        save_every: Write an intermediate every N evaluations (``<name>_scale<k>_<step>.jpg``).
        ext: Output extension when ``output`` is a folder.
        recursive: Descend into sub-folders of folder inputs.
        progress: Show a rich progress bar on stderr.
        on_message: ``f(str)`` for one-line messages (default: print to stderr).
        max_pixels: Refuse image files with more pixels than this
            (decompression bombs); ``None`` disables the check.
        region_masks: Instead of ``masks``: a callable giving one mask per
            style for each content image, e.g. a
            :class:`suite.style.regions.RegionMasks` (styles per segmented class).
        skip: ``f(path) -> bool``: content files left to another path (the
            CLI gives videos to :mod:`suite.style.video`).
        on_written: ``f(path)`` called as each output is finished (the CLI
            prints its ``wrote`` line then, so a killed run has said what it kept).
        **options: :class:`suite.style.transfer.StyleTransfer` arguments: ``blend``,
            ``options`` (a :class:`suite.style.options.StyleOptions`) or options by name.

    Returns:
        A :class:`suite.common.report.RunReport`: ``done`` and ``skipped`` output paths, ``failed`` inputs.
    """
    import sys

    from suite.common.io.images import load_image
    from suite.style.engines import gatys_engine

    say = on_message or (lambda m: print(m, file=sys.stderr))
    report = RunReport(output=str(output))
    todo = _plan_work(
        contents,
        output,
        ext,
        recursive,
        overwrite,
        report,
        say,
        skip,
        compare=compare,
        save_every=save_every,
        protect=list(styles) + list(masks or []),
    )
    if not todo:
        return report

    style_images = [load_image(s, max_pixels=max_pixels) for s in styles]
    mask_images = [load_image(m, max_pixels=max_pixels).mean(axis=-1) / 255.0 for m in masks] if masks else None
    engine = gatys_engine(style_images, **options)
    # --json says which precision the optimization ran in (as each sidecar does).
    report.info["feature_dtype"] = engine.feature_precision
    photos = _GatysPhotos(engine, masks, mask_images, region_masks, save_every)
    return _run_photos(
        photos,
        todo,
        report,
        say,
        styles=styles,
        style_images=style_images,
        overwrite=overwrite,
        compare=compare,
        max_pixels=max_pixels,
        progress=progress,
        on_written=on_written,
    )


def fast_stylize_paths(
    contents,
    styles,
    output,
    overwrite: bool = False,
    compare: bool = False,
    ext: str = ".png",
    recursive: bool = False,
    progress: bool = True,
    on_message=None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    region_masks=None,
    skip=None,
    on_written=None,
    **options,
) -> RunReport:
    """Stylizes image files and folders in one forward pass each (:class:`suite.style.fast.FastStyleTransfer`).

    The artworks' style vectors are computed once; each photo is stylized at
    its own resolution (or ``size``). Outputs, sidecars, skipping and one-line
    errors work as in :func:`stylize_paths`.

    Args:
        contents: Files and/or folders of content images.
        styles: Artwork image files (their style vectors are blended), or
            ``"preset:N"`` names of the 26 built-in styles (not both).
        output: An image file (one content) or a folder.
        overwrite, compare, ext, recursive, progress, on_message, max_pixels: As :func:`stylize_paths`.
        region_masks: As in :func:`stylize_paths`: one soft mask per style for each
            photo (e.g. :class:`suite.style.regions.RegionMasks`). Each artwork is
            then applied alone and the results are mixed by the masks, which sum
            to 1 where every class has a style (elsewhere the photo shows).
        skip, on_written: As in :func:`stylize_paths`.
        **options: :class:`suite.style.fast.FastStyleTransfer` arguments
            (``blend``, ``strength``, ``preserve_colors``, ``size``).

    Returns:
        A :class:`suite.common.report.RunReport`, as :func:`stylize_paths`.
    """
    import sys

    from suite.common.io.images import load_image
    from suite.style.engines import fast_engine
    from suite.style.presets import is_preset

    presets = [is_preset(s) for s in styles]
    if any(presets) and not all(presets):
        raise ValueError("preset:N styles and artwork files cannot be mixed (they drive different networks)")
    say = on_message or (lambda m: print(m, file=sys.stderr))
    report = RunReport(output=str(output))
    todo = _plan_work(contents, output, ext, recursive, overwrite, report, say, skip, compare=compare, protect=styles)
    if not todo:
        return report
    if all(presets):
        style_images = []
        engine = fast_engine(list(styles), region_masks=region_masks, **options)
    else:
        style_images = [load_image(s, max_pixels=max_pixels) for s in styles]
        engine = fast_engine(style_images, region_masks=region_masks, **options)
    return _run_photos(
        _FastPhotos(engine, region_masks),
        todo,
        report,
        say,
        styles=styles,
        style_images=style_images,
        overwrite=overwrite,
        compare=compare,
        max_pixels=max_pixels,
        progress=progress,
        on_written=on_written,
    )
