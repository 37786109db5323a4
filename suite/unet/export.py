"""Export a Keras model to SavedModel, ONNX or LiteRT, and check the artefact against Keras.

Export uses Keras 3's own ``model.export``. The check runs the exported file
with the runtime a deployment would use (``tf.saved_model``, ``onnxruntime``,
the LiteRT interpreter) on a seeded sample image and reports the largest
absolute difference from the Keras model. Formats whose packages are not
installed say which pip extra to install instead of failing with an
ImportError.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suite.common.io.atomic import OutputExistsError, ensure_writable_folder
from suite.unet.errors import MissingExtraError, NotReplaceableError

FORMATS = ("saved_model", "onnx", "litert")
_KERAS_FORMAT = {"saved_model": "tf_saved_model", "onnx": "onnx", "litert": "litert"}
#: The file extension of each single-file format (``saved_model`` is a folder).
EXTENSIONS = _EXTENSION = {"onnx": ".onnx", "litert": ".tflite"}


def check_output(output, fmt: str, overwrite: bool) -> Path:
    """Where an export of ``fmt`` goes, refusing before any work if it may not be written there.

    ``overwrite`` replaces only an earlier export of the same kind: a SavedModel
    folder (it holds ``saved_model.pb``) for ``saved_model``, a file for the file
    formats. The working folder, any folder above it and any other folder or file
    are refused, so that ``--overwrite`` can never delete a user's files.

    Args:
        output: The requested path; the format's extension is added to files if missing.
        fmt: One of :data:`FORMATS`.
        overwrite: Whether an earlier export there may be replaced.

    Returns:
        The path the export will be written to.

    Raises:
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
        NotReplaceableError: ``output`` exists and is not an earlier export of ``fmt``.
    """
    output = Path(output)
    if fmt in _EXTENSION and output.suffix.lower() != _EXTENSION[fmt]:
        output = output.with_name(output.name + _EXTENSION[fmt])
    if not (output.exists() or output.is_symlink()):
        return output
    if not overwrite:
        raise OutputExistsError(output)
    resolved, cwd = output.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise NotReplaceableError(
            f"{output} is the working folder or a folder above it: --overwrite replaces only an earlier "
            "export; give -o a new name"
        )
    if fmt == "saved_model":
        if output.is_symlink() or not output.is_dir() or not (output / "saved_model.pb").is_file():
            raise NotReplaceableError(
                f"{output} is not a SavedModel folder (no saved_model.pb): --overwrite replaces only an "
                "earlier export; give -o a new name"
            )
    elif output.is_symlink() or not output.is_file():
        raise NotReplaceableError(
            f"{output} is not a file: --overwrite replaces only an earlier {_EXTENSION[fmt]} export; give -o a new name"
        )
    return output


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how closely it matches Keras."""

    path: Path
    format: str
    runtime: str
    max_abs_diff: float
    atol: float
    sample_shape: tuple
    size_bytes: int

    @property
    def ok(self) -> bool:
        return bool(self.max_abs_diff <= self.atol)


def _require(fmt: str) -> None:
    import importlib.util

    if fmt == "onnx":
        missing = [m for m in ("tf2onnx", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingExtraError(
                f"--format onnx needs {', '.join(missing)}: install the extra with "
                "pip install 'keras-cv-suite[onnx]' (or pip install tf2onnx onnxruntime)"
            )
    if fmt == "litert" and importlib.util.find_spec("ai_edge_litert") is None:
        try:
            import tensorflow as tf

            tf.lite.Interpreter  # noqa: B018 - TensorFlow < 2.22 still ships the interpreter
        except (ImportError, AttributeError):
            raise MissingExtraError(
                "--format litert needs the LiteRT interpreter: pip install 'keras-cv-suite[litert]' "
                "(or pip install ai-edge-litert)"
            ) from None


def _artefact_size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def sample_input(model, size: int = 256, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A seeded random RGB batch in ``[0, 255]`` that fits the model's input (fixed sizes respected)."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    h = shape[1] if shape[1] is not None else size
    w = shape[2] if shape[2] is not None else size
    c = shape[3] if len(shape) > 3 and shape[3] is not None else 3
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, size=(batch, h, w, c)).astype(np.float32)


def run_exported(path, fmt: str, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Runs an exported artefact on ``x`` with its own runtime.

    Returns:
        ``(output, runtime_name)``.
    """
    path = Path(path)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        fn = getattr(loaded, "serve", None) or loaded.signatures["serving_default"]
        out = fn(tf.constant(x))
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out), "tf.saved_model"
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return np.asarray(sess.run(None, {name: x})[0]), f"onnxruntime {ort.__version__}"
    if fmt == "litert":
        try:
            from ai_edge_litert.interpreter import Interpreter

            runtime = "ai_edge_litert"
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
            runtime = "tf.lite.Interpreter"
        import warnings

        with _quiet_fd2(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite's interpreter warns about its own deprecation
            interp = Interpreter(model_path=str(path))
            inp = interp.get_input_details()[0]
            if tuple(inp["shape"]) != x.shape:
                interp.resize_tensor_input(inp["index"], x.shape, strict=False)
            interp.allocate_tensors()
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            out = interp.get_tensor(interp.get_output_details()[0]["index"])
        return np.asarray(out), runtime
    raise ValueError(f"Expected format in {FORMATS}. Received: format={fmt!r}")


def _quiet_fd2():
    from suite.common.device import silenced_stderr_fd

    return silenced_stderr_fd()


def export_model(
    model, fmt: str, output, *, overwrite: bool = False, sample_size: int = 256, atol: float = 1e-4
) -> ExportResult:
    """Exports ``model`` to ``fmt`` at ``output`` and checks the artefact against Keras.

    The artefact is written next to ``output`` under a temporary name and moved
    into place only after it was written completely, so an interrupted export
    leaves nothing behind.

    Args:
        model: A Keras model, or the path of a segmentation model's ``.keras`` file
            (loaded with ``safe_mode`` and checked to map images to per-pixel scores).
        fmt: ``"saved_model"`` (a folder), ``"onnx"`` (``.onnx``) or ``"litert"`` (``.tflite``).
        output: Where to write; the extension is added for files if missing.
        overwrite: Replace an earlier export of the same kind (see :func:`check_output`).
        sample_size: Side of the random sample image for the parity check.
        atol: Largest accepted absolute difference.

    Returns:
        An :class:`ExportResult` (check ``.ok``).

    Raises:
        MissingExtraError: the format's packages are missing (the message says which extra).
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
        NotReplaceableError: ``output`` is not an earlier export of ``fmt`` (checked before any work).
    """
    if fmt not in FORMATS:
        raise ValueError(f"Expected format in {FORMATS}. Received: format={fmt!r}")
    _require(fmt)
    output = check_output(output, fmt, overwrite)  # before any work
    if isinstance(model, (str, os.PathLike)):
        from suite.unet.model_io import load_segmentation_model

        # A file is checked to be a segmentation model (what `suite export` is for);
        # any other Keras model can still be exported by passing the model object.
        model = load_segmentation_model(model)
    if fmt in _EXTENSION:
        from suite.common.log import note
        from suite.unet.model import with_dtype_policy

        exported = with_dtype_policy(model, "float32")  # ONNX Runtime and LiteRT have no bfloat16 kernels
        if exported is not model:
            note(f"exported in float32 (the model computes in {model.dtype_policy.name})")
            model = exported
    x = sample_input(model, size=sample_size)
    expected = np.asarray(model.predict_on_batch(x))
    ensure_writable_folder(output.parent)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    try:
        tmp = tmp_dir / output.name
        with _quiet_fd2():
            model.export(str(tmp), format=_KERAS_FORMAT[fmt], verbose=False)
        got, runtime = run_exported(tmp, fmt, x)
        check_output(output, fmt, overwrite)  # still an earlier export (or nothing) after the conversion
        if fmt == "saved_model" and output.exists():
            # Folders cannot be swapped in one step: move the old one aside, move the new one in,
            # then delete the old one, so that a failure in between leaves the old export in place.
            old = tmp_dir / (output.name + ".old")
            os.replace(output, old)
            try:
                os.replace(tmp, output)
            except BaseException:
                os.replace(old, output)
                raise
        else:
            os.replace(tmp, output)  # atomic for a file, replacing an earlier export
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    diff = (
        float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
        if got.shape == expected.shape
        else float("inf")
    )
    return ExportResult(
        path=output,
        format=fmt,
        runtime=runtime,
        max_abs_diff=diff,
        atol=atol,
        sample_shape=tuple(x.shape),
        size_bytes=_artefact_size(output),
    )
