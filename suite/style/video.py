"""Style transfer on videos: frames in, stylized frames out, and whole files through a decode/stylize/encode pipeline.

* :class:`VideoStylizer` holds the networks (fast or Gatys) for a whole run:
  :meth:`VideoStylizer.frames` is the generator interface (any iterable of
  ``(H, W, 3)`` frames in, stylized uint8 frames out, same size, same order),
  :meth:`VideoStylizer.video` stylizes one file.
* Temporal consistency without optical flow: one style vector for the whole
  clip (with ``strength < 1`` the photo side of the interpolation is the
  clip's first frame, not each frame's own), and
  :class:`suite.style.temporal.TemporalSmoother` (the previous result kept
  where the input did not change after undoing the global motion). Gatys
  frames start from the previous result's strokes laid on the new frame
  where the input did not change, and from the frame itself where it did
  (:func:`warm_start`), and take ``frame_iterations`` evaluations each.
* :func:`stylize_video_paths` does files and folders of videos the way
  :mod:`suite.style.batch` does photos: outputs written atomically with a JSON
  sidecar, existing ones skipped unless ``overwrite``, one line per bad file.

The file side (decoding, encoding, audio copy, atomic rename) is
:mod:`suite.common.io.video`; it needs the ``video`` extra (PyAV).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from suite.common.io.video import VIDEO_EXTENSIONS, is_video_file, is_video_output  # noqa: F401 - re-exported

_END = object()


@dataclass
class VideoResult:
    """What :meth:`VideoStylizer.video` did.

    Attributes:
        path: The written file.
        frames: Frames written.
        seconds: Wall time, decoding and encoding included.
        size: ``(width, height)`` of the frames.
        rate: Frames per second of the output (the input's).
        codec: The video encoder used (``"libx264"``, ``"libvpx-vp9"``, ``"gif"``).
        pix_fmt: Its pixel format (``"yuv420p"``; ``"yuv444p"`` for H.264 with an odd side, which
            decoders limited to 4:2:0, as many browsers' are, refuse).
        announced: Frames the input announced for the span stylized (its header's count for the whole
            clip, or the packets its index lists, whichever is more; 0 if unknown).
        notes: One-line notes of the run (without the ``note:`` prefix), e.g. a file that ends early.
    """

    path: Path
    frames: int
    seconds: float
    size: tuple
    rate: float
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    announced: int = 0
    notes: list = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        """Decoding ended before the frames the file announced (its header, or the packets its index lists)."""
        return self.announced > self.frames


class VideoStylizer:
    """Stylizes frame sequences and video files with one set of artworks, reusing the networks.

    Args:
        styles: Artwork arrays (``(H, W, 3)`` in ``[0, 255]``), or ``"preset:N"``
            names (fast method only).
        method: ``"fast"`` (one forward pass per frame, batched) or ``"gatys"``
            (the first frame fully optimized, each later one warm-started from
            the previous result with ``frame_iterations`` evaluations).
        options: A :class:`suite.style.options.StyleOptions` (its ``temporal``,
            ``frame_iterations``, ``frame_batch``, ``strength``,
            ``preserve_colors`` and, for Gatys, every optimizer setting).
        blend: One weight per artwork.
        size: Long side to stylize at (frames are resized back to their own
            size); ``None``: the frame's own size for the fast method,
            ``options.size`` for Gatys.
        engine: A prebuilt :class:`suite.style.fast.FastStyleTransfer`,
            :class:`suite.style.fast.PresetStyleTransfer` or
            :class:`suite.style.transfer.StyleTransfer` (then ``styles`` may be ``None``).
        mixed_precision: The fast networks' precision, as for photos
            (:func:`suite.style.fast.transformer_dtype`: ``None`` is bfloat16
            convolutions on a CPU with bfloat16 instructions, ``False`` float32,
            ``True`` the mixed policy). Gatys runs in the global policy the
            command set up.

    Example:
        >>> vs = VideoStylizer([art], method="fast")                       # doctest: +SKIP
        >>> for out in vs.frames(frames):                                  # doctest: +SKIP
        ...     show(out)
        >>> vs.video("clip.mp4", "clip_styled.mp4")                        # doctest: +SKIP
    """

    def __init__(
        self,
        styles=None,
        method: str = "fast",
        options=None,
        *,
        blend=None,
        size=None,
        engine=None,
        mixed_precision=None,
    ):
        from suite.common.options import replace
        from suite.style.options import StyleOptions, check_style_options

        if method not in ("fast", "gatys"):
            raise ValueError(f"Expected method 'fast' or 'gatys'. Received: method={method!r}")
        self.options = check_style_options(replace(options or StyleOptions(), method=method))
        self.method = method
        self.size = None if size is None else int(size)
        if engine is None:
            engine = self._build_engine(styles, blend, mixed_precision)
        self.engine = engine

    def _build_engine(self, styles, blend, mixed_precision):
        o = self.options
        if self.method == "fast":
            from suite.style.engines import fast_engine

            return fast_engine(
                styles,
                blend=blend,
                strength=o.strength,
                preserve_colors=o.preserve_colors,
                mixed_precision=mixed_precision,
            )
        from suite.style.engines import gatys_engine

        return gatys_engine(styles, options=o, blend=blend, quiet=True)

    def get_options(self) -> dict:
        """The engine's settings plus the video ones (the JSON sidecar's ``options``)."""
        o = self.options
        return {
            **self.engine.get_options(),
            "method": self.method,
            "temporal": o.temporal,
            "frame_batch": o.frame_batch,
            "start": o.start,
            "duration": o.duration,
            **({"frame_iterations": o.frame_iterations} if self.method == "gatys" else {}),
        }

    # ------------------------------------------------------------ frames in, frames out
    def frames(self, frames):
        """Stylizes a sequence of frames: a generator, one output per input, in order.

        Args:
            frames: Any iterable of ``(H, W, 3)`` RGB arrays (uint8, or float in
                ``[0, 255]``, not ``[0, 1]``: those get a warning, as photos do), e.g. :func:`suite.common.io.video.read_frames`'
                images. Consecutive frames are one clip: its style vector and
                the temporal smoothing carry from frame to frame.

        Yields:
            ``(H, W, 3)`` uint8 stylized frames, each the size of its input.
        """
        from suite.common.io.images import as_rgb_array, resize_float, to_uint8
        from suite.style.temporal import TemporalSmoother

        o = self.options
        smoother = TemporalSmoother(weight=o.temporal) if o.temporal > 0 else None
        run = (
            _FastFrames(self.engine, self.size)
            if self.method == "fast"
            else _GatysFrames(self.engine, o.frame_iterations, self.size or o.size)
        )
        batch = o.frame_batch if self.method == "fast" else 1
        pending = []

        def flush():
            outs = run(pending)
            for frame, out in zip(pending, outs):
                if smoother is not None:
                    out = smoother(
                        frame if out.shape[:2] == frame.shape[:2] else resize_float(frame, *out.shape[:2]), out
                    )
                if out.shape[:2] != frame.shape[:2]:
                    out = resize_float(out, *frame.shape[:2])
                yield to_uint8(out)
            pending.clear()

        for frame in frames:
            # As photos are checked: (H, W, 3) or grey, finite, in [0, 255]; a float frame in [0, 1] (nearly
            # black on that scale) gets the photo path's warning, once.
            frame = as_rgb_array(frame, "frames")
            if pending and frame.shape != pending[0].shape:
                yield from flush()  # a batch holds one size
            pending.append(frame)
            if len(pending) >= batch:
                yield from flush()
        if pending:
            yield from flush()

    # ------------------------------------------------------------ one file
    def video(
        self,
        src,
        dst,
        *,
        overwrite: bool = False,
        progress: bool = False,
        on_message=None,
        max_pixels: int | None = None,
        on_frame=None,
        for_browsers: bool = False,
    ) -> VideoResult:
        """Stylizes one video file into ``dst`` (container and codecs from its extension).

        Decoding, stylization and encoding run at the same time (two threads
        and bounded queues around the stylization), so neither side waits
        for the other. The output has the input's frame count, timestamps
        (frame rate), size and display rotation; its audio packets are the
        input's, copied (re-encoded only where the container cannot hold the
        codec, with a note). The file appears under its final name only when
        complete.

        Args:
            src, dst: Input and output files.
            overwrite: Replace an existing ``dst``.
            progress: Show a progress bar in frames, with the time left.
            on_message: ``f(str)`` for one-line notes.
            max_pixels: Refuse videos whose frames have more pixels than this.
            on_frame: ``f(done, total, frame)`` after each stylized frame is handed
                to the encoder (``total`` is 0 when unknown, ``frame`` the uint8
                result). An exception it raises stops the run between frames and
                no output is left behind (how a caller cancels).
            for_browsers: The result is for a web page's ``<video>``: an MP4 whose frames have an
                odd side is VP9 4:2:0 rather than H.264 4:4:4
                (:class:`suite.common.io.video.VideoWriter`).

        Raises:
            VideoReadError: a damaged or unsupported input (one line).
            OutputExistsError: ``dst`` exists and ``overwrite`` is false.
        """
        from suite.common.io.video import VideoReadError, VideoWriter, count_frames, probe, read_frames

        o = self.options
        say = on_message or (lambda m: None)
        t0 = time.perf_counter()
        if not overwrite and Path(dst).exists():  # said in the Python API's words (the CLI skips it earlier)
            from suite.common.io.atomic import OutputExistsError

            raise OutputExistsError(dst, hint="pass overwrite=True to replace it")
        info = probe(src)
        if max_pixels is not None and info.width * info.height > max_pixels:
            raise VideoReadError(
                src, f"{info.width}x{info.height} frames exceed the limit of {max_pixels} pixels (raise --max-pixels)"
            )
        total = count_frames(src, o.start, o.duration)
        if total == 0 and (o.start or o.duration):
            raise VideoReadError(
                src,
                f"no frames between {o.start:g} s and "
                f"{'the end' if o.duration is None else f'{o.start + o.duration:g} s'}",
            )
        # What the file announces: for the whole clip its header's count too (a cut file's index may list
        # fewer packets than its header frames, and decoding can end sooner still).
        announced = max(total, info.frames) if not o.start and o.duration is None else total
        notes: list = []
        inbox: queue.Queue = queue.Queue(maxsize=2 * o.frame_batch + 2)
        outbox: queue.Queue = queue.Queue(maxsize=2 * o.frame_batch + 2)
        stop = threading.Event()
        times: deque = deque()
        failures: list = []
        written = [0]
        shown_until = [0.0]  # where the last decoded frame ends, in seconds from the window's start

        def put(q, item):
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def decode():
            try:
                for fr in read_frames(src, o.start, o.duration):
                    if not put(inbox, fr):
                        return
                put(inbox, _END)
            except BaseException as e:  # handed to the main thread, which raises it
                put(inbox, e)

        def encode(writer):
            try:
                while True:
                    item = outbox.get()
                    if item is _END or stop.is_set():
                        return
                    image, t, shown = item
                    writer.write(image, t, shown)
                    written[0] += 1
                    if bar is not None:
                        bar.advance(task)
            except BaseException as e:
                failures.append(e)
                stop.set()

        def inputs():
            while True:
                item = inbox.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                if failures:
                    raise failures[0]
                times.append((item.time, item.duration))
                shown_until[0] = item.time + (item.duration or 0.0)
                yield item.image

        bar = task = None
        if progress:
            from suite.common.ui.progress import make_progress

            bar = make_progress(transient=False)
            bar.start()
            task = bar.add_task(Path(src).name, total=total or None)

        def writer_say(message):  # the writer's notes (audio re-encoded or left out) are the run's notes too
            notes.append(message.removeprefix("note: "))
            say(message)

        writer = VideoWriter(
            dst,
            info,
            start=o.start,
            duration=o.duration,
            overwrite=overwrite,
            on_message=writer_say,
            for_browsers=for_browsers,
        )
        decoder = threading.Thread(target=decode, name="video-decode", daemon=True)
        try:
            with writer:
                encoder = threading.Thread(target=encode, args=(writer,), name="video-encode", daemon=True)
                decoder.start()
                encoder.start()
                try:
                    for done, out in enumerate(self.frames(inputs()), 1):
                        if failures or not put(outbox, (out, *times.popleft())):
                            break
                        if on_frame is not None:
                            on_frame(done, total, out)
                    put(outbox, _END)
                    encoder.join()
                except BaseException:
                    stop.set()
                    encoder.join(timeout=5)
                    raise
                if failures:
                    raise failures[0]
                if written[0] == 0:
                    raise VideoReadError(src, "no decodable frame (truncated or damaged)")
                announced = max(announced, _frames_by_duration(info, written[0], shown_until[0], o))
                if announced > written[0]:
                    notes.append(truncation_note(src, written[0], announced))
                    say(f"note: {notes[-1]}")
                    if bar is not None:  # the bar's total was the announced count: it ends at what came
                        bar.update(task, total=written[0], completed=written[0])
        finally:
            stop.set()
            decoder.join(timeout=5)
            if bar is not None:
                bar.stop()
        return VideoResult(
            path=Path(dst),
            frames=written[0],
            seconds=time.perf_counter() - t0,
            size=(info.width, info.height),
            rate=float(info.rate),
            codec=writer.codec,
            pix_fmt=writer.pix_fmt,
            announced=announced,
            notes=notes,
        )


def _frames_by_duration(info, written: int, shown_until: float, options) -> int:
    """The frames a whole clip's header duration announces (duration x frame rate) when the container gives
    no frame count (Matroska, WebM) and the frames that came end more than two frames short of it (a cut file);
    else 0. Two frames of slack absorb rounding and an audio track a little longer than the video."""
    if options.start or options.duration is not None or info.frames or not info.duration or not info.rate:
        return 0
    rate = float(info.rate)
    expected = int(round(info.duration * rate))
    if expected - written > 2 and shown_until < info.duration - 2 / rate:
        return expected
    return 0


def truncation_note(src, frames: int, announced: int) -> str:
    """The one line that says a video ended before the frames it announced (CLI, ``--json``, the page)."""
    return f"{Path(src).name}: the file ends after {frames} of {announced} announced frames (truncated?); {frames} kept"


class _FastFrames:
    """Batches of frames through the feed-forward network, one style input for the whole clip."""

    def __init__(self, engine, size):
        self.engine = engine
        self.size = size
        self._style = None

    def __call__(self, frames):
        from suite.style.fast import fast_input

        x = np.stack([fast_input(f, self.size) for f in frames])
        if self._style is None:
            # The clip's own style is its first frame's, held for every frame: a per-frame vector would
            # move with the content and make the colours pump.
            self._style = np.asarray(self.engine.style_for(x[0]), np.float32)
        return self.engine.stylize_batch(x, self._style)


class _GatysFrames:
    """Gatys frame after frame: the first one fully, each later one warm-started from the previous result.

    The warm start is the previous result's *style* carried onto the new frame, not the previous picture:
    ``start = frame + c * (previous result - previous frame)``, both moved by the camera's global motion,
    where ``c`` (:func:`warm_start`) is 1 where the input shows the same thing as before and 0 where it
    changed (a moving object, a newly visible border, a cut). With a few evaluations per frame the picture
    therefore follows the video: what moved starts from the frame itself, what did not keeps its strokes.
    Where a moving object uncovers what was seen before (the background behind it), the strokes that
    background had come back from a :class:`StrokeMemory`, so the object leaves no unpainted trail.
    """

    def __init__(self, st, frame_iterations, size):
        self.st = st
        self.iterations = int(frame_iterations)
        self.size = int(size)
        self._prev = None
        self._prev_content = None
        self._motion = None
        self._memory = None

    def __call__(self, frames):
        return [self._one(f) for f in frames]

    def _one(self, frame):
        from suite.common.io.images import long_side_shape
        from suite.common.io.images import resize_float as resize_image
        from suite.style.color import transfer_luminance
        from suite.style.temporal import TemporalSmoother

        st = self.st
        h, w = long_side_shape(frame.shape, self.size)
        content = resize_image(frame, h, w)
        if self._motion is None:
            self._motion = TemporalSmoother(weight=0.0)  # its global-motion search only
        shift = self._motion.shift_to_current(content)
        if self._prev is None or shift is None or self._prev.shape[:2] != (h, w):
            # The first frame, or a cut: a full optimization.
            image = st.transfer(content).image
            self._prev, self._prev_content = image, content
            self._memory = StrokeMemory(content, image)
            return image
        self._memory.shift(*shift)
        start, consistent = warm_start(content, self._prev_content, self._prev, shift, memory=self._memory, keep=True)
        args = st._scale_args(content, self.size, None, (h, w))
        x, _ = st._optimize(
            np.clip(start, 0, 255)[None].astype(np.float32),
            self.iterations,
            args,
            None,
            where=f"at a video frame ({w}x{h})",
        )
        image = np.clip(np.asarray(x)[0], 0, 255)
        self._prev, self._prev_content = image, content
        self._memory.update(content, image, consistent)
        if st.options.preserve_colors:
            image = transfer_luminance(image, content)
        return image


#: Grey-level change of the input (after undoing the global motion and any change of exposure) from which a
#: pixel's warm start is the new frame itself rather than the previous result's strokes.
WARM_START_CHANGE = 24.0


def warm_start(
    content,
    prev_content,
    prev_result,
    shift=(0.0, 0.0),
    threshold: float = WARM_START_CHANGE,
    *,
    memory=None,
    keep: bool = False,
):
    """The starting image of a warm-started Gatys frame: ``content`` plus the previous result's style where the
    input did not change.

    ``start = content + c * (shift(prev_result) - shift(prev_content))``: where ``c = 1`` this is the previous
    result moved with the camera plus the change of the input (a brighter frame starts brighter); where the
    input changed on its own (an object moved in or out, a newly visible border: ``c = 0``) it is the frame
    itself, so nothing of the previous picture stays there (no ghost, nothing frozen). ``c`` falls from 1 to 0
    as ``|content - shifted prev_content|`` (grey levels, a global change of exposure removed, box-blurred)
    goes from 0 to ``threshold``.

    Args:
        content, prev_content, prev_result: ``(H, W, 3)`` in ``[0, 255]``, all one size.
        shift: The global motion ``(dy, dx)`` from the previous frame to this one
            (:meth:`suite.style.temporal.TemporalSmoother.shift_to_current`).
        threshold: The change at which ``c`` reaches 0.
        memory: A :class:`StrokeMemory` (already moved by ``shift``): where ``c < 1``, the strokes it holds for
            what the pixel shows now (the background a moving object uncovers) instead of none.
        keep: Also return ``c``.

    Returns:
        ``(H, W, 3)`` float32, not clipped; with ``keep``, ``(start, c)``.
    """
    from suite.style.temporal import change_map, shift_image

    content = np.asarray(content, np.float32)
    moved_out, valid = shift_image(prev_result, *shift)
    moved_in, _ = shift_image(prev_content, *shift)
    change = change_map(content, moved_in, relative=True)
    c = np.clip(1.0 - change / float(threshold), 0.0, 1.0) * valid
    start = content + c[..., None] * (moved_out - moved_in)
    if memory is not None:
        start += ((1.0 - c) * memory.match(content, threshold))[..., None] * memory.residual
    return (start, c) if keep else start


class StrokeMemory:
    """Per pixel, the strokes (result minus frame) last painted on what the pixel showed, and that content.

    A moving object covers the background and uncovers it again: the previous frame then holds the object
    there, not the background, but this memory still holds the background's strokes, so the uncovered part
    starts painted (:func:`warm_start`) instead of from the bare frame. A pixel's memory is refreshed when it
    shows the remembered content again, and replaced only by something that stays (unchanged for
    ``settle`` frames in a row), so an object passing through does not overwrite it.

    Args:
        content, result: The first frame and its stylization, ``(H, W, 3)`` in ``[0, 255]``.
        settle: Frames a new content must stay unchanged before its strokes replace the remembered ones.
    """

    def __init__(self, content, result, settle: int = 2):
        self.content = np.array(content, np.float32)
        self.residual = np.asarray(result, np.float32) - self.content
        self.valid = np.ones(self.content.shape[:2], np.float32)
        self.stable = np.zeros(self.content.shape[:2], np.int32)
        self.settle = int(settle)

    def shift(self, dy: float, dx: float) -> None:
        """Moves the memory with the camera's global motion (what leaves the view is forgotten)."""
        from suite.style.temporal import shift_image

        if not (dy or dx):
            return
        self.content, valid = shift_image(self.content, dy, dx)
        self.residual, _ = shift_image(self.residual, dy, dx)
        moved_valid, _ = shift_image(self.valid, dy, dx)
        self.valid = np.where(valid > 0, moved_valid, 0.0).astype(np.float32)
        self.stable = np.where(valid > 0, np.rint(shift_image(self.stable.astype(np.float32), dy, dx)[0]), 0)
        self.stable = self.stable.astype(np.int32)

    def match(self, content, threshold: float = WARM_START_CHANGE) -> np.ndarray:
        """``(H, W)`` in ``[0, 1]``: 1 where ``content`` shows what the memory holds there."""
        from suite.style.temporal import change_map

        change = change_map(content, self.content, relative=True)
        return np.clip(1.0 - change / float(threshold), 0.0, 1.0) * self.valid

    def update(self, content, result, consistent) -> None:
        """After a frame: ``consistent`` (``(H, W)``, 1 where the input did not change from the previous frame)."""
        content = np.asarray(content, np.float32)
        self.stable = np.where(np.asarray(consistent) > 0.5, self.stable + 1, 0).astype(np.int32)
        take = (self.match(content) > 0.5) | (self.stable >= self.settle) | (self.valid < 0.5)
        self.content[take] = content[take]
        self.residual[take] = (np.asarray(result, np.float32) - content)[take]
        self.valid[take] = 1.0


# ------------------------------------------------------------------ files and folders
def find_videos(contents, recursive: bool = False) -> list[tuple[Path, Path]]:
    """The video files among ``contents`` (files and folders): ``[(path, path relative to its folder)]``.

    Keras-free and PyAV-free (by extension; GIFs only when animated). Audio-only files named in
    ``contents`` are taken too, so that they fail with the video reader's reason; in folders they are not.
    """
    import os

    from suite.common.io.video import is_audio_file

    found = []
    for inp in contents:
        inp = Path(inp)
        if inp.is_dir():
            seen = set()
            for root, dirs, files in os.walk(inp, followlinks=recursive):
                real = os.path.realpath(root)
                if real in seen:
                    dirs[:] = []
                    continue
                seen.add(real)
                dirs.sort()
                for name in sorted(files):
                    p = Path(root) / name
                    if not name.startswith(".") and is_video_file(p):
                        found.append((p, p.relative_to(inp)))
                if not recursive:
                    break
        elif is_video_file(inp) or is_audio_file(inp):  # a named audio file: "no video stream", not "not an image"
            found.append((inp, Path(inp.name)))
    return found


def plan_video_outputs(videos, output, n_contents: int) -> list[tuple[Path, Path]]:
    """Pairs each video with its output: ``output`` itself for one video and a video extension, else
    ``output/<stem><same extension>`` (``.avi`` becomes ``.mp4``)."""
    from suite.common.io.images import output_stems

    output = Path(output)
    if len(videos) == 1 and n_contents == 1 and is_video_output(output) and not output.is_dir():
        return [(videos[0][0], output)]
    if is_video_output(output) and not output.is_dir() and len(videos) > 1:
        raise ValueError(f"{output} looks like a video file, but there are {len(videos)} videos; give a folder")
    if output.suffix and not output.is_dir() and len(videos) == 1 and n_contents == 1:
        from suite.common.io.video import OUTPUT_CODECS

        raise ValueError(
            f"{videos[0][0]} is a video; give -o a video file ({', '.join(sorted(OUTPUT_CODECS))}) or a folder"
        )
    stems = output_stems([rel for _, rel in videos])
    pairs = []
    for (src, _), stem in zip(videos, stems):
        ext = src.suffix.lower() if is_video_output(src) else ".mp4"
        pairs.append((src, output / stem.with_name(stem.name + ext)))
    return pairs


def stylize_video_paths(
    videos,
    styles,
    output,
    *,
    n_contents: int = 1,
    method: str = "fast",
    options=None,
    blend=None,
    size=None,
    overwrite: bool = False,
    progress: bool = True,
    on_message=None,
    max_pixels=None,
    mixed_precision=None,
):
    """Stylizes video files (found by :func:`find_videos`) into ``output``, each with a JSON sidecar.

    Args:
        videos: ``[(path, relative path)]`` as :func:`find_videos` gives.
        styles: Artwork files, or ``"preset:N"`` names.
        output: A video file (one video) or a folder.
        n_contents: How many CONTENT arguments the command got (a single
            video and a video-extension ``output`` write that file).
        method, options, blend, size: As :class:`VideoStylizer`.
        overwrite, progress, on_message, max_pixels: As :func:`suite.style.batch.stylize_paths`.
        mixed_precision: The fast networks' precision (``--mixed-precision``/``--no-mixed-precision``;
            ``None``: automatic), as :class:`VideoStylizer`.

    Returns:
        A :class:`suite.common.report.RunReport`: ``done`` and ``skipped`` output paths, ``failed`` videos,
        ``info["frames"]``, the frames written (when any video was to do), and ``info["notes"]``, the clips'
        one-line notes (a file that ends before the frames it announced, audio re-encoded or left out), when
        there are any.
    """
    import sys

    from suite.common.io.images import load_image
    from suite.common.io.video import require_av
    from suite.common.report import RunReport
    from suite.style.batch import prepare_output_folders, record_outcome, split_existing, write_sidecar
    from suite.style.presets import is_preset

    say = on_message or (lambda m: print(m, file=sys.stderr))
    report = RunReport(output=str(output))
    pairs = plan_video_outputs(videos, output, n_contents)
    prepare_output_folders(pairs)
    todo = split_existing(pairs, overwrite, report, say)
    if not todo:
        return report
    require_av()
    arts = list(styles) if all(is_preset(s) for s in styles) else [load_image(s, max_pixels=max_pixels) for s in styles]
    vs = VideoStylizer(arts, method=method, options=options, blend=blend, size=size, mixed_precision=mixed_precision)
    frames = [0]  # frames written, all clips together (the --json summary's "frames")
    notes: list = []  # the clips' one-line notes (a file that ends early): the --json summary's "notes"
    for src, dst in todo:

        def one(src=src, dst=dst):
            result = vs.video(src, dst, overwrite=overwrite, progress=progress, on_message=say, max_pixels=max_pixels)
            frames[0] += result.frames
            notes.extend(result.notes)
            write_sidecar(
                src,
                dst,
                styles,
                {
                    "output_size": list(result.size),
                    "frames": result.frames,
                    "fps": round(result.rate, 4),
                    "options": vs.get_options(),
                    "seconds": round(result.seconds, 2),
                    **({"notes": result.notes} if result.notes else {}),
                },
            )

        # One clip's failure (a damaged file: its own reason) is its line in the report; the others go on.
        record_outcome(report, src, dst, one, say, errors=(Exception,))
    report.info["frames"] = frames[0]
    if notes:
        report.info.setdefault("notes", []).extend(notes)
    return report
