"""The heavy work behind the pages: style transfer and segmentation over the library's public functions.

Each ``*_job`` function validates the page's request at once (a bad option is a
400 with a message, not a failed job) and returns the function the job queue
runs later, one job at a time. Choices come from the library's own lists, so a
method, optimizer or model added there shows up on the page without edits here.
"""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from dataclasses import dataclass

import numpy as np

from suite.common.errors import first_line
from suite.common.io.images import to_uint8


class BadRequest(ValueError):
    """A request the page should not have sent; ``str(err)`` is the one-line message."""


# ---------------------------------------------------------------- choices from the library
def style_choices(max_size: int | None = None) -> dict:
    """What the style page offers, read from the library.

    ``methods`` is :data:`suite.style.options.METHODS` (``gatys``, ``fast``):
    a method appears on the page by being added there. Optimizers, starting
    images and defaults come from :mod:`suite.style.transfer`; the default size
    is the library's, capped at the server's ``max_size``.
    """
    from suite.style import options as O
    from suite.style import transfer as T

    return {
        "methods": list(O.METHODS),
        "optimizers": list(T.OPTIMIZERS),
        "inits": list(T.INITS),
        "defaults": {
            "method": T.DEFAULTS["method"],
            "strength": T.DEFAULTS["strength"],
            "size": min(T.DEFAULTS["size"], max_size or T.DEFAULTS["size"]),
            "scales": ",".join(f"{s:g}" for s in T.DEFAULTS["scales"]),
            "iterations": ",".join(str(i) for i in T.DEFAULTS["iterations"]),
            "optimizer": T.DEFAULTS["optimizer"],
            "content_weight": T.DEFAULTS["content_weight"],
            "style_weight": T.DEFAULTS["style_weight"],
            "tv_weight": T.DEFAULTS["tv_weight"],
            "init": T.INITS[0],
        },
        "min_side": T.MIN_SIDE,
    }


def model_choices(files) -> list[dict]:
    """Segmentation models: the library's presets, then ``.keras`` files in the bundled and served folders.

    Presets are listed when :mod:`suite.unet.presets` exists with ``preset_names()``
    and ``load_preset(name)``; until then the page offers files only.
    """
    models = []
    try:
        from suite.unet import presets  # a later addition to the library; the page lists whatever it registers
    except ImportError:
        presets = None
    if (
        presets is not None
        and callable(getattr(presets, "preset_names", None))
        and callable(getattr(presets, "load_preset", None))
    ):
        for name in presets.preset_names():
            models.append({"id": f"preset/{name}", "name": name, "source": "preset"})
    return models + files.catalog()["models"]


# ---------------------------------------------------------------- parsing helpers
def _number(params, key, default, lo, hi, kind=float):
    raw = params.get(key, default)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{key} must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise BadRequest(f"{key} must be between {lo:g} and {hi:g}, got {raw!r}")
    return value


def _value(params, key, default, kind=float):
    """A number of the request as ``kind``; its range is checked by :class:`suite.style.options.StyleOptions`."""
    raw = params.get(key, default)
    if isinstance(raw, bool):
        raise BadRequest(f"{key} must be a number, got {raw!r}")
    if kind is int and isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()):
        raise BadRequest(f"{key} must be a whole number, got {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"{key} must be a number, got {raw!r}") from None


def _flag(params, key, default: bool = False) -> bool:
    """A yes/no option of the request: JSON ``true`` or ``false`` only (the string ``"false"`` is not false)."""
    raw = params.get(key, default)
    if not isinstance(raw, bool):
        raise BadRequest(f"{key} must be true or false, got {raw!r}")
    return raw


def _number_list(params, key, default, kind=float):
    raw = params.get(key, default)
    items = raw if isinstance(raw, list) else str(raw).split(",")
    try:
        return [kind(v) for v in items if str(v).strip()]
    except (TypeError, ValueError):
        raise BadRequest(f"{key} must be comma-separated numbers, got {raw!r}") from None


def _png(image) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(to_uint8(image))).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(image, quality=88) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(to_uint8(image))).convert("RGB").save(
        buf, format="JPEG", quality=quality
    )
    return buf.getvalue()


# ---------------------------------------------------------------- style
_EXTRACTORS: dict = {}


@dataclass(frozen=True)
class _StyleRequest:
    """A checked style request: what :func:`style_job`'s ``run`` needs."""

    photo: str
    artworks: list
    method: str
    blend: list
    options: dict  # StyleOptions fields: size, scales, iterations, optimizer, init, weights, colours, strength
    preview_every: int
    names: dict  # the photo's and artworks' display names, for the sidecar
    size_given: bool = True  # False: the fast method runs at the photo's own size (capped at max_size), as the CLI
    max_size: int | None = None
    clip: bool = False  # the photo is a clip: the fast method frame by frame (suite.style.video)


def style_job(params: dict, files, queue, max_size: int):
    """Checks a style request and returns ``run(job)`` for the queue.

    Args:
        params: The page's JSON: ``photo`` and ``artworks`` (ids), ``blend``,
            ``method``, ``size``, ``scales``, ``iterations``, ``optimizer``,
            ``content_weight``, ``style_weight``, ``tv_weight``, ``init``,
            ``preserve_colors``, ``strength`` (fast), ``preview_every``. ``photo``
            may name a clip: then the fast method runs on every frame and the
            result is ``result.mp4``.
        files: The server's :class:`suite.serve.served.ServedFiles`.
        queue: The :class:`suite.serve.jobs.JobQueue` (for progress and cancel).
        max_size: Largest output long side the server allows.

    Raises:
        BadRequest: an option the library refuses (its own one-line message),
            one over the server's limits, a file id that names nothing, or
            ``gatys`` on a clip.
        UploadRejected: a clip over the server's limits, damaged, or no PyAV.
    """
    req = _style_request(params, files, max_size)

    def run(job):
        if req.clip:
            return _run_clip(job, queue, req, files, [files.load(a) for a in req.artworks])
        content = files.load(req.photo)
        styles = [files.load(a) for a in req.artworks]
        queue.check_cancel(job)
        if req.method == "fast":
            return _run_fast(job, queue, req, content, styles)
        return _run_gatys(job, queue, req, content, styles)

    return run


#: The server's cap on evaluations per scale: a page request cannot hold the queue for hours.
MAX_PAGE_ITERATIONS = 5000


def _style_request(params: dict, files, max_size: int) -> _StyleRequest:
    """Checks the page's JSON: the files and the server's limits here, every option by :class:`StyleOptions`."""
    from suite.common.options import replace
    from suite.style.options import StyleOptions, check_style_options
    from suite.style.presets import normalised_blend

    choices = style_choices(max_size)
    d = choices["defaults"]
    photo, artworks = _style_files(params, files)
    blend = _number_list(params, "blend", [1.0] * len(artworks))
    try:
        normalised_blend(blend, len(artworks))
    except ValueError:
        raise BadRequest("blend needs one weight >= 0 per artwork, with a positive sum") from None
    iterations = _number_list(params, "iterations", d["iterations"], int)
    options = dict(
        method=params.get("method", d["method"]),
        size=_value(params, "size", d["size"], int),
        scales=tuple(_number_list(params, "scales", d["scales"])),
        iterations=iterations[0] if len(iterations) == 1 else tuple(iterations),
        optimizer=params.get("optimizer", d["optimizer"]),
        init=params.get("init", d["init"]),
        content_weight=_value(params, "content_weight", d["content_weight"]),
        style_weight=_value(params, "style_weight", d["style_weight"]),
        tv_weight=_value(params, "tv_weight", d["tv_weight"]),
        strength=_value(params, "strength", d["strength"]),
        preserve_colors=_flag(params, "preserve_colors", False),
    )
    try:  # the library's checks and messages, as the command line gets them
        checked = check_style_options(replace(StyleOptions(), **options))
    except (TypeError, ValueError) as e:
        raise BadRequest(first_line(e)) from None
    if checked.size > max_size:
        raise BadRequest(f"size must be at most {max_size} on this server (suite serve --max-size), got {checked.size}")
    if max(checked.iterations) > MAX_PAGE_ITERATIONS:
        raise BadRequest(
            f"iterations must be at most {MAX_PAGE_ITERATIONS} per scale on this page, got {max(checked.iterations)}"
        )
    options.update(scales=list(checked.scales), iterations=list(checked.iterations))
    method = options.pop("method")
    if method not in ("gatys", "fast"):  # a method the library gained before this page learnt to run it
        raise BadRequest(f"the page cannot run method {method!r} yet; use suite stylize --method {method}")
    preview_every = int(_number(params, "preview_every", 5, 1, 1000, int))
    clip = files.is_clip(photo)
    if clip:
        if method != "fast":
            # Gatys costs --frame-iterations evaluations of VGG-19 per frame: a 20 s clip is 500 optimisations,
            # hours on a CPU, with every other page's job waiting behind it in the one queue.
            raise BadRequest(
                f"the page stylizes clips with the fast method only (gatys would take minutes per frame); "
                f"choose fast, or run suite stylize CLIP --method gatys --frame-iterations N, got method {method!r}"
            )
        files.check_clip(photo)  # over a limit, damaged, or no PyAV: refused now with its status
    names = {"content": files.display_name(photo), "styles": [files.display_name(a) for a in artworks]}
    return _StyleRequest(
        photo,
        artworks,
        method,
        blend,
        options,
        preview_every,
        names,
        size_given=params.get("size") is not None,
        max_size=max_size,
        clip=clip,
    )


def _style_files(params: dict, files) -> tuple[str, list]:
    """The photo and the artworks (1 to 4), each resolved now: NotFound is a 404 now, not a failed job later."""
    photo = params.get("photo")
    artworks = params.get("artworks") or []
    if not photo:
        raise BadRequest("pick or upload a photo")
    if not isinstance(artworks, list) or not artworks:
        raise BadRequest("pick or upload at least one artwork")
    if len(artworks) > 4:
        raise BadRequest(f"at most 4 artworks, got {len(artworks)}")
    for fid in [photo, *artworks]:
        files.resolve(fid)
    for fid in artworks:
        if files.is_clip(fid):
            raise BadRequest(f"an artwork must be a picture, not a clip: {files.display_name(fid)}")
    return photo, artworks


_FAST: dict = {}


def _fast_parts():
    """Magenta's style predictor and transformer, built once per server (as the Gatys extractor)."""
    if "parts" not in _FAST:
        from suite.style.fast_models import magenta_predictor, magenta_transformer

        _FAST["parts"] = magenta_predictor(), magenta_transformer()
    return _FAST["parts"]


def _fast_size(req: _StyleRequest, long_side: int):
    """The fast method's working size: the request's, or (none given) the input's own capped at ``max_size``."""
    if req.size_given:
        return req.options["size"]
    # The network is fully convolutional: the photo's own size, as `suite stylize`.
    return None if req.max_size is None or long_side <= req.max_size else req.max_size


def _fast_engine(req: _StyleRequest, styles, size):
    from suite.style.fast import FastStyleTransfer

    predictor, transformer = _fast_parts()
    o = req.options
    return FastStyleTransfer(
        styles,
        blend=req.blend,
        strength=o["strength"],
        preserve_colors=o["preserve_colors"],
        size=size,
        predictor=predictor,
        transformer=transformer,
    )


def _run_fast(job, queue, req: _StyleRequest, content, styles) -> dict:
    """The fast method: Magenta's arbitrary-style network, one forward pass; the result is the preview."""
    queue.update(job, {"stage": "stylizing (fast)"})
    fst = _fast_engine(req, styles, _fast_size(req, max(content.shape[:2])))
    queue.check_cancel(job)
    result = fst.transfer(content)
    sidecar = {**req.names, "method": "fast", "options": fst.get_options(), "seconds": round(result.seconds, 2)}
    return _finish_style(job, queue, result.image, sidecar)


#: Seconds between two live frames of a running clip job (the page's preview).
CLIP_PREVIEW_SECONDS = 0.5


def _run_clip(job, queue, req: _StyleRequest, files, styles) -> dict:
    """A clip: the fast method on every frame through :meth:`suite.style.video.VideoStylizer.video`, as
    ``suite stylize clip.mp4 --method fast`` (one style vector for the clip, temporal smoothing, the
    audio copied), into an H.264 MP4 the page plays. Progress is in frames; cancel stops between frames
    and leaves no file."""
    import shutil
    import tempfile
    from pathlib import Path

    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    info = files.check_clip(req.photo)  # again: a served file may have changed since the request
    total = int(info.frames)
    queue.update(job, {"stage": "preparing the network", "frame": 0, "frames": total, "done": 0, "total": total})
    o = req.options
    size = _fast_size(req, max(info.width, info.height))
    options = replace(StyleOptions(), strength=o["strength"], preserve_colors=o["preserve_colors"])
    vs = VideoStylizer(method="fast", options=options, size=size, engine=_fast_engine(req, styles, size))
    queue.check_cancel(job)
    last_preview = [0.0]

    def on_frame(done, n, frame):
        queue.check_cancel(job)  # raised here, the run stops between frames and the partial file is removed
        n = n or total
        progress = {"stage": "stylizing frames", "frame": done, "frames": n, "done": done, "total": n}
        now = time.monotonic()
        if done == 1 or now - last_preview[0] >= CLIP_PREVIEW_SECONDS:
            last_preview[0] = now
            progress["preview"] = done
            queue.update(job, progress, {"preview.jpg": _jpeg(frame)})
        else:
            progress["preview"] = job.progress.get("preview")
            queue.update(job, progress)

    work_dir = Path(tempfile.mkdtemp(prefix="clip-", dir=files.upload_dir))
    try:
        result = vs.video(
            files.resolve(req.photo),
            work_dir / "result.mp4",
            max_pixels=files.max_pixels,
            on_frame=on_frame,
            for_browsers=True,  # odd-sized frames: VP9 4:2:0, which browsers play, not H.264 4:4:4
        )
        data = (work_dir / "result.mp4").read_bytes()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    # The clip's own name in the notes (a file that ends early), never the server's copy of it.
    shown = files.display_name(req.photo).removeprefix("upload:")
    notes = [n.replace(Path(files.resolve(req.photo)).name, shown, 1) for n in result.notes]
    sidecar = {
        **req.names,
        "method": "fast",
        "output_size": list(result.size),
        "frames": result.frames,
        "fps": round(result.rate, 4),
        "options": vs.get_options(),
        "seconds": round(result.seconds, 2),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **({"notes": notes} if notes else {}),
    }
    if result.truncated:  # the progress said "of N" for the frames announced: it ends at those that came
        n = int(result.frames)
        queue.update(
            job,
            {
                "stage": "stylizing frames",
                "frame": n,
                "frames": n,
                "done": n,
                "total": n,
                "preview": job.progress.get("preview"),
            },
        )
    queue.update(job, None, {"result.mp4": data, "result.json": (json.dumps(sidecar, indent=2) + "\n").encode()})
    if result.codec != "libx264" or result.pix_fmt != "yuv420p":
        notes.append(_clip_codec_note(result))
    return {
        "clip": True,
        "width": int(result.size[0]),
        "height": int(result.size[1]),
        "frames": int(result.frames),
        "fps": round(result.rate, 3),
        "seconds": sidecar["seconds"],
        "codec": result.codec,
        **({"note": " ".join(_sentence(n) for n in notes)} if notes else {}),
    }


def _sentence(note: str) -> str:
    return note if note.endswith(".") else note + "."


def _clip_codec_note(result) -> str:
    """What the page tells the user when a clip's result is not H.264 4:2:0, the format every browser plays."""
    w, h = result.size
    codec = "VP9" if result.codec == "libvpx-vp9" else f"{result.codec} {result.pix_fmt}"
    return (
        f"The frames are {w}x{h} px: H.264 in the 4:2:0 format browsers play needs even sides, so this result is "
        f"{codec} in MP4, at the clip's own size. A browser without VP9 may show nothing: then download it and play "
        "it with a desktop player (VLC, mpv)."
    )


def _run_gatys(job, queue, req: _StyleRequest, content, styles) -> dict:
    """Gatys optimisation, with progress (and a preview every ``preview_every`` steps) sent to the queue."""
    from suite.style.batch import gatys_sidecar
    from suite.style.engines import gatys_engine

    queue.update(job, {"stage": "preparing the network"})
    extractor = _EXTRACTORS.get("vgg19")
    options = {k: v for k, v in req.options.items() if k != "strength"}  # strength is the fast method's
    st = gatys_engine(styles, blend=req.blend, extractor=extractor, quiet=True, **options)
    _EXTRACTORS["vgg19"] = st.extractor  # built once per server: a few seconds saved on every later job
    result = st.transfer(content, callback=_gatys_progress(job, queue, st.iterations, req.preview_every))
    sidecar = {**req.names, "method": "gatys", **gatys_sidecar(st, result)}
    return _finish_style(job, queue, result.image, sidecar)


def _gatys_progress(job, queue, iterations, preview_every: int):
    """The ``StyleTransfer.transfer`` callback: checks for cancel, reports the step, the losses and previews."""
    total = sum(iterations)

    def callback(info):
        queue.check_cancel(job)
        step = info["step"]
        done = sum(iterations[: info["scale"]]) + step
        last = step == info["steps"]
        h, w = info["size"]
        progress = {
            "stage": "optimizing",
            "scale": info["scale"] + 1,
            "scales": info["scales"],
            "size": [w, h],
            "step": step,
            "steps": info["steps"],
            "done": done,
            "total": total,
            "loss": float(info["loss"]),
            "terms": {k: float(v) for k, v in info["terms"].items()},
        }
        if step == 1 or last or step % preview_every == 0:
            progress["preview"] = done
            queue.update(job, progress, {"preview.jpg": _jpeg(info["image"])})
        else:
            progress["preview"] = job.progress.get("preview")
            queue.update(job, progress)

    return callback


def _finish_style(job, queue, image, sidecar) -> dict:
    sidecar["written"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    queue.update(
        job,
        None,
        {
            "result.png": _png(image),
            "preview.jpg": _jpeg(image),
            "result.json": (json.dumps(sidecar, indent=2) + "\n").encode(),
        },
    )
    return {
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "losses": sidecar.get("losses"),
        "seconds": sidecar.get("seconds"),
    }


# ---------------------------------------------------------------- segment
_MODELS: dict = {}


def _load_model(model_id: str, files):
    if model_id.startswith("preset/"):
        from suite.unet import presets

        if model_id not in _MODELS:
            _MODELS.clear()  # one model in memory at a time is plenty for a local page
            _MODELS[model_id] = presets.load_preset(model_id.split("/", 1)[1])
        return _MODELS[model_id]
    from suite.unet.model_io import load_segmentation_model

    path = files.resolve(model_id, kind="model")
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _MODELS:
        _MODELS.clear()  # one model in memory at a time is plenty for a local page
        _MODELS[key] = load_segmentation_model(path)
    return _MODELS[key]


def segment_job(params: dict, files, queue):
    """Checks a segment request and returns ``run(job)`` for the queue.

    Args:
        params: The page's JSON: ``model`` (an id from :func:`model_choices`) and ``photos`` (ids).

    Raises:
        BadRequest: no model or photos, too many photos, or ids that name nothing.
    """
    model_id = str(params.get("model") or "")
    photos = params.get("photos") or []
    if not model_id:
        raise BadRequest("choose a model")
    if model_id not in {m["id"] for m in model_choices(files)}:
        raise BadRequest(f"no such model: {model_id!r}")
    if not isinstance(photos, list) or not photos:
        raise BadRequest("pick or upload at least one photo")
    if len(photos) > 32:
        raise BadRequest(f"at most 32 photos at a time, got {len(photos)}")
    for fid in photos:
        files.resolve(fid)
        if files.is_clip(fid):
            raise BadRequest(f"the segment page takes photos, not clips: {files.display_name(fid)}")

    def run(job):
        from suite.common.ui.palette import overlay_colors
        from suite.common.ui.viz import mask_image, overlay
        from suite.unet.model_io import model_metadata
        from suite.unet.segment import segment_image

        queue.update(job, {"stage": "loading the model", "done": 0, "total": len(photos)})
        model = _load_model(model_id, files)
        class_names = list(model_metadata(model).class_names)
        colors = overlay_colors(max(len(class_names), 2))  # the overlay's own, so the legend matches the picture
        items, zipped = [], io.BytesIO()
        with zipfile.ZipFile(zipped, "w") as zf:
            for i, fid in enumerate(photos):
                queue.check_cancel(job)
                queue.update(job, {"stage": "segmenting", "done": i, "total": len(photos)})
                name = files.display_name(fid)
                try:
                    image = files.load(fid)
                    mask = segment_image(model, image)
                except ValueError as e:  # one bad photo is a line in the results; the others go on
                    items.append({"name": name, "error": first_line(e)})
                    continue
                counts = np.bincount(mask.reshape(-1).astype(np.int64), minlength=len(class_names))
                shares = [
                    {
                        "class": k,
                        "name": class_names[k] if k < len(class_names) else f"class {k}",
                        "share": round(float(c) / mask.size, 4),
                        "color": "#{:02x}{:02x}{:02x}".format(*colors[k % len(colors)]),
                    }
                    for k, c in enumerate(counts)
                    if c > 0
                ]
                shares.sort(key=lambda s: -s["share"])
                stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0].removeprefix("upload:") or f"image{i}"
                mask_png = _png(mask_image(mask))
                zf.writestr(f"{i:02d}_{stem}.png", mask_png)
                # The page draws the legend and shares beside the picture, so the overlay itself has none.
                queue.update(
                    job,
                    None,
                    {
                        f"{i}_overlay.jpg": _jpeg(overlay(image, mask, class_names, legend=False)),
                        f"{i}_mask.png": mask_png,
                    },
                )
                items.append(
                    {
                        "name": name,
                        "index": i,
                        "mask_name": f"{stem}_mask.png",
                        "width": int(mask.shape[1]),
                        "height": int(mask.shape[0]),
                        "classes": shares,
                    }
                )
        queue.update(job, {"stage": "segmenting", "done": len(photos), "total": len(photos)})
        if any("index" in it for it in items):
            queue.update(job, None, {"masks.zip": zipped.getvalue()})
        return {
            "items": items,
            "classes": class_names,
            "model": files.display_name(model_id) if not model_id.startswith("preset/") else model_id,
        }

    return run
