"""Style masks from a segmentation model: one style per class, with feathered edges.

``suite stylize photo.jpg --style a.jpg --style b.jpg --mask-from person``
segments the photo with the ``person`` preset (classes ``background``,
``person``) and gives style ``k`` the region of class ``k``;
``--class-style background=b.jpg,person=a.jpg`` says it by name, and works
with any segmentation model (``--mask-from model.keras``).

Why the edges have neither a gap nor a seam:

- the masks are the model's class *probabilities* (soft where the model is
  unsure), blurred with a Gaussian of ``feather`` times the long side, then
  renormalised so that at every pixel they sum to 1 over all classes: every
  pixel belongs to the styles in proportions that add up, so no pixel is left
  without style (a gap) and the proportions change smoothly across an edge,
  so no hard line is drawn between two textures (a seam);
- the style loss reads them as soft weights (:func:`suite.style.losses.gram_matrix`
  with ``mask``), each style's Gram statistics taken over its own region only.

Classes that no style is mapped to keep the photo there (only the content and
smoothness terms act), fading into the neighbouring styles over the same
feathered edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Default Gaussian sigma of the feathering, as a fraction of the image's long side.
DEFAULT_FEATHER = 0.01


def parse_class_styles(text: str) -> list[tuple[str, str]]:
    """Parses ``"background=b.jpg,person=a.jpg"`` into ``[("background", "b.jpg"), ("person", "a.jpg")]``.

    Raises:
        ValueError: an item without ``=``, an empty class or file, or a class given twice.
    """
    pairs, seen = [], set()
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        cls, sep, path = item.partition("=")
        cls, path = cls.strip(), path.strip()
        if not sep or not cls or not path:
            raise ValueError(f"expected CLASS=FILE items separated by commas, got {item!r}")
        if cls in seen:
            raise ValueError(f"class {cls!r} is given twice")
        seen.add(cls)
        pairs.append((cls, path))
    if not pairs:
        raise ValueError("expected at least one CLASS=FILE item")
    return pairs


def feather_probabilities(probs: np.ndarray, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """Blurs ``(H, W, C)`` class probabilities and renormalises them to sum 1 at every pixel.

    Args:
        probs: Class probabilities (or one-hot masks) ``(H, W, C)``, ``>= 0``.
        feather: Gaussian sigma as a fraction of the long side; ``0`` keeps
            the probabilities as they are (still renormalised).

    Returns:
        ``(H, W, C)`` float32 soft masks in ``[0, 1]`` summing to 1 per pixel.
    """
    from scipy.ndimage import gaussian_filter

    probs = np.clip(np.asarray(probs, dtype=np.float32), 0.0, None)
    if probs.ndim != 3:
        raise ValueError(f"Expected (H, W, C) probabilities. Received: shape={probs.shape}")
    sigma = float(feather) * max(probs.shape[:2])
    if sigma > 0:
        # mode="nearest": the image border is not a class edge, so it must not fade.
        probs = np.stack([gaussian_filter(probs[..., c], sigma, mode="nearest") for c in range(probs.shape[-1])], -1)
    total = probs.sum(-1, keepdims=True)
    return np.where(total > 1e-6, probs / np.maximum(total, 1e-6), 1.0 / probs.shape[-1]).astype(np.float32)


@dataclass
class RegionMasks:
    """Makes one soft mask per style for each content image, from a segmentation model.

    Args:
        model: A segmentation model, a ``.keras`` path or a preset name (``"person"``).
        style_classes: For each style, the class indices it covers.
        feather: Gaussian sigma as a fraction of the long side (:func:`feather_probabilities`).
        class_names: The model's class names (filled in from the model).

    Call it with a ``(H, W, 3)`` image in ``[0, 255]``; it returns a list of
    ``(H, W)`` masks, one per style.
    """

    model: object
    style_classes: list
    feather: float = DEFAULT_FEATHER
    class_names: list = field(default_factory=list)

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Feathered ``(H, W, C)`` class probabilities of ``image``."""
        from suite.unet.segment import segment_image

        _, probs = segment_image(self.model, image, probabilities=True)
        if probs.shape[-1] == 1:  # a one-channel binary model: sigmoid probability of class 1
            probs = np.concatenate([1.0 - probs, probs], axis=-1)
        return feather_probabilities(probs, self.feather)

    def __call__(self, image: np.ndarray) -> list:
        probs = self.probabilities(image)
        return [probs[..., list(classes)].sum(-1) for classes in self.style_classes]

    def describe(self) -> dict:
        """What the JSON sidecar records about the masks."""
        names = self.class_names or [f"class {k}" for k in range(1 + max(max(c) for c in self.style_classes))]
        return {
            "feather": self.feather,
            "style_classes": [[names[k] for k in classes] for classes in self.style_classes],
        }


def region_masks(model, styles, class_styles=None, feather: float = DEFAULT_FEATHER):
    """Resolves ``--mask-from`` / ``--class-style`` into the styles to load and a :class:`RegionMasks`.

    Args:
        model: A segmentation model, a ``.keras`` path or a preset name.
        styles: The ``--style`` files, in order (may be empty with ``class_styles``).
        class_styles: ``None`` (style ``k`` goes to class ``k``; one style per
            class), or ``[(class name or index, style file), ...]``; files
            given for several classes are loaded once and cover all of them.
        feather: Gaussian sigma as a fraction of the long side.

    Returns:
        ``(style_files, RegionMasks)``.

    Raises:
        ValueError: a one-line reason (unknown class, wrong number of styles...).
    """
    from suite.unet.model_io import resolve_segmentation

    model, meta = resolve_segmentation(model)  # a path or preset name is loaded (safe mode, one-line errors)
    num_classes = meta.num_classes  # one channel = binary: two classes
    # A one-channel model's classes are named by index here, whatever names it records.
    names = list(meta.class_names) if meta.channels == num_classes else [f"class {k}" for k in range(num_classes)]
    styles = [Path(s) for s in styles]
    if class_styles is None:
        if len(styles) != num_classes:
            raise ValueError(
                f"the model has {num_classes} classes ({', '.join(names)}) and {len(styles)} --style "
                "images were given: give one --style per class, in that order, or map them with "
                "--class-style CLASS=FILE,..."
            )
        return styles, RegionMasks(model, [[k] for k in range(num_classes)], feather, names)
    files, style_classes = [], []
    for cls, path in class_styles:
        if str(cls) in names:
            k = names.index(str(cls))
        elif str(cls).isdigit() and int(cls) < num_classes:
            k = int(cls)
        else:
            raise ValueError(f"class {cls!r} is not one of the model's classes ({', '.join(names)})")
        path = Path(path)
        if path in files:
            style_classes[files.index(path)].append(k)
        else:
            files.append(path)
            style_classes.append([k])
    extra = [s for s in styles if s not in files]
    if extra:
        raise ValueError(f"--style {extra[0]} is not used by --class-style; map every style to a class")
    return files, RegionMasks(model, style_classes, feather, names)
