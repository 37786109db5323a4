"""Temporal smoothing of stylized video frames, without optical flow: pure numpy, no Keras.

A feed-forward style network applied frame by frame flickers: sensor noise,
compression and sub-pixel motion move its strokes from one frame to the
next. :class:`TemporalSmoother` keeps, per pixel, a share of the previous
*result* wherever the *input* shows the same thing as in the previous frame,
after undoing the camera's global motion:

1. the global translation between consecutive input frames is found by phase
   correlation on a small grey copy (one ``(dy, dx)`` per frame, sub-pixel: a
   pan, a drift, a shaking hand; no dense flow field), and kept only when it
   explains the frame's colours clearly better than a still camera (the
   median over pixels, so an object moving over a still, even textureless,
   background is not taken for a pan);
2. the previous input and result are shifted by it;
3. a pixel's confidence is high where the input barely changed after that
   shift (``|input - shifted previous input|`` under ``threshold`` grey
   levels, box-blurred so one noisy pixel does not decide), and zero where
   something moved on its own, where the view is new, or at a cut;
4. ``result = c * weight * shifted previous result + (1 - c * weight) * stylized frame``.

Moving objects therefore get the fresh stylization (no ghosts), and static or
panned regions get an exponential average of consistent strokes (no shimmer).
The choice of this method and of its defaults is measured by
``benchmarks/bench_video.py`` (flicker after undoing the known motion,
stylization strength, time).
"""

from __future__ import annotations

import numpy as np

#: Long side of the grey copy the global motion is measured on.
MOTION_SIDE = 256


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image @ np.array([0.299, 0.587, 0.114], np.float32)


def _small(grey: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """``grey`` resized (area average) so its long side is at most ``side``; and the factor applied."""
    from PIL import Image

    h, w = grey.shape
    f = min(1.0, side / max(h, w))
    if f == 1.0:
        return grey, 1.0
    nh, nw = max(8, round(h * f)), max(8, round(w * f))
    small = np.asarray(Image.fromarray(grey, mode="F").resize((nw, nh), Image.BOX), dtype=np.float32)
    return small, nw / w


def phase_peaks(previous: np.ndarray, current: np.ndarray, k: int = 4) -> list[tuple[float, float, float]]:
    """The ``k`` strongest translations ``(dy, dx, peak)`` between two grey images, by phase correlation.

    ``current[y, x] ~= previous[y - dy, x - dx]`` for the first one when one
    motion dominates; an object moving across a pan gives a second peak,
    which is why several are returned (the caller checks which explains
    the frame). ``peak`` (0..1) is low when the frames share nothing (a cut).
    """
    h, w = previous.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    a = np.fft.rfft2((previous - previous.mean()) * window)
    b = np.fft.rfft2((current - current.mean()) * window)
    cross = b * np.conj(a)
    cross /= np.abs(cross) + 1e-6
    corr = np.fft.irfft2(cross, s=(h, w))

    def sub(c_m, c_0, c_p):
        d = c_m - 2 * c_0 + c_p
        return 0.0 if d >= 0 else 0.5 * (c_m - c_p) / d

    found, work = [], corr.copy()
    for _ in range(k):
        py, px = divmod(int(np.argmax(work)), w)
        peak = float(corr[py, px])
        dy = py + sub(corr[(py - 1) % h, px], corr[py, px], corr[(py + 1) % h, px])
        dx = px + sub(corr[py, (px - 1) % w], corr[py, px], corr[py, (px + 1) % w])
        dy = dy - h if dy > h / 2 else dy
        dx = dx - w if dx > w / 2 else dx
        found.append((float(dy), float(dx), peak))
        ys, xs = np.arange(py - 2, py + 3) % h, np.arange(px - 2, px + 3) % w
        work[np.ix_(ys, xs)] = -np.inf
    return found


def phase_shift(previous: np.ndarray, current: np.ndarray) -> tuple[float, float, float]:
    """The strongest translation ``(dy, dx, peak)`` of :func:`phase_peaks`."""
    return phase_peaks(previous, current, k=1)[0]


def shift_image(image: np.ndarray, dy: float, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` moved by ``(dy, dx)`` pixels (bilinear), and a mask of the pixels that had a source.

    Returns:
        ``(shifted, valid)``: ``shifted[y, x] = image[y - dy, x - dx]``; ``valid`` is
        ``(H, W)`` float32, 0 where the source fell outside the image.
    """
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    iy, fy = int(np.floor(dy)), float(dy - np.floor(dy))
    ix, fx = int(np.floor(dx)), float(dx - np.floor(dx))

    def integer(img, sy, sx):
        out = np.zeros_like(img)
        if abs(sy) < h and abs(sx) < w:
            out[max(0, sy) : h + min(0, sy), max(0, sx) : w + min(0, sx)] = img[
                max(0, -sy) : h + min(0, -sy), max(0, -sx) : w + min(0, -sx)
            ]
        return out

    out = integer(image, iy, ix)
    if fx:
        out = (1 - fx) * out + fx * integer(image, iy, ix + 1)
    if fy:
        below = integer(image, iy + 1, ix)
        if fx:
            below = (1 - fx) * below + fx * integer(image, iy + 1, ix + 1)
        out = (1 - fy) * out + fy * below
    valid = np.zeros((h, w), np.float32)
    y0, y1 = max(0, iy + (1 if fy else 0)), min(h, h + iy)
    x0, x1 = max(0, ix + (1 if fx else 0)), min(w, w + ix)
    if y1 > y0 and x1 > x0:
        valid[y0:y1, x0:x1] = 1.0
    return out, valid


def _shift_error(prev: np.ndarray, grey: np.ndarray, iy: int, ix: int) -> float:
    """Mean ``|grey - prev moved by the integer (iy, ix)|`` where both cover (on a grid of samples: a ranking only)."""
    h, w = grey.shape
    if abs(iy) >= h // 2 or abs(ix) >= w // 2:
        return np.inf
    k = max(2, round(max(h, w) / 480))  # about 480 x 270 samples whatever the frame size
    cur = grey[max(0, iy) : h + min(0, iy) : k, max(0, ix) : w + min(0, ix) : k]
    old = prev[max(0, -iy) : h + min(0, -iy) : k, max(0, -ix) : w + min(0, -ix) : k]
    return float(np.abs(cur - old).mean())


def _best_shift(prev: np.ndarray, grey: np.ndarray, starts) -> tuple[float, float]:
    """The translation that best explains ``grey`` from ``prev``, starting from the integer ``starts``.

    A hill climb over integer shifts from each start (no motion is always
    one), then a parabola through the best one's neighbours for the
    sub-pixel part.
    """
    cache = {}

    def err(y, x):
        if (y, x) not in cache:
            cache[(y, x)] = _shift_error(prev, grey, y, x)
        return cache[(y, x)]

    best = (0, 0)
    for y, x in dict.fromkeys(starts):
        for _ in range(8):
            step = min(((y + a, x + b) for a, b in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))), key=lambda c: err(*c))
            if step == (y, x):
                break
            y, x = step
        if err(y, x) < err(*best) - 1e-3:
            best = (y, x)

    def sub(e_m, e_0, e_p):
        d = e_m - 2 * e_0 + e_p
        v = 0.0 if d <= 0 or not np.isfinite(d) else float(np.clip(0.5 * (e_m - e_p) / d, -0.5, 0.5))
        return v if abs(v) >= 0.1 else 0.0  # a whole-pixel motion stays whole: no interpolation blur builds up

    y, x = best
    if best == (0, 0) and err(0, 0) < 0.5:
        return 0.0, 0.0
    return y + sub(err(y - 1, x), err(y, x), err(y + 1, x)), x + sub(err(y, x - 1), err(y, x), err(y, x + 1))


def _colour_median_error(prev: np.ndarray, frame: np.ndarray, iy: int, ix: int) -> float:
    """Median over pixels of the colour difference ``sum_c |frame - prev moved by (iy, ix)|``, where both cover.

    Robust where :func:`_shift_error` is not: an object moving over a still
    scene changes a minority of the pixels (the median ignores them), and a
    smooth colour gradient that a grey shift along its level lines would
    explain is not explained in colour.
    """
    h, w = frame.shape[:2]
    k = max(2, round(max(h, w) / 480))
    cur = frame[max(0, iy) : h + min(0, iy) : k, max(0, ix) : w + min(0, ix) : k]
    old = prev[max(0, -iy) : h + min(0, -iy) : k, max(0, -ix) : w + min(0, -ix) : k]
    return float(np.median(np.abs(cur - old).sum(axis=-1)))


#: A camera motion is kept only when its median colour error is below this share of no motion's (and
#: :data:`MOTION_MARGIN` grey levels under it): with no clear winner the camera is taken to be still, so a
#: still background is never smeared along with something that moves across it.
MOTION_GAIN = 0.8
MOTION_MARGIN = 1.0


def _box_blur(plane: np.ndarray, radius: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(plane, size=2 * radius + 1, mode="nearest") if radius > 0 else plane


def change_map(current: np.ndarray, previous: np.ndarray, radius: int = 4, relative: bool = False) -> np.ndarray:
    """How much the input changed per pixel: ``|grey(current) - grey(previous)|``, box-blurred.

    Args:
        current, previous: ``(H, W, 3)`` RGB or ``(H, W)`` grey, in ``[0, 255]``, one size (``previous``
            already moved by the global motion).
        radius: Box-blur radius in pixels at 1080p (scaled with the frame), so one noisy pixel does not decide.
        relative: Remove a change common to the whole frame first (the median difference: a change of
            exposure is not a change of what the pixel shows).

    Returns:
        ``(H, W)`` float32 grey levels.
    """
    current, previous = np.asarray(current, np.float32), np.asarray(previous, np.float32)
    diff = (_grey(current) if current.ndim == 3 else current) - (_grey(previous) if previous.ndim == 3 else previous)
    if relative:
        diff = diff - np.median(diff)
    radius = max(1, round(radius * max(diff.shape) / 1920))
    return _box_blur(np.abs(diff), radius)


class TemporalSmoother:
    """Blends each stylized frame with the previous result where the input did not change (see the module).

    Args:
        weight: Share of the previous result kept where the input is
            unchanged (0 = frame by frame; 0.8 keeps strokes for about 5 frames).
        threshold: Grey-level change of the input (after undoing the global
            motion) at which a pixel counts as changed and takes the fresh
            stylization.
        motion: Undo the global motion (phase correlation) before comparing;
            ``False`` compares pixels in place (a locked-off camera only).
        radius: Box-blur radius of the change map, in pixels at 1080p
            (scaled with the frame).

    Example:
        >>> sm = TemporalSmoother(weight=0.7)
        >>> frames = [np.full((32, 48, 3), 100.0, np.float32)] * 2
        >>> styled = [np.zeros((32, 48, 3), np.float32), np.full((32, 48, 3), 10.0, np.float32)]
        >>> out = [sm(f, s) for f, s in zip(frames, styled)]
        >>> float(out[1].mean())  # the input did not change: 70% of the previous result is kept
        3.0
    """

    def __init__(self, weight: float = 0.7, threshold: float = 12.0, motion: bool = True, radius: int = 4):
        if not 0.0 <= float(weight) < 1.0:
            raise ValueError(f"Expected 0 <= weight < 1. Received: weight={weight}")
        if not float(threshold) > 0:
            raise ValueError(f"Expected threshold > 0. Received: threshold={threshold}")
        self.weight = float(weight)
        self.threshold = float(threshold)
        self.motion = bool(motion)
        self.radius = int(radius)
        self.reset()

    def reset(self) -> None:
        """Forgets the previous frame (a new clip, or a cut)."""
        self._prev_out = None
        self._prev_small = None
        self._prev_grey = None
        self._prev_rgb = None
        self.last_shift = (0.0, 0.0)

    def shift_to_current(self, frame: np.ndarray) -> tuple[float, float] | None:
        """The global motion from the previous frame to ``frame`` (``None`` before the first, or at a cut).

        The strongest phase-correlation peaks on a small grey copy (large
        motions; an object crossing a pan makes a peak of its own) are the
        starts of a search over integer shifts at full resolution, no motion
        included (a locked-off camera with something moving stays locked
        off); the best gets a sub-pixel part from its neighbours.
        """
        rgb = np.asarray(frame, np.float32)
        grey = _grey(rgb)
        small, f = _small(grey, MOTION_SIDE)
        prev, self._prev_grey = getattr(self, "_prev_grey", None), grey
        prev_rgb, self._prev_rgb = getattr(self, "_prev_rgb", None), rgb
        prev_small, self._prev_small = self._prev_small, small
        if prev_small is None or prev_small.shape != small.shape:
            return None
        if not self.motion or float(np.abs(small - prev_small).mean()) < 0.5:
            return 0.0, 0.0  # a locked-off camera (or identical frames): nothing to undo
        peaks = phase_peaks(prev_small, small, k=3)
        if peaks[0][2] < 0.03:  # nothing in common: a cut
            return None
        starts = [(0, 0)] + [(int(round(dy / f)), int(round(dx / f))) for dy, dx, _ in peaks]
        dy, dx = _best_shift(prev, grey, starts)
        iy, ix = int(round(dy)), int(round(dx))
        if (iy, ix) != (0, 0) and prev_rgb is not None and prev_rgb.shape == rgb.shape:
            # The mean grey error the search ranks by can prefer a shift that follows a moving object (or slides
            # along a gradient's level lines) over a still camera: keep it only if it clearly explains more.
            still = _colour_median_error(prev_rgb, rgb, 0, 0)
            moved = _colour_median_error(prev_rgb, rgb, iy, ix)
            if not moved < min(MOTION_GAIN * still, still - MOTION_MARGIN):
                return 0.0, 0.0
        return dy, dx

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The smoothed result for one input ``frame`` and its frame-by-frame ``stylized`` version.

        Both are ``(H, W, 3)`` in ``[0, 255]`` (the stylized one may differ in
        size from the input: the input is then compared at the result's size).
        """
        stylized = np.asarray(stylized, dtype=np.float32)
        frame = np.asarray(frame)
        if frame.shape[:2] != stylized.shape[:2]:
            from suite.common.io.images import resize_float

            frame = resize_float(frame, *stylized.shape[:2])
        prev_grey = self._prev_grey
        shift = self.shift_to_current(frame)
        grey, prev_out = self._prev_grey, self._prev_out
        if self.weight == 0 or shift is None or prev_out is None or prev_out.shape != stylized.shape:
            self._prev_out = stylized
            self.last_shift = (0.0, 0.0) if shift is None else shift
            return stylized
        dy, dx = shift
        self.last_shift = shift
        moved_in, valid = shift_image(prev_grey, dy, dx)
        moved_out, _ = shift_image(prev_out, dy, dx)
        change = change_map(grey, moved_in, self.radius)
        confidence = np.clip(1.0 - change / self.threshold, 0.0, 1.0) * valid
        keep = (self.weight * confidence)[..., None]
        out = stylized + keep * (moved_out - stylized)
        self._prev_out = out
        return out
