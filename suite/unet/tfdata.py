"""The ``tf.data`` input pipeline for segmentation training (TensorFlow-specific).

Files are decoded in parallel by the suite's own readers
(:func:`suite.common.io.images.load_image` for EXIF orientation, palette,
16-bit and alpha handling; :func:`suite.unet.data.read_mask` for masks) inside
``tf.numpy_function``, so training sees exactly what ``evaluate`` and
``segment`` see. Decoded pairs are cached in memory when the data set is small
enough, then cropped (or resized) to a fixed size, batched, augmented on the
batch, and prefetched, so the model never waits for the disk.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from suite.unet.data import RESIZE_MODES, SegmentationSource  # noqa: F401 - RESIZE_MODES is public here too

#: Decoded data sets up to this many bytes are cached in memory after the first epoch.
DEFAULT_CACHE_BYTES = 2 * 1024**3


def pair_decoder(source: SegmentationSource):
    """``decode(image_path, mask_path) -> (float32 image, int32 mask)`` for ``source``'s pairs.

    The paths come as bytes (what ``tf.numpy_function`` passes); a mask whose
    size differs from its image's raises ``ValueError`` naming both files.
    """
    from suite.common.io.images import load_image

    def decode(image_path, mask_path):
        image = load_image(image_path.decode(), max_pixels=source.max_pixels)
        mask = source.read_mask(mask_path.decode())
        if mask.shape != image.shape[:2]:
            raise ValueError(
                f"size mismatch: {image_path.decode()} is {image.shape[1]}x{image.shape[0]}, "
                f"mask {mask_path.decode()} is {mask.shape[1]}x{mask.shape[0]}"
            )
        return image.astype(np.float32), mask.astype(np.int32)

    return decode


def estimated_bytes(sizes) -> int:
    """Memory taken by decoded float32 images plus int32 masks of the given ``(H, W)`` sizes."""
    return int(sum(h * w * (3 * 4 + 4) for h, w in sizes))


def crop_or_pad(image, mask, size, ignore_index: int, random: bool):
    """Crops a window of ``size`` (random or centred), padding smaller images.

    Padding puts the image at a random place (centred without ``random``);
    padded mask pixels get the ignore index, so they never count.
    """
    th, tw = size
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    pad_h, pad_w = tf.maximum(th - h, 0), tf.maximum(tw - w, 0)
    if random:
        top = tf.random.uniform([], 0, pad_h + 1, dtype=tf.int32)
        left = tf.random.uniform([], 0, pad_w + 1, dtype=tf.int32)
    else:
        top, left = pad_h // 2, pad_w // 2
    paddings = [[top, pad_h - top], [left, pad_w - left]]
    image = tf.pad(image, paddings + [[0, 0]], constant_values=0.0)
    mask = tf.pad(mask, paddings, constant_values=ignore_index)
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    if random:
        y = tf.random.uniform([], 0, h - th + 1, dtype=tf.int32)
        x = tf.random.uniform([], 0, w - tw + 1, dtype=tf.int32)
    else:
        y, x = (h - th) // 2, (w - tw) // 2
    image = image[y : y + th, x : x + tw]
    mask = mask[y : y + th, x : x + tw]
    image.set_shape([th, tw, 3])
    mask.set_shape([th, tw])
    return image, mask


def resize_pair(image, mask, size):
    """Resizes the image (bilinear) and the mask (nearest) to ``size``."""
    image = tf.image.resize(image, size, method="bilinear")
    mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
    return image, tf.cast(mask, tf.int32)


def make_dataset(
    source: SegmentationSource,
    image_size,
    batch_size: int,
    training: bool,
    augmenter=None,
    ignore_index: int = 255,
    resize_mode: str = "crop",
    class_weights=None,
    seed: int = 0,
    cache: bool | None = None,
    sizes=None,
    drop_remainder: bool | None = None,
) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(images, masks[, pixel_weights])``.

    Args:
        source: Image/mask pairs (:func:`suite.unet.data.open_source`).
        image_size: ``(H, W)`` of the training crops (or an int for squares).
        batch_size: Images per batch.
        training: Shuffle, random crops and augmentation (else centred crops, fixed order).
        augmenter: A :class:`suite.unet.augment.SegmentationAugmenter`, or ``None``.
        ignore_index: The label used for padding.
        resize_mode: ``"crop"`` (random windows at the original scale; small
            images are padded with ignored pixels) or ``"resize"`` (every image
            scaled to ``image_size``).
        class_weights: Optional per-class weights; yields a third element,
            per-pixel weights (0 on ignored pixels).
        seed: Shuffle seed.
        cache: Keep decoded pairs in memory. ``None`` decides from ``sizes``.
        sizes: ``(H, W)`` of every image, for the cache decision.
        drop_remainder: Drop the last short batch (default: when training).

    Returns:
        ``tf.data.Dataset`` yielding ``float32 (N, H, W, 3)`` in ``[0, 255]``
        and ``int32 (N, H, W)`` masks.
    """
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"Expected resize_mode in {RESIZE_MODES}. Received: resize_mode={resize_mode!r}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    image_size = tuple(int(s) for s in image_size)
    if batch_size < 1:
        raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")
    if cache is None:
        cache = sizes is not None and estimated_bytes(sizes) <= DEFAULT_CACHE_BYTES
    autotune = tf.data.AUTOTUNE
    ds = _decoded_pairs(source, training, cache, seed)
    if resize_mode == "resize":
        ds = ds.map(lambda i, m: resize_pair(i, m, image_size), num_parallel_calls=autotune)
    else:
        ds = ds.map(
            lambda i, m: crop_or_pad(i, m, image_size, ignore_index, random=training), num_parallel_calls=autotune
        )
    ds = ds.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)
    if training and augmenter is not None:
        ds = ds.map(lambda i, m: augmenter(i, m), num_parallel_calls=autotune)
    if class_weights is not None:
        ds = ds.map(_pixel_weights(class_weights, ignore_index), num_parallel_calls=autotune)
    return ds.prefetch(autotune)


def _decoded_pairs(source: SegmentationSource, training: bool, cache: bool, seed: int) -> tf.data.Dataset:
    """Decoded ``(image, mask)`` pairs, shuffled when training: the file names before decoding, or the
    decoded pairs after the cache when there is one (so every epoch shuffles, and none decodes again)."""
    n = len(source)
    ds = tf.data.Dataset.from_tensor_slices((source.image_paths, source.mask_paths))
    if training and not cache:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    decode = pair_decoder(source)

    def load(image_path, mask_path):
        image, mask = tf.numpy_function(decode, [image_path, mask_path], [tf.float32, tf.int32], stateful=False)
        image.set_shape([None, None, 3])
        mask.set_shape([None, None])
        return image, mask

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    if cache:
        ds = ds.cache()
        if training:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds


def _pixel_weights(class_weights, ignore_index: int):
    """``(images, masks) -> (images, masks, weights)``: each pixel's class weight, 0 on ignored (unlisted) labels."""
    table = np.zeros(max(ignore_index + 1, len(class_weights)), np.float32)
    table[: len(class_weights)] = np.asarray(class_weights, np.float32)
    table = tf.constant(table)

    def weigh(i, m):
        w = tf.gather(table, tf.clip_by_value(m, 0, len(table) - 1))
        return i, m, w

    return weigh


def preload_arrays(source: SegmentationSource, image_size, ignore_index: int = 255, resize_mode: str = "crop"):
    """The whole data set decoded and centre-cropped into two numpy arrays (for benchmarks)."""
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    decode = pair_decoder(source)
    xs, ys = [], []
    for img, msk in source.pairs:
        image, mask = decode(str(img).encode(), str(msk).encode())
        if resize_mode == "resize":
            image, mask = resize_pair(image, mask, image_size)
        else:
            image, mask = crop_or_pad(tf.constant(image), tf.constant(mask), image_size, ignore_index, random=False)
        xs.append(np.asarray(image))
        ys.append(np.asarray(mask))
    return np.stack(xs), np.stack(ys)
