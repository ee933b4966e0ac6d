"""The import graph of ``src/upscaler`` (issue 25): no module imports itself through
others, and every package imports only the layers below it, so the pipeline's stages
(catalog → resolve → prepare, which fetches and converts → runtime) read top to bottom.

Every import counts: module-level, inside functions (the lazy TensorFlow-free ones) and
under ``TYPE_CHECKING``. A cycle that only a lazy import closes still ties two modules
together for the reader and for refactoring, which is what these rules are for.
docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "upscaler"

FOUNDATION = {"errors", "settings", "atomic", "locks", "progress", "arguments", "train_flags"}
"""Modules every layer may use; they import only one another."""

MAY_IMPORT: dict[str, set[str]] = {
    "runtime": set(),
    "convert": {"runtime"},
    "catalog": {"convert.formats"},
    "fetch": {"catalog"},
    "resolve": {"catalog", "runtime"},
    "analyze": {"runtime"},
    "media": {"runtime"},
    "prepare": {"catalog", "resolve", "fetch", "convert", "runtime"},
}
"""Besides the foundation and itself, what each lower package may import (a dotted name
allows that module only). Packages not listed here sit above the pipeline (the facade,
the CLI, batch, evaluation, training, the explorer, the gallery) and may import it all."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The upscaler modules one import statement names (``from pkg import mod`` names the
    module ``pkg.mod`` when there is one, else ``pkg``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = {
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in _imported(module, node)
        }
        graph[module] = {t for t in targets if t in MODULES and t != module}
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root, targets in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(targets)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _layer(module: str) -> str:
    """``upscaler.catalog.schema`` -> ``catalog``; ``upscaler`` -> ``upscaler``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_the_graph_is_read() -> None:
    assert len(MODULES) > 100
    assert "upscaler.catalog.schema" in GRAPH["upscaler.resolve.resolver"]


def test_the_cycle_finder_finds_a_lazy_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(GRAPH) == []


def test_the_foundation_imports_only_the_foundation() -> None:
    wrong = {
        (m, t)
        for m, targets in GRAPH.items()
        if _layer(m) in FOUNDATION
        for t in targets
        if _layer(t) not in FOUNDATION
    }
    assert wrong == set()


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_lower_layers_import_only_what_is_below_them(package: str) -> None:
    allowed = MAY_IMPORT[package]
    wrong = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if _layer(m) == package
        for t in targets
        if _layer(t) not in FOUNDATION | {package}
        and _layer(t) not in allowed
        and t.removeprefix("upscaler.") not in allowed
    )
    assert wrong == []


def test_catalog_imports_nothing_of_fetch() -> None:
    assert not any(
        _layer(t) == "fetch" for m, ts in GRAPH.items() if _layer(m) == "catalog" for t in ts
    )


def test_the_architecture_page_lists_every_format() -> None:
    from upscaler.convert.formats import format_names

    page = (SRC.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = page.split("The formats today:", 1)[1].split("###", 1)[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("|")]
    assert sorted(format_names()) == sorted(row.strip("`") for row in rows[2:])
