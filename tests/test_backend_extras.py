"""``KERAS_BACKEND=jax`` (or ``torch``) without that package: one line naming the extra, no traceback."""

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
    (shadow / "__init__.py").write_text(f"raise ModuleNotFoundError(\"No module named '{backend}'\", name={backend!r})\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SUITE_DEBUG", "SUITE_QUIET")}
    env.update(KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join([str(tmp_path / "absent"), str(ROOT)]))
    for args in (["backbones"], ["segment", str(tmp_path), "--model", "person", "-o", str(tmp_path / "out")]):
        proc = subprocess.run([sys.executable, "-m", "suite", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
        assert f'pip install "keras-cv-suite[{backend}]"' in lines[0] and f"KERAS_BACKEND={backend}" in lines[0], lines
