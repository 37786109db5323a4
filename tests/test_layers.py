"""suite/common is layered, never reaches up into a task package, and changes nothing at import.

Layers, lowest first (see suite/common/__init__.py): the basics (suite/common/*.py),
io, nn, ui. A module imports only from its own layer or a lower one.
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
BASICS = {"suite.common", "suite.common.options", "suite.common.log", "suite.common.device"}
#: What each layer may import from suite.common.
ALLOWED = {
    "basics": ("basics",),
    "io": ("basics", "io"),
    "nn": ("basics", "io", "nn"),
    "ui": ("basics", "io", "nn", "ui"),
}
#: Libraries the basics must not import when they are imported (they stay cheap: `suite --help`).
HEAVY = ("keras", "tensorflow", "jax", "torch", "PIL", "rich", "matplotlib", "numpy", "onnx")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if module in BASICS or len(parts) == 3 and (COMMON / f"{parts[2]}.py").is_file():
        return "basics"
    return parts[2]


def _common_modules():
    return sorted(COMMON.rglob("*.py"))


def _imports(tree: ast.AST, path: Path):
    """(line, imported module, at module level) for every import in ``tree`` (the module at ``path``)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield node.lineno, base, id(node) in top
            for alias in node.names:  # from suite.common import io
                yield node.lineno, f"{base}.{alias.name}", id(node) in top


def _docstring_nodes(tree: ast.AST) -> set:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_the_layer_folders_exist():
    assert {p.name for p in COMMON.iterdir() if (p / "__init__.py").is_file()} == {"io", "nn", "ui"}


@pytest.mark.parametrize("path", _common_modules(), ids=lambda p: str(p.relative_to(COMMON)))
def test_no_import_up_into_a_task_package(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = _module_name(path)
    bad = [f"line {line}: import {name}" for line, name, _ in _imports(tree, path)
           if name.startswith(TASKS) and name.split(".")[:2] in [t.split(".") for t in TASKS]]
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):  # importlib.import_module("suite.unet.model") and the like
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if any(node.value == t or node.value.startswith(t + ".") for t in TASKS):
                bad.append(f"line {node.lineno}: string {node.value!r}")
    assert not bad, f"{path.relative_to(ROOT)} reaches up into a task package: {bad}"


@pytest.mark.parametrize("path", _common_modules(), ids=lambda p: str(p.relative_to(COMMON)))
def test_imports_follow_the_layers(path):
    module = _module_name(path)
    layer = _layer(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for line, name, _ in _imports(tree, path):
        if not name.startswith("suite.common.") or name.count(".") < 2:
            continue
        target = ".".join(name.split(".")[:3])
        if (COMMON / target.split(".")[2]).is_dir() or (COMMON / f"{target.split('.')[2]}.py").is_file():
            if _layer(target) not in ALLOWED[layer]:
                bad.append(f"line {line}: {name} ({_layer(target)})")
    assert not bad, f"{module} ({layer}) may import only {ALLOWED[layer]}: {bad}"


@pytest.mark.parametrize("path", sorted(COMMON.glob("*.py")), ids=lambda p: p.name)
def test_basics_import_no_heavy_library_at_import(path):
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [f"line {line}: {name}" for line, name, top in _imports(tree, path)
           if top and name.split(".")[0] in HEAVY]
    assert not bad, f"{module} is a basic module (cheap to import) but imports {bad} at module level"


def _run(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
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
        p = save_json({{"a": 1}}, {str(tmp_path / 'x.json')!r})
        print(oct(os.stat(p).st_mode & 0o777), oct(os.umask(0o022)))
    """)
    assert out.split() == ["0o640", "0o27"]
