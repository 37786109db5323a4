"""Keras' other backends from the CLI: a missing one names its extra; JAX keeps its compiles between runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_backend_that_is_not_installed_names_its_extra(tmp_path, backend):
    # A package of that name that fails to import as an absent one does: the environment may have the real one.
    shadow = tmp_path / "absent" / backend
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{backend}'\", name={backend!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SUITE_DEBUG", "SUITE_QUIET")}
    env.update(KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join([str(tmp_path / "absent"), str(ROOT)]))
    for args in (["backbones"], ["segment", str(tmp_path), "--model", "person", "-o", str(tmp_path / "out")]):
        proc = subprocess.run(
            [sys.executable, "-m", "suite", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
        assert f'pip install "keras-cv-suite[{backend}]"' in lines[0] and f"KERAS_BACKEND={backend}" in lines[0], lines


def test_the_cli_keeps_jax_compiles_between_runs(tmp_path, monkeypatch):
    from suite.common.device import jax_compilation_cache

    for name in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "SUITE_JAX_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jax_compilation_cache() == str(tmp_path / "keras-cv-suite" / "jax")
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "keras-cv-suite" / "jax")
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"  # initializers compile in well under 1 s
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))  # the user's own choice wins
    assert jax_compilation_cache() == str(tmp_path / "mine")
    monkeypatch.setenv("SUITE_JAX_CACHE", "0")
    assert jax_compilation_cache() is None


@pytest.mark.slow
def test_a_second_run_on_jax_reuses_the_first_runs_compiles(tmp_path):
    pytest.importorskip("jax")
    code = (
        "import time, keras; from suite.unet.model import UNet; t = time.perf_counter(); "
        "m = UNet(backbone='none', encoder_filters=(4, 8, 16, 32, 64), num_classes=2); "
        "m.predict_on_batch(keras.ops.zeros((1, 32, 32, 3))); print(time.perf_counter() - t)"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(ROOT), SUITE_JAX_CACHE="1", XDG_CACHE_HOME=str(tmp_path))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    runs = []
    for _ in range(2):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from suite.common.device import jax_compilation_cache; jax_compilation_cache(); " + code,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(float(proc.stdout.strip().splitlines()[-1]))
    assert any((tmp_path / "keras-cv-suite" / "jax").iterdir())
    assert runs[1] < 0.6 * runs[0], runs
