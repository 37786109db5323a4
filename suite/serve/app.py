"""The Flask application behind ``suite serve``: two pages and a small JSON API.

API (every error is JSON ``{"error": "<one line>"}`` with a 4xx/5xx status):

- ``GET /api/catalog``: photos, clips, artworks, models, style choices and limits.
- ``POST /api/uploads`` (multipart field ``file``): one image or clip; 413 over
  the size, pixel or duration limit, 415 not an image (or a clip without PyAV),
  400 damaged.
- ``GET /api/thumb/<id>``: a small JPEG of a photo, artwork, upload or a clip's first frame.
- ``POST /api/style``, ``POST /api/segment`` (JSON): queue a job; 202 with its state.
- ``GET /api/jobs/<id>``: its state; ``GET /api/jobs/<id>/events``: the same as
  server-sent events, one per change, until it ends.
- ``POST /api/jobs/<id>/cancel``; ``GET /api/jobs/<id>/files/<name>``: preview,
  result (``result.mp4`` for a clip, served with byte ranges for the ``<video>``
  element), sidecar, overlays and masks (``?download=1`` to save).
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from suite.common.errors import first_line
from suite.serve.jobs import FINAL, JobQueue, QueueFull
from suite.serve.served import BUNDLED_ASSETS, NotFound, ServedFiles, UploadRejected
from suite.serve.work import BadRequest, model_choices, segment_job, style_choices, style_job

#: Defaults of the server's limits (also the ``suite serve`` option defaults).
DEFAULT_MAX_UPLOAD_MB = 20
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_SIZE = 1024
DEFAULT_MAX_CLIP_SECONDS = 20.0

_MIME = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".json": "application/json",
    ".zip": "application/zip",
    ".mp4": "video/mp4",
}

#: The pages and the API; :func:`create_app` registers it. Its routes read the
#: server's state from ``current_app.extensions["suite"]``.
bp = Blueprint("serve", __name__)


def create_app(
    folders=(),
    *,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_size: int = DEFAULT_MAX_SIZE,
    max_clip_seconds: float = DEFAULT_MAX_CLIP_SECONDS,
    upload_dir=None,
    bundled=BUNDLED_ASSETS,
    max_waiting: int = 8,
) -> Flask:
    """Builds the app: pages, API, the served folders and the job queue.

    Args:
        folders: Extra folders whose images and ``.keras`` models the pages offer.
        max_upload_mb: Largest upload body, in megabytes (413 above it).
        max_pixels: Largest image or clip frame, in pixels (uploads above it get 413).
        max_size: Largest style output long side a page may ask for.
        max_clip_seconds: Longest clip, in seconds (uploads above it get 413).
        upload_dir: Where uploads are kept; default a new temporary folder.
        bundled: The bundled assets folder (``None``: offer none).
        max_waiting: Jobs allowed to wait in the queue at once.

    Returns:
        A :class:`flask.Flask` app; ``app.extensions["suite"]`` holds the
        :class:`~suite.serve.served.ServedFiles` (``"files"``), the
        :class:`~suite.serve.jobs.JobQueue` (``"queue"``) and the limits.
        Setting ``app.config["SUITE_ALLOWED_HOSTS"]`` to a set of ``host:port``
        strings refuses requests for any other ``Host`` (``suite serve`` does so
        on loopback addresses).

    Example:
        >>> app = create_app(["my_photos"])            # doctest: +SKIP
        >>> app.test_client().get("/api/catalog").json  # doctest: +SKIP
    """
    app = Flask(__name__)
    # Werkzeug answers 413 while parsing a body over this, before any of it is stored.
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 1024 * 1024)
    if upload_dir is None:
        upload_dir = tempfile.mkdtemp(prefix="suite-serve-")
        atexit.register(shutil.rmtree, upload_dir, ignore_errors=True)  # uploads do not outlive the server
    app.extensions["suite"] = {
        "files": ServedFiles(
            folders, upload_dir, max_pixels=max_pixels, bundled=bundled, max_clip_seconds=max_clip_seconds
        ),
        "queue": JobQueue(max_waiting=max_waiting),
        "max_upload_mb": max_upload_mb,
        "limits": {
            "max_upload_bytes": app.config["MAX_CONTENT_LENGTH"],
            "max_pixels": int(max_pixels),
            "max_size": int(max_size),
            "max_clip_seconds": float(max_clip_seconds),
            "clips": ServedFiles.clips_supported(),
        },
    }
    app.register_blueprint(bp)
    return app


# ---------------------------------------------------------------- shared state and answers
def _state(key: str):
    """``"files"``, ``"queue"``, ``"limits"`` or ``"max_upload_mb"`` of the app handling this request."""
    return current_app.extensions["suite"][key]


def _error(message: str, status: int):
    return jsonify(error=message), status


def _wants_json() -> bool:
    return request.path.startswith("/api/")


# ---------------------------------------------------------------- errors: one line, proper status, never a traceback
@bp.app_errorhandler(HTTPException)
def http_error(e):
    if isinstance(e, RequestEntityTooLarge):
        msg = f"the upload is larger than the server's limit of {_state('max_upload_mb'):g} MB"
    else:
        msg = e.description.split("\n")[0] if e.description else e.name
    if _wants_json():
        return _error(msg, e.code)
    return render_template("error.html", status=e.code, message=msg), e.code


@bp.app_errorhandler(Exception)
def server_error(e):
    msg = first_line(e)
    current_app.logger.error("error on %s: %s", request.path, msg)
    return (
        _error(f"server error: {msg}", 500)
        if _wants_json()
        else (render_template("error.html", status=500, message=msg), 500)
    )


# The library's refusals, raised by the routes below: each is a one-line JSON error with its status.
@bp.errorhandler(BadRequest)
def bad_request(e):
    return _error(str(e), 400)


@bp.errorhandler(NotFound)
def not_found(e):
    return _error(str(e), 404)


@bp.errorhandler(QueueFull)
def queue_full(e):
    return _error(str(e), 429)


@bp.errorhandler(UploadRejected)
def upload_rejected(e):
    return _error(str(e), e.status)


@bp.before_app_request
def same_origin_only():
    # DNS rebinding: another site's name pointed at 127.0.0.1 would make its pages "same-origin" with this
    # server; a Host check stops that. CSRF: another site's form could POST here; an Origin check stops that.
    allowed = current_app.config.get("SUITE_ALLOWED_HOSTS")
    if allowed and request.host.lower() not in allowed:
        return _error(f"unexpected Host header {request.host!r}: open the address suite serve printed", 403)
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin and urlsplit(origin).netloc.lower() != request.host.lower():
        return _error("cross-site requests are refused", 403)
    return None


@bp.after_app_request
def headers(resp):
    # The pages use only their own scripts and images: nothing injected can load or send elsewhere.
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' blob: data:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp


# ---------------------------------------------------------------- pages
@bp.get("/")
def index():
    return render_template("style.html", page="style")


@bp.get("/favicon.ico")
def favicon():
    return "", 204  # no icon; an answer keeps the browser's console free of 404s


@bp.get("/segment")
def segment_page():
    return render_template("segment.html", page="segment")


# ---------------------------------------------------------------- catalog, uploads, thumbnails
@bp.get("/api/catalog")
def catalog():
    files = _state("files")
    limits = _state("limits")
    return jsonify(
        {
            **files.catalog(),
            "models": model_choices(files),
            "style": style_choices(limits["max_size"]),
            "limits": limits,
        }
    )


@bp.post("/api/uploads")
def upload():
    f = request.files.get("file")
    if f is None:
        return _error("no file in the upload (multipart field 'file')", 400)
    return jsonify(_state("files").add_upload(f.read(), f.filename or "upload")), 201  # UploadRejected: its status


@bp.get("/api/thumb/<path:file_id>")
def thumb(file_id):
    try:
        data = _state("files").thumbnail(file_id)  # NotFound: 404
    except ValueError as e:
        return _error(str(e), 422)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


# ---------------------------------------------------------------- jobs
def _submit(kind, make):
    """Queues ``make(body)`` (BadRequest: 400, NotFound: 404, QueueFull: 429); 202 with the job's state."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    queue = _state("queue")
    job = queue.submit(kind, make(body))
    return jsonify(queue.snapshot(job)), 202


@bp.post("/api/style")
def style():
    return _submit("style", lambda p: style_job(p, _state("files"), _state("queue"), _state("limits")["max_size"]))


@bp.post("/api/segment")
def segment():
    return _submit("segment", lambda p: segment_job(p, _state("files"), _state("queue")))


def _job(job_id):
    job = _state("queue").get(job_id)
    if job is None:
        raise NotFound("no such job (the server keeps the latest ones only)")
    return job


@bp.get("/api/jobs/<job_id>")
def job_state(job_id):
    return jsonify(_state("queue").snapshot(_job(job_id)))


@bp.post("/api/jobs/<job_id>/cancel")
def job_cancel(job_id):
    job = _job(job_id)
    _state("queue").cancel(job_id)
    return jsonify(_state("queue").snapshot(job))


@bp.get("/api/jobs/<job_id>/events")
def job_events(job_id):
    job, queue = _job(job_id), _state("queue")  # the stream runs after the request: it keeps its own references

    def stream():
        seen, last = 0, None
        while True:
            state = queue.snapshot(job)
            text = json.dumps(state)
            if text != last:
                yield f"data: {text}\n\n"
                last = text
            elif seen:
                yield ": still here\n\n"  # a comment line keeps proxies and the browser from timing out
            if state["state"] in FINAL:
                return
            seen = queue.wait_for_change(seen, timeout=15.0)

    return Response(
        stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@bp.get("/api/jobs/<job_id>/files/<name>")
def job_file(job_id, name):
    data = _job(job_id).files.get(name)
    if data is None or not re.fullmatch(r"[\w.]+", name):
        return _error(f"no file {name!r} for this job (yet)", 404)
    headers = {"Cache-Control": "no-store"}
    if request.args.get("download"):
        download = re.sub(r"[^\w.\-]", "_", request.args.get("as") or name)[:100] or name
        headers["Content-Disposition"] = f'attachment; filename="{download}"'
    resp = Response(data, mimetype=_MIME.get(Path(name).suffix, "application/octet-stream"), headers=headers)
    if name.endswith(".mp4"):
        # A <video> element asks for byte ranges (to find the index at the end of the file, and to seek).
        resp = resp.make_conditional(request, accept_ranges=True, complete_length=len(data))
    return resp
