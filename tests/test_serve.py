"""`suite serve`'s HTTP API through Flask's test client: limits, paths, the queue, events, one-line errors."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flask", reason="suite serve needs the 'serve' extra")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

from suite.serve.app import create_app  # noqa: E402
from suite.serve.jobs import CANCELLED, DONE, FAILED, JobQueue, QueueFull  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _png(w=40, h=30, seed=0, flat=False) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.full((h, w, 3), 128, np.uint8) if flat else rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.png").write_bytes(_png())
    (tmp_path / "secret.png").write_bytes(_png(seed=1))
    (folder / "escape.png").symlink_to(tmp_path / "secret.png")  # a link out of the folder must not be followed
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def app(served, tmp_path):
    return create_app([served], max_upload_mb=0.05, max_pixels=100_000, max_size=256, upload_dir=tmp_path / "up")


@pytest.fixture
def client(app):
    return app.test_client()


def _upload(client, data: bytes, name="x.png"):
    return client.post("/api/uploads", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def _wait(client, job_id, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        state = client.get(f"/api/jobs/{job_id}").json
        if state["state"] in ("done", "failed", "cancelled"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {state}")


# ---------------------------------------------------------------- pages and catalog
def test_pages_and_catalog_choices_come_from_the_library(client):
    from suite.style import transfer as T

    assert client.get("/").status_code == 200 and b"Stylize" in client.get("/").data
    assert b"Segment" in client.get("/segment").data
    cat = client.get("/api/catalog").json
    assert {e["id"] for e in cat["photos"]} >= {"f0/photos/chelsea.jpg", "f1/sub/a.png"}
    assert "f0/styles/mosaic.jpg" in {e["id"] for e in cat["artworks"]}
    assert "f0/demo_unet.keras" in {m["id"] for m in cat["models"]}
    assert cat["style"]["optimizers"] == list(T.OPTIMIZERS)
    from suite.style.options import METHODS

    assert cat["style"]["methods"] == list(METHODS) == ["gatys", "fast"]  # the library's one list, fast included
    assert cat["style"]["defaults"]["size"] == min(T.DEFAULTS["size"], 256)  # capped at the server's --max-size
    ids = {e["id"] for e in cat["photos"]}
    assert "f1/escape.png" not in ids and not any("notes" in i for i in ids)
    assert cat["limits"] == {
        "max_upload_bytes": int(0.05 * 1024 * 1024),
        "max_pixels": 100_000,
        "max_size": 256,
        "max_clip_seconds": 20.0,
        "clips": importlib.util.find_spec("av") is not None,
    }


def test_unknown_page_is_html_and_unknown_api_is_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.mimetype == "text/html"
    r = client.get("/api/nope")
    assert r.status_code == 404 and "error" in r.json
    assert client.get("/api/jobs/0123/files/result.png").status_code == 404


# ---------------------------------------------------------------- uploads
def test_upload_accepts_an_image_and_serves_a_thumbnail(client):
    r = _upload(client, _png(), "My photo (1).png")
    assert r.status_code == 201, r.json
    assert r.json["width"] == 40 and r.json["height"] == 30 and r.json["id"].startswith("u/")
    assert r.json["name"] == "My photo _1_.png"
    t = client.get(f"/api/thumb/{r.json['id']}")
    assert t.status_code == 200 and t.mimetype == "image/jpeg"


@pytest.mark.parametrize(
    "data,name,status,words",
    [
        (b"hello, not an image", "fake.jpg", 415, "not an image"),
        (b"", "empty.png", 400, "empty"),
        (_png()[:200], "cut.png", 400, "corrupt"),
    ],
)
def test_bad_uploads_get_a_status_and_a_message(client, data, name, status, words):
    r = _upload(client, data, name)
    assert r.status_code == status
    assert words in r.json["error"] and name in r.json["error"]
    assert "Traceback" not in r.get_data(as_text=True)


def test_upload_limits_are_413_with_a_message(client, app, tmp_path):
    r = _upload(client, _png(400, 300, flat=True))  # 120,000 pixels > 100,000, in a small file
    assert r.status_code == 413 and "over the limit of 100,000" in r.json["error"]
    r = _upload(client, os.urandom(100_000), "big.bin")  # > 0.05 MB body
    assert r.status_code == 413 and "larger than the server's limit of 0.05 MB" in r.json["error"]
    assert client.post("/api/uploads", data={}).status_code == 400
    assert not any(p.suffix for p in (tmp_path / "up").iterdir())  # nothing refused is kept


# ---------------------------------------------------------------- paths
@pytest.mark.parametrize(
    "file_id",
    [
        "f1/../secret.png",
        "f1/escape.png",
        "f1//etc/passwd",
        "f1/notes.txt",
        "f9/a.png",
        "f0/../README.md",
        "f1/sub/../../secret.png",
        "u/deadbeef",
        "../secret.png",
        "/etc/passwd",
    ],
)
def test_no_id_leaves_the_served_folders(client, file_id):
    r = client.get(f"/api/thumb/{file_id}", follow_redirects=True)  # Werkzeug first merges "//" with a redirect
    assert r.status_code == 404, file_id
    r = client.post("/api/style", json={"photo": file_id, "artworks": ["f0/styles/mosaic.jpg"]})
    assert r.status_code == 404, file_id


def test_model_must_be_one_offered(client):
    for model in ["f1/sub/a.png", "f1/../x.keras", "/abs/model.keras", ""]:
        r = client.post("/api/segment", json={"model": model, "photos": ["f0/photos/chelsea.jpg"]})
        assert r.status_code == 400 and r.json["error"], model


# ---------------------------------------------------------------- request checks
@pytest.mark.parametrize(
    "change,words",
    [
        ({"size": 4096}, "size must be at most 256 on this server"),
        ({"size": "big"}, "size must be a number"),
        ({"artworks": []}, "at least one artwork"),
        ({"photo": None}, "pick or upload a photo"),
        ({"blend": [1, 2]}, "blend needs one weight"),
        ({"iterations": "6000"}, "iterations must be at most 5000"),
        # the library's own checks and words (StyleOptions), not a second copy in the page
        ({"size": 8}, "Expected size >= 16. Received: size=8"),
        ({"optimizer": "sgd"}, "Expected optimizer in ['adam', 'lbfgs', 'lbfgsb']"),
        ({"method": "magic"}, "Expected method in ['gatys', 'fast']"),
        ({"scales": "1,0.5"}, "Expected increasing scales in (0, 1]"),
        ({"iterations": "0"}, "Expected non-negative iterations, not all zero"),
        ({"style_weight": -1}, "Expected style_weight >= 0"),
        ({"content_weight": float("nan")}, "content_weight"),
        ({"strength": 2}, "Expected strength <= 1"),
        ({"init": "grey"}, "Expected init in"),
        # JSON types: a string is not a yes/no, a fraction is not a pixel count
        ({"preserve_colors": "false"}, "preserve_colors must be true or false, got 'false'"),
        ({"preserve_colors": 1}, "preserve_colors must be true or false"),
        ({"size": 64.7}, "size must be a whole number, got 64.7"),
    ],
)
def test_bad_style_options_are_400_with_a_message(client, change, words):
    body = {"photo": "f0/photos/chelsea.jpg", "artworks": ["f0/styles/mosaic.jpg"], **change}
    r = client.post("/api/style", json=body)
    assert r.status_code == 400 and words in r.json["error"], r.json


def test_non_json_body_is_400(client):
    r = client.post("/api/style", data="photo=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and "JSON" in r.json["error"]


# ---------------------------------------------------------------- the queue
def test_queue_runs_one_at_a_time_with_positions_and_cancel():
    q = JobQueue(max_waiting=3)
    gate, running = threading.Event(), []

    def slow(job):
        running.append(job.id)
        assert len(running) - len([j for j in running if q.get(j).state != "running"]) <= 1
        while not gate.is_set():
            q.check_cancel(job)
            time.sleep(0.01)
        return {"ok": True}

    a = q.submit("style", slow)
    b = q.submit("style", slow)
    c = q.submit("style", slow)
    for _ in range(200):
        if q.snapshot(a)["state"] == "running":
            break
        time.sleep(0.01)
    assert q.snapshot(a)["state"] == "running" and q.snapshot(a)["position"] is None
    assert q.snapshot(b)["position"] == 2 and q.snapshot(c)["position"] == 3
    q.cancel(b.id)
    assert b.state == CANCELLED and q.snapshot(c)["position"] == 2
    q.cancel(a.id)  # running: stops at its next check
    for _ in range(200):
        if a.state == CANCELLED and c.state == "running":
            break
        time.sleep(0.01)
    assert a.state == CANCELLED and c.state == "running"
    gate.set()
    for _ in range(200):
        if c.state == DONE:
            break
        time.sleep(0.01)
    assert c.state == DONE and c.result == {"ok": True}


def test_queue_refuses_beyond_its_limit_and_reports_failures_in_one_line():
    q = JobQueue(max_waiting=1)
    gate = threading.Event()
    first = q.submit("x", lambda job: gate.wait(5))
    for _ in range(200):
        if first.state == "running":
            break
        time.sleep(0.01)
    failing = q.submit("x", lambda job: (_ for _ in ()).throw(RuntimeError("broken\nsecond line")))
    with pytest.raises(QueueFull):
        q.submit("x", lambda job: None)
    gate.set()
    for _ in range(300):
        if failing.state == FAILED:
            break
        time.sleep(0.01)
    assert failing.state == FAILED and failing.error == "broken"


def test_events_stream_every_change_until_the_end(app, client):
    q = app.extensions["suite"]["queue"]

    def run(job):
        for i in range(3):
            q.update(job, {"step": i})
            time.sleep(0.02)
        return {"n": 3}

    job = q.submit("style", run)
    r = client.get(f"/api/jobs/{job.id}/events")
    assert r.mimetype == "text/event-stream"
    events = [json.loads(line[6:]) for line in r.get_data(as_text=True).splitlines() if line.startswith("data: ")]
    assert events[-1]["state"] == "done" and events[-1]["result"] == {"n": 3}
    assert len(events) >= 2 and all(e["id"] == job.id for e in events)


def test_job_queue_full_is_429(app, client):
    q = app.extensions["suite"]["queue"]
    gate = threading.Event()
    q.submit("x", lambda job: gate.wait(5))
    try:
        statuses = [
            client.post("/api/segment", json={"model": "f0/demo_unet.keras", "photos": ["f0/photos/chelsea.jpg"]})
            for _ in range(10)
        ]
        last = statuses[-1]
        assert last.status_code == 429 and "already waiting" in last.json["error"]
        assert statuses[0].json["position"] >= 1
    finally:
        for s in statuses:
            if s.status_code == 202:
                q.cancel(s.json["id"])
        gate.set()


# ---------------------------------------------------------------- the command
def test_sigterm_stops_serve_with_a_servers_words():
    """Not the batch commands' "re-run the same command to continue": a server has nothing to resume."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "suite", "serve", "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        assert "suite serve: http://127.0.0.1:" in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
        rest = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "suite serve stopped." in rest and "re-run" not in rest


def test_serve_help_and_a_busy_port_is_one_line():
    from suite.cli import main

    r = CliRunner().invoke(main, ["serve", "--help"])
    assert r.exit_code == 0 and "--host" in r.output and "127.0.0.1" in r.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert r.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}: in use by another program" in r.output
    assert "Traceback" not in r.output and len([line for line in r.output.splitlines() if line.strip()]) == 1
    from suite.serve.cli import _is_loopback

    assert all(map(_is_loopback, ["127.0.0.1", "localhost", "::1", "127.0.0.2"]))
    assert not any(map(_is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.org"]))  # these warn


# ---------------------------------------------------------------- real jobs (TensorFlow)
@pytest.mark.slow
def test_stylize_and_segment_jobs_end_to_end(served, tmp_path):
    client = create_app([served], upload_dir=tmp_path / "up").test_client()  # default limits: a real photo fits
    up = _upload(client, (ASSETS / "photos" / "coffee.jpg").read_bytes(), "coffee.jpg").json
    r = client.post(
        "/api/style",
        json={
            "photo": up["id"],
            "artworks": ["f0/styles/mosaic.jpg", "f1/sub/a.png"],
            "blend": [3, 1],
            "size": 48,
            "scales": "1",
            "iterations": "4",
            "preview_every": 2,
        },
    )
    assert r.status_code == 202, r.json
    events = client.get(f"/api/jobs/{r.json['id']}/events").get_data(as_text=True)
    states = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    assert states[-1]["state"] == "done", states[-1]
    live = [s["progress"] for s in states if s["state"] == "running" and s["progress"].get("stage") == "optimizing"]
    assert live and all(np.isfinite(p["loss"]) and p["scale"] == 1 for p in live)
    job = r.json["id"]
    img = Image.open(io.BytesIO(client.get(f"/api/jobs/{job}/files/result.png").data))
    assert max(img.size) == 48
    side = client.get(f"/api/jobs/{job}/files/result.json?download=1&as=x.json")
    assert side.headers["Content-Disposition"] == 'attachment; filename="x.json"'
    sidecar = side.json
    assert sidecar["content"] == "upload:coffee.jpg" and sidecar["styles"] == ["styles/mosaic.jpg", "sub/a.png"]
    assert sidecar["options"]["blend"] == [0.75, 0.25] and sidecar["losses"]["total"] > 0

    r = client.post("/api/segment", json={"model": "f0/demo_unet.keras", "photos": ["f0/photos/chelsea.jpg", up["id"]]})
    state = _wait(client, r.json["id"])
    assert state["state"] == "done", state
    assert state["progress"]["done"] == state["progress"]["total"] == 2, state["progress"]
    items = state["result"]["items"]
    assert [it["name"] for it in items] == ["photos/chelsea.jpg", "upload:coffee.jpg"]
    assert abs(sum(c["share"] for c in items[0]["classes"]) - 1) < 1e-3
    mask = Image.open(io.BytesIO(client.get(f"/api/jobs/{state['id']}/files/0_mask.png").data))
    assert mask.mode == "P" and mask.size == (items[0]["width"], items[0]["height"])
    assert client.get(f"/api/jobs/{state['id']}/files/masks.zip").data[:2] == b"PK"

    # The fast method with Magenta's real networks: a stylized picture, far from the photo.
    r = client.post(
        "/api/style",
        json={"photo": "f0/photos/chelsea.jpg", "artworks": ["f0/styles/mosaic.jpg"], "method": "fast", "size": 64},
    )
    state = _wait(client, r.json["id"], timeout=180)
    assert state["state"] == "done", state
    fast = np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{state['id']}/files/result.png").data)), np.float32)
    photo = Image.open(ASSETS / "photos" / "chelsea.jpg").convert("RGB").resize((fast.shape[1], fast.shape[0]))
    assert max(fast.shape[:2]) == 64 and np.abs(fast - np.asarray(photo, np.float32)).mean() > 20

    # A running optimization stops when cancelled.
    r = client.post(
        "/api/style",
        json={
            "photo": "f0/photos/chelsea.jpg",
            "artworks": ["f0/styles/mosaic.jpg"],
            "size": 48,
            "scales": "1",
            "iterations": "3000",
        },
    )
    job = r.json["id"]
    for _ in range(600):
        if client.get(f"/api/jobs/{job}").json["progress"].get("step"):
            break
        time.sleep(0.05)
    client.post(f"/api/jobs/{job}/cancel")
    assert _wait(client, job)["state"] == "cancelled"


# ---------------------------------------------------------------- more methods and models without page edits
def _tiny_fast_parts():
    """Magenta's transformer with random weights and a one-layer style predictor: a real network, built in a second."""
    import keras

    from suite.style.fast_models import build_style_transformer

    keras.utils.set_random_seed(0)
    inp = keras.Input((256, 256, 3))
    vec = keras.layers.Dense(100)(keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inp)))
    return keras.Model(inp, vec), build_style_transformer()


def test_a_fast_job_runs_the_fast_network(served, tmp_path, monkeypatch):
    """The page's fast method runs the fast network (not Gatys' stylize) and a stylized image comes back."""
    from suite.serve import work
    from suite.style import transfer as T

    def no_gatys(*args, **kwargs):
        raise AssertionError("the fast method must not run Gatys")

    monkeypatch.setattr(T, "stylize", no_gatys)
    monkeypatch.setattr(T.StyleTransfer, "transfer", no_gatys)
    monkeypatch.setattr(work, "_FAST", {"parts": _tiny_fast_parts()})
    client = create_app([served], upload_dir=tmp_path / "up").test_client()
    r = client.post(
        "/api/style",
        json={
            "photo": "f0/photos/chelsea.jpg",
            "artworks": ["f0/styles/mosaic.jpg"],
            "method": "fast",
            "size": 40,
            "strength": 0.8,
            "preserve_colors": False,
        },
    )
    assert r.status_code == 202, r.json
    state = _wait(client, r.json["id"])
    assert state["state"] == "done", state
    assert state["result"]["width"] == 40
    result = np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{state['id']}/files/result.png").data)))
    photo = Image.open(ASSETS / "photos" / "chelsea.jpg").convert("RGB")
    photo = np.asarray(photo.resize((result.shape[1], result.shape[0]), Image.BICUBIC), np.float32)
    assert result.shape[2] == 3 and np.abs(result - photo).mean() > 5  # the network changed the picture
    sidecar = client.get(f"/api/jobs/{state['id']}/files/result.json").json
    assert sidecar["method"] == "fast" and sidecar["options"]["strength"] == 0.8 and sidecar["options"]["size"] == 40


def test_a_fast_job_without_size_keeps_the_photos_size(served, tmp_path, monkeypatch):
    """As ``suite stylize --method fast``: no ``size`` means the photo's own size, not the page's default."""
    from suite.serve import work

    monkeypatch.setattr(work, "_FAST", {"parts": _tiny_fast_parts()})
    client = create_app([served], upload_dir=tmp_path / "up").test_client()
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    up = _upload(client, buf.getvalue(), "small.png").json
    r = client.post("/api/style", json={"photo": up["id"], "artworks": ["f0/styles/mosaic.jpg"], "method": "fast"})
    assert r.status_code == 202, r.json
    state = _wait(client, r.json["id"])
    assert state["state"] == "done", state
    assert (state["result"]["width"], state["result"]["height"]) == (40, 24)


def test_presets_listed_by_the_library_reach_the_page(served, tmp_path):
    client = create_app([served], upload_dir=tmp_path / "up").test_client()
    cat = client.get("/api/catalog").json
    # The library's presets come first, as the library lists them.
    from suite.unet.presets import preset_names

    assert [m["name"] for m in cat["models"][: len(preset_names())]] == preset_names()
    assert cat["models"][0] == {"id": "preset/person", "name": "person", "source": "preset"}
    r = client.post("/api/segment", json={"model": "preset/person", "photos": ["f0/photos/astronaut.jpg"]})
    assert r.status_code == 202
    state = _wait(client, r.json["id"])  # the real pretrained preset: the astronaut is found
    assert state["state"] == "done", state
    shares = {c["name"]: c["share"] for c in state["result"]["items"][0]["classes"]}
    assert 0.3 < shares["person"] < 0.8
    assert (
        client.post("/api/segment", json={"model": "preset/other", "photos": ["f0/photos/chelsea.jpg"]}).status_code
        == 400
    )


def test_other_hosts_and_cross_site_posts_are_refused(app, client):
    app.config["SUITE_ALLOWED_HOSTS"] = {"127.0.0.1:8765", "localhost:8765"}
    ok = client.get("/api/catalog", headers={"Host": "127.0.0.1:8765"})
    assert ok.status_code == 200
    r = client.get("/api/catalog", headers={"Host": "evil.example:8765"})  # DNS rebinding
    assert r.status_code == 403 and "Host" in r.json["error"]
    r = client.post(
        "/api/uploads",
        headers={"Host": "127.0.0.1:8765", "Origin": "http://evil.example"},
        data={"file": (io.BytesIO(_png()), "a.png")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 403 and "cross-site" in r.json["error"]
    r = client.post(
        "/api/uploads",
        headers={"Host": "127.0.0.1:8765", "Origin": "http://127.0.0.1:8765"},
        data={"file": (io.BytesIO(_png()), "a.png")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 201


# ---------------------------------------------------------------- clips (the `video` extra, PyAV)
def _clip(path, n=16, w=64, h=48, fps=12, rotation=None) -> Path:
    """A tiny H.264 clip of moving noise (as tests/test_video.py makes them), without sound."""
    av = pytest.importorskip("av")
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=fps)
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    if rotation is not None:
        v.set_display_rotation(rotation)
    base = (np.random.default_rng(0).random((h, w + n, 3)) * 255).astype(np.uint8)
    for i in range(n):
        for p in v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i : i + w]), format="rgb24")):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()
    return Path(path)


def _clip_app(served, tmp_path, **limits):
    return create_app([served], upload_dir=tmp_path / "up", **limits)


def test_clip_upload_catalog_and_first_frame_thumbnail(served, tmp_path):
    _clip(served / "walk.mp4")
    client = _clip_app(served, tmp_path).test_client()
    cat = client.get("/api/catalog").json
    assert cat["clips"] == [{"id": "f1/walk.mp4", "name": "walk.mp4", "source": "served", "kind": "clip"}]
    assert "f1/walk.mp4" not in {e["id"] for e in cat["photos"] + cat["artworks"]}
    assert cat["limits"]["clips"] is True and cat["limits"]["max_clip_seconds"] == 20
    r = _upload(client, (served / "walk.mp4").read_bytes(), "my clip.mp4")
    assert r.status_code == 201, r.json
    assert r.json["kind"] == "clip" and r.json["name"] == "my clip.mp4"
    assert (r.json["width"], r.json["height"], r.json["frames"], r.json["fps"]) == (64, 48, 16, 12)
    assert abs(r.json["seconds"] - 16 / 12) < 0.1
    for fid in (r.json["id"], "f1/walk.mp4"):
        t = client.get(f"/api/thumb/{fid}")
        assert t.status_code == 200 and t.mimetype == "image/jpeg"
        assert Image.open(io.BytesIO(t.data)).size == (64, 48)


def test_a_rotated_clip_upload_reports_the_size_as_shown(served, tmp_path):
    """A phone clip whose display matrix turns it 90 degrees reported its stored 64x48, not the 48x64 shown."""
    client = _clip_app(served, tmp_path).test_client()
    for rotation, size in ((90, (48, 64)), (270, (48, 64)), (180, (64, 48))):
        r = _upload(client, _clip(tmp_path / f"r{rotation}.mp4", rotation=rotation).read_bytes(), "phone.mp4")
        assert r.status_code == 201 and (r.json["width"], r.json["height"]) == size, (rotation, r.json)


def test_clips_over_a_limit_damaged_or_without_pyav_are_refused(served, tmp_path, monkeypatch):
    data = _clip(tmp_path / "c.mp4").read_bytes()
    short = _clip_app(served, tmp_path, max_clip_seconds=1).test_client()
    r = _upload(short, data, "long.mp4")  # 16 frames at 12 fps: 1.3 s
    assert r.status_code == 413 and r.json["error"] == (
        "long.mp4: 1.3 s long, over the limit of 1 s (the server's --max-clip-seconds)"
    )
    _clip(served / "long.mp4")  # a served clip is checked when a job asks for it
    r = short.post("/api/style", json={"photo": "f1/long.mp4", "artworks": ["f0/styles/mosaic.jpg"], "method": "fast"})
    assert r.status_code == 413 and "over the limit of 1 s" in r.json["error"]
    r = short.post("/api/segment", json={"model": "f0/demo_unet.keras", "photos": ["f1/long.mp4"]})
    assert r.status_code == 400 and "photos, not clips" in r.json["error"]
    (served / "long.mp4").unlink()
    small = _clip_app(served, tmp_path, max_pixels=3000).test_client()
    r = _upload(small, data, "big.mp4")  # 64x48 = 3,072 pixels a frame
    assert r.status_code == 413 and "64x48 frames are 3,072 pixels, over the limit of 3,000" in r.json["error"]
    client = _clip_app(served, tmp_path).test_client()
    for bad, words in [(data[: len(data) // 2], "big.mp4: "), (b"not a video at all", "big.mp4: not a readable video")]:
        r = _upload(client, bad, "big.mp4")
        assert r.status_code == 400 and r.json["error"].startswith(words), r.json
        assert "\n" not in r.json["error"] and str(tmp_path) not in r.json["error"]
    from suite.common.io import video

    def no_av():
        raise video.VideoSupportMissing()

    monkeypatch.setattr(video, "require_av", no_av)
    r = _upload(client, data, "c.mp4")
    assert r.status_code == 415 and "PyAV" in r.json["error"]
    assert not list((tmp_path / "up").iterdir())  # nothing refused is kept


def _clip_job(client, photo, **extra):
    return client.post(
        "/api/style", json={"photo": photo, "artworks": ["f0/styles/mosaic.jpg"], "method": "fast", **extra}
    )


def test_a_clip_job_runs_the_video_pipeline_into_a_playable_mp4(served, tmp_path, monkeypatch):
    from suite.common.io.video import probe, read_frames
    from suite.serve import work

    monkeypatch.setattr(work, "_FAST", {"parts": _tiny_fast_parts()})
    client = _clip_app(served, tmp_path).test_client()
    up = _upload(client, _clip(tmp_path / "c.mp4").read_bytes(), "c.mp4").json
    r = _clip_job(client, up["id"], method="gatys")
    assert r.status_code == 400 and "clips with the fast method only" in r.json["error"]
    r = _clip_job(client, "f0/photos/chelsea.jpg", artworks=[up["id"]])
    assert r.status_code == 400 and "artwork must be a picture, not a clip" in r.json["error"]
    r = _clip_job(client, up["id"])
    assert r.status_code == 202, r.json
    events = client.get(f"/api/jobs/{r.json['id']}/events").get_data(as_text=True)
    states = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    assert states[-1]["state"] == "done", states[-1]
    frames = [s["progress"]["frame"] for s in states if s["progress"].get("stage") == "stylizing frames"]
    assert frames and frames[-1] == 16 and frames == sorted(frames)
    assert {s["progress"]["frames"] for s in states if s["progress"].get("stage") == "stylizing frames"} == {16}
    result = states[-1]["result"]
    assert result["clip"] and (result["frames"], result["width"], result["height"]) == (16, 64, 48)
    job = r.json["id"]
    video = client.get(f"/api/jobs/{job}/files/result.mp4")
    assert video.mimetype == "video/mp4" and video.headers["Accept-Ranges"] == "bytes"
    part = client.get(f"/api/jobs/{job}/files/result.mp4", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == video.data[:100]
    out = tmp_path / "out.mp4"
    out.write_bytes(video.data)
    info = probe(out)
    assert (info.codec, info.width, info.height) == ("h264", 64, 48)
    decoded = [f.image for f in read_frames(out)]
    assert len(decoded) == 16 and decoded[0].shape == (48, 64, 3)
    sidecar = client.get(f"/api/jobs/{job}/files/result.json").json
    assert sidecar["content"] == "upload:c.mp4" and sidecar["frames"] == 16 and sidecar["options"]["method"] == "fast"
    assert not [p for p in (tmp_path / "up").iterdir() if p.is_dir()]  # the working folder is gone


def test_an_odd_sized_clip_plays_in_the_page_as_vp9_at_its_size_with_a_note(served, tmp_path, monkeypatch):
    """H.264 4:2:0 needs even sides: an odd-sized clip's result is VP9 4:2:0 in the MP4 (not H.264 4:4:4, which
    many browsers refuse), same size, and the page is told why."""
    from suite.common.io.video import probe
    from suite.serve import work

    av = pytest.importorskip("av")
    monkeypatch.setattr(work, "_FAST", {"parts": _tiny_fast_parts()})
    client = _clip_app(served, tmp_path).test_client()
    src = tmp_path / "odd.mp4"
    out = av.open(str(src), "w")
    v = out.add_stream("libx264", rate=12)
    v.width, v.height, v.pix_fmt = 65, 49, "yuv444p"  # as the suite's own odd-sized H.264 results are
    for i in range(4):
        frame = (np.random.default_rng(i).random((49, 65, 3)) * 255).astype(np.uint8)
        for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()
    up = _upload(client, src.read_bytes(), "odd.mp4").json
    r = _clip_job(client, up["id"])
    assert r.status_code == 202, r.json
    state = _wait(client, r.json["id"])
    assert state["state"] == "done", state
    result = state["result"]
    assert (result["width"], result["height"], result["codec"]) == (65, 49, "libvpx-vp9")
    assert "even sides" in result["note"] and "VP9" in result["note"]
    (tmp_path / "res.mp4").write_bytes(client.get(f"/api/jobs/{r.json['id']}/files/result.mp4").data)
    c = av.open(str(tmp_path / "res.mp4"))
    try:
        cc = c.streams.video[0].codec_context
        assert (cc.name, cc.pix_fmt) == ("vp9", "yuv420p")
    finally:
        c.close()
    assert (probe(tmp_path / "res.mp4").width, probe(tmp_path / "res.mp4").height) == (65, 49)
    # An even-sized clip: H.264 4:2:0 and no note.
    up = _upload(client, _clip(tmp_path / "c.mp4", n=4).read_bytes(), "c.mp4").json
    state = _wait(client, _clip_job(client, up["id"]).json["id"])
    assert state["result"]["codec"] == "libx264" and "note" not in state["result"]


def test_cancelling_a_clip_job_stops_between_frames(served, tmp_path, monkeypatch):
    from suite.serve import work

    monkeypatch.setattr(work, "_FAST", {"parts": _tiny_fast_parts()})
    app = _clip_app(served, tmp_path)
    client, queue = app.test_client(), app.extensions["suite"]["queue"]
    up = _upload(client, _clip(tmp_path / "c.mp4").read_bytes(), "c.mp4").json
    seen, update = [], queue.update

    def update_then_cancel(job, progress=None, files=None):  # the page's Cancel, pressed at frame 3
        update(job, progress, files)
        if progress and progress.get("frame"):
            seen.append(progress["frame"])
            if progress["frame"] == 3:
                queue.cancel(job.id)

    monkeypatch.setattr(queue, "update", update_then_cancel)
    r = _clip_job(client, up["id"])
    state = _wait(client, r.json["id"])
    assert state["state"] == "cancelled" and max(seen) == 3  # stopped at the next frame's check
    assert client.get(f"/api/jobs/{r.json['id']}/files/result.mp4").status_code == 404
    assert not [p for p in (tmp_path / "up").iterdir() if p.is_dir()]  # no partial file left


def _timed_clip(path, times, w=64, h=48, faststart=False) -> Path:
    """An H.264 clip whose frames are shown at ``times`` seconds (a 1 ms clock: variable frame rates)."""
    pytest.importorskip("av")  # before importing the video tests, which need it at import
    from tests.test_video import make_timed_clip

    return Path(make_timed_clip(path, times, w=w, h=h, faststart=faststart))


def _frame_times(path):
    av = pytest.importorskip("av")
    c = av.open(str(path))
    try:
        return [round(float(f.time), 4) for f in c.decode(c.streams.video[0])]
    finally:
        c.close()


def test_a_variable_frame_rate_clip_keeps_its_timestamps_through_the_page(served, tmp_path, monkeypatch):
    """Gaps of 33 and 100 ms (a phone in low light), uploaded and stylized by the page: the result has every
    frame, each at its own time (the writer's own 1/90000 clock; at 1/rate frames were rounded together and
    the MP4 refused them)."""
    from suite.serve import work

    monkeypatch.setattr(work, "_FAST", {"parts": _tiny_fast_parts()})
    times = [0, 0.033, 0.067, 0.1, 0.133, 0.167, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.733, 0.767, 0.8, 0.833]
    client = _clip_app(served, tmp_path).test_client()
    up = _upload(client, _timed_clip(tmp_path / "vfr.mp4", times).read_bytes(), "vfr.mp4")
    assert up.status_code == 201, up.json
    r = _clip_job(client, up.json["id"])
    assert r.status_code == 202, r.json
    state = _wait(client, r.json["id"])
    assert state["state"] == "done", state
    assert state["result"]["frames"] == len(times) and "note" not in state["result"]
    (tmp_path / "res.mp4").write_bytes(client.get(f"/api/jobs/{r.json['id']}/files/result.mp4").data)
    np.testing.assert_allclose(_frame_times(tmp_path / "res.mp4"), times, atol=1.5e-3)


def test_a_truncated_clip_says_it_ended_early_and_the_progress_ends_at_what_came(served, tmp_path, monkeypatch):
    """A clip cut short (its header lists 24 frames) gives the frames that decode; the job's status says how
    many of the announced ones that is, in one line under the video, and its progress ends at them (it said
    "of 24" and stopped short, with no word)."""
    from suite.serve import work

    monkeypatch.setattr(work, "_FAST", {"parts": _tiny_fast_parts()})
    full = _timed_clip(tmp_path / "full.mp4", [i / 12 for i in range(24)], faststart=True)  # index first
    data = full.read_bytes()
    client = _clip_app(served, tmp_path).test_client()
    up = _upload(client, data[: len(data) * 6 // 10], "cut.mp4")
    assert up.status_code == 201, up.json
    r = _clip_job(client, up.json["id"])
    events = client.get(f"/api/jobs/{r.json['id']}/events").get_data(as_text=True)
    states = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    assert states[-1]["state"] == "done", states[-1]
    n = states[-1]["result"]["frames"]
    assert 0 < n < 24
    note = states[-1]["result"]["note"]
    assert f"cut.mp4: the file ends after {n} of 24 announced frames (truncated?)" in note and "\n" not in note
    assert str(tmp_path) not in note
    last = states[-1]["progress"]
    assert (last["frame"], last["frames"]) == (n, n)
    (tmp_path / "res.mp4").write_bytes(client.get(f"/api/jobs/{r.json['id']}/files/result.mp4").data)
    assert len(_frame_times(tmp_path / "res.mp4")) == n
    assert client.get(f"/api/jobs/{r.json['id']}/files/result.json").json["notes"] == [note.rstrip(".")]
