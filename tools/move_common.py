"""Moves ``suite/common/*`` into its layer folders and rewrites every reference to the old paths.

The layers (see ``suite/common/__init__.py``), lowest first; a module may import
only from its own layer or a lower one, and never from a task package
(``suite.unet``, ``suite.style``, ``suite.serve``)::

    suite/common/*.py     basics: options, log, device (no Keras, no PIL at import)
    suite/common/io/      files and images on disk (images.py, files.py)
    suite/common/nn/      model parts: backbones, weights, layers, magenta, saving, ...
    suite/common/ui/      what people see: the CLI helpers, progress bars, pictures, palette

``tests/test_layers.py`` checks these rules.

Usage, from the repository root (idempotent; safe to run again at any time)::

    python tools/move_common.py            # git mv what is still at an old path, rewrite references
    python tools/move_common.py --check    # only report old references; exit 1 if any

After merging a branch that still uses the old paths (``from suite.common.image_io
import ...``, ``"suite.common.backbones.get_backbone"`` in a ``mock.patch``,
``suite/common/magenta.py`` in a Markdown page), run it again and commit: it
rewrites ``from``/``import`` statements (splitting an import whose names now live in
two modules), dotted names in strings and docstrings, and file paths.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Old module (under ``suite.common``) -> new module.
MODULES = {
    "api": "suite.common.nn.api",
    "backbones": "suite.common.nn.backbones",
    "conv_arithmetic": "suite.common.nn.conv_arithmetic",
    "layers": "suite.common.nn.layers",
    "magenta": "suite.common.nn.magenta",
    "models": "suite.common.nn.saving",
    "weights": "suite.common.nn.weights",
    "image_io": "suite.common.io.images",
    "cli_utils": "suite.common.ui.cli",
    "features": "suite.common.ui.features",
    "palette": "suite.common.ui.palette",
    "progress": "suite.common.ui.progress",
    "viz": "suite.common.ui.viz",
}

#: Names of an old module that went to another new module than :data:`MODULES` says.
SYMBOLS = {
    "image_io": {
        name: "suite.common.io.files"
        for name in (
            "OutputExistsError",
            "OutputFolderError",
            "atomic_write",
            "ensure_writable_folder",
            "remove_partial_files",
            "save_json",
            "temp_file",
            "_writer_alive",
        )
    },
}

#: Where the rewriting looks (relative to the repository root).
GLOBS = (
    "suite/**/*.py", "tests/**/*.py", "benchmarks/**/*.py", "assets/*.py", "docs/*.py", "cli.py",
    "*.md", "docs/*.md", "assets/*.md", "Makefile", "pyproject.toml",
)
SELF = Path(__file__).resolve()

_OLD = "|".join(sorted(MODULES, key=len, reverse=True))
_FROM = re.compile(
    r"^(?P<indent>[ \t]*)from[ \t]+(?P<mod>suite\.common(?:\.(?P<old>" + _OLD + r"))?)[ \t]+import[ \t]+"
    r"(?P<names>\([^)]*\)|[^\n#]*?)(?P<comment>[ \t]*#[^\n]*)?$",
    re.MULTILINE,
)
_DOTTED = re.compile(r"\bsuite\.common\.(?P<old>" + _OLD + r")\b(?:\.(?P<attr>\w+))?")
_PATH = re.compile(r"\bsuite/common/(?P<old>" + _OLD + r")\.py\b")


def target(old: str, name: str | None) -> str:
    """The new module of ``name`` that was in ``suite.common.<old>``."""
    return SYMBOLS.get(old, {}).get(name, MODULES[old])


def _split_names(text: str) -> list[str]:
    text = re.sub(r"#[^\n]*", "", text).strip()
    if text.startswith("("):
        text = text[1:-1]
    return [n.strip() for n in text.replace("\\\n", " ").split(",") if n.strip()]


def _rewrite_from(m: re.Match) -> str:
    indent, old, comment = m["indent"], m["old"], m["comment"] or ""
    names = _split_names(m["names"])
    groups: dict[str, list[str]] = {}
    for entry in names:
        name = entry.split()[0]
        if old:
            groups.setdefault(target(old, name), []).append(entry)
        elif name in MODULES:  # from suite.common import image_io
            parent, _, leaf = MODULES[name].rpartition(".")
            groups.setdefault(parent, []).append(entry if leaf == name else f"{leaf} as {entry.split()[-1]}")
        else:  # a name that suite/common/__init__.py exports
            groups.setdefault("suite.common", []).append(entry)
    if list(groups) == [m["mod"]]:
        return m[0]
    if len(groups) == 1 and old:  # keep the statement's own layout
        return m[0].replace(m["mod"], next(iter(groups)), 1)
    lines = []
    for mod, entries in groups.items():
        one = f"{indent}from {mod} import {', '.join(entries)}{comment}"
        if len(one) > 110:
            body = "".join(f"{indent}    {e},\n" for e in entries)
            one = f"{indent}from {mod} import ({comment}\n{body}{indent})"
        lines.append(one)
    return "\n".join(lines)


def _rewrite_dotted(m: re.Match) -> str:
    old, attr = m["old"], m["attr"]
    new = target(old, attr)
    return f"{new}.{attr}" if attr else new


def _rewrite_path(m: re.Match) -> str:
    return MODULES[m["old"]].replace(".", "/") + ".py"


def rewrite(text: str) -> str:
    """``text`` with every old ``suite.common`` module name or path replaced."""
    text = _FROM.sub(_rewrite_from, text)
    text = _DOTTED.sub(_rewrite_dotted, text)
    return _PATH.sub(_rewrite_path, text)


def files() -> list[Path]:
    found = set()
    for pattern in GLOBS:
        found.update(p for p in ROOT.glob(pattern) if p.is_file() and p.resolve() != SELF)
    return sorted(found)


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=ROOT, check=True)


def move() -> list[str]:
    """``git mv`` each old module that is still there; creates the layer packages' ``__init__.py``."""
    done = []
    for old, new in MODULES.items():
        src = ROOT / "suite" / "common" / f"{old}.py"
        dst = ROOT / (new.replace(".", "/") + ".py")
        if not src.exists():
            continue
        if dst.exists():
            print(f"both {src.relative_to(ROOT)} and {dst.relative_to(ROOT)} exist: merge them by hand", file=sys.stderr)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        init = dst.parent / "__init__.py"
        if not init.exists():
            init.write_text(f'"""suite.common.{dst.parent.name}."""\n')
            git("add", str(init.relative_to(ROOT)))
        git("mv", str(src.relative_to(ROOT)), str(dst.relative_to(ROOT)))
        done.append(f"{old} -> {new}")
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only list files with old references; exit 1 if any.")
    args = parser.parse_args(argv)
    if not args.check:
        for line in move():
            print(f"moved {line}")
    stale = []
    for path in files():
        text = path.read_text(encoding="utf-8")
        new = rewrite(text)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    verb = "old references in" if args.check else "rewrote"
    for path in stale:
        print(f"{verb} {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
