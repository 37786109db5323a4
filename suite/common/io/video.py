"""Video input and output at the edges of the suite, through PyAV (FFmpeg's libraries).

PyAV is the ``video`` extra (``pip install 'keras-cv-suite[video]'``): its
wheels carry FFmpeg with libx264, H.264/HEVC/VP9/AV1 decoding, AAC, Opus and
the MP4, MOV, WebM/Matroska and GIF (de)muxers, so nothing outside the
package registry is needed, and frames move as numpy arrays without a
subprocess or a pipe.

* :func:`probe` tells what a file holds (:class:`VideoInfo`), or raises one
  :class:`VideoReadError` with a one-line reason (damaged, truncated, no
  video stream, unsupported).
* :func:`read_frames` yields ``(H, W, 3)`` uint8 RGB frames with their
  timestamps, from ``start`` for ``duration`` seconds.
* :class:`VideoWriter` encodes frames with the input's frame rate, timestamps,
  size and display matrix (rotation), copies the audio packets of the same
  time span untouched (re-encoding only when the output container cannot
  hold the codec, with a note), and writes to a hidden temporary file in the
  destination folder that is renamed into place at the end: an interrupted
  run leaves no partial file under the final name
  (:func:`suite.common.io.atomic.remove_partial_files` removes the leftovers).

Frames are stored as decoded: the rotation stays metadata, as in the input,
so players show the result upright exactly when they show the input upright.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from suite.common.errors import first_line

#: Containers read and written as video (animated GIFs also are; still GIFs are photos).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif"})
#: Extensions the writer knows: ``extension -> (video codec, audio codec or None)``.
OUTPUT_CODECS = {
    ".mp4": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".gif": ("gif", None),
}
#: Audio-only containers: named on the command line, they get the video path's "no video stream", not a photo's
#: "not an image file" (in folders they are not taken, as any other file that is neither photo nor video).
AUDIO_EXTENSIONS = frozenset({".m4a", ".mp3", ".aac", ".wav", ".flac", ".ogg", ".oga", ".opus"})
#: Containers a browser's ``<video>`` plays, where ``for_browsers`` changes the codec of odd-sized frames.
BROWSER_CONTAINERS = frozenset({".mp4", ".m4v"})
#: What to tell a user whose environment lacks PyAV.
INSTALL_HINT = "video needs PyAV: pip install 'keras-cv-suite[video]' (or: pip install av)"


class VideoReadError(ValueError):
    """A file could not be read as a video. ``str(err)`` is a one-line reason."""

    def __init__(self, path, reason: str):
        self.path = Path(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)


class VideoSupportMissing(RuntimeError):
    """PyAV is not installed; ``str(err)`` says which extra to install."""

    def __init__(self):
        super().__init__(INSTALL_HINT)


def require_av():
    """The ``av`` module, or :class:`VideoSupportMissing` with the extra to install."""
    try:
        import av
    except ImportError:
        raise VideoSupportMissing() from None
    return av


def _is_animated_gif(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.format == "GIF" and getattr(img, "n_frames", 1) > 1
    except Exception:  # unreadable: the photo path reports it
        return False


def is_video_file(path) -> bool:
    """True for a file with a video extension, or an animated GIF (a still GIF is a photo).

    Keras-free and PyAV-free: folders are sorted into photos and videos
    without importing either.
    """
    path = Path(path)
    if not path.is_file():
        return False
    ext = path.suffix.lower()
    if ext == ".gif":
        return _is_animated_gif(path)
    return ext in VIDEO_EXTENSIONS


def is_audio_file(path) -> bool:
    """True for a file with an audio-only extension (:data:`AUDIO_EXTENSIONS`); PyAV-free."""
    path = Path(path)
    return path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file()


def is_video_output(path) -> bool:
    """Whether ``path``'s extension names a container the writer makes."""
    return Path(path).suffix.lower() in OUTPUT_CODECS


@dataclass
class VideoInfo:
    """What :func:`probe` found in a video file.

    Attributes:
        path: The file.
        width, height: Stored frame size in pixels (before the display rotation).
        rate: Average frame rate (frames per second) as a ``Fraction``.
        frames: Number of frames (counted by the demuxer when the header does not say; 0 if unknown).
        duration: Seconds, or ``None`` if unknown.
        codec: Video codec name, e.g. ``"h264"``.
        rotation: Counter-clockwise display rotation in degrees (0 when none).
        display_matrix: The 9 int32 values of FFmpeg's display matrix, or ``None``.
        audio: ``[(codec name, sample rate, channels)]`` per audio stream.
    """

    path: Path
    width: int
    height: int
    rate: Fraction
    frames: int
    duration: float | None
    codec: str
    rotation: int = 0
    display_matrix: tuple | None = None
    audio: list = field(default_factory=list)


def _open(path, av):
    try:
        return av.open(str(path), "r")
    except av.FFmpegError as e:
        raise VideoReadError(path, f"not a readable video ({_ffmpeg_reason(e)})") from None
    except OSError as e:
        raise VideoReadError(path, f"cannot open ({e.strerror or first_line(e)})") from None


def _video_stream(container, path):
    """The container's first video stream, decoded on FFmpeg's threads; a file without one is a one-line failure."""
    if not container.streams.video:
        raise VideoReadError(path, "no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _ffmpeg_reason(error) -> str:
    """FFmpeg's own words (``Invalid data found when processing input``), without the errno and path."""
    text = getattr(error, "strerror", None) or first_line(error)
    return str(text).strip().rstrip(".") or type(error).__name__


def _display_matrix(frame):
    for sd in getattr(frame, "side_data", ()) or ():
        if "DISPLAYMATRIX" in str(sd.type) and sd.buffer_size == 36:
            return tuple(int(v) for v in np.frombuffer(bytes(sd), dtype=np.int32))
    return None


def probe(path) -> VideoInfo:
    """Reads a video's header and first frame: size, rate, frame count, rotation, audio streams.

    Raises:
        VideoReadError: not a video, damaged before the first frame, or no video stream (one line).
        VideoSupportMissing: PyAV is not installed.
    """
    av = require_av()
    path = Path(path)
    container = _open(path, av)
    try:
        stream = _video_stream(container, path)
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as e:
            raise VideoReadError(path, f"damaged video ({_ffmpeg_reason(e)})") from None
        if first is None:
            raise VideoReadError(path, "no decodable frame (truncated or damaged)")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        duration = None
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        audio = [
            (a.codec_context.name, a.codec_context.sample_rate, a.codec_context.channels)
            for a in container.streams.audio
        ]
        matrix = _display_matrix(first)
        return VideoInfo(
            path=path,
            width=first.width,
            height=first.height,
            rate=Fraction(rate),
            frames=int(stream.frames or 0),
            duration=duration,
            codec=stream.codec_context.name,
            rotation=int(round(getattr(first, "rotation", 0) or 0)) % 360,
            display_matrix=matrix,
            audio=audio,
        )
    finally:
        container.close()


def count_frames(path, start: float = 0.0, duration: float | None = None) -> int:
    """Frames in ``[start, start + duration)`` by demuxing (no decoding): the progress bar's total."""
    av = require_av()
    container = _open(path, av)
    try:
        stream = container.streams.video[0]
        tb = stream.time_base
        first, n = None, 0
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            t = float(packet.pts * tb)
            first = t if first is None else min(first, t)
            n += 1
        if not start and duration is None:
            return n
        # A window: count again, relative to the stream's first timestamp.
        container.seek(0)
        n = 0
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            t = float(packet.pts * tb) - (first or 0.0)
            if t >= start - 1e-6 and (duration is None or t < start + duration - 1e-6):
                n += 1
        return n
    except av.FFmpegError:
        return 0
    finally:
        container.close()


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        time: Seconds from the start of the requested window.
        index: Position in the window (0, 1, ...).
        duration: Seconds it is shown (the container's frame duration), or ``None`` if unknown.
    """

    image: np.ndarray
    time: float
    index: int
    duration: float | None = None


def read_frames(path, start: float = 0.0, duration: float | None = None):
    """Yields the video's frames in ``[start, start + duration)`` seconds as :class:`Frame`.

    Times are relative to the stream's first frame, so ``start=0`` is the
    first frame whatever the container's start offset.

    Raises:
        VideoReadError: the file cannot be opened, or is damaged where the
            decoder cannot go on (a truncated tail ends the frames instead,
            as players do).
    """
    av = require_av()
    path = Path(path)
    container = _open(path, av)
    try:
        stream = _video_stream(container, path)
        origin, k = None, 0
        end = None if duration is None else start + duration
        if start > 2.0:
            origin = _seek_near(container, stream, start, av)
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else k / float(stream.average_rate or 25)
                origin = t if origin is None else origin
                t -= origin
                if t < start - 1e-6:
                    continue
                if end is not None and t >= end - 1e-6:
                    break
                shown = None
                if getattr(frame, "duration", None) and frame.time_base:
                    shown = float(frame.duration * frame.time_base)
                yield Frame(image=frame.to_ndarray(format="rgb24"), time=t - start, index=k, duration=shown)
                k += 1
        except av.FFmpegError as e:
            if k == 0:
                raise VideoReadError(path, f"damaged video ({_ffmpeg_reason(e)})") from None
            # A damaged tail after good frames: keep what decoded, as players do.
    finally:
        container.close()


def _seek_near(container, stream, start: float, av):
    """Seeks to the keyframe a second or more before ``start``; returns the stream's first frame time (the zero).

    ``None`` (decode from the beginning) when the first frame has no time or
    the container cannot seek (the frames are then skipped by decoding).
    """
    try:
        first = next(container.decode(stream), None)
        if first is None or first.time is None:
            container.seek(0, stream=stream)
            return None
        origin = float(first.time)
        container.seek(int((origin + start - 1.0) / stream.time_base), stream=stream, backward=True)
        return origin
    except av.FFmpegError:
        try:
            container.seek(0, stream=stream)
        except av.FFmpegError:
            pass
        return None


class VideoWriter:
    """Encodes RGB frames into a video file, atomically, with the source's audio copied.

    Args:
        path: The output file; its extension chooses the container and codecs
            (:data:`OUTPUT_CODECS`).
        info: The source's :class:`VideoInfo`: frame rate and display matrix
            are copied from it.
        width, height: Frame size (default: the source's).
        audio_from: A file whose audio streams are copied (default: ``info.path``;
            ``None`` in ``info`` too means no audio).
        start, duration: The source's time span, in seconds, whose audio is copied.
        overwrite: Replace an existing file at the end.
        crf: x264/VP9 constant-quality setting (lower is better; 18 is visually lossless for x264).
        on_message: ``f(str)`` for one-line notes (audio re-encoded or dropped).
        for_browsers: The file is for a web page's ``<video>``. H.264 4:2:0, the format every browser
            decodes, needs even sides (its chroma is subsampled by 2, and the stream's cropping counts in
            chroma samples), so frames with an odd side are otherwise H.264 4:4:4, which players built on
            FFmpeg show but decoders limited to 4:2:0 (many browsers, hardware decoders) refuse. With
            ``for_browsers``, an ``.mp4``/``.m4v`` of odd-sized frames is VP9 4:2:0 instead (VP9 takes
            any size), at the same size. :attr:`codec` and :attr:`pix_fmt` say what was chosen.

    Use it as a context manager: leaving the block normally renames the
    temporary file into place; an exception (Ctrl-C included) removes it.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false (at the start and at the end).
        ValueError: an extension the writer does not know.
    """

    def __init__(
        self,
        path,
        info: VideoInfo,
        width: int | None = None,
        height: int | None = None,
        *,
        audio_from="source",
        start: float = 0.0,
        duration: float | None = None,
        overwrite: bool = False,
        crf: int = 18,
        on_message=None,
        for_browsers: bool = False,
    ):
        from suite.common.io.atomic import OutputExistsError

        self.av = require_av()
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in OUTPUT_CODECS:
            raise ValueError(
                f"Unsupported video output extension '{ext}' for {self.path}; use one of {sorted(OUTPUT_CODECS)}"
            )
        if self.path.exists() and not overwrite:
            raise OutputExistsError(self.path)
        self.info = info
        self.width = int(width or info.width)
        self.height = int(height or info.height)
        self.audio_from = info.path if audio_from == "source" else audio_from
        self.start, self.duration = float(start), duration
        self.overwrite = overwrite
        self.crf = int(crf)
        self.codec, self.pix_fmt = self._video_format(ext, bool(for_browsers))
        self.say = on_message or (lambda m: None)
        self.frames_written = 0
        self._container = None
        self._tmp = None

    def _video_format(self, ext: str, for_browsers: bool) -> tuple[str, str]:
        """``(encoder, pixel format)`` for this file's container and frame size."""
        vcodec = OUTPUT_CODECS[ext][0]
        if vcodec == "gif":
            return vcodec, "rgb8"
        if self.width % 2 == 0 and self.height % 2 == 0:
            return vcodec, "yuv420p"
        if vcodec == "libx264" and for_browsers and ext in BROWSER_CONTAINERS:
            return "libvpx-vp9", "yuv420p"
        # libx264's 4:2:0 needs even sides; odd-sized frames keep every pixel in 4:4:4 (VP9 takes 4:2:0 at any size).
        return vcodec, "yuv420p" if vcodec == "libvpx-vp9" else "yuv444p"

    # ------------------------------------------------------------------ set-up
    def __enter__(self):
        from suite.common.io.atomic import temp_file

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The PID in the name lets remove_partial_files tell a killed run's leftover from a live one.
        fd, self._tmp = temp_file(self.path.parent, prefix=f".{self.path.name}.{os.getpid()}-", suffix=".part")
        os.close(fd)
        try:
            self._open()
        except BaseException:
            self._discard()
            raise
        return self

    def _open(self):
        av = self.av
        ext = self.path.suffix.lower()
        acodec = OUTPUT_CODECS[ext][1]
        vcodec = self.codec
        fmt = {".m4v": "mp4", ".mkv": "matroska", ".webm": "webm", ".gif": "gif", ".mov": "mov", ".mp4": "mp4"}[ext]
        self._container = av.open(self._tmp, "w", format=fmt)
        rate = self.info.rate if self.info.rate else Fraction(25)
        rate = Fraction(rate).limit_denominator(1001 * 1000)
        stream = self._container.add_stream(vcodec, rate=rate)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = self.pix_fmt
        if vcodec != "gif":
            stream.options = {"crf": str(self.crf)}
            if vcodec == "libvpx-vp9":
                stream.options.update({"b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"})
            else:
                stream.options.update({"preset": "faster"})  # encoding stays well behind the network
        stream.thread_type = "AUTO"
        # A fine clock keeps the source's timestamps (variable frame rates too); GIF counts in 1/100 s. The
        # encoder counts in it too: at its default 1/rate, frames of a variable rate were rounded onto the
        # same tick (an MP4 then refused the timestamps). The muxer may change the stream's own time base when
        # it writes the header (Matroska counts in ms), so frames are stamped in this clock, never in that.
        self._clock = Fraction(1, 100) if vcodec == "gif" else Fraction(1, 90000)
        stream.time_base = self._clock
        stream.codec_context.time_base = self._clock
        if self.info.display_matrix is not None and vcodec != "gif":
            stream.set_display_matrix(list(self.info.display_matrix))
        elif self.info.display_matrix is not None:
            self.say(f"note: {self.path.name}: GIF has no rotation metadata; frames are stored as decoded")
        self._video = stream
        self._audio = self._audio_streams(acodec)
        self._origin = self._video_origin() if self._audio else 0.0

    def _audio_streams(self, acodec):
        """``[(input container, input stream, output stream, transcode?)]`` for each audio stream of the source."""
        av = self.av
        if self.audio_from is None:
            return []
        try:
            src = av.open(str(self.audio_from), "r")
        except (av.FFmpegError, OSError):
            return []
        if not src.streams.audio:
            src.close()
            return []
        if acodec is None:
            self.say(f"note: {self.path.name}: GIF holds no sound; the audio is left out")
            src.close()
            return []
        out = []
        for a in src.streams.audio:
            fmt = self._container.format
            name = a.codec_context.name
            copyable = self._container_takes(fmt, name)
            if copyable:
                o = self._container.add_stream_from_template(a)
                out.append([a, o, False])
            else:
                o = self._container.add_stream(
                    acodec, rate=48000 if acodec == "libopus" else a.codec_context.sample_rate
                )
                o.layout = "stereo" if a.codec_context.channels >= 2 else "mono"
                out.append([a, o, True])
                self.say(f"note: {self.path.name}: {fmt.name} cannot hold {name} audio; re-encoded as {acodec}")
        self._audio_src = src
        return out

    @staticmethod
    def _container_takes(fmt, codec_name) -> bool:
        webm = {"opus", "vorbis"}
        mp4 = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
        names = set(fmt.name.split(","))
        if "webm" in names:
            return codec_name in webm
        if "mp4" in names:
            return codec_name in mp4
        if "mov" in names:
            return codec_name in mp4 | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"}
        if "matroska" in names:
            return True
        return False

    # ------------------------------------------------------------------ writing
    def write(self, image: np.ndarray, time: float | None = None, duration: float | None = None) -> None:
        """Encodes one ``(H, W, 3)`` RGB frame (uint8, or float in ``[0, 255]``) shown at ``time`` seconds.

        Without ``time`` frames follow each other at the source's rate. ``duration`` (seconds, e.g.
        :attr:`Frame.duration`) is how long it is shown: a GIF's last frame keeps its delay from it (the
        others' delays are the gaps between timestamps); without it, the last frame is shown as long as the
        one before it.
        """
        from suite.common.io.images import to_uint8

        av = self.av
        image = to_uint8(image)
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"Expected frames of {self.width}x{self.height}. Received: {image.shape[1]}x{image.shape[0]}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[..., :3]), format="rgb24")
        tb = self._clock
        if time is None:
            time = self.frames_written / float(self.info.rate or 25)
        pts = int(round(time / tb))
        if self.frames_written and pts <= self._last_pts:
            pts = self._last_pts + 1  # timestamps must increase (a GIF's 1/100 s clock can round two together)
        gap = pts - self._last_pts if self.frames_written else None
        frame.pts, frame.time_base = pts, tb
        self._last_pts = pts
        self._mux_audio_until(time)
        shown = None
        if self.codec == "gif":
            # The GIF muxer takes a frame's delay from the next frame's timestamp, and the last one's from its
            # packet's duration (else 1/rate, whatever the clip's delays were).
            shown = (
                max(1, round(duration / tb)) if duration else gap or max(1, round(1 / float(self.info.rate or 25) / tb))
            )
        for packet in self._video.encode(frame):
            if shown is not None:
                packet.duration = shown
            self._container.mux(packet)
        self.frames_written += 1

    def _audio_packets(self):
        """The source's audio packets of ``[start, start + duration)``, in file order, with output timestamps."""
        if not hasattr(self, "_audio_iter"):
            self._audio_iter = self._iter_audio()
            self._pending = None
        return self._audio_iter

    def _iter_audio(self):
        streams = [a for a, _, _ in self._audio]
        if not streams:
            return
        by_index = {a.index: (a, o, t) for a, o, t in self._audio}
        video_origin = self._origin
        end = None if self.duration is None else self.start + self.duration
        for packet in self._audio_src.demux(streams):
            if packet.pts is None or packet.size == 0:
                continue
            a, o, transcode = by_index[packet.stream.index]
            t = float(packet.pts * a.time_base) - video_origin
            # From the start, every packet is kept, those before the first frame too: an AAC stream's first
            # packet (pts -1024, the encoder's priming) is the decoder's pre-roll for the next one.
            if self.start > 0 and t < self.start - 1e-6:
                continue
            if end is not None and t >= end - 1e-6:
                continue
            yield t - self.start, packet, a, o, transcode

    def _video_origin(self) -> float:
        """The source video stream's first timestamp, the zero of every window (as :func:`read_frames`)."""
        av = self.av
        try:
            c = av.open(str(self.audio_from), "r")
        except (av.FFmpegError, OSError):
            return 0.0
        try:
            if not c.streams.video:
                return 0.0
            s = c.streams.video[0]
            for frame in c.decode(s):
                return float(frame.time or 0.0)
            return 0.0
        except av.FFmpegError:
            return 0.0
        finally:
            c.close()

    def _mux_audio_until(self, time: float | None) -> None:
        """Muxes the audio packets up to ``time`` (all of them for ``None``), keeping the file interleaved."""
        if not self._audio:
            return
        it = self._audio_packets()
        while True:
            if self._pending is None:
                self._pending = next(it, None)
                if self._pending is None:
                    return
            t, packet, a, o, transcode = self._pending
            if time is not None and t > time:
                return
            self._pending = None
            if transcode:
                for frame in a.codec_context.decode(packet):
                    frame.pts = None
                    for p in o.encode(frame):
                        self._container.mux(p)
            else:
                shift = int(round((self.start + self._origin) / a.time_base))
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                packet.stream = o
                self._container.mux(packet)

    # ------------------------------------------------------------------ ending
    def close(self) -> Path:
        """Flushes the encoders, finishes the file and renames it into place; returns the final path."""
        from suite.common.io.atomic import OutputExistsError

        if self.frames_written == 0:
            raise ValueError(f"no frames to write to {self.path}")
        for packet in self._video.encode(None):
            self._container.mux(packet)
        self._mux_audio_until(None)
        for _, o, transcode in self._audio:
            if transcode:
                for p in o.encode(None):
                    self._container.mux(p)
        self._close_containers()
        if self.overwrite:
            os.replace(self._tmp, self.path)
        else:
            try:
                os.link(self._tmp, self.path)
            except FileExistsError:
                self._discard()
                raise OutputExistsError(self.path) from None
            except OSError:
                if self.path.exists():
                    self._discard()
                    raise OutputExistsError(self.path) from None
                os.replace(self._tmp, self.path)
        self._discard()
        return self.path

    def _close_containers(self):
        for c in (self._container, getattr(self, "_audio_src", None)):
            if c is not None:
                try:
                    c.close()
                except Exception:  # closing a half-written file after an error: the file goes anyway
                    pass
        self._container = None
        self._audio_src = None

    def _discard(self):
        self._close_containers()
        if self._tmp and os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self._discard()
        return False
