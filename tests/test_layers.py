"""suite/ keeps its layers, suite/common never names a task package, and importing changes nothing.

The layers are import-linter contracts in pyproject.toml (``[tool.importlinter]``,
also run by ``make lint``): serve, style, unet, common from the top, and inside
suite/common ui, nn, io, the basics. This file runs them and checks what they
cannot express: task packages named in strings, the basics' import-time cost,
and process-wide state at import.
"""

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
COMMON = ROOT / "suite" / "common"
TASKS = ("suite.unet", "suite.style", "suite.serve")
#: Libraries the basics must not import when they are imported (they stay cheap: `suite --help`).
HEAVY = ("keras", "tensorflow", "jax", "torch", "PIL", "rich", "matplotlib", "numpy", "onnx")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _common_modules():
    return sorted(COMMON.rglob("*.py"))


def test_import_contracts_are_kept():
    """`lint-imports`: each contract of pyproject.toml, with the offending import chains when one is broken."""
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command as c; c(['--no-cache', '--no-logo'])",
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert "0 broken" in r.stdout and "KEPT" in r.stdout, r.stdout


@pytest.mark.parametrize("path", _common_modules(), ids=lambda p: str(p.relative_to(COMMON)))
def test_no_task_package_named_in_a_string(path):
    """importlib.import_module("suite.unet.model") and mock targets are imports the contracts cannot see."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    bad = [
        f"line {n.lineno}: {n.value!r}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in docstrings
        and any(n.value == t or n.value.startswith(t + ".") for t in TASKS)
    ]
    assert not bad, f"{path.relative_to(ROOT)} names a task package: {bad}"


@pytest.mark.parametrize("path", sorted(COMMON.glob("*.py")), ids=lambda p: p.name)
def test_basics_import_no_heavy_library_at_import(path):
    """Module-level imports only: the basics may import a heavy library inside the function that needs it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [(n.lineno, a.name) for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    names += [(n.lineno, n.module or "") for n in tree.body if isinstance(n, ast.ImportFrom) and not n.level]
    bad = [f"line {line}: {name}" for line, name in names if name.split(".")[0] in HEAVY]
    assert not bad, f"{_module_name(path)} is a basic module (cheap to import) but imports {bad} at module level"


def _run(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_importing_changes_nothing_process_wide():
    """Pillow's pixel limit, the umask, the environment, warning filters and signal handlers stay as they were."""
    out = _run("""
        import os, signal, sys, warnings
        from PIL import Image, ImageFile
        import click, numpy, rich.console, rich.progress, rich.table  # their own import-time filters are not ours
        os.umask(0o027)
        before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, dict(os.environ),
                  list(warnings.filters), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
        import suite.common, suite.common.io.images, suite.common.io.atomic, suite.common.ui.cli
        import suite.common.ui.progress, suite.common.ui.viz, suite.common.ui.palette, suite.common.device
        import suite.cli
        after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, dict(os.environ),
                 list(warnings.filters), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
        umask = os.umask(0o022)
        for b, a, what in zip(before, after, ("MAX_IMAGE_PIXELS", "LOAD_TRUNCATED_IMAGES", "environ", "warnings", "SIGTERM", "SIGINT")):
            assert b == a, (what, b, a)
        assert umask == 0o027, oct(umask)
        print("ok", "keras" in sys.modules)
    """)
    assert out.split()[0] == "ok"
    assert out.split()[1] == "False", "importing suite.cli or the io/ui modules started Keras"


def test_common_imports_no_task_package():
    """Every suite/common module imports without loading suite.unet, suite.style or suite.serve."""
    names = [_module_name(p) for p in _common_modules()]
    out = _run(f"""
        import importlib, sys
        from PIL import Image
        limit = Image.MAX_IMAGE_PIXELS
        for name in {names!r}:
            importlib.import_module(name)
        assert Image.MAX_IMAGE_PIXELS == limit
        print(sorted(m for m in sys.modules if m.startswith({TASKS!r})))
    """)
    assert out.strip() == "[]"


def test_pixel_limit_is_per_call_and_restored(tmp_path, monkeypatch):
    """The suite's max_pixels, not Pillow's process-wide limit, decides; Pillow's is left as it was."""
    from suite.common.io.images import ImageReadError, image_size, load_image

    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses over 2000 pixels
    assert load_image(tmp_path / "a.png", max_pixels=None).shape == (100, 100, 3)
    assert load_image(tmp_path / "a.png", max_pixels=20_000).shape == (100, 100, 3)
    assert image_size(tmp_path / "a.png", max_pixels=20_000) == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000
    for limit in (1500, 5000):  # under Pillow's refusal, and between the two limits
        with pytest.raises(ImageReadError, match="over the limit") as e:
            load_image(tmp_path / "a.png", max_pixels=limit)
        assert "--max-pixels" in str(e.value)
        with pytest.raises(ImageReadError, match="over the limit"):
            image_size(tmp_path / "a.png", max_pixels=limit)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_written_files_get_the_umask_without_it_being_read(tmp_path):
    """atomic_write's output has the permissions of any new file (0666 less the umask)."""
    out = _run(f"""
        import os
        os.umask(0o027)
        from suite.common.io.atomic import save_json
        p = save_json({{"a": 1}}, {str(tmp_path / "x.json")!r})
        print(oct(os.stat(p).st_mode & 0o777), oct(os.umask(0o022)))
    """)
    assert out.split() == ["0o640", "0o27"]
