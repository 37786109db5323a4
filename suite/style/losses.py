"""The losses of Gatys neural style transfer, as pure functions over ``keras.ops``.

Notation: a feature map ``F`` has shape ``(1, nH, nW, nC)``; ``M = nH * nW`` is
the number of positions. Everything here works on any Keras backend and is
tested by hand on tiny arrays.

Normalizations (``normalization=`` of :func:`gram_matrix` and
:func:`style_layer_loss`):

* ``"mean"`` (the default; the TensorFlow style-transfer tutorial):
  ``G = F^T F / M`` and ``J_layer = mean((G - A)^2) = sum((G - A)^2) / nC^2``.
  Because ``G`` is divided by its own ``M``, a style image of any size gives a
  comparable target.
* ``"gatys"`` (Gatys et al. 2016, eq. 4; the Coursera course's
  ``J_layer = 1 / (2 nH nW nC)^2 * sum((G_S - G_G)^2)`` with raw Grams
  ``G = F^T F``): ``J_layer = sum((G_raw - A_raw)^2) / (4 nC^2 M^2)``. Written
  with ``M``-normalised Grams this is exactly ``mean((G - A)^2) / 4``, which is
  how it is computed, so that the style image's size does not change the
  target's scale (for equal sizes the two readings are the same number).
* ``"none"``: raw Gram ``G = F^T F`` and ``J_layer = sum((G - A)^2)``. For
  checking, not for use: it grows with ``M^2``.

Content loss: ``"mean"`` is ``mean((F - P)^2)`` (tutorial), ``"gatys"`` is
``1/2 * sum((F - P)^2)`` (Gatys eq. 1).

Total variation: ``sum |x[i+1, j] - x[i, j]|^p + sum |x[i, j+1] - x[i, j]|^p``
over all channels, with ``p = 1`` as ``tf.image.total_variation`` (the tutorial)
and ``p = 2`` as jcjohnson/neural-style's TV. The tutorial applies it to the
image in ``[0, 1]``; :func:`style_transfer_objective` does the same.
"""

from __future__ import annotations

from keras import ops

from suite.style.options import CONTENT_NORMALIZATIONS, NORMALIZATIONS

#: The user-facing normalizations, plus ``"none"`` (raw Grams) for checks.
GRAM_NORMALIZATIONS = NORMALIZATIONS + ("none",)


def _check(name, value, choices):
    if value not in choices:
        raise ValueError(f"Expected {name} in {choices}. Received: {name}={value!r}")


def gram_matrix(features, normalization: str = "mean", mask=None):
    """Channel-by-channel correlations of a feature map.

    Args:
        features: ``(B, H, W, C)`` (or ``(H, W, C)``) feature maps.
        normalization: ``"mean"`` and ``"gatys"`` divide by the number of
            positions ``H * W`` (see the module docstring for how ``"gatys"``
            reaches Gatys' ``1/(4 nC^2 M^2)``); ``"none"`` returns ``F^T F``.
        mask: Optional ``(B, H, W, 1)`` weights in ``[0, 1]``. Features are
            multiplied by the mask and, for ``"mean"``/``"gatys"``, the Gram is
            divided by the mask's area instead of ``H * W``: the style
            statistics of a region, not diluted by its size.

    Returns:
        ``(B, C, C)`` (or ``(C, C)``) Gram matrices.
    """
    _check("normalization", normalization, GRAM_NORMALIZATIONS)
    squeeze = len(features.shape) == 3
    if squeeze:
        features = ops.expand_dims(features, 0)
    shape = ops.shape(features)
    b, c = shape[0], shape[-1]
    if mask is not None:
        mask = ops.cast(mask, features.dtype)
        features = features * mask
    flat = ops.reshape(features, (b, -1, c))
    gram = ops.einsum("bmc,bmd->bcd", flat, flat)
    if normalization != "none":
        if mask is None:
            area = ops.cast(shape[1] * shape[2], gram.dtype)
        else:
            # A soft mask enters the Gram squared, so its area is sum(mask^2).
            area = ops.maximum(ops.sum(ops.square(mask), axis=(1, 2, 3)), 1.0)
            area = ops.reshape(ops.cast(area, gram.dtype), (-1, 1, 1))
        gram = gram / area
    return gram[0] if squeeze else gram


def style_layer_loss(gram, target_gram, normalization: str = "mean"):
    """One layer's style loss between a Gram and its target (both from :func:`gram_matrix`).

    Args:
        gram: ``(..., C, C)`` Gram of the generated image.
        target_gram: Same shape; the style image's Gram.
        normalization: As in :func:`gram_matrix`; must match how the Grams were made.

    Returns:
        A scalar: ``mean((G - A)^2)`` for ``"mean"``, a quarter of that for
        ``"gatys"``, ``sum((G - A)^2)`` for ``"none"``.
    """
    _check("normalization", normalization, GRAM_NORMALIZATIONS)
    sq = ops.square(gram - target_gram)
    if normalization == "none":
        return ops.sum(sq)
    loss = ops.mean(sq)
    return loss / 4.0 if normalization == "gatys" else loss


def style_loss(
    features: dict, target_grams: dict, layer_weights: dict | None = None, normalization: str = "mean", mask=None
):
    """Style loss summed over layers with layer weights.

    Args:
        features: ``{layer: (1, H, W, C)}`` of the generated image.
        target_grams: ``{layer: (C, C) or (1, C, C)}`` style targets.
        layer_weights: ``{layer: weight}``; defaults to ``1 / number of layers``
            each (the tutorial's average).
        normalization: See :func:`gram_matrix`.
        mask: Optional ``{layer: (1, H, W, 1)}`` region masks at each layer's size.

    Returns:
        A scalar ``sum_l w_l * J_l``.
    """
    layers = list(target_grams)
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(layers) for name in layers}
    total = 0.0
    for name in layers:
        w = float(layer_weights.get(name, 0.0))
        if w == 0.0:
            continue
        g = gram_matrix(features[name], normalization, mask=None if mask is None else mask[name])
        target = target_grams[name]
        if len(target.shape) == 2:
            target = ops.expand_dims(target, 0)
        total = total + w * style_layer_loss(g, target, normalization)
    return total


def content_loss(features: dict, targets: dict, layer_weights: dict | None = None, normalization: str = "mean"):
    """Content loss summed over layers.

    Args:
        features: ``{layer: (1, H, W, C)}`` of the generated image.
        targets: ``{layer: (1, H, W, C)}`` of the content image.
        layer_weights: ``{layer: weight}``; defaults to ``1 / number of layers``.
        normalization: ``"mean"`` = ``mean((F - P)^2)``; ``"gatys"`` = ``1/2 sum((F - P)^2)``.

    Returns:
        A scalar.
    """
    _check("normalization", normalization, CONTENT_NORMALIZATIONS)
    layers = list(targets)
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(layers) for name in layers}
    total = 0.0
    for name in layers:
        sq = ops.square(features[name] - targets[name])
        term = ops.mean(sq) if normalization == "mean" else 0.5 * ops.sum(sq)
        total = total + float(layer_weights.get(name, 0.0)) * term
    return total


def _abs(d):
    """``|d|`` with the gradient ``sign(d)``, 0 at 0, on every backend.

    ``ops.abs``' gradient at 0 is 0 under TensorFlow but 1 under JAX; on a photo
    with clipped regions (many differences exactly 0) JAX's choice makes the
    gradient of the TV term point uphill, and L-BFGS-B's line search fails.
    """
    return d * ops.sign(d)


def total_variation_loss(image, power: float = 1.0, smoothing: float = 0.0):
    """Total variation: summed ``|difference|^power`` of neighbouring pixels, down and across.

    Args:
        image: ``(B, H, W, C)`` or ``(H, W, C)``.
        power: ``1`` = ``tf.image.total_variation``; ``2`` = squared differences.
        smoothing: For ``power=1`` only: replace ``|d|`` by the Charbonnier
            ``sqrt(d^2 + smoothing^2) - smoothing`` (in the image's units). It
            differs from ``|d|`` by less than ``smoothing`` per difference but has a
            continuous gradient, which quasi-Newton methods (L-BFGS) need: the
            kink of ``|d|`` at 0 makes their curvature estimates useless.

    Returns:
        A scalar (summed over the batch).
    """
    if len(image.shape) == 3:
        image = ops.expand_dims(image, 0)
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    if power == 1.0 and smoothing > 0:
        e2 = smoothing * smoothing
        return ops.sum(ops.sqrt(ops.square(dy) + e2) - smoothing) + ops.sum(ops.sqrt(ops.square(dx) + e2) - smoothing)
    if power == 1.0:
        return ops.sum(_abs(dy)) + ops.sum(_abs(dx))
    if power == 2.0:
        return ops.sum(ops.square(dy)) + ops.sum(ops.square(dx))
    return ops.sum(ops.power(ops.abs(dy), power)) + ops.sum(ops.power(ops.abs(dx), power))


def style_transfer_objective(
    image,
    features: dict,
    content_targets: dict,
    style_targets: list,
    style_weight: float,
    content_weight: float,
    tv_weight: float,
    style_blend: list | None = None,
    style_layer_weights: dict | None = None,
    content_layer_weights: dict | None = None,
    style_masks: list | None = None,
    normalization: str = "mean",
    content_normalization: str = "mean",
    tv_power: float = 1.0,
    tv_smoothing: float = 0.0,
):
    """The full Gatys objective ``J = a * J_content + b * J_style + c * TV``.

    Args:
        image: ``(1, H, W, 3)`` generated image in ``[0, 255]``; the TV term is
            taken on ``image / 255`` like the tutorial.
        features: The extractor's output for ``image``.
        content_targets: ``{layer: features}`` of the content image.
        style_targets: One ``{layer: Gram}`` per style.
        style_weight, content_weight, tv_weight: ``b``, ``a``, ``c``.
        style_blend: One weight per style (default: equal, summing to 1).
        style_layer_weights: ``{layer: weight}``, default equal and summing to 1.
        content_layer_weights: Likewise for content layers.
        style_masks: ``None`` or one ``{layer: (1, h, w, 1)}`` mask per style.
        normalization: Gram normalization (see the module docstring).
        content_normalization: ``"mean"`` or ``"gatys"``.
        tv_power: 1 or 2.
        tv_smoothing: Charbonnier smoothing of the ``power=1`` TV, in grey
            levels (0-255); see :func:`total_variation_loss`.

    Returns:
        ``(total, {"content": ..., "style": ..., "tv": ...})`` with the
        unweighted terms in the dict.
    """
    n = len(style_targets)
    blend = style_blend if style_blend is not None else [1.0 / n] * n
    style = 0.0
    for k in range(n):
        if isinstance(blend[k], (int, float)) and blend[k] == 0:  # static skip; traced weights always count
            continue
        mask = None if style_masks is None else style_masks[k]
        style = style + blend[k] * style_loss(features, style_targets[k], style_layer_weights, normalization, mask=mask)
    content = content_loss(features, content_targets, content_layer_weights, content_normalization)
    tv = total_variation_loss(image / 255.0, power=tv_power, smoothing=tv_smoothing / 255.0)
    total = content_weight * content + style_weight * style + tv_weight * tv
    return total, {"content": content, "style": style, "tv": tv}
