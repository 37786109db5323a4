"""Frozen-encoder feature caching for U-Net training (TensorFlow-specific, like :mod:`suite.unet.tfdata`).

A frozen encoder gives the same pyramid for the same pixels at every step, so
:func:`suite.unet.training.train` computes it once per training window and trains
the decoder alone on the stored features (:func:`decoder_model` shares the
U-Net's own decoder layers, so the saved model stays the ordinary full U-Net).
Each step then costs the decoder's forward and backward pass only.

What is cached, per image (:func:`window_grid`):

* ``resize_mode="crop"``: a fixed grid of windows of the crop size at the
  image's own scale (overlapping by half a window; an axis shorter than the
  crop is padded centred, with ignored mask pixels), instead of a new random
  window every step;
* ``resize_mode="resize"``: the image scaled to the crop size, one window;
* each window again horizontally (and/or vertically) flipped when the
  augmentation flips: flips are the only augmentation that survives caching.

Validation windows are the plain pipeline's centred crops (or resized images),
so validation through the cache gives the plain path's numbers.

It is exact: a batch of cached windows gives the loss the full model gives on
the same pixels (bit for bit under ``mixed_bfloat16``, where the features are
stored in the encoder's own bfloat16; within float16 rounding under float32).
It is used only while nothing can change the features: the encoder is frozen
(not in a fine-tuning phase), no augmentation touches pixels (rotation, zoom,
translation, colour), and the cache is built from the encoder's weights at the
start of the phase (:attr:`FeatureCache.fingerprint` records the weights,
window size, resize mode and dtype; :meth:`FeatureCache.matches` checks them).
Its memory is bounded by ``max_bytes``: over it the grid thins to adjacent
windows, then to one window per image, and above that training falls back to
the plain path.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

#: The default memory cap of the cache (training and validation windows together).
DEFAULT_MAX_MB = 2048
#: Pixel-changing augmentation keywords of :class:`suite.unet.augment.SegmentationAugmenter`.
PIXEL_AUGMENTATIONS = ("rotation", "zoom", "translation", "brightness", "contrast", "saturation", "hue")


def pixel_augmentations(augment_options: dict | None) -> list[str]:
    """The augmentations that change pixel values (so block caching), given the augmenter's keywords."""
    import inspect

    from suite.unet.augment import SegmentationAugmenter

    defaults = {k: v.default for k, v in inspect.signature(SegmentationAugmenter).parameters.items()}
    merged = {**defaults, **(augment_options or {})}
    return [k for k in PIXEL_AUGMENTATIONS if merged.get(k)]


def reason_not_to_cache(opts, encoder_trainable: bool, pixel_augmentations: list) -> str | None:
    """Why a phase must recompute the encoder's features (``None``: the cache may be used).

    Args:
        opts: The run's :class:`suite.unet.options.TrainOptions`.
        encoder_trainable: The encoder is trained in this phase (fine-tuning, or no frozen encoder).
        pixel_augmentations: The active augmentations that change pixels (:func:`pixel_augmentations`).
    """
    if opts.feature_cache == "off":
        return "--feature-cache off"
    if encoder_trainable:
        return "the encoder is trained in this phase"
    if pixel_augmentations:
        return (
            f"augmentation changes pixels ({', '.join(pixel_augmentations)}); --no-pixel-augment keeps the "
            "flips, which the cache keeps too"
        )
    if opts.strategy != "default":
        return f"the {opts.strategy} strategy"
    return None


def flips_of(augment_options: dict | None) -> list[tuple[bool, bool]]:
    """``[(flip_left_right, flip_up_down), ...]`` variants cached per window, the unflipped one first."""
    import inspect

    from suite.unet.augment import SegmentationAugmenter

    defaults = {k: v.default for k, v in inspect.signature(SegmentationAugmenter).parameters.items()}
    merged = {**defaults, **(augment_options or {})}
    h = [False, True] if merged.get("flip") else [False]
    v = [False, True] if merged.get("vertical_flip") else [False]
    return [(a, b) for b in v for a in h]


def _axis_positions(size: int, crop: int, overlap: bool) -> list[int]:
    if size <= crop:
        return [-((crop - size) // 2)]  # negative: padded, centred as the plain validation crop
    step = crop / 2 if overlap else crop
    n = int(math.ceil((size - crop) / step)) + 1
    return sorted({int(round(i * (size - crop) / (n - 1))) for i in range(n)}) if n > 1 else [0]


def window_grid(size, crop, density: str = "overlap") -> list[tuple[int, int]]:
    """Top-left corners of the windows cached for an image of ``size`` (H, W).

    Args:
        size: ``(H, W)`` of the image.
        crop: ``(h, w)`` of a window.
        density: ``"overlap"`` (windows overlap by half), ``"adjacent"`` or
            ``"one"`` (the centred window only).

    Returns:
        ``[(y, x), ...]``; a negative coordinate means the image is padded on
        that axis, centred (``-y`` rows of padding above).
    """
    if density == "one":
        return [tuple((s - c) // 2 if s > c else -((c - s) // 2) for s, c in zip(size, crop))]
    ys = _axis_positions(size[0], crop[0], density == "overlap")
    xs = _axis_positions(size[1], crop[1], density == "overlap")
    return [(y, x) for y in ys for x in xs]


def cut_window(image, mask, corner, crop, ignore_index: int):
    """The window at ``corner`` (from :func:`window_grid`), padded with 0 / ``ignore_index`` where needed."""
    (y, x), (ch, cw) = corner, crop
    h, w = mask.shape
    top, left = max(-y, 0), max(-x, 0)
    out_img = np.zeros((ch, cw, image.shape[-1]), np.float32)
    out_msk = np.full((ch, cw), ignore_index, np.int32)
    sy, sx = max(y, 0), max(x, 0)
    hh, ww = min(h - sy, ch - top), min(w - sx, cw - left)
    out_img[top : top + hh, left : left + ww] = image[sy : sy + hh, sx : sx + ww]
    out_msk[top : top + hh, left : left + ww] = mask[sy : sy + hh, sx : sx + ww]
    return out_img, out_msk


def decoder_model(unet):
    """A functional model ``{"Pn": features} -> logits`` made of ``unet``'s own decoder and head layers.

    Training it trains the U-Net's decoder (the layers and weights are shared);
    the encoder is not part of it.
    """
    import keras

    encoder = unet.get_layer("encoder")
    node = encoder._inbound_nodes[0]
    feats = keras.tree.pack_sequence_as(encoder.output, list(node.output_tensors))
    with warnings.catch_warnings():
        # Keras asks dict inputs to carry their key as the tensor's name; these are the encoder's
        # outputs inside the U-Net (named by Keras), and the keys map them all the same.
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
        return keras.Model(inputs=dict(feats), outputs=unet.output, name=f"{unet.name}_decoder")


def _storage_dtype(compute_dtype: str):
    if compute_dtype == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16), "bfloat16"
    return np.dtype(np.float16), "float16"


def encoder_fingerprint(encoder, crop, resize_mode: str, dtype: str) -> str:
    """A digest of what decides the features: the encoder's weights, the window size, the resizing, the dtype."""
    h = hashlib.sha1(f"{tuple(crop)}|{resize_mode}|{dtype}".encode())
    for w in encoder.weights:
        h.update(np.ascontiguousarray(np.asarray(w)).tobytes())
    return h.hexdigest()


@dataclass
class FeatureCache:
    """Pyramid features of fixed windows, with their masks, in float16 or bfloat16.

    Attributes:
        features: ``{"Pn": array (N, h_n, w_n, C_n)}`` for the training windows.
        masks: ``int32 (N, H, W)`` training masks.
        val_features, val_masks: The same for the validation windows.
        dtype: ``"float16"`` or ``"bfloat16"``.
        windows_per_image: Mean training windows per image (flips included).
        density: The grid used (:func:`window_grid`).
        fingerprint: :func:`encoder_fingerprint` of what the features came from.
        seconds: Time spent computing the features.
    """

    features: dict
    masks: np.ndarray
    val_features: dict
    val_masks: np.ndarray
    dtype: str
    windows_per_image: float
    density: str
    fingerprint: str
    seconds: float = 0.0
    input_dtypes: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        arrays = list(self.features.values()) + list(self.val_features.values()) + [self.masks, self.val_masks]
        return int(sum(a.nbytes for a in arrays))

    @property
    def windows(self) -> int:
        return int(self.masks.shape[0])

    def summary(self) -> dict:
        """JSON-ready: windows, memory, dtype, grid and build time (for the log and the run's result)."""
        return {
            "windows": self.windows,
            "val_windows": int(self.val_masks.shape[0]),
            "windows_per_image": round(self.windows_per_image, 2),
            "density": self.density,
            "dtype": self.dtype,
            "megabytes": round(self.nbytes / 2**20, 1),
            "seconds": round(self.seconds, 1),
        }

    def matches(self, encoder, crop, resize_mode: str) -> bool:
        """Whether the features are still those of ``encoder`` (same weights) for this window size and resizing."""
        return encoder_fingerprint(encoder, crop, resize_mode, self.dtype) == self.fingerprint

    def dataset(self, batch_size: int, training: bool, seed: int = 0):
        """``tf.data`` of ``({"Pn": features}, masks)`` batches.

        Training: an endless stream of windows drawn without replacement in a
        new order per pass (give ``fit`` a ``steps_per_epoch``). Validation:
        every window once, in order.
        """
        import tensorflow as tf

        feats, masks = (self.features, self.masks) if training else (self.val_features, self.val_masks)
        keys = sorted(feats)
        n = int(masks.shape[0])
        tf_dtype = tf.bfloat16 if self.dtype == "bfloat16" else tf.float16

        def gather(idx):
            idx = np.sort(idx)
            return tuple(feats[k][idx] for k in keys) + (masks[idx],)

        def load(idx):
            out = tf.numpy_function(gather, [idx], [tf_dtype] * len(keys) + [tf.int32], stateful=False)
            x = {}
            for k, t in zip(keys, out[:-1]):
                t.set_shape((None,) + feats[k].shape[1:])
                want = self.input_dtypes.get(k, "float32")
                x[k] = t if t.dtype.name == want else tf.cast(t, want)
            m = out[-1]
            m.set_shape((None,) + masks.shape[1:])
            return x, m

        ds = tf.data.Dataset.range(n)
        if training:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
            ds = ds.batch(batch_size, drop_remainder=n >= batch_size)
        else:
            ds = ds.batch(batch_size)
        return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _level_shapes(encoder, crop):
    """``{"Pn": (h, w, C)}`` for a window of ``crop`` (a multiple of the stride)."""
    return {
        k: (crop[0] // 2 ** int(k[1:]), crop[1] // 2 ** int(k[1:]), int(t.shape[-1])) for k, t in encoder.output.items()
    }


def estimate_bytes(encoder, crop, windows: int, itemsize: int = 2) -> int:
    """Memory of ``windows`` cached windows: every pyramid level at ``itemsize`` bytes, plus an int32 mask."""
    per = sum(h * w * c for h, w, c in _level_shapes(encoder, crop).values()) * itemsize + crop[0] * crop[1] * 4
    return int(per * windows)


def _windows_of(sizes, crop, density, resize_mode):
    if resize_mode == "resize":
        return [[(0, 0)] for _ in sizes]
    return [window_grid(s, crop, density) for s in sizes]


def plan(encoder, train_sizes, val_sizes, crop, resize_mode: str, flips, max_bytes: int, max_windows=None):
    """The densest grid whose cache fits: ``(density, train corners, bytes)`` or ``None``.

    It must fit in ``max_bytes`` (the validation windows, one per image,
    count too) and, when given, hold at most ``max_windows`` training windows
    (a time limit on computing them); the one-window grid ignores
    ``max_windows``, as the least any cache needs.
    """
    val_bytes = estimate_bytes(encoder, crop, len(val_sizes))
    for density in ("overlap", "adjacent", "one"):
        corners = _windows_of(train_sizes, crop, density, resize_mode)
        count = sum(map(len, corners)) * len(flips)
        need = estimate_bytes(encoder, crop, count) + val_bytes
        if need <= max_bytes and (max_windows is None or count <= max_windows or density == "one"):
            return density, corners, need
        if resize_mode == "resize":
            break
    return None


def _encode(encoder, windows, storage, batch: int = 8):
    """Runs the encoder over ``windows`` (float32 pixels) in batches; ``{"Pn": stacked features}``."""
    import tensorflow as tf

    out = {k: [] for k in encoder.output}
    run = tf.function(lambda x: encoder(x, training=False))  # compiled: a little faster than eager calls
    for i in range(0, len(windows), batch):
        x = np.stack(windows[i : i + batch])
        feats = run(tf.constant(x))
        for k in out:
            out[k].append(np.asarray(feats[k]).astype(storage))
    return {k: np.concatenate(v) for k, v in out.items()}


def build(
    unet,
    train_src,
    train_sizes,
    val_src,
    val_sizes,
    crop,
    *,
    resize_mode: str = "crop",
    flips=((False, False),),
    ignore_index: int = 255,
    max_bytes: int = DEFAULT_MAX_MB * 2**20,
    max_seconds: float | None = None,
) -> FeatureCache | None:
    """Computes the frozen encoder's features of every training and validation window.

    Args:
        unet: The :class:`suite.unet.model.UNet` (its encoder frozen).
        train_src, val_src: :class:`suite.unet.data.SegmentationSource` pairs.
        train_sizes, val_sizes: Their ``(H, W)``.
        crop: ``(h, w)`` window, a multiple of the model's stride.
        resize_mode: As the pipeline's.
        flips: Variants per training window (:func:`flips_of`).
        ignore_index: The mask label of padding.
        max_bytes: The memory cap.
        max_seconds: A limit on the time spent computing the training windows'
            features (a share of a time budget): the encoder is timed on one
            batch first, and the grid thins until its windows fit in it.

    Returns:
        The cache, or ``None`` when even one window per image is over ``max_bytes``.
    """
    import keras
    import tensorflow as tf

    from suite.unet.tfdata import crop_or_pad, pair_decoder, resize_pair

    encoder = unet.get_layer("encoder")
    if plan(encoder, train_sizes, val_sizes, crop, resize_mode, flips, max_bytes) is None:
        return None
    compute = keras.mixed_precision.global_policy().compute_dtype
    storage, dtype_name = _storage_dtype(compute)
    t0 = time.monotonic()
    max_windows = None
    if max_seconds is not None:
        probe = np.zeros((8,) + tuple(crop) + (3,), np.float32)
        _encode(encoder, list(probe), storage)  # traces
        t = time.monotonic()
        _encode(encoder, list(probe), storage)
        max_windows = int(max_seconds / max((time.monotonic() - t) / 8, 1e-6))
    density, corners, _ = plan(encoder, train_sizes, val_sizes, crop, resize_mode, flips, max_bytes, max_windows)

    def pairs(src):
        decode = pair_decoder(src)
        for img, msk in src.pairs:
            yield decode(str(img).encode(), str(msk).encode())

    images, masks = [], []
    for (image, mask), grid in zip(pairs(train_src), corners):
        if resize_mode == "resize":
            ri, rm = resize_pair(image, mask, crop)
            cut = [(np.asarray(ri), np.asarray(rm))]
        else:
            cut = [cut_window(image, mask, c, crop, ignore_index) for c in grid]
        for wi, wm in cut:
            for lr, ud in flips:
                fi, fm = wi, wm
                if lr:
                    fi, fm = fi[:, ::-1], fm[:, ::-1]
                if ud:
                    fi, fm = fi[::-1], fm[::-1]
                images.append(np.ascontiguousarray(fi))
                masks.append(np.ascontiguousarray(fm))
    features = _encode(encoder, images, storage)
    masks = np.stack(masks).astype(np.int32)
    del images
    val_images, val_masks = [], []
    for image, mask in pairs(val_src):  # exactly the plain validation pipeline's windows
        if resize_mode == "resize":
            vi, vm = resize_pair(image, mask, crop)
        else:
            vi, vm = crop_or_pad(tf.constant(image), tf.constant(mask), crop, ignore_index, random=False)
        val_images.append(np.asarray(vi, np.float32))
        val_masks.append(np.asarray(vm, np.int32))
    val_features = _encode(encoder, val_images, storage)
    dec_inputs = decoder_model(unet).input
    cache = FeatureCache(
        features,
        masks,
        val_features,
        np.stack(val_masks) if val_masks else np.zeros((0,) + tuple(crop), np.int32),
        dtype_name,
        len(masks) / max(1, len(train_sizes)),
        density,
        encoder_fingerprint(encoder, crop, resize_mode, dtype_name),
        time.monotonic() - t0,
        {k: str(t.dtype) for k, t in dec_inputs.items()},
    )
    return cache
