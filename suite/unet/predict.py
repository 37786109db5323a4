"""The predict path shared by ``evaluate`` and ``segment``: pad to the encoder stride, predict, crop back.

Models take RGB pixels in ``[0, 255]`` of any size; encoders need sizes that
are multiples of their total stride, so inputs are padded (reflect) up to the
next multiple and the logits are cropped back to the original size. Nothing is
ever rejected for its size.

- :func:`predict_batch`: several images in one call, padded to a shared size;
  ``head=`` returns logits, probabilities or masks, with softmax/argmax
  compiled into the model (:func:`with_head`).
- :func:`predict_tiled`: large images as overlapping tiles blended with a
  smooth window (:func:`blend_ramp`), yielded in row bands so memory stays flat.
- :func:`predict_logits` / :func:`predict_mask`: one image.

On backends that compile the model once per input shape (JAX: one XLA
compile per shape, seconds each on a CPU), the shapes are bounded
(:func:`shape_buckets`): padded sides are rounded up to a short ladder of
sizes (:func:`bucket_side`, at most 25% more per side) and batches are split
into power-of-two parts, so a folder of photos of many sizes compiles a
handful of times instead of once per size.
"""

from __future__ import annotations

import math

import numpy as np

from suite.unet.model_io import model_metadata


def _stride(model) -> int:
    return model_metadata(model).stride


def pad_to_multiple(image: np.ndarray, multiple: int, mode: str = "reflect"):
    """Pads ``(H, W, C)`` (or ``(N, H, W, C)``) bottom/right to a multiple of ``multiple``.

    Returns:
        ``(padded, (H, W))``, the original size to crop back to.
    """
    h, w = image.shape[-3], image.shape[-2]
    ph, pw = math.ceil(h / multiple) * multiple - h, math.ceil(w / multiple) * multiple - w
    if ph == 0 and pw == 0:
        return image, (h, w)
    pad = [(0, 0)] * image.ndim
    pad[-3], pad[-2] = (0, ph), (0, pw)
    # reflect needs the pad to be smaller than the size; fall back to edge for tiny images
    use = mode if (mode != "reflect" or (ph < h and pw < w)) else "edge"
    return np.pad(image, pad, mode=use), (h, w)


def shape_buckets() -> bool:
    """True when the Keras backend compiles once per input shape (JAX), so shapes should be bounded.

    TensorFlow's predict function relaxes to unknown sizes after a few traces
    and PyTorch runs eagerly: there, padding further would only cost time.
    """
    import keras

    return keras.backend.backend() == "jax"


def bucket_side(length: int, stride: int) -> int:
    """``length`` rounded up to a multiple of ``stride`` on a ladder of at most 25% steps.

    In units of the stride, sides up to 4 are kept; above, they are rounded up
    to ``m * 2**e`` with ``m`` in 4..8 (four sizes per octave), so every side
    up to 4096 px at stride 32 lands on one of 24 sizes.

    Example:
        >>> [bucket_side(n, 16) for n in (48, 300, 451, 512, 600)]
        [48, 320, 512, 512, 640]
    """
    k = max(1, math.ceil(length / stride))
    if k > 4:
        e = k.bit_length() - 3
        k = math.ceil(k / 2**e) * 2**e
    return k * stride


def _bucketed(model, buckets: bool | None) -> tuple[bool, bool]:
    """``(spatial, batch)``: whether to bucket the padded size and split batches into powers of two."""
    on = shape_buckets() if buckets is None else bool(buckets)
    # A whole-image model resizes what it is given: padding would show it content that is not in the image.
    return on and not getattr(model, "whole_image", False), on  # as model_metadata reads it


def predict_logits(
    model, image: np.ndarray, stride: int | None = None, buckets: bool | None = None, tta: str = "none"
) -> np.ndarray:
    """Per-pixel class logits for one image.

    Args:
        model: A segmentation model mapping ``(N, H, W, 3)`` to ``(N, H, W, C)``.
        image: An ``(H, W, 3)`` RGB array in ``[0, 255]``, an image file or a PIL image
            (:func:`suite.common.io.images.as_rgb_array`).
        stride: Pad to a multiple of this; defaults to the model's (:func:`suite.unet.model_io.model_metadata`).
        buckets: Pad further, to :func:`bucket_side` sizes (``None``: when
            :func:`shape_buckets` says the backend compiles per shape).
        tta: ``"flip"``: test-time flips (see :func:`predict_batch`); the
            logits are then the log of the averaged probabilities.

    Returns:
        ``(H, W, C)`` float32 logits at the image's own size.
    """
    from suite.common.io.images import as_rgb_array

    if tta != "none":
        return predict_batch(model, [as_rgb_array(image)], stride=stride, buckets=buckets, tta=tta)[0]

    stride = stride or _stride(model)
    if _bucketed(model, buckets)[0]:
        image = as_rgb_array(image)
        h, w = image.shape[:2]
        padded = _pad_to(image, bucket_side(h, stride), bucket_side(w, stride))
    else:
        padded, (h, w) = pad_to_multiple(as_rgb_array(image), stride)
    logits = model.predict_on_batch(padded[None]) if hasattr(model, "predict_on_batch") else model(padded[None])
    return np.asarray(logits, dtype=np.float32)[0, :h, :w]


def predict_mask(model, image: np.ndarray, stride: int | None = None) -> np.ndarray:
    """Class-index mask ``(H, W)`` uint8 (int32 if more than 256 classes) for one image.

    The image is an ``(H, W, 3)`` RGB array in ``[0, 255]``, an image file or
    a PIL image. The argmax runs inside the compiled model (see
    :func:`with_head`); a one-channel model gives ``logit > 0``.
    """
    from suite.common.io.images import as_rgb_array

    return predict_batch(model, [as_rgb_array(image)], stride=stride, head="mask")[0]


def logits_to_probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (a sigmoid for one-channel binary models), float32."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-logits))
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def scores_to_mask(scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class-index mask from per-class scores (argmax; ``> threshold`` for one channel).

    ``threshold`` applies to one-channel *probabilities*; pass ``0.0`` for
    one-channel logits.
    """
    dtype = np.uint8 if scores.shape[-1] <= 256 else np.int32
    if scores.shape[-1] == 1:
        return (scores[..., 0] > threshold).astype(dtype)
    return scores.argmax(axis=-1).astype(dtype)


HEADS = ("logits", "probabilities", "mask", "mask+probabilities")
#: Test-time augmentation of :func:`predict_batch`: none, or the image and its horizontal mirror averaged.
TTA_MODES = ("none", "flip")
_HEADS_CACHE: dict = {}


def with_head(model, head: str = "logits"):
    """The model with its post-processing compiled in: probabilities, mask, or both.

    Softmax and argmax over a handful of channels are slow in NumPy (a strided
    reduction per pixel) but nearly free inside the compiled graph, and a
    uint8 mask is 4 x C times less to copy back from a GPU than float logits.
    The wrapped model is built once per ``(model, head)`` and reuses the
    model's layers (no weight copies).

    Args:
        model: A segmentation model with ``(N, H, W, C)`` logits.
        head: ``"logits"`` (the model itself), ``"probabilities"`` (softmax, or
            a sigmoid for one channel), ``"mask"`` (argmax as uint8, int32 past
            256 classes; ``logit > 0`` for one channel) or
            ``"mask+probabilities"`` (both, as two outputs).

    Returns:
        A ``keras.Model``; the model itself for ``"logits"`` or when it cannot
        be wrapped (then :func:`predict_batch` post-processes in NumPy).
    """
    if head not in HEADS:
        raise ValueError(f"Expected head in {HEADS}. Received: head={head!r}")
    if head == "logits":
        return model
    key = (id(model), head)
    cached = _HEADS_CACHE.get(key)
    if cached is not None and cached[0] is model:
        return cached[1]
    try:
        import keras
        from keras import ops

        inp = keras.Input(shape=tuple(model.input_shape[1:]), name="image")
        logits = ops.cast(model(inp), "float32")
        channels = logits.shape[-1]
        probs = ops.sigmoid(logits) if channels == 1 else ops.softmax(logits, axis=-1)
        if channels == 1:
            mask = ops.cast(logits[..., 0] > 0, "uint8")
        else:
            mask = ops.cast(ops.argmax(logits, axis=-1), "uint8" if channels <= 256 else "int32")
        outputs = {"probabilities": probs, "mask": mask, "mask+probabilities": [mask, probs]}[head]
        wrapped = keras.Model(inp, outputs, name=f"{model.name}_{head.replace('+', '_and_')}")
    except Exception:  # e.g. a subclassed model that was never built: NumPy does the work instead
        wrapped = None
    _HEADS_CACHE[key] = (model, wrapped)
    return wrapped


def _numpy_head(logits: np.ndarray, head: str):
    if head == "probabilities":
        return logits_to_probabilities(logits)
    if head == "mask":
        return scores_to_mask(logits, threshold=0.0)
    if head == "mask+probabilities":
        return [scores_to_mask(logits, threshold=0.0), logits_to_probabilities(logits)]
    return logits


def predict_batch(
    model,
    images,
    stride: int | None = None,
    target: tuple[int, int] | None = None,
    head: str = "logits",
    buckets: bool | None = None,
    tta: str = "none",
) -> list:
    """Predicts several images in one model call.

    Each image is padded (reflect) to a common size, at least its own size
    rounded up to ``stride``, and its outputs are cropped back.

    Args:
        model: Segmentation model, ``(N, H, W, 3)`` in ``[0, 255]`` to ``(N, H, W, C)`` logits.
        images: Sequence of ``(H_i, W_i, 3)`` arrays (uint8 or float).
        stride: The model's total stride (by default its metadata's).
        target: Pad every image to this ``(H, W)``; by default the largest
            padded size in the batch.
        head: What to return per image (see :func:`with_head`): ``"logits"``
            ``(H_i, W_i, C)`` float32, ``"probabilities"`` likewise,
            ``"mask"`` ``(H_i, W_i)`` uint8, or ``"mask+probabilities"`` a
            ``(mask, probabilities)`` pair.
        buckets: Bound the shapes the model sees (see :func:`shape_buckets`):
            the padded size is rounded up with :func:`bucket_side` (not for
            whole-image models, which run in their ``prediction_stages()``
            when they have them) and the batch is predicted in power-of-two
            parts. ``None``: on for backends that compile per shape (JAX).
        tta: ``"flip"``: test-time flips, the class probabilities of each image
            and of its horizontal mirror (mirrored back) averaged, then the
            head taken from them (``"logits"`` then returns the log of the
            averaged probabilities; one-channel models: their logit). Twice
            the model calls. ``"none"`` (default): the image alone.

    Returns:
        A list with one entry per image.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"Expected tta in {TTA_MODES}. Received: tta={tta!r}")
    stride = stride or _stride(model)
    sizes = [(im.shape[0], im.shape[1]) for im in images]
    if target is None:
        target = (
            max(math.ceil(h / stride) * stride for h, _ in sizes),
            max(math.ceil(w / stride) * stride for _, w in sizes),
        )
    spatial, split = _bucketed(model, buckets)
    if spatial:
        target = (bucket_side(target[0], stride), bucket_side(target[1], stride))
    th, tw = target
    batch = np.empty((len(images), th, tw, 3), dtype=np.float32)
    for i, im in enumerate(images):
        batch[i] = _pad_to(np.asarray(im), th, tw)
    if tta == "flip":
        # Each image mirrored, then padded as the image itself is (bottom/right), so both see the same borders.
        flipped = np.empty_like(batch)
        for i, im in enumerate(images):
            flipped[i] = _pad_to(np.asarray(im)[:, ::-1], th, tw)
        probs = _predict_padded(model, batch, "probabilities", split)
        mirrored = _predict_padded(model, flipped, "probabilities", split)
        for i, (h, w) in enumerate(sizes):
            probs[i, :h, :w] = 0.5 * (probs[i, :h, :w] + mirrored[i, :h, :w][:, ::-1])
        outs = _head_from_probabilities(probs, head)
    else:
        outs = _predict_padded(model, batch, head, split)
    if isinstance(outs, (list, tuple)):
        outs = [np.asarray(o) for o in outs]
        return [tuple(o[i, :h, :w] for o in outs) for i, (h, w) in enumerate(sizes)]
    outs = np.asarray(outs)
    if head == "logits":
        outs = outs.astype(np.float32, copy=False)
    return [outs[i, :h, :w] for i, (h, w) in enumerate(sizes)]


def _predict_padded(model, batch: np.ndarray, head: str, split: bool):
    """The head's outputs for a padded ``(N, H, W, 3)`` batch (a list of two for ``"mask+probabilities"``)."""
    # A whole-image model in stages (resize, fixed-size network, upsample): per size, only the small ones compile.
    stages = model.prediction_stages() if split and callable(getattr(model, "prediction_stages", None)) else None
    wrapped = None if stages else with_head(model, head)
    parts = _power_of_two_parts(len(batch)) if split else [len(batch)]
    chunks, start = [], 0
    for n in parts:
        part = batch[start : start + n]
        start += n
        if stages:
            to_network, network, to_logits = stages
            prob = _call(network, np.asarray(_call(to_network, part)))
            chunks.append(_numpy_head(np.asarray(_call(to_logits, [np.asarray(prob), part]), dtype=np.float32), head))
        elif wrapped is None:
            chunks.append(_numpy_head(np.asarray(_call(model, part), dtype=np.float32), head))
        else:
            chunks.append(_call(wrapped, part))
    outs = chunks[0] if len(chunks) == 1 else _concat(chunks)
    if isinstance(outs, (list, tuple)):
        return [np.asarray(o) for o in outs]
    return np.array(outs, dtype=np.float32) if head == "probabilities" else np.asarray(outs)  # writable


def _head_from_probabilities(probs: np.ndarray, head: str):
    """What ``head`` gives, computed from (averaged) class probabilities."""
    mask = scores_to_mask(probs, threshold=0.5)
    if head == "mask":
        return mask
    if head == "mask+probabilities":
        return [mask, probs]
    if head == "logits":
        eps = np.float32(1e-7)
        if probs.shape[-1] == 1:  # back to a logit, so that ``logit > 0`` is still the mask
            p = np.clip(probs, eps, 1 - eps)
            return np.log(p / (1 - p))
        return np.log(np.maximum(probs, eps))
    return probs


def _power_of_two_parts(n: int) -> list[int]:
    """``n`` as a sum of distinct powers of two, largest first: ``7 -> [4, 2, 1]``."""
    return [1 << b for b in range(n.bit_length() - 1, -1, -1) if n >> b & 1]


def _concat(chunks):
    if isinstance(chunks[0], (list, tuple)):
        return [np.concatenate([np.asarray(c[k]) for c in chunks]) for k in range(len(chunks[0]))]
    return np.concatenate([np.asarray(c) for c in chunks])


def _call(model, batch):
    if hasattr(model, "predict_on_batch"):
        return model.predict_on_batch(batch)
    return model(batch)


def _pad_to(image: np.ndarray, th: int, tw: int) -> np.ndarray:
    """Pads ``(H, W, C)`` bottom/right to ``(th, tw)``: reflect when it can, else edge."""
    h, w = image.shape[:2]
    if (h, w) == (th, tw):
        return image
    ph, pw = th - h, tw - w
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` shared.

    The last tile is aligned with the end, so every tile is full-size.

    Example:
        >>> tile_starts(1000, 512, 64)
        [0, 448, 488]
    """
    if length <= tile:
        return [0]
    step = tile - overlap
    if step <= 0:
        raise ValueError(f"Expected overlap < tile. Received: tile={tile}, overlap={overlap}")
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def blend_ramp(size: int, overlap: int, before: bool, after: bool) -> np.ndarray:
    """1-D blending weights of one tile: 1 in the middle, a raised-cosine ramp into each shared side.

    The first quarter of each ramp is (almost) zero: those pixels see the
    tile's padded border, so their predictions are the least trustworthy and
    the neighbouring tile, which sees them from its middle, should decide.
    Sides without a neighbour (the image border) keep weight 1.
    """
    w = np.ones(size, dtype=np.float32)
    if overlap <= 0:
        return w
    ov = min(overlap, size // 2)
    dead = ov // 4
    ramp_len = ov - dead
    t = (np.arange(ramp_len, dtype=np.float32) + 0.5) / max(ramp_len, 1)
    ramp = np.concatenate([np.full(dead, 1e-3, np.float32), np.maximum(np.sin(0.5 * np.pi * t) ** 2, 1e-3)])
    if before:
        w[:ov] = ramp
    if after:
        w[size - ov :] = ramp[::-1]
    return w


def predict_tiled(
    model,
    image: np.ndarray,
    tile: int = 512,
    overlap: int = 64,
    stride: int | None = None,
    tiles_per_batch: int = 4,
    probabilities: bool = True,
    tta: str = "none",
):
    """Per-class scores of a large image, from overlapping tiles, yielded in row bands.

    Tiles are predicted in batches, turned into probabilities, weighted by a
    smooth window (:func:`blend_ramp`) and accumulated; as soon as no later
    tile can touch a row, the normalised rows are yielded. Memory is one band
    of ``tile`` rows, whatever the image height.

    Args:
        model: Segmentation model.
        image: ``(H, W, 3)`` array in ``[0, 255]`` (may be uint8 or float32).
        tile: Tile side in pixels (rounded up to ``stride``).
        overlap: Pixels shared by neighbouring tiles; at most ``tile // 2``.
        stride: The model's total stride.
        tiles_per_batch: Tiles per model call.
        probabilities: Blend softmax probabilities (default); ``False`` blends raw logits.
        tta: ``"flip"``: each tile's scores from test-time flips (:func:`predict_batch`).

    Yields:
        ``(y0, scores)``: rows ``y0 .. y0 + len(scores)`` of ``(rows, W, C)`` float32 scores,
        in order, covering the image exactly once.
    """
    stride = stride or _stride(model)
    tile = math.ceil(tile / stride) * stride
    if not 0 <= overlap <= tile // 2:
        raise ValueError(f"Expected 0 <= overlap <= tile // 2. Received: tile={tile}, overlap={overlap}")
    h, w = image.shape[:2]
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    wxs = [blend_ramp(tw, overlap, i > 0, i < len(xs) - 1) for i in range(len(xs))]
    acc = wsum = None
    prev_y0 = carry = 0
    for r, y0 in enumerate(ys):
        wy = blend_ramp(th, overlap, r > 0, r < len(ys) - 1)
        new_acc, new_wsum = None, np.zeros((th, w), dtype=np.float32)
        if wsum is not None:
            carry = prev_y0 + th - y0  # rows the previous band left open
            new_wsum[:carry] = wsum[th - carry :]
        for c0 in range(0, len(xs), tiles_per_batch):
            chunk = xs[c0 : c0 + tiles_per_batch]
            crops = [image[y0 : y0 + th, x0 : x0 + tw] for x0 in chunk]
            outs = predict_batch(
                model, crops, stride=stride, head="probabilities" if probabilities else "logits", tta=tta
            )
            for k, (x0, out) in enumerate(zip(chunk, outs)):
                if new_acc is None:
                    new_acc = np.zeros((th, w, out.shape[-1]), dtype=np.float32)
                    if acc is not None:
                        new_acc[:carry] = acc[th - carry :]
                weight = wy[:, None] * wxs[c0 + k][None, :]
                out = np.multiply(out, weight[..., None], dtype=np.float32)
                new_acc[:, x0 : x0 + tw] += out
                new_wsum[:, x0 : x0 + tw] += weight
        acc, wsum, prev_y0 = new_acc, new_wsum, y0
        stop = (ys[r + 1] if r + 1 < len(ys) else h) - y0
        yield y0, acc[:stop] / wsum[:stop, :, None]
