"""Style transfer over files and folders: the I/O edge the ``suite stylize`` command adapts.

Outputs are written atomically with a JSON sidecar each; existing outputs are
skipped unless ``overwrite``, so re-running a command resumes it. A bad input
file gets a one-line error and the rest continue.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from suite.common.errors import first_line
from suite.common.io.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS


@dataclass
class BatchReport:
    """What :func:`stylize_paths` did.

    Attributes:
        written: Output image paths written.
        skipped: Outputs that existed (not overwritten).
        failed: ``(input path, one-line reason)`` pairs.
    """

    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)


def plan_outputs(contents, output, ext: str = ".png", recursive: bool = False, *, compare: bool = False,
                 save_every: int = 0, protect=()):
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
    from suite.common.io.images import collect_inputs, output_stems

    items, skipped = collect_inputs(contents, recursive=recursive)
    output = Path(output)
    out_real = os.path.realpath(output)
    for c in contents:
        if Path(c).is_dir() and os.path.realpath(c) == out_real:
            raise ValueError(f"-o {output} is the input folder {c}: its results would mix with (and could replace) "
                             "the photos; give another output folder")
    single_file = (
        len(contents) == 1 and Path(contents[0]).is_file() and output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir()
    )
    if single_file:
        pairs = [(items[0][0], output)]
    else:
        if output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir():
            raise ValueError(f"{output} looks like an image file, but there are {len(items)} content images; give a folder")
        # An output folder inside an input folder: its results (and compare sheets) are never
        # taken as new content on the next, recursive, run.
        items = [(p, rel) for p, rel in items
                 if not (os.path.realpath(p) + os.sep).startswith(out_real + os.sep)]
        # Inputs whose names would collide (a.jpg and a.png) get distinct outputs, never an overwrite.
        stems = _clear_of_side_files(output_stems([rel for _, rel in items]), ext, compare, save_every)
        pairs = [(path, output / stem.with_name(stem.name + ext)) for (path, _), stem in zip(items, stems)]
    _check_not_inputs(pairs, [p for p, _ in items] + [Path(p) for p in protect if not isinstance(p, str) or
                                                        not p.lower().startswith("preset:")], compare)
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
                names = {str(cand.with_name(cand.name + ext)).lower()} | {str(f).lower() for f in _side_files(cand, compare)}
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


def _plan_work(contents, output, ext, recursive, overwrite, report, say, skip=None, *, compare=False,
               save_every=0, protect=()) -> list:
    """The ``(content, output)`` pairs still to do; existing outputs go to ``report.skipped``.

    Output folders are checked to be writable first (a read-only destination
    fails now, not after the work), and a killed earlier run's partial files
    are removed.
    """
    from suite.common.io.atomic import ensure_writable_folder, remove_partial_files

    pairs, skipped_files = plan_outputs(contents, output, ext=ext, recursive=recursive, compare=compare,
                                        save_every=save_every, protect=protect)
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
    for folder in sorted({dst.parent for _, dst in pairs}):
        ensure_writable_folder(folder)
        remove_partial_files(folder, recursive=False)
    for p in skipped_files:
        say(f"skipped {p}: not an image")
    return split_existing(pairs, overwrite, report, say)


def split_existing(pairs, overwrite: bool, report, say) -> list:
    """The ``(source, output)`` pairs still to do; an existing output is skipped (re-runs resume) unless
    ``overwrite``, recorded in ``report.skipped`` and said in one line."""
    todo = []
    for src, dst in pairs:
        if dst.exists() and not overwrite:
            report.skipped.append(dst)
            say(f"skipped {src}: {dst} exists (use --overwrite to replace it)")
        else:
            todo.append((src, dst))
    return todo


def gatys_sidecar(st, result) -> dict:
    """What a Gatys result's JSON sidecar records about the run: size, options, losses, timing, scales."""
    return {
        "output_size": [int(result.image.shape[1]), int(result.image.shape[0])],
        "options": st.get_options(),
        "losses": result.losses,
        "seconds": round(result.seconds, 2),
        "evaluations": result.evaluations,
        "scale_sizes": [[w, h] for h, w in result.sizes],
    }


def sidecar_path(output: Path) -> Path:
    """``result.png`` -> ``result.png.json``: the output's full name, so that it never is a file of the
    user's (``notes.json`` next to ``-o notes.png``) nor another output's (``out.jpeg`` and ``out.webp``)."""
    output = Path(output)
    return output.with_name(output.name + ".json")


def _failure_reason(error: BaseException) -> str:
    from suite.common.io.images import ImageReadError

    if isinstance(error, ImageReadError):
        return error.reason
    return first_line(error)


def _record_failure(report, src, error: BaseException, say) -> None:
    """One failed input: its one-line reason in the report and on the console; the run goes on."""
    reason = _failure_reason(error)
    report.failed.append((src, reason))
    say(f"error {src}: {reason}")


def _save_compare(dst: Path, content, style_images, result_image, names) -> None:
    """``<name>_compare.jpg``: content | styles | result, labelled."""
    from suite.common.io.images import save_image
    from suite.common.ui.viz import labelled_row

    row = labelled_row([content, *style_images, result_image], names, height=min(384, result_image.shape[0]))
    save_image(row, dst.with_name(f"{dst.stem}_compare.jpg"), overwrite=True, quality=90)


def _mask_from(region_masks) -> dict:
    return {"mask_from": region_masks.describe()} if hasattr(region_masks, "describe") else {}


def _gatys_callback(st, bar, task, dst, save_every):
    """The per-evaluation callback of one image: the progress bar, and ``--save-every`` intermediates."""
    from suite.common.io.images import save_image

    iterations = st.options.iterations
    total_steps = sum(iterations)

    def callback(info):
        step = sum(iterations[: info["scale"]]) + info["step"]
        if bar is not None:
            h, w = info["size"]
            bar.update(task, completed=min(step, total_steps),
                       info=f"scale {info['scale'] + 1}/{info['scales']} {w}x{h}  loss {info['loss']:.4g}")
        if save_every and info["step"] % save_every == 0:
            inter = dst.with_name(f"{dst.stem}_scale{info['scale'] + 1}_{info['step']:04d}.jpg")
            save_image(info["image"], inter, overwrite=True, quality=90)

    return callback if bar is not None or save_every else None


def _stylize_one(st, src, dst, *, styles, style_images, masks, mask_images, region_masks, callback, overwrite,
                 compare, max_pixels) -> None:
    """One content file: the result, its JSON sidecar and, with ``compare``, the side-by-side."""
    import time

    from suite.common.io.images import load_image, save_image
    from suite.common.io.atomic import save_json

    content = load_image(src, max_pixels=max_pixels)
    mk = region_masks(content) if region_masks is not None else mask_images
    result = st.transfer(content, masks=mk, callback=callback)
    save_image(result.image, dst, overwrite=overwrite)
    sidecar = {
        "content": str(src),
        "styles": [str(s) for s in styles],
        "masks": [str(m) for m in masks] if masks else None,
        **_mask_from(region_masks),
        "output": str(dst),
        **gatys_sidecar(st, result),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    save_json(sidecar, sidecar_path(dst), overwrite=True)
    if compare:
        names = ["content"] + [f"style {Path(s).stem}" for s in styles] + ["result"]
        _save_compare(dst, content, style_images, result.image, names)


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
) -> BatchReport:
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
        A :class:`BatchReport`.
    """
    import sys

    from rich.progress import TextColumn

    from suite.common.io.images import load_image
    from suite.common.ui.progress import make_progress
    from suite.style.transfer import StyleTransfer

    say = on_message or (lambda m: print(m, file=sys.stderr))
    report = BatchReport()
    todo = _plan_work(contents, output, ext, recursive, overwrite, report, say, skip, compare=compare,
                      save_every=save_every, protect=list(styles) + list(masks or []))
    if not todo:
        return report

    style_images = [load_image(s, max_pixels=max_pixels) for s in styles]
    mask_images = [load_image(m, max_pixels=max_pixels).mean(axis=-1) / 255.0 for m in masks] if masks else None
    st = StyleTransfer(style_images, **options)
    bar = make_progress(TextColumn("{task.fields[info]}"), transient=False) if progress else None
    if bar is not None:
        bar.start()
        if len(todo) > 1:
            bar.add_task("images", total=len(todo), info="")  # task_ids[0]: the overall count
    try:
        for src, dst in todo:
            one = dict(styles=styles, style_images=style_images, masks=masks, mask_images=mask_images,
                       region_masks=region_masks, overwrite=overwrite, compare=compare, max_pixels=max_pixels)
            n_done = len(report.written)
            _gatys_item(st, src, dst, bar, len(todo), save_every, report, say, one)
            if on_written is not None and len(report.written) > n_done:
                on_written(dst)
    finally:
        if bar is not None:
            bar.stop()
    return report


def _gatys_item(st, src, dst, bar, n_items, save_every, report, say, one: dict) -> None:
    """One content file of :func:`stylize_paths`, its outcome recorded in ``report`` (a failure is one line)."""
    from suite.common.io.images import ImageReadError
    from suite.common.io.atomic import OutputExistsError
    from suite.style.optimize import StyleTransferError

    total_steps = sum(st.options.iterations)
    task = bar.add_task(src.name, total=total_steps, info="") if bar is not None else None
    try:
        _stylize_one(st, src, dst, callback=_gatys_callback(st, bar, task, dst, save_every), **one)
        report.written.append(dst)
    except OutputExistsError:
        # Another run on the same folder finished this one first: theirs is as good as ours.
        report.skipped.append(dst)
        say(f"skipped {dst}: another run wrote it first")
    except (ImageReadError, StyleTransferError, ValueError, OSError) as e:
        _record_failure(report, src, e, say)
    finally:
        if bar is not None:
            bar.update(task, completed=total_steps)
            if n_items > 1:
                bar.advance(bar.task_ids[0])


def _fast_engine(styles, region_masks, max_pixels, options):
    """``(engine, style images)`` for :func:`fast_stylize_paths`: presets, artworks, or artworks per region."""
    from suite.common.io.images import load_image
    from suite.style.fast import FastStyleTransfer, PresetStyleTransfer, is_preset

    presets = [is_preset(s) for s in styles]
    if all(presets):
        if region_masks is not None:
            raise ValueError("--mask-from takes artwork files, not preset:N styles")
        return PresetStyleTransfer(list(styles), **options), []
    style_images = [load_image(s, max_pixels=max_pixels) for s in styles]
    if region_masks is not None:
        options = {k: v for k, v in options.items() if k != "blend"}
        return _RegionFast(style_images, region_masks, **options), style_images
    return FastStyleTransfer(style_images, **options), style_images


def _fast_one(fst, src, dst, styles, style_images, region_masks, overwrite, compare, max_pixels) -> None:
    """One content file by the fast network: the result, its JSON sidecar and, with ``compare``, the side-by-side."""
    import time

    from suite.common.io.images import load_image, save_image
    from suite.common.io.atomic import save_json

    content = load_image(src, max_pixels=max_pixels)
    result = fst.transfer(content)
    save_image(result.image, dst, overwrite=overwrite)
    sidecar = {
        "content": str(src),
        "styles": [str(s) for s in styles],
        "output": str(dst),
        "output_size": [int(result.image.shape[1]), int(result.image.shape[0])],
        "options": fst.get_options(),
        **_mask_from(region_masks),
        "seconds": round(result.seconds, 3),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    save_json(sidecar, sidecar_path(dst), overwrite=True)
    if compare:
        if style_images:
            names = ["content"] + [f"style {Path(s).stem}" for s in styles] + ["result"]
        else:
            names = ["content", "result " + ", ".join(str(s) for s in styles)]
        _save_compare(dst, content, style_images, result.image, names)


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
) -> BatchReport:
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
        A :class:`BatchReport`.
    """
    import sys

    from suite.common.io.images import ImageReadError
    from suite.common.io.atomic import OutputExistsError
    from suite.common.ui.progress import make_progress
    from suite.style.fast import is_preset

    presets = [is_preset(s) for s in styles]
    if any(presets) and not all(presets):
        raise ValueError("preset:N styles and artwork files cannot be mixed (they drive different networks)")
    say = on_message or (lambda m: print(m, file=sys.stderr))
    report = BatchReport()
    todo = _plan_work(contents, output, ext, recursive, overwrite, report, say, skip, compare=compare,
                      protect=styles)
    if not todo:
        return report
    fst, style_images = _fast_engine(styles, region_masks, max_pixels, options)
    bar = make_progress(transient=False) if progress and len(todo) > 1 else None
    if bar is not None:
        bar.start()
    try:
        task = bar.add_task("images", total=len(todo)) if bar is not None else None
        for src, dst in todo:
            try:
                _fast_one(fst, src, dst, styles, style_images, region_masks, overwrite, compare, max_pixels)
                report.written.append(dst)
                if on_written is not None:
                    on_written(dst)
            except (ImageReadError, OutputExistsError, ValueError, OSError) as e:
                _record_failure(report, src, e, say)
            finally:
                if bar is not None:
                    bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return report


class _RegionFast:
    """The fast method with one artwork per region: each artwork alone, mixed by soft masks."""

    def __init__(self, style_images, region_masks, **options):
        from suite.style.fast import FastStyleTransfer

        first = FastStyleTransfer(style_images[0], **options)
        # One network pair serves every artwork; only the style vectors differ.
        self.engines = [first] + [FastStyleTransfer(s, predictor=first.predictor, transformer=first.transformer, **options)
                                  for s in style_images[1:]]
        self.region_masks = region_masks

    def get_options(self) -> dict:
        return {**self.engines[0].get_options(), "blend": None, "regions": len(self.engines)}

    def transfer(self, content):
        import time

        import numpy as np

        from suite.common.io.images import resize_float as resize_image

        t0 = time.perf_counter()
        results = [e.transfer(content) for e in self.engines]
        h, w = results[0].image.shape[:2]
        photo = content if content.shape[:2] == (h, w) else resize_image(content, h, w)
        masks = [m[..., None] for m in self.region_masks(photo)]
        covered = np.clip(sum(masks), 0.0, 1.0)
        image = sum(m * r.image.astype(np.float32) for m, r in zip(masks, results)) + (1.0 - covered) * photo
        out = results[0]
        out.image = np.clip(image, 0, 255).astype(results[0].image.dtype)
        out.seconds = time.perf_counter() - t0
        return out
