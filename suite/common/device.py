"""Device and precision setup, done once before the first tensor is made.

``--device cpu`` hides GPUs from every backend (it must run before TensorFlow
or JAX initialise, which is why the CLI imports them lazily). Mixed precision
is float16 compute on a GPU and bfloat16 on a CPU with bfloat16 instructions
(AVX512-BF16 or AMX: 1.8x the training steps per second of float32 for the
VGG16 U-Net on 2 such cores); on other CPUs it would be slower, so the suite
says so and keeps float32.
"""

from __future__ import annotations

import contextlib
import os
import sys

from suite.common.log import detail, note

DEVICE_CHOICES = ("auto", "cpu", "gpu")


def jax_compilation_cache() -> str | None:
    """Keeps JAX's compiled programs on disk between runs (CLI use; call before JAX is imported).

    JAX compiles every program once per shape, including each weight
    initializer a model build runs: ``suite segment --model person`` on four
    photos spent about 30 s compiling before its first prediction on 2 CPU
    cores, and a second run with the cache about 2 s. The cache is
    ``$XDG_CACHE_HOME/keras-cv-suite/jax`` (``~/.cache/...``) unless
    ``JAX_COMPILATION_CACHE_DIR`` is set; ``SUITE_JAX_CACHE=0`` turns it off.
    Other backends ignore it.

    Returns:
        The cache folder, or ``None`` when turned off.
    """
    if os.environ.get("SUITE_JAX_CACHE", "1") == "0":
        return None
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(base, "keras-cv-suite", "jax")
    # JAX caches only compiles over 1 s by default; the initializers' take a fraction of that, many times over.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return os.environ["JAX_COMPILATION_CACHE_DIR"]


def quiet_backend_logs() -> None:
    """Silences TensorFlow's C++ start-up chatter unless the user set a level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def silenced_stderr_fd():
    """Sends file descriptor 2 to /dev/null for the duration.

    TensorFlow's C++ runtime writes start-up lines (oneDNN, CUDA probing)
    straight to fd 2, ignoring ``TF_CPP_MIN_LOG_LEVEL`` in recent versions.
    Python-level output is flushed first so nothing of ours is lost.
    """
    if os.environ.get("SUITE_DEBUG"):
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_backend_quietly() -> None:
    """Imports Keras and its backend without the C++ start-up noise (CLI use)."""
    quiet_backend_logs()
    with silenced_stderr_fd():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")


def hide_gpus() -> None:
    """Makes every backend see only the CPU. Call before importing the backend."""
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def gpu_names() -> list[str]:
    """Names of the GPUs the active Keras backend can use."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "jax":
            import jax

            return [str(d) for d in jax.devices() if d.platform == "gpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver means no usable GPU
        return []
    return []


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (``avx512_bf16`` or ``amx_bf16``; Linux only)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


#: The mixed policy of bfloat16 compute with float32 variables (oneDNN's bfloat16 kernels on such a CPU).
BF16_POLICY = "mixed_bfloat16"


def auto_bf16_dtype(mixed_precision: bool | None, fallback: str | None) -> str | None:
    """The dtype policy of a network that runs in bfloat16 where that is known to pay.

    The rule shared by the Gatys feature network and the feed-forward
    transformer: ``False`` (``--no-mixed-precision``): ``"float32"``. Otherwise
    a global mixed policy already set (``--mixed-precision``: float16 on a GPU)
    wins; else :data:`BF16_POLICY` under TensorFlow on a CPU with bfloat16
    instructions and no GPU in use; else ``fallback``.

    Args:
        mixed_precision: ``True``, ``False`` or ``None`` (auto).
        fallback: What to return when bfloat16 does not apply (``"float32"``, or
            ``None`` for "the layer's default policy").
    """
    import keras

    if mixed_precision is False:
        return "float32"
    policy = keras.mixed_precision.global_policy().name
    if policy.startswith("mixed_"):
        return policy
    if cpu_has_bf16() and keras.backend.backend() == "tensorflow" and not gpu_names():
        return BF16_POLICY
    return fallback


def setup_device(
    device: str = "auto", mixed_precision: bool | None = False, auto_on_cpu: bool = False, announce_auto: bool = True
) -> str:
    """Selects the compute device and precision policy.

    Args:
        device: ``"auto"`` (GPU if present), ``"cpu"`` or ``"gpu"``.
        mixed_precision: ``True``: ``mixed_float16`` on GPU, ``mixed_bfloat16``
            on a CPU with bfloat16 instructions (else float32, with a note).
            ``None`` (auto): mixed precision where it is known to pay, that
            is with ``auto_on_cpu`` on such a CPU under TensorFlow; float32 elsewhere.
        auto_on_cpu: What ``None`` means on a bfloat16 CPU (training: on).
        announce_auto: Say (a note) that ``None`` turned mixed precision on; else only with ``-v``
            (inference, whose masks agree with float32's).

    Returns:
        ``"gpu"`` or ``"cpu"``, what will actually be used.

    Raises:
        RuntimeError: ``device="gpu"`` but no GPU is visible.
    """
    if device not in DEVICE_CHOICES:
        raise ValueError(f"Expected device in {DEVICE_CHOICES}. Received: device={device!r}")
    quiet_backend_logs()
    if device == "cpu":
        hide_gpus()
    import_backend_quietly()
    import keras

    gpus = [] if device == "cpu" else gpu_names()
    if device == "gpu" and not gpus:
        raise RuntimeError("--device gpu was asked for, but no GPU is visible to the Keras backend")
    used = "gpu" if gpus else "cpu"
    if used == "gpu" and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        for d in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(d, True)
            except RuntimeError:
                pass
    chosen = mixed_precision is None
    if mixed_precision is None:
        # Measured with TensorFlow's oneDNN kernels only; other backends keep float32 unless asked.
        mixed_precision = used == "cpu" and auto_on_cpu and keras.backend.backend() == "tensorflow" and cpu_has_bf16()
    if mixed_precision:
        if used == "gpu":
            keras.mixed_precision.set_global_policy("mixed_float16")
            note("mixed precision on (mixed_float16)")
        elif cpu_has_bf16():
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
            (detail if chosen and not announce_auto else note)(
                "mixed precision on (mixed_bfloat16: this CPU has bfloat16 instructions; --no-mixed-precision for float32)"
            )
        else:
            note("--mixed-precision: this CPU has no bfloat16 instructions, so it would be slower; float32 kept")
    return used
