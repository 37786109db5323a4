"""The import graph of suite/: no module reaches itself through imports, and no module uses another's private names.

Imports inside functions count: a lazy import that closes a loop still ties the
modules together, and the order they can be imported in then depends on who
calls first. The layers between packages are declared in pyproject.toml
(``[tool.importlinter]``, checked in tests/test_layers.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suite"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SUITE.rglob("*.py"))}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def _describe(graph, component: list[str]) -> str:
    """One cycle of ``component`` with the line of each import, e.g. ``a -> b (l.3) -> a (l.40)``."""
    members = set(component)
    path, seen = [component[0]], {component[0]}
    while True:  # walk inside the component until a module repeats
        here = path[-1]
        nxt = sorted(m for m in graph.find_modules_directly_imported_by(here) if m in members)
        step = next((m for m in nxt if m in seen), None) or nxt[0]
        path.append(step)
        if step in seen:
            break
        seen.add(step)
    path = path[path.index(path[-1]) :]
    text = path[0]
    for a, b in zip(path, path[1:]):
        lines = sorted(d["line_number"] for d in graph.get_import_details(importer=a, imported=b))
        text += f" -> {b} (l.{','.join(map(str, lines))})"
    return text


def test_there_is_no_import_loop():
    graph = grimp.build_graph("suite", cache_dir=None)
    assert set(graph.modules) == set(MODULES), "grimp read another copy of suite than this checkout's"
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    loops = [f"{', '.join(c)}; e.g. {_describe(graph, c)}" for c in _cycles(edges)]
    assert not loops, "import loops in suite/ (lazy imports included):\n  " + "\n  ".join(loops)


def _imported_from(node: ast.ImportFrom, module: str) -> str:
    """The absolute module name of ``from ... import`` in ``module``."""
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(module: str) -> list[str]:
    """``from m import _x`` and ``m._x`` in ``module`` where m is another suite module."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    bound = {}  # local name -> the suite module it is bound to, from every import in the file
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:  # import suite.unet.segment binds `suite`; attribute chains resolve below
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            source = _imported_from(node, module)
            for alias in node.names:
                if _private(alias.name) and source in MODULES and source != module:
                    uses.append(f"line {node.lineno}: from {source} import {alias.name}")
                if f"{source}.{alias.name}" in MODULES:
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain, value = [], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound:
                target = ".".join([bound[value.id], *reversed(chain)])
                if target in MODULES and target != module:
                    uses.append(f"line {node.lineno}: {target}.{node.attr}")
    return sorted(set(uses), key=lambda u: int(u.split(":")[0].split()[1]))


def test_no_module_uses_another_modules_private_names():
    found = [f"{m}: {use}" for m in MODULES for use in _private_uses(m)]
    assert not found, "private names used outside their module (make them public or move the code):\n  " + (
        "\n  ".join(found)
    )
