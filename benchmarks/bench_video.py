"""Video style transfer: flicker, stylization strength and speed of the suite's video path vs frame by frame.

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_video.py [--frames 24] [--heights 480,1080]

The clips are generated, so their true motion is known: a slow pan (``--pan``
px per frame at 480p, scaled with the height, integer so it can be undone
exactly) over a photo from ``assets/photos``, with a textured ball crossing
it, encoded as H.264 (crf 23, as a phone or a web upload would be) and
decoded again: the network sees real compression noise.

Measured, in one run, on the decoded frames at ``--flicker-height``:

* **flicker**: the mean absolute difference between consecutive output frames
  after undoing the known pan (``out[t+1][:, x]`` against ``out[t][:, x + pan]``),
  over the pixels that stay in view and away from the ball (its box in both
  frames, grown by a margin): what a viewer sees shimmer;
* **strength**: ``mean |output - input|``, how far the picture is from the photo;
* **time**: the stylization of all frames (no file I/O), each variant after a warm-up.

Variants: ``frame`` (frame by frame: :class:`suite.style.fast.FastStyleTransfer`
per frame, the baseline); :class:`suite.style.temporal.TemporalSmoother` at
several weights, with and without undoing the global motion, over the same
stylized frames (time = frame by frame + the smoothing); and end to end the
generator the CLI runs (:meth:`suite.style.video.VideoStylizer.frames`:
batches of 4, without and with the default smoothing). Ratios are to
``frame``; goal: flicker <= 0.5, strength >= 0.8, time <= 1.5.

**Throughput** at each of ``--heights``: frames per second of the whole
pipeline, ``suite stylize clip.mp4`` (decode, stylize, encode H.264 with the
audio) against ``suite stylize FRAMES_DIR`` over the same frames as PNG files
(read, stylize, write PNG), both through their public functions in this
process, model loading included in both. Goal: ratio >= 1.0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_clip(path: Path, height: int, frames: int, pan: int, fps: int = 24, photo: str = "rocket", audio=True):
    """Writes the pan clip; returns ``(pan px per frame, [ball box (y0, y1, x0, x1) per frame])``."""
    import av
    from PIL import Image

    width = round(height * 16 / 9 / 2) * 2
    pan = max(1, round(pan * height / 480))
    img = Image.open(ROOT / "assets/photos" / f"{photo}.jpg").convert("RGB")
    need_w = width + pan * (frames + 1)
    s = max(height / img.height, need_w / img.width)
    img = img.resize((int(np.ceil(img.width * s)), int(np.ceil(img.height * s))), Image.LANCZOS)
    src = np.asarray(img)
    top = (src.shape[0] - height) // 2
    r = max(6, height // 12)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (yy**2 + xx**2) <= r * r
    checks = (((yy + r) // max(2, r // 3) + (xx + r) // max(2, r // 3)) % 2).astype(bool)
    ball = np.where(checks[..., None], np.array([230, 40, 30]), np.array([250, 220, 40])).astype(np.uint8)
    boxes = []
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=fps)
    v.width, v.height, v.pix_fmt = width, height, "yuv420p"
    v.options = {"crf": "23", "preset": "veryfast"}
    a = None
    if audio:
        a = out.add_stream("aac", rate=44100)
        a.layout = "stereo"
    for t in range(frames):
        frame = src[top : top + height, pan * t : pan * t + width].copy()
        cx = int(r + (width - 2 * r) * t / max(1, frames - 1))
        cy = int(height * 0.6 + height * 0.15 * np.sin(t / 4))
        y0, x0 = cy - r, cx - r
        region = frame[max(0, y0) : y0 + 2 * r + 1, max(0, x0) : x0 + 2 * r + 1]
        m = disk[max(0, -y0) : max(0, -y0) + region.shape[0], max(0, -x0) : max(0, -x0) + region.shape[1]]
        b = ball[max(0, -y0) : max(0, -y0) + region.shape[0], max(0, -x0) : max(0, -x0) + region.shape[1]]
        region[m] = b[m]
        boxes.append((y0, y0 + 2 * r + 1, x0, x0 + 2 * r + 1))
        for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            out.mux(p)
    if a is not None:
        n = int(44100 * frames / fps)
        tt = np.arange(n) / 44100
        tone = (0.2 * np.sin(2 * np.pi * 330 * tt)).astype(np.float32)
        f = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        f.sample_rate = 44100
        for p in a.encode(f):
            out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()
    return pan, boxes


def flicker(outputs, pan: int, boxes, margin: int) -> float:
    """Mean |out[t+1][:, x] - out[t][:, x + pan]| over pixels in view in both frames, away from the ball."""
    diffs = []
    h, w = outputs[0].shape[:2]
    for t in range(len(outputs) - 1):
        a = outputs[t + 1][:, : w - pan].astype(np.float32)
        b = outputs[t][:, pan:].astype(np.float32)
        keep = np.ones((h, w - pan), bool)
        keep[:margin], keep[-margin:], keep[:, :margin], keep[:, -margin:] = False, False, False, False
        for (y0, y1, x0, x1), dx in ((boxes[t + 1], 0), (boxes[t], -pan)):
            keep[max(0, y0 - margin) : y1 + margin, max(0, x0 + dx - margin) : max(0, x1 + dx + margin)] = False
        diffs.append(np.abs(a - b).mean(axis=-1)[keep].mean())
    return float(np.mean(diffs))


def strength(outputs, inputs) -> float:
    return float(np.mean([np.abs(o.astype(np.float32) - i.astype(np.float32)).mean() for o, i in zip(outputs, inputs)]))


def quality(args, work: Path, art):
    """Flicker, strength and time of frame by frame vs the smoothing variants, on one decoded clip."""
    from suite.common.io.images import to_uint8
    from suite.common.io.video import read_frames
    from suite.common.options import replace
    from suite.style.fast import FastStyleTransfer
    from suite.style.options import StyleOptions
    from suite.style.temporal import TemporalSmoother
    from suite.style.video import VideoStylizer

    clip = work / f"q{args.flicker_height}.mp4"
    pan, boxes = make_clip(clip, args.flicker_height, args.frames, args.pan)
    frames = [f.image for f in read_frames(clip)]
    engine = FastStyleTransfer(art)
    margin = max(4, args.flicker_height // 40)
    print(
        f"quality clip: {frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames, pan {pan} px/frame, "
        f"H.264 crf 23; flicker margin {margin} px"
    )
    print(f"input flicker (compression noise floor): {flicker(frames, pan, boxes, margin):.2f}")
    engine.transfer(frames[0])  # warm-up: graph tracing
    t0 = time.perf_counter()
    styled = [engine.transfer(f).image for f in frames]
    t_frame = time.perf_counter() - t0
    rows = {"frame": ([to_uint8(o) for o in styled], t_frame)}
    # The smoother is a post-process of (input, stylized) pairs: its variants run over the same stylized frames,
    # and their time is the frame-by-frame time plus the smoothing's own.
    for weight, motion in ((0.5, True), (0.7, True), (0.8, True), (0.7, False)):
        sm = TemporalSmoother(weight=weight, motion=motion)
        t0 = time.perf_counter()
        outs = [to_uint8(sm(f, o)) for f, o in zip(frames, styled)]
        rows[f"smooth {weight}" + ("" if motion else " in place")] = (outs, t_frame + time.perf_counter() - t0)
    # End to end: the generator the CLI runs (batches of 4 + the default smoothing).
    for name, temporal, batch in (
        ("batch 4, no smoothing", 0.0, 4),
        ("batch 1, no smoothing", 0.0, 1),
        ("VideoStylizer default", StyleOptions().temporal, StyleOptions().frame_batch),
    ):
        vs = VideoStylizer(
            method="fast", options=replace(StyleOptions(), temporal=temporal, frame_batch=batch), engine=engine
        )
        list(vs.frames(frames[:4]))
        t0 = time.perf_counter()
        outs = list(vs.frames(frames))
        rows[name] = (outs, time.perf_counter() - t0)
    base_fl, base_st = flicker(rows["frame"][0], pan, boxes, margin), strength(rows["frame"][0], frames)
    print(
        f"{'variant':24s} {'flicker':>8s} {'strength':>9s} {'time s':>8s} | {'flicker':>7s} {'strength':>8s} "
        f"{'time':>6s} (ratios to frame)"
    )
    for name, (outs, sec) in rows.items():
        fl, st = flicker(outs, pan, boxes, margin), strength(outs, frames)
        print(
            f"{name:24s} {fl:8.2f} {st:9.2f} {sec:8.2f} | {fl / base_fl:7.2f} {st / base_st:8.2f} {sec / t_frame:6.2f}"
        )
    if args.frames_out:
        from PIL import Image

        out = Path(args.frames_out)
        out.mkdir(parents=True, exist_ok=True)
        k = len(frames) // 2
        for name in ("frame", "VideoStylizer default"):
            strip = np.concatenate([rows[name][0][j] for j in (k, k + 1)], axis=1)
            Image.fromarray(strip).save(out / f"{name.split()[0].lower()}.png")
        Image.fromarray(np.concatenate([frames[k], frames[k + 1]], axis=1)).save(out / "input.png")
    return rows


def throughput(args, work: Path, art_path: Path, height: int):
    from PIL import Image

    from suite.common.io.video import read_frames
    from suite.common.options import replace
    from suite.style.batch import fast_stylize_paths
    from suite.style.options import StyleOptions
    from suite.style.video import find_videos, stylize_video_paths

    clip = work / f"t{height}.mp4"
    make_clip(clip, height, args.frames, args.pan)
    frames_dir = work / f"frames{height}"
    frames_dir.mkdir()
    for f in read_frames(clip):
        Image.fromarray(f.image).save(frames_dir / f"{f.index:05d}.png")
    n = len(list(frames_dir.glob("*.png")))
    t0 = time.perf_counter()
    r = fast_stylize_paths(
        [frames_dir], [art_path], work / f"out_frames{height}", progress=False, on_message=lambda m: None
    )
    photos = time.perf_counter() - t0
    assert len(r.done) == n, r.failed
    t0 = time.perf_counter()
    r = stylize_video_paths(
        find_videos([clip]),
        [art_path],
        work / f"out{height}.mp4",
        method="fast",
        options=replace(StyleOptions(), method="fast"),
        progress=False,
        on_message=lambda m: None,
    )
    video = time.perf_counter() - t0
    assert len(r.done) == 1, r.failed
    print(
        f"throughput {height}p ({n} frames): FRAMES_DIR {n / photos:.2f} fps, clip.mp4 {n / video:.2f} fps, "
        f"ratio {photos / video:.2f}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--pan", type=int, default=2, help="pan in px per frame at 480p (scaled with the height)")
    ap.add_argument("--flicker-height", type=int, default=480)
    ap.add_argument("--heights", default="480,1080", help="throughput clip heights ('' = skip)")
    ap.add_argument("--style", default=str(ROOT / "assets/styles/mosaic.jpg"))
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--frames-out", default=None, help="folder for PNG strips of two consecutive output frames")
    args = ap.parse_args()
    from suite.common.io.images import load_image

    art = load_image(args.style)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_quality:
            quality(args, work, art)
        for h in [int(v) for v in args.heights.split(",") if v.strip()]:
            throughput(args, work, Path(args.style), h)


if __name__ == "__main__":
    main()
