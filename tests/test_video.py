"""Videos: PyAV I/O (frame count, rate, size, rotation, audio packets), the generator interface, temporal smoothing,
and `suite stylize clip.mp4` (formats, --start/--duration, damaged files, interruptions, folders, no PyAV)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import write_random_image

av = pytest.importorskip("av")

ROOT = Path(__file__).resolve().parents[1]


def make_clip(path, n=8, w=64, h=48, fps=12, audio=True, rotation=None, seed=0):
    """A tiny clip of moving noise: H.264 + AAC for .mp4/.mov, VP9 + Opus for .webm, GIF for .gif."""
    path = Path(path)
    ext = path.suffix.lower()
    vcodec = {".gif": "gif", ".webm": "libvpx-vp9"}.get(ext, "libx264")
    out = av.open(str(path), "w")
    v = out.add_stream(vcodec, rate=fps)
    v.width, v.height = w, h
    v.pix_fmt = "rgb8" if vcodec == "gif" else "yuv420p"
    if rotation is not None:
        v.set_display_rotation(rotation)
    a = None
    if audio and ext != ".gif":
        a = out.add_stream("libopus" if ext == ".webm" else "aac", rate=48000 if ext == ".webm" else 8000)
        a.layout = "mono"
    rng = np.random.default_rng(seed)
    base = (rng.random((h, w + n, 3)) * 255).astype(np.uint8)
    for i in range(n):
        frame = np.ascontiguousarray(base[:, i : i + w])
        for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            out.mux(p)
    if a is not None:
        sr = a.codec_context.sample_rate
        t = np.arange(int(sr * n / fps)) / sr
        f = av.AudioFrame.from_ndarray(
            (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp", layout="mono"
        )
        f.sample_rate = sr
        for p in a.encode(f):
            out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()
    return path


def audio_packets(path):
    c = av.open(str(path))
    try:
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]
    finally:
        c.close()


def frame_count(path):
    from suite.common.io.video import read_frames

    return len(list(read_frames(path)))


# ------------------------------------------------------------------ I/O
def test_probe_read_and_write_keep_count_rate_size_rotation_and_audio(tmp_path):
    from suite.common.io.video import VideoWriter, probe, read_frames

    src = make_clip(tmp_path / "in.mp4", rotation=90)
    info = probe(src)
    assert (info.width, info.height, info.rate, info.frames, info.rotation) == (64, 48, 12, 8, 90)
    assert info.audio == [("aac", 8000, 1)]
    frames = list(read_frames(src))
    assert len(frames) == 8 and frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    np.testing.assert_allclose([f.time for f in frames], np.arange(8) / 12, atol=1e-3)
    dst = tmp_path / "out.mp4"
    with VideoWriter(dst, info) as w:
        for f in frames:
            w.write(255 - f.image, f.time)
    out = probe(dst)
    assert (out.width, out.height, out.rate, out.frames, out.rotation) == (64, 48, 12, 8, 90)
    assert out.display_matrix == info.display_matrix
    assert audio_packets(dst) == audio_packets(src)  # copied, not re-encoded
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("ext", [".mov", ".webm", ".gif", ".mkv"])
def test_writer_formats(tmp_path, ext):
    from suite.common.io.video import VideoWriter, probe, read_frames

    src = make_clip(tmp_path / "in.mp4")
    info = probe(src)
    notes = []
    dst = tmp_path / f"out{ext}"
    with VideoWriter(dst, info, on_message=notes.append) as w:
        for f in read_frames(src):
            w.write(f.image, f.time)
    out = probe(dst)
    assert (out.width, out.height) == (64, 48) and frame_count(dst) == 8
    if ext == ".gif":
        assert abs(float(out.rate) - 12) < 0.6  # GIF counts time in 1/100 s
        assert out.audio == [] and any("no sound" in n for n in notes)
    else:
        assert out.rate == 12 and len(out.audio) == 1
    if ext in (".mov", ".mkv"):  # the same packets (Matroska counts time in ms: compare the payloads there)
        assert [b for _, b in audio_packets(dst)] == [b for _, b in audio_packets(src)]
    if ext == ".webm":
        assert out.audio[0][0] == "opus" and any("re-encoded" in n for n in notes)


def test_odd_sizes_keep_their_size_and_browsers_get_4_2_0(tmp_path):
    """libx264 cannot make 4:2:0 at an odd side: .mp4 is H.264 4:4:4 by default, VP9 4:2:0 (same size) for a
    web page; WebM is VP9 4:2:0 at any size."""
    from suite.common.io.video import VideoWriter, probe

    src = tmp_path / "odd.mkv"
    c = av.open(str(src), "w")
    v = c.add_stream("libx264", rate=12)
    v.width, v.height, v.pix_fmt = 65, 49, "yuv444p"
    rng = np.random.default_rng(0)
    for _ in range(3):
        for p in v.encode(av.VideoFrame.from_ndarray((rng.random((49, 65, 3)) * 255).astype(np.uint8), format="rgb24")):
            c.mux(p)
    for p in v.encode(None):
        c.mux(p)
    c.close()
    info = probe(src)

    def write(name, **kw):
        dst = tmp_path / name
        with VideoWriter(dst, info, **kw) as w:
            for i in range(3):
                w.write(np.full((49, 65, 3), 40 * i, np.uint8), i / 12)
        got = av.open(str(dst))
        try:
            cc = got.streams.video[0].codec_context
            return w.codec, (cc.name, cc.pix_fmt, cc.width, cc.height), frame_count(dst)
        finally:
            got.close()

    assert write("plain.mp4") == ("libx264", ("h264", "yuv444p", 65, 49), 3)
    assert write("page.mp4", for_browsers=True) == ("libvpx-vp9", ("vp9", "yuv420p", 65, 49), 3)
    assert write("clip.webm") == ("libvpx-vp9", ("vp9", "yuv420p", 65, 49), 3)
    even = probe(make_clip(tmp_path / "even.mp4", audio=False))
    with VideoWriter(tmp_path / "even_page.mp4", even, for_browsers=True) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
    assert (w.codec, w.pix_fmt) == ("libx264", "yuv420p")  # even sides stay H.264 4:2:0


def make_timed_clip(path, times, vcodec="libx264", audio=None, w=64, h=48, faststart=False):
    """A clip whose frames are shown at ``times`` (seconds, in a 1 ms clock: variable rates, a start offset),
    with ``audio`` ("libopus" or "aac", one second of a tone) or none; ``faststart``: the MP4 index first."""
    from fractions import Fraction

    out = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    v = out.add_stream(vcodec, rate=round(len(times) / max(times[-1], 1e-3)))
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    v.codec_context.time_base = Fraction(1, 1000)
    packets = []
    if audio is not None:
        a = out.add_stream(audio, rate=48000)
        a.layout = "mono"
        t = np.arange(48000) / 48000
        f = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], "fltp", "mono")
        f.sample_rate = 48000
        packets = list(a.encode(f)) + list(a.encode(None))
    for i, t in enumerate(times):
        f = av.VideoFrame.from_ndarray(np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8), "rgb24")
        f.pts, f.time_base = round(t * 1000), Fraction(1, 1000)
        for p in v.encode(f):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    for p in packets:
        out.mux(p)
    out.close()
    return path


def _copy_with_writer(src, dst):
    from suite.common.io.video import VideoWriter, probe, read_frames

    with VideoWriter(dst, probe(src)) as w:
        for f in read_frames(src):
            w.write(f.image, f.time, f.duration)
    c = av.open(str(dst))
    try:
        return [round(float(f.time), 3) for f in c.decode(c.streams.video[0])]
    finally:
        c.close()


@pytest.mark.parametrize("ext", [".webm", ".mkv"])
def test_matroska_outputs_keep_the_timestamps_with_audio_and_a_start_offset(tmp_path, ext):
    """Matroska counts in ms: once its header was written (the audio goes first) frames were stamped in that
    clock and every frame after the second landed at 7.5 s."""
    times = [0.007 + i / 12 for i in range(12)]  # as FFmpeg writes VP9 + Opus: the video starts 7 ms in
    src = make_timed_clip(tmp_path / "in.webm", times, "libvpx-vp9", audio="libopus")
    got = _copy_with_writer(src, tmp_path / f"out{ext}")
    np.testing.assert_allclose(got, np.array(times) - 0.007, atol=1.5e-3)


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_a_variable_frame_rate_is_kept(tmp_path, ext):
    """Gaps of 33 and 100 ms (a phone in low light): the encoder's clock at 1/rate rounded frames together
    (an MP4 refused them with `Invalid argument`)."""
    times = [0, 0.033, 0.067, 0.1, 0.133, 0.167, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.733, 0.767, 0.8, 0.833]
    src = make_timed_clip(tmp_path / "vfr.mp4", times)
    np.testing.assert_allclose(_copy_with_writer(src, tmp_path / f"out{ext}"), times, atol=1.5e-3)


def _gif_delays(path):
    from PIL import Image

    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(im.info["duration"])
        return out


def test_gif_frame_delays_are_kept(tmp_path):
    """Delays of 130 and 120 ms in turn, the last one 300 ms: the encoder's clock at 1/rate made every delay
    120 ms, and the last frame (whose delay no next timestamp tells) got 1/rate (80 ms here) until its own
    duration was handed to the muxer."""
    from PIL import Image

    from suite.common.io.video import VideoWriter, probe, read_frames

    src = tmp_path / "in.gif"
    delays = [130, 120] * 3 + [130, 300]
    frames = [Image.fromarray(np.full((24, 32, 3), 30 * i, np.uint8)) for i in range(8)]
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=delays, loop=0)
    assert _gif_delays(src) == delays
    _copy_with_writer(src, tmp_path / "out.gif")
    assert _gif_delays(tmp_path / "out.gif") == delays
    # Frames without a duration: the last is shown as long as the one before it.
    with VideoWriter(tmp_path / "times.gif", probe(src)) as w:
        for f in read_frames(src):
            w.write(f.image, f.time)
    assert _gif_delays(tmp_path / "times.gif") == delays[:-1] + [130]
    # Through the command (the decode/stylize/encode pipeline), a GIF keeps every delay too.
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    r = _stylize([src, "--style", style, "-o", tmp_path / "styled.gif", "--size", "32"])
    assert r.exit_code == 0, r.output
    assert _gif_delays(tmp_path / "styled.gif") == delays


def test_aac_priming_packet_is_copied(tmp_path):
    """FFmpeg's AAC starts with a packet at pts -1024 (the decoder's pre-roll); all packets are copied."""
    from fractions import Fraction

    src = tmp_path / "in.mp4"
    out = av.open(str(src), "w")
    v = out.add_stream("libx264", rate=12)
    v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
    a = out.add_stream("aac", rate=8000)
    a.layout = "mono"
    t = np.arange(8000) / 8000
    f = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], "fltp", "mono")
    f.sample_rate, f.pts, f.time_base = 8000, 0, Fraction(1, 8000)
    for p in list(a.encode(f)) + list(a.encode(None)):  # from pts 0 the encoder's first packet is at -1024
        out.mux(p)
    for i in range(12):
        for p in v.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), "rgb24")):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()
    packets = audio_packets(src)
    assert packets[0][0] == -1024  # as the ffmpeg command line writes AAC (its edit list hides the priming)
    _copy_with_writer(src, tmp_path / "out.mp4")
    assert audio_packets(tmp_path / "out.mp4") == packets


def test_animated_gif_in_and_window(tmp_path):
    from suite.common.io.video import is_video_file, probe, read_frames

    gif = make_clip(tmp_path / "in.gif", n=6)
    still = tmp_path / "still.gif"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(still)
    assert is_video_file(gif) and not is_video_file(still)
    assert probe(gif).width == 64 and frame_count(gif) == 6
    src = make_clip(tmp_path / "in.mp4", n=12)
    window = list(read_frames(src, start=0.25, duration=0.5))
    assert len(window) == 6 and window[0].time == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_a_late_start_seeks_and_gives_the_same_frames(tmp_path, ext):
    from suite.common.io.video import read_frames

    src = make_clip(tmp_path / f"long{ext}", n=60, audio=False)
    every = list(read_frames(src))
    window = list(read_frames(src, start=3.0, duration=1.0))
    expected = [f for f in every if 3.0 - 1e-6 <= f.time < 4.0 - 1e-6]
    assert len(window) == len(expected) == 12 and window[0].time == pytest.approx(0.0, abs=1e-6)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(window, expected))


def test_damaged_and_unsupported_files_are_one_line(tmp_path):
    from suite.common.io.video import VideoReadError, probe

    src = make_clip(tmp_path / "in.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"\x00\x01not a video at all" * 20)
    sound = tmp_path / "sound.mp4"
    out = av.open(str(sound), "w")
    a = out.add_stream("aac", rate=8000)
    f = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
    f.sample_rate = 8000
    for p in list(a.encode(f)) + list(a.encode(None)):
        out.mux(p)
    out.close()
    for bad, words in ((cut, "not a readable video"), (junk, "not a readable video"), (sound, "no video stream")):
        with pytest.raises(VideoReadError) as e:
            probe(bad)
        assert words in str(e.value) and "\n" not in str(e.value) and str(bad) in str(e.value)


def test_no_partial_file_when_writing_fails(tmp_path):
    from suite.common.io.video import VideoWriter, probe

    info = probe(make_clip(tmp_path / "in.mp4"))
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(dst, info) as w:
            w.write(np.zeros((48, 64, 3), np.uint8), 0.0)
            raise KeyboardInterrupt
    assert not dst.exists() and os.listdir(tmp_path) == ["in.mp4"]


# ------------------------------------------------------------------ temporal smoothing
def test_phase_shift_finds_a_translation():
    from suite.style.temporal import phase_shift, shift_image

    rng = np.random.default_rng(0)
    a = rng.random((96, 128)).astype(np.float32)
    from scipy.ndimage import gaussian_filter

    a = gaussian_filter(a, 2) * 255
    b, _ = shift_image(a, 3.0, -5.5)
    dy, dx, peak = phase_shift(a, b)
    assert abs(dy - 3.0) < 0.3 and abs(dx + 5.5) < 0.3 and peak > 0.1


def test_smoother_keeps_still_parts_and_takes_moving_ones_fresh():
    """Where the input is unchanged, the previous result carries over; where an object moved, no ghost of it."""
    from scipy.ndimage import gaussian_filter

    from suite.style.temporal import TemporalSmoother

    sm = TemporalSmoother(weight=0.8)
    rng = np.random.default_rng(0)
    frame0 = np.repeat(gaussian_filter(rng.random((48, 64)), 2)[..., None] * 800 - 280, 3, axis=-1).astype(np.float32)
    frame1 = frame0.copy()
    frame1[10:20, 40:50] = 250.0  # an object appears
    sm(frame0, np.full_like(frame0, 50.0))
    out = sm(frame1, np.full_like(frame0, 100.0))
    assert abs(out[30:, :20].mean() - (0.8 * 50 + 0.2 * 100)) < 1e-3  # unchanged background: mostly kept
    assert abs(out[12:18, 42:48].mean() - 100.0) < 1e-3  # the new object: the fresh stylization only
    off = TemporalSmoother(weight=0.0)
    off(frame0, np.zeros_like(frame0))
    assert off(frame1, np.full_like(frame0, 7.0)).mean() == 7.0


def _gradient_with_square(i, w=160, h=120, step=8):
    """A still colour gradient (no texture) with a white square moving ``step`` px a frame across it."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0], img[..., 1], img[..., 2] = x * 255 // (w - 1), y * 255 // (h - 1), 80
    img[h // 3 : h // 3 + 30, 20 + i * step : 50 + i * step] = 255
    return img


def test_an_object_crossing_a_still_gradient_is_not_taken_for_a_pan():
    """The camera stays still when only an object moves, even on a background without texture.

    A grey shift along the gradient's level lines that follows the square explains the frame almost as well in
    the mean as no motion: it used to win, and the smoother then smeared the still background along with it.
    """
    from suite.style.temporal import TemporalSmoother

    sm = TemporalSmoother(weight=0.7)
    styled = np.random.default_rng(0).uniform(0, 255, (120, 160, 3)).astype(np.float32)  # strokes: texture
    out0 = sm(_gradient_with_square(0), styled)
    for i in range(1, 6):
        assert sm.shift_to_current(_gradient_with_square(i)) == (0.0, 0.0)
    sm.reset()
    sm(_gradient_with_square(0), styled)
    out1 = sm(_gradient_with_square(1), styled + 10.0)
    # The still bottom strip: 70% of the previous result in place, nothing moved in from the side.
    np.testing.assert_allclose(out1[90:, :], 0.7 * out0[90:, :] + 0.3 * (styled[90:, :] + 10.0), atol=1e-3)


def test_a_pan_with_an_object_crossing_it_is_still_found():
    from scipy.ndimage import gaussian_filter

    from suite.style.temporal import TemporalSmoother, shift_image

    rng = np.random.default_rng(1)
    scene = np.stack([gaussian_filter(rng.random((140, 200)), 2) * 900 - 330 for _ in range(3)], -1)
    scene = np.clip(scene, 0, 255).astype(np.float32)
    sm = TemporalSmoother()
    for i in range(4):
        frame, _ = shift_image(scene, 0.0, 3.0 * i)  # the camera pans 3 px a frame
        frame = frame.copy()
        frame[40:70, 10 + 12 * i : 40 + 12 * i] = 255.0  # a square crossing it faster
        shift = sm.shift_to_current(frame)
        if i:
            assert shift is not None and abs(shift[0]) < 0.3 and abs(shift[1] - 3.0) < 0.3, shift


@pytest.fixture(scope="module")
def random_engine():
    """The fast method with random weights: shapes, order and smoothing do not depend on trained weights."""
    from suite.style.fast import FastStyleTransfer
    from suite.style.fast_models import build_style_predictor, build_style_transformer, load_magenta_predictor_head

    return FastStyleTransfer(
        np.full((32, 32, 3), 80.0, np.float32),
        predictor=load_magenta_predictor_head(build_style_predictor(weights="none")),
        transformer=build_style_transformer(),
    )


def test_generator_interface_one_out_per_frame(random_engine):
    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    rng = np.random.default_rng(0)
    frames = [(rng.random((24, 40, 3)) * 255).astype(np.uint8) for _ in range(5)] + [np.zeros((16, 16, 3), np.uint8)]
    vs = VideoStylizer(
        method="fast", options=replace(StyleOptions(), temporal=0.0, frame_batch=2), engine=random_engine
    )
    outs = list(vs.frames(iter(frames)))
    assert [o.shape for o in outs] == [f.shape for f in frames] and all(o.dtype == np.uint8 for o in outs)
    # Batches give what frame-by-frame gives.
    single = np.clip(random_engine.transfer(frames[3]).image, 0, 255)
    assert np.abs(outs[3].astype(np.float32) - single).max() <= 1.0
    # A still clip with smoothing on: steady output.
    still = [frames[0]] * 4
    vs = VideoStylizer(method="fast", options=replace(StyleOptions(), temporal=0.7), engine=random_engine)
    steady = list(vs.frames(still))
    assert max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(steady, steady[1:])) <= 1


def test_float_frames_in_0_1_get_the_photo_paths_warning_once(random_engine, monkeypatch):
    """Frames are checked as photos are (suite.common.io.images.as_rgb_array): float frames in [0, 1] are read
    on the [0, 255] scale (nearly black), so a warning says so, once for the clip; [0, 255] floats are silent,
    and a frame that is not an image is one line."""
    import warnings

    from suite.common.io import images
    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    monkeypatch.setattr(images, "_WARNED_UNIT_RANGE", set())
    rng = np.random.default_rng(0)
    unit = [rng.random((24, 40, 3)).astype(np.float32) for _ in range(3)]
    vs = VideoStylizer(method="fast", options=replace(StyleOptions(), temporal=0.0), engine=random_engine)
    with pytest.warns(UserWarning, match=r"frames is a float array with values up to 0\.9") as caught:
        assert len(list(vs.frames(unit))) == 3
    assert len([w for w in caught if "float array" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(vs.frames([u * 255 for u in unit]))
    with pytest.raises(ValueError, match=r"Expected frames to be an \(H, W, 3\) RGB image"):
        list(vs.frames([np.zeros((24, 40, 4), np.uint8)]))


def test_a_truncated_clip_keeps_what_decodes_and_says_so(tmp_path, random_engine, monkeypatch):
    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    full = tmp_path / "full.mp4"
    out = av.open(str(full), "w", options={"movflags": "faststart"})  # the index first: a cut file still opens
    v = out.add_stream("libx264", rate=12)
    v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
    rng = np.random.default_rng(0)
    for _ in range(24):
        for p in v.encode(av.VideoFrame.from_ndarray((rng.random((48, 64, 3)) * 255).astype(np.uint8), format="rgb24")):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    out.close()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    notes, bars = [], []
    import suite.common.ui.progress as progress

    real = progress.make_progress
    monkeypatch.setattr(progress, "make_progress", lambda *a, **k: bars.append(real(*a, **k)) or bars[-1])
    vs = VideoStylizer(method="fast", options=replace(StyleOptions(), size=16), engine=random_engine)
    result = vs.video(cut, tmp_path / "o.mp4", on_message=notes.append, progress=True)
    assert 0 < result.frames < 24 and frame_count(tmp_path / "o.mp4") == result.frames
    line = f"cut.mp4: the file ends after {result.frames} of 24 announced frames (truncated?)"
    assert len([n for n in notes if line in n]) == 1 and result.truncated and result.announced == 24
    assert result.notes == [n.removeprefix("note: ") for n in notes]
    # The bar's total was the packets the cut file's index lists: it ends at the frames that came.
    (task,) = bars[0].tasks
    assert task.total == task.completed == result.frames
    # The command: the note on stderr, in --json's "notes" and in the sidecar.
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    r = _stylize([cut, "--style", style, "-o", tmp_path / "c.mp4", "--size", "16", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["frames"] == result.frames and summary["notes"] == [line + f"; {result.frames} kept"]
    assert f"note: {line}" in r.stderr
    assert json.loads((tmp_path / "c.mp4.json").read_text())["notes"] == summary["notes"]
    # A whole file: no note.
    r = _stylize([full, "--style", style, "-o", tmp_path / "f.mp4", "--size", "16", "--json"])
    assert r.exit_code == 0 and "notes" not in json.loads(r.stdout) and "note" not in r.stderr, r.output


def test_a_truncated_matroska_clip_says_so_from_its_duration(tmp_path, random_engine):
    """Matroska gives no frame count: an MKV cut at 60% wrote 23 of 36 frames with no note (an MP4 got one)."""
    from suite.common.io.video import probe
    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    full = make_clip(tmp_path / "full.mkv", n=36, audio=False)
    assert probe(full).frames == 0 and probe(full).duration == pytest.approx(3.0, abs=0.1)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    vs = VideoStylizer(method="fast", options=replace(StyleOptions(), size=16), engine=random_engine)
    notes = []
    result = vs.video(cut, tmp_path / "o.mkv", on_message=notes.append)
    assert 0 < result.frames < 33 and result.truncated and result.announced == 36, result
    line = f"cut.mkv: the file ends after {result.frames} of 36 announced frames (truncated?); {result.frames} kept"
    assert result.notes == [line] and notes == [f"note: {line}"]
    # The whole file, and a window of the cut one: no note.
    assert vs.video(full, tmp_path / "f.mkv").notes == []
    windowed = VideoStylizer(
        method="fast", options=replace(StyleOptions(), size=16, start=0.5, duration=0.5), engine=random_engine
    )
    assert windowed.video(cut, tmp_path / "w.mkv").notes == []


def test_python_api_onto_an_existing_file_says_overwrite_true(tmp_path, random_engine):
    from suite.common.io.atomic import OutputExistsError
    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    src = make_clip(tmp_path / "in.mp4", n=2, audio=False)
    dst = tmp_path / "o.mp4"
    dst.write_bytes(b"mine")
    vs = VideoStylizer(method="fast", options=replace(StyleOptions(), size=16), engine=random_engine)
    with pytest.raises(OutputExistsError, match=r"exists \(pass overwrite=True to replace it\)$"):
        vs.video(src, dst)
    assert dst.read_bytes() == b"mine"
    assert vs.video(src, dst, overwrite=True).frames == 2


def test_compare_with_a_video_says_it_applies_to_photos(tmp_path):
    """--compare makes a photo's content | style | result sheet; with a clip it was silently ignored."""
    src = make_clip(tmp_path / "in.mp4", n=3, audio=False)
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    write_random_image(tmp_path / "photos" / "p.png", 30, 40)
    (tmp_path / "photos" / "in.mp4").write_bytes(src.read_bytes())
    r = _stylize([tmp_path / "photos", "--style", style, "-o", tmp_path / "out", "--size", "32", "--compare", "--json"])
    assert r.exit_code == 0, r.output
    line = "--compare applies to photos only; no side-by-side for 1 video"
    assert r.stderr.count(line) == 1 and json.loads(r.stdout)["notes"] == [line]
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "p_compare.jpg" in names and not [n for n in names if n.startswith("in_compare")], names
    r = _stylize([src, "--style", style, "-o", tmp_path / "o.mp4", "--size", "32"])  # without --compare: no note
    assert r.exit_code == 0 and "--compare" not in r.output


# ------------------------------------------------------------------ the command
def _stylize(args):
    from click.testing import CliRunner

    from suite.cli import main

    return CliRunner().invoke(main, ["stylize", *map(str, args), "--method", "fast", "--no-progress"])


@pytest.mark.parametrize(
    ("ext", "line"), [(".webm", "webm cannot hold aac audio; re-encoded as libopus"), (".gif", "GIF holds no sound")]
)
def test_audio_notes_are_in_json_and_sidecar(tmp_path, ext, line):
    """An audio track re-encoded (AAC into WebM) or left out (GIF) was told on stderr only."""
    src = make_clip(tmp_path / "in.mp4", n=3)
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    out = tmp_path / f"o{ext}"
    r = _stylize([src, "--style", style, "-o", out, "--size", "32", "--json"])
    assert r.exit_code == 0, r.output
    notes = json.loads(r.stdout)["notes"]
    assert len(notes) == 1 and line in notes[0] and notes[0].startswith(out.name), notes
    assert r.stderr.count(line) == 1
    assert json.loads(Path(str(out) + ".json").read_text())["notes"] == notes


def test_folder_of_videos_lists_what_is_not_an_image(tmp_path):
    """A folder's audio.m4a and notes.txt were said "skipped: not an image" but missing from --json."""
    folder = tmp_path / "mix"
    make_clip(folder.mkdir() or folder / "in.mp4", n=3, audio=False)
    make_clip(tmp_path / "a.mp4", n=3)
    (folder / "audio.m4a").write_bytes((tmp_path / "a.mp4").read_bytes())
    (folder / "notes.txt").write_text("hello")
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    r = _stylize([folder, "--style", style, "-o", tmp_path / "out", "--size", "32", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert sorted(Path(p).name for p in summary["not_images"]) == ["audio.m4a", "notes.txt"], summary
    assert summary["counts"]["not_images"] == 2 and len(summary["done"]) == 1
    assert r.stderr.count("not an image") == 2


def test_cli_video_keeps_frames_rate_size_audio_and_window(tmp_path):
    from suite.common.io.video import probe

    src = make_clip(tmp_path / "in.mp4", n=12, rotation=270)
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    out = tmp_path / "out.mp4"
    r = _stylize([src, "--style", style, "-o", out, "--size", "32"])
    assert r.exit_code == 0, r.output
    info = probe(out)
    assert (info.width, info.height, info.rate, info.rotation) == (64, 48, 12, 270) and frame_count(out) == 12
    assert audio_packets(out) == audio_packets(src)
    side = json.loads((out.with_name(out.name + ".json")).read_text())
    assert side["frames"] == 12 and side["options"]["temporal"] == 0.7
    r = _stylize(
        [src, "--style", style, "-o", tmp_path / "part.gif", "--size", "32", "--start", "0.25", "--duration", "0.5"]
    )
    assert r.exit_code == 0, r.output
    assert frame_count(tmp_path / "part.gif") == 6
    r = _stylize([src, "--style", style, "-o", out, "--size", "32"])
    assert r.exit_code == 0 and "exists" in r.output  # skipped, as photos are
    r = _stylize([src, "--style", style, "-o", tmp_path / "still.png", "--size", "32"])
    assert r.exit_code == 2 and "is a video" in r.output
    r = _stylize([src, "--style", style, "-o", tmp_path / "late.mp4", "--start", "30"])
    assert r.exit_code == 1 and "no frames between 30 s and the end" in r.output and "Traceback" not in r.output


def test_cli_video_honours_no_mixed_precision(tmp_path, monkeypatch):
    """--no-mixed-precision reaches the clip's fast network as it reaches a photo's: float32 throughout, even
    where the automatic choice would be bfloat16 (a CPU with bfloat16 instructions, made so here); --json
    says what applied."""
    import suite.common.device as device
    import suite.style.fast_models as fast_models

    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    built = []
    real = fast_models.magenta_transformer

    def spy(dtype=None):
        built.append(real(dtype=dtype))
        return built[-1]

    monkeypatch.setattr(fast_models, "magenta_transformer", spy)
    src = make_clip(tmp_path / "in.mp4", n=3, audio=False)
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)

    def compute_dtypes(model):
        return {layer.dtype_policy.compute_dtype for layer in model.layers if layer.weights}

    r = _stylize([src, "--style", style, "-o", tmp_path / "f32.mp4", "--no-mixed-precision", "--json"])
    assert r.exit_code == 0, r.output
    assert len(built) == 1 and compute_dtypes(built[0]) == {"float32"}
    assert frame_count(tmp_path / "f32.mp4") == 3
    # The --json summary: the options the fast method used (the clip's own size, no Gatys settings), and frames.
    summary = json.loads(r.stdout)
    assert summary["options"]["size"] is None and summary["options"]["method"] == "fast"
    assert "iterations" not in summary["options"] and "optimizer" not in summary["options"]
    assert summary["frames"] == 3 and summary["frames_per_second"] > 0
    # The automatic choice on such a CPU: bfloat16 convolutions (so the check above can fail).
    from suite.style.video import VideoStylizer

    auto = VideoStylizer([np.full((32, 32, 3), 80.0, np.float32)], method="fast")
    assert "bfloat16" in compute_dtypes(auto.engine.transformer)


def test_cli_folder_of_videos_and_photos_with_a_damaged_clip(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "a.mp4")
    make_clip(folder / "b.gif", n=4, audio=False)
    write_random_image(folder / "c.png", 30, 40)
    (folder / "d.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 50)
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    out = tmp_path / "out"
    r = _stylize([folder, "--style", style, "-o", out, "--size", "32"])
    assert r.exit_code == 1, r.output
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".json") == ["a.mp4", "b.gif", "c.png"]
    errors = [line for line in r.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "d.mp4" in errors[0] and "Traceback" not in r.output
    assert "not an image" not in r.output
    assert frame_count(out / "b.gif") == 4


def test_cli_audio_only_file_and_a_photo_with_a_video_name(tmp_path):
    """A named .m4a is told what it lacks (no video stream), not "not an image file"; a photo with -o x.mp4 is a
    usage error, not a new folder named x.mp4; in a folder an audio file is not an input, as before."""
    sound = tmp_path / "song.m4a"
    out = av.open(str(sound), "w", format="mp4")
    a = out.add_stream("aac", rate=8000)
    a.layout = "mono"
    f = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), "fltp", "mono")
    f.sample_rate = 8000
    for p in list(a.encode(f)) + list(a.encode(None)):
        out.mux(p)
    out.close()
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    r = _stylize([sound, "--style", style, "-o", tmp_path / "out" / "song.mp4"])
    assert r.exit_code == 1 and "song.m4a: no video stream" in r.output and "not an image" not in r.output
    assert not (tmp_path / "out" / "song.mp4").exists()
    photo = tmp_path / "photo.png"
    write_random_image(photo, 30, 40)
    for name in ("photo.mp4", "photo.webm", "photo.gif"):
        r = _stylize([photo, "--style", style, "-o", tmp_path / "res" / name])
        assert r.exit_code == 2 and "stylize writes images as" in r.output, r.output
    assert not (tmp_path / "res").exists()
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_random_image(folder / "a.png", 30, 40)
    (folder / "song.m4a").write_bytes(sound.read_bytes())
    r = _stylize([folder, "--style", style, "-o", tmp_path / "res", "--size", "32"])
    assert r.exit_code == 0 and "skipped" in r.output and "song.m4a" in r.output, r.output
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["a.png", "a.png.json"]


def test_cli_without_pyav_names_the_extra(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mp4")
    style = tmp_path / "art.png"
    write_random_image(style)
    monkeypatch.setitem(sys.modules, "av", None)
    r = _stylize([src, "--style", style, "-o", tmp_path / "o.mp4"])
    assert r.exit_code == 1 and "pip install 'keras-cv-suite[video]'" in r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_video_leaves_no_partial_file(tmp_path, sig):
    src = make_clip(tmp_path / "long.mp4", n=900, fps=30)
    style = tmp_path / "art.png"
    write_random_image(style, 40, 40, seed=3)
    out = tmp_path / "out"
    out.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "suite",
        "stylize",
        str(src),
        "--style",
        str(style),
        "--method",
        "fast",
        "-o",
        str(out / "o.mp4"),
        "--size",
        "32",
        "--frame-batch",
        "1",
        "--no-progress",
        "--device",
        "cpu",
    ]
    env = dict(os.environ, SUITE_QUIET="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 180
    while time.time() < deadline and not any(p.stat().st_size > 0 for p in out.glob(".o.mp4.*.part")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert "Traceback" not in err
    assert os.listdir(out) == []  # neither the final name nor the temporary file


@pytest.mark.slow
def test_gatys_video_with_a_small_budget_draws_the_moving_square_where_it_is():
    """Real Gatys (VGG-16, random weights), 3 evaluations a frame after the first: the square moving across a
    still background is drawn where the input's square is in every frame, and the output changes where the
    input changes (0.97 when written). With the previous result as the warm start the square stayed behind
    (its mean fell from 230 to 100, the background's level) and the output's change did not correlate with
    the input's (-0.04 to 0.13)."""
    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    frames, boxes = _square_clip()
    art = (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.float32)
    opts = replace(
        StyleOptions(),
        method="gatys",
        size=64,
        scales=(1.0,),
        iterations=30,
        frame_iterations=3,
        optimizer="adam",
        weights="none",
        backbone="vgg16",
        temporal=0.0,
    )
    outs = [o.astype(np.float32) for o in VideoStylizer([art], method="gatys", options=opts).frames(frames)]
    strength = np.abs(outs[0] - frames[0]).mean()
    assert strength > 5  # the first frame is stylized, so "follows the input" is not "is the input"
    still = (slice(0, 12), slice(0, 64))  # rows the square never reaches
    for i in range(1, len(frames)):
        assert outs[i][boxes[i]].mean() > 200, i  # the input's square is 235 on a background of 60..100
        old_only = np.zeros(frames[0].shape[:2], bool)
        old_only[boxes[i - 1]] = True
        old_only[boxes[i]] = False
        assert outs[i][old_only].mean() < 130, i  # no ghost where it was
        d_out = np.abs(outs[i] - outs[i - 1]).mean(-1).ravel()
        d_in = np.abs(frames[i].astype(np.float32) - frames[i - 1]).mean(-1).ravel()
        assert np.corrcoef(d_out, d_in)[0, 1] > 0.8, i
        # The still rows: a small step from frame to frame, well under the stylization itself.
        assert np.abs(outs[i][still] - outs[i - 1][still]).mean() < 0.6 * strength, i
        assert np.abs(outs[i] - frames[i]).mean() > 0.7 * strength, i  # and as stylized as the first frame


@pytest.mark.slow
def test_cli_gatys_video(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=3)
    style = tmp_path / "art.png"
    write_random_image(style, 32, 32, seed=3)
    out = tmp_path / "out.webm"
    from click.testing import CliRunner

    from suite.cli import main

    r = CliRunner().invoke(
        main,
        [
            "stylize",
            str(src),
            "--style",
            str(style),
            "-o",
            str(out),
            "--size",
            "32",
            "--scales",
            "1",
            "--iterations",
            "2",
            "--frame-iterations",
            "1",
            "--optimizer",
            "adam",
            "--weights",
            "none",
            "--backbone",
            "vgg16",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert frame_count(out) == 3
    assert json.loads((out.with_name(out.name + ".json")).read_text())["options"]["frame_iterations"] == 1


# ------------------------------------------------------------------ Gatys on video: the warm start follows the clip
def _square_clip(n=6, h=48, w=64, side=10, step=8, seed=0):
    """A still, textured background with a bright square moving ``step`` px right per frame; and its boxes."""
    rng = np.random.default_rng(seed)
    background = (20 + 160 * rng.random((h, w, 3))).astype(np.float32)
    frames, boxes = [], []
    for i in range(n):
        f = background.copy()
        y, x = 19, 4 + step * i
        f[y : y + side, x : x + side] = 235.0
        frames.append(f.astype(np.uint8))
        boxes.append((slice(y, y + side), slice(x, x + side)))
    return frames, boxes


class _StrokesOnly:
    """A stand-in for StyleTransfer: the first frame is the photo plus fixed 'strokes'; a warm-started frame
    gets no evaluation at all (its start is its result), so what the warm start lays down is what comes out."""

    def __init__(self, shape):
        from suite.style.options import StyleOptions

        self.options = StyleOptions()
        yy, xx = np.indices(shape[:2])
        self.strokes = np.where((yy // 3 + xx // 3) % 2, 25.0, -25.0)[..., None].astype(np.float32)
        self.optimized = 0

    def transfer(self, content):
        from types import SimpleNamespace

        return SimpleNamespace(image=np.clip(content + self.strokes, 0, 255))

    def _scale_args(self, *args):
        return None

    def _optimize(self, x, steps, args, cb, where):
        self.optimized += 1
        return x, None


def test_gatys_warm_start_follows_a_moving_square_and_keeps_still_strokes():
    """The warm start was the previous result itself: with a small budget the square stayed where it was first
    drawn and later frames froze. Now the square starts from the frame where the input changed, the still
    background keeps the first frame's strokes, unchanged from frame to frame, and the background the square
    uncovers gets back the strokes it had."""
    from suite.common.options import replace
    from suite.style.options import StyleOptions
    from suite.style.video import VideoStylizer

    frames, boxes = _square_clip()
    engine = _StrokesOnly(frames[0].shape)
    opts = replace(StyleOptions(), size=64, temporal=0.0, frame_iterations=1)
    outs = [o.astype(np.float32) for o in VideoStylizer(method="gatys", options=opts, engine=engine).frames(frames)]
    assert engine.optimized == len(frames) - 1
    for i in range(1, len(frames)):
        here, before = boxes[i], boxes[i - 1]
        # The square is drawn where the input's square is (bright), and gone from where it was.
        assert outs[i][here].mean() > 200, i
        old_only = np.zeros(frames[0].shape[:2], bool)
        old_only[before] = True
        old_only[here] = False
        assert outs[i][old_only].mean() < 140, i
        # The output changes where the input changes: the two change maps correlate.
        d_out = np.abs(outs[i] - outs[i - 1]).mean(-1).ravel()
        d_in = np.abs(frames[i].astype(np.float32) - frames[i - 1]).mean(-1).ravel()
        assert np.corrcoef(d_out, d_in)[0, 1] > 0.8, i
        # Background the square uncovers, seen bare in the first frame: its strokes come back (from the
        # StrokeMemory), not the bare frame (an unpainted trail behind the square).
        seen = old_only.copy()
        seen[boxes[0]] = False
        for axis in (0, 1):  # less a pixel at its edges (the change map is blurred by one)
            seen &= np.roll(seen, 1, axis) & np.roll(seen, -1, axis)
        if i >= 2:
            assert seen.sum() >= 20, i
            painted = np.clip(frames[i].astype(np.float32) + engine.strokes, 0, 255)
            assert np.abs(outs[i][seen] - painted[seen]).max() <= 1.0, i
    # A region the square never reaches: the strokes stay, steady from frame to frame.
    still = (slice(0, 12), slice(0, 64))
    for i in range(1, len(frames)):
        assert np.abs(outs[i][still] - outs[0][still]).max() <= 1.0
    assert np.abs(outs[-1][still] - frames[-1][still]).mean() > 20  # still stylized (the strokes are +-25)


def test_gatys_warm_start_carries_a_change_of_exposure():
    """A brighter frame (nothing moved) starts from the previous result made brighter, not frozen at it and
    not restarted from the photo."""
    from suite.style.video import warm_start

    frames, _ = _square_clip(n=1)
    prev = frames[0].astype(np.float32)
    result = np.clip(prev + _StrokesOnly(prev.shape).strokes, 0, 255)
    start = warm_start(prev + 30, prev, result)
    np.testing.assert_allclose(start, result + 30, atol=1e-3)
