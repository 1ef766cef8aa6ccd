"""The router's layering, read from the source with ``ast``: dependencies point one way.

* no module under ``app/router`` imports another ``app.router`` module inside a function (the way an import cycle
  is hidden);
* the import graph of the ``app.router`` modules has no cycle (every import counts: module level, class level and
  ``if TYPE_CHECKING:`` blocks, so type-only cycles are caught too);
* ``app/providers`` never imports ``app.router`` (models/errors <- providers <- router).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


class Import(NamedTuple):
    """One import of an ``app`` module: the importing module, the imported one, where, and whether in a function."""

    source: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path, root: Path = APP) -> str:
    """``app/router/analysis/__init__.py`` -> ``app.router.analysis``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = APP) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _resolve(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved against ``source``)."""
    if not node.level:
        return node.module or ""
    package = source.split(".") if is_package else source.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """The ``app`` modules ``path`` imports (``from pkg import mod`` counts as importing ``pkg.mod`` when it is one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "app":
                        yield Import(name, alias.name, child.lineno, inside)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(child, name, is_package)
                if target.split(".")[0] != "app":
                    continue
                submodules = [f"{target}.{alias.name}" for alias in child.names if f"{target}.{alias.name}" in known]
                for module in submodules or [target]:
                    yield Import(name, module, child.lineno, inside)
            yield from visit(child, inside)

    yield from visit(tree, False)


def all_imports(root: Path = APP) -> list[Import]:
    found = modules(root)
    known = set(found)
    return [edge for name, path in found.items() for edge in imports_of(name, path, known)]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def find_cycle(edges: list[Import], package: str) -> list[str] | None:
    """One import cycle among the modules of ``package`` (as a path that ends where it starts), or ``None``."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if _in(edge.source, package) and _in(edge.target, package) and edge.source != edge.target:
            graph.setdefault(edge.source, set()).add(edge.target)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return all_imports()


def test_the_graph_is_read(edges: list[Import]) -> None:
    """The reader sees the imports it must judge (a broken reader would pass every check below)."""
    pairs = {(edge.source, edge.target) for edge in edges}
    assert ("app.router.router", "app.router.execution") in pairs
    assert ("app.router", "app.router.router") in pairs
    assert ("app.router.analysis", "app.router.analysis.request") in pairs
    assert any(_in(edge.source, "app.providers") for edge in edges)


def test_no_router_module_imports_the_router_inside_a_function(edges: list[Import]) -> None:
    hidden = [
        f"{edge.source}:{edge.line} imports {edge.target}"
        for edge in edges
        if edge.in_function and _in(edge.source, "app.router") and _in(edge.target, "app.router")
    ]
    assert not hidden, "function-level imports inside app.router (import at module level, one way):\n" + "\n".join(
        hidden
    )


def test_the_router_import_graph_has_no_cycle(edges: list[Import]) -> None:
    cycle = find_cycle(edges, "app.router")
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_providers_never_import_the_router(edges: list[Import]) -> None:
    upward = [
        f"{edge.source}:{edge.line} imports {edge.target}"
        for edge in edges
        if _in(edge.source, "app.providers") and _in(edge.target, "app.router")
    ]
    assert not upward, "app.providers sits below app.router:\n" + "\n".join(upward)


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    """A package with a cycle hidden in a function, and a provider importing the router, is caught."""
    root = tmp_path / "app"
    for package in ("router", "providers"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "router" / "router.py").write_text(
        "from app.router.execution import send\n\ndef route():\n    from app.router import execution\n"
    )
    (root / "router" / "execution.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .router import route\n"
    )
    (root / "providers" / "base.py").write_text("def f():\n    import app.router.router\n")
    found = all_imports(root)
    assert find_cycle(found, "app.router") == ["app.router.execution", "app.router.router", "app.router.execution"]
    assert {(e.source, e.target) for e in found if e.in_function} == {
        ("app.router.router", "app.router.execution"),
        ("app.providers.base", "app.router.router"),
    }
