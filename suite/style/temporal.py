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


def _shift_error(prev: np.ndarray, grey: np.ndarray, dy: float, dx: float) -> float | None:
    """Mean ``|grey - prev moved by (dy, dx)|`` over the pixels both cover (on every second pixel: a ranking only)."""
    if dy == int(dy) and dx == int(dx):
        h, w = grey.shape
        iy, ix = int(dy), int(dx)
        if abs(iy) >= h // 2 or abs(ix) >= w // 2:
            return None
        cur = grey[max(0, iy):h + min(0, iy), max(0, ix):w + min(0, ix)]
        old = prev[max(0, -iy):h + min(0, -iy), max(0, -ix):w + min(0, -ix)]
        return float(np.abs(cur[::2, ::2] - old[::2, ::2]).mean())
    moved, valid = shift_image(prev, dy, dx)
    if valid.sum() < 0.25 * valid.size:
        return None
    return float((np.abs(grey - moved) * valid)[::2, ::2].sum() / valid[::2, ::2].sum())


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
        self._prev_grey = None
        self.last_shift = (0.0, 0.0)

    def shift_to_current(self, frame: np.ndarray) -> tuple[float, float] | None:
        """The global motion from the previous frame to ``frame`` (``None`` before the first, or at a cut).

        Coarse on a small grey copy (large motions), refined at full
        resolution on a central crop (a slow pan moves under one pixel of the
        small copy), then checked: of no motion, the estimate and the
        estimate rounded, the one that best explains the frame wins (a
        locked-off camera with something moving stays locked off).
        """
        grey = _grey(frame)
        small, f = _small(grey, MOTION_SIDE)
        prev, self._prev_grey = getattr(self, "_prev_grey", None), grey
        prev_small, self._prev_small = self._prev_small, small
        if prev_small is None or prev_small.shape != small.shape:
            return None
        if not self.motion or float(np.abs(small - prev_small).mean()) < 0.5:
            return 0.0, 0.0  # a locked-off camera (or identical frames): nothing to undo
        peaks = phase_peaks(prev_small, small)
        if peaks[0][2] < 0.03:  # nothing in common: a cut
            return None
        candidates = [(0.0, 0.0)]
        for dy, dx, _ in peaks:
            ry, rx = self._refine(prev, grey, dy / f, dx / f)
            candidates += [(ry, rx), (float(round(ry)), float(round(rx)))]
        best, best_err = (0.0, 0.0), None
        for cand in dict.fromkeys(candidates):
            err = _shift_error(prev, grey, *cand)
            if err is not None and (best_err is None or err < best_err - 1e-3):
                best, best_err = cand, err
        return best

    @staticmethod
    def _refine(prev, grey, dy, dx, side: int = 256):
        """``(dy, dx)`` refined by phase correlation of full-resolution central crops, the coarse shift undone."""
        h, w = grey.shape
        ch, cw = min(h, side), min(w, side)
        iy, ix = int(round(dy)), int(round(dx))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        py0, px0 = y0 - iy, x0 - ix
        if py0 < 0 or px0 < 0 or py0 + ch > h or px0 + cw > w:
            return dy, dx
        found = []
        # Three crops (left, centre, right): something moving through one of them does not decide.
        for cx in (ch // 2 + ix if ix > 0 else cw // 2, w // 2, w - cw // 2 - max(0, -ix) - 1):
            x0 = min(max(0, cx - cw // 2), w - cw)
            px0 = x0 - ix
            if px0 < 0 or px0 + cw > w:
                continue
            ry, rx, peak = phase_shift(prev[py0:py0 + ch, px0:px0 + cw], grey[y0:y0 + ch, x0:x0 + cw])
            if peak >= 0.05 and abs(ry) <= 2 and abs(rx) <= 2:
                found.append((iy + ry, ix + rx))
        if not found:
            return dy, dx
        return tuple(float(v) for v in np.median(np.array(found), axis=0))

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
