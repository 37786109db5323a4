"""Temporal smoothing of stylized video frames, without optical flow: pure numpy, no Keras.

A feed-forward style network applied frame by frame flickers: sensor noise,
compression and sub-pixel motion move its strokes from one frame to the
next. :class:`TemporalSmoother` keeps, per pixel, a share of the previous
*result* wherever the *input* shows the same thing as in the previous frame,
after undoing the camera's global motion:

1. the global translation between consecutive input frames is found by phase
   correlation on a small grey copy (one ``(dy, dx)`` per frame, sub-pixel: a
   pan, a drift, a shaking hand; no dense flow field);
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
    image = np.asarray(image, dtype=np.float32)
    return image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114


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


def phase_shift(previous: np.ndarray, current: np.ndarray) -> tuple[float, float, float]:
    """The translation ``(dy, dx)`` that maps ``previous`` onto ``current`` (grey images), and the peak's strength.

    ``current[y, x] ~= previous[y - dy, x - dx]``. The strength (the phase
    correlation peak, 0..1) is low when the frames share nothing (a cut).
    """
    h, w = previous.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    a = np.fft.rfft2((previous - previous.mean()) * window)
    b = np.fft.rfft2((current - current.mean()) * window)
    cross = b * np.conj(a)
    cross /= np.abs(cross) + 1e-6
    corr = np.fft.irfft2(cross, s=(h, w))
    k = int(np.argmax(corr))
    py, px = divmod(k, w)
    peak = float(corr[py, px])

    def sub(c_m, c_0, c_p):
        d = c_m - 2 * c_0 + c_p
        return 0.0 if d >= 0 else 0.5 * (c_m - c_p) / d

    dy = py + sub(corr[(py - 1) % h, px], corr[py, px], corr[(py + 1) % h, px])
    dx = px + sub(corr[py, (px - 1) % w], corr[py, px], corr[py, (px + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dy), float(dx), peak


def shift_image(image: np.ndarray, dy: float, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` moved by ``(dy, dx)`` pixels (bilinear), and a mask of the pixels that had a source.

    Returns:
        ``(shifted, valid)``: ``shifted[y, x] = image[y - dy, x - dx]``; ``valid`` is
        ``(H, W)`` float32, 0 where the source fell outside the image.
    """
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    iy, fy = int(np.floor(dy)), dy - np.floor(dy)
    ix, fx = int(np.floor(dx)), dx - np.floor(dx)

    def integer(img, sy, sx):
        out = np.zeros_like(img)
        ys, yd = (slice(0, h - sy), slice(sy, h)) if sy >= 0 else (slice(-sy, h), slice(0, h + sy))
        xs, xd = (slice(0, w - sx), slice(sx, w)) if sx >= 0 else (slice(-sx, w), slice(0, w + sx))
        if abs(sy) < h and abs(sx) < w:
            out[yd, xd] = img[ys, xs]
        return out

    if fy == 0 and fx == 0:
        valid = integer(np.ones((h, w), np.float32), iy, ix)
        return integer(image, iy, ix), valid
    out = ((1 - fy) * (1 - fx)) * integer(image, iy, ix) + ((1 - fy) * fx) * integer(image, iy, ix + 1) \
        + (fy * (1 - fx)) * integer(image, iy + 1, ix) + (fy * fx) * integer(image, iy + 1, ix + 1)
    ones = np.ones((h, w), np.float32)
    valid = integer(ones, iy, ix) * integer(ones, iy, ix + 1) * integer(ones, iy + 1, ix) * integer(ones, iy + 1, ix + 1)
    return out, valid


def _box_blur(plane: np.ndarray, radius: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(plane, size=2 * radius + 1, mode="nearest") if radius > 0 else plane


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
        self._prev_in = None
        self._prev_out = None
        self._prev_small = None
        self.last_shift = (0.0, 0.0)

    def shift_to_current(self, frame: np.ndarray) -> tuple[float, float] | None:
        """The global motion from the previous frame to ``frame`` (``None`` before the first, or at a cut)."""
        grey = _grey(frame)
        small, f = _small(grey, MOTION_SIDE)
        prev_small, self._prev_small = self._prev_small, small
        if prev_small is None or prev_small.shape != small.shape:
            return None
        if not self.motion or float(np.abs(small - prev_small).mean()) < 0.5:
            return 0.0, 0.0  # a locked-off camera (or identical frames): nothing to undo
        dy, dx, peak = phase_shift(prev_small, small)
        if peak < 0.03:  # nothing in common: a cut
            return None
        # The peak's sub-pixel fit is pulled by whatever moves on its own: keep the candidate (none, the
        # estimate, the estimate rounded) that best explains the frame.
        best, best_err = (0.0, 0.0), None
        for cand in ((0.0, 0.0), (dy, dx), (float(round(dy)), float(round(dx)))):
            moved, valid = shift_image(prev_small, *cand)
            if valid.sum() < 0.25 * valid.size:
                continue
            err = float((np.abs(small - moved) * valid).sum() / valid.sum())
            if best_err is None or err < best_err - 1e-3:
                best, best_err = cand, err
        return best[0] / f, best[1] / f

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The smoothed result for one input ``frame`` and its frame-by-frame ``stylized`` version.

        Both are ``(H, W, 3)`` in ``[0, 255]`` (the stylized one may differ in
        size from the input: the input is then compared at the result's size).
        """
        stylized = np.asarray(stylized, dtype=np.float32)
        frame = np.asarray(frame, dtype=np.float32)
        if frame.shape[:2] != stylized.shape[:2]:
            from suite.common.io.images import resize_float

            frame = resize_float(frame, *stylized.shape[:2])
        shift = self.shift_to_current(frame)
        prev_in, prev_out = self._prev_in, self._prev_out
        self._prev_in = frame
        if self.weight == 0 or shift is None or prev_out is None or prev_out.shape != stylized.shape:
            self._prev_out = stylized
            self.last_shift = (0.0, 0.0) if shift is None else shift
            return stylized
        dy, dx = shift
        self.last_shift = shift
        moved_in, valid = shift_image(prev_in, dy, dx)
        moved_out, _ = shift_image(prev_out, dy, dx)
        change = np.abs(_grey(frame) - _grey(moved_in))
        radius = max(1, round(self.radius * max(frame.shape[:2]) / 1920))
        change = _box_blur(change, radius)
        confidence = np.clip(1.0 - change / self.threshold, 0.0, 1.0) * valid
        keep = (self.weight * confidence)[..., None]
        out = keep * moved_out + (1.0 - keep) * stylized
        self._prev_out = out
        return out
