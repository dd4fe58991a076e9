"""The packages of ``app/`` depend on each other one way only: the folders read as the path
of an event, and a change to a low layer never has to reason about a higher one.

Each package (``app/journal``, ``app/relay``, …) and each top-level module (``app/main.py``)
is a node; an import from one to another is an edge. Imports needed only by the type checker
(under ``if TYPE_CHECKING:``) are not edges: nothing runs them. The graph must have no cycle.

    python -m tests.unit.test_import_graph      # prints the graph, lowest layer first
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def node_of(module: str) -> str | None:
    """``app.journal.commands`` -> ``journal``; ``app.main`` -> ``main``; else None."""
    parts = module.split(".")
    if parts[0] != "app" or len(parts) < 2:
        return None
    if parts[1] == "services" and len(parts) > 2:
        return f"services.{parts[2]}"  # each service is its own node
    return parts[1]


def _runtime_imports(tree: ast.Module, module: str) -> set[str]:
    found: set[str] = set()
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            type_only |= {id(child) for child in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= _from_import(node, module)
    return found


def _from_import(node: ast.ImportFrom, module: str) -> set[str]:
    if node.level:  # relative: from the importing module's package
        base = module.split(".")[: -node.level]
        origin = ".".join([*base, node.module] if node.module else base)
    else:
        origin = node.module or ""
    return {origin} | {f"{origin}.{alias.name}" for alias in node.names}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in APP.rglob("*.py"):
        module = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        source = node_of(module)
        if source is None:
            continue
        graph[source]
        for imported in _runtime_imports(ast.parse(path.read_text()), module):
            target = node_of(imported)
            if target is not None and target != source and (APP / _path_of(target)).exists():
                graph[source].add(target)
    return dict(graph)


def _path_of(node: str) -> str:
    folder = node.replace(".", "/")
    return folder if (APP / folder).is_dir() else f"{folder}.py"


def test_no_two_packages_depend_on_each_other_even_through_others() -> None:
    graph = package_graph()
    two_way = sorted(
        (a, b) for a, targets in graph.items() for b in targets if a < b and a in graph.get(b, ())
    )
    assert two_way == [], f"two-way dependencies: {two_way}"
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        raise AssertionError(f"a cycle between packages: {' -> '.join(cycle.args[1])}") from None


def test_the_checker_sees_a_cycle_when_there_is_one() -> None:
    """The check itself can fail: a made-up graph with a loop through three packages."""
    with pytest.raises(CycleError):
        list(TopologicalSorter({"a": {"b"}, "b": {"c"}, "c": {"a"}}).static_order())
    tree = ast.parse("from app.relay import x\nif TYPE_CHECKING:\n    import app.stream.hub\n")
    assert {node_of(m) for m in _runtime_imports(tree, "app.keys.store")} == {"relay"}


if __name__ == "__main__":
    graph = package_graph()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        sys.exit(f"a cycle: {' -> '.join(cycle.args[1])}")
    for node in order:
        print(f"{node:20} -> {', '.join(sorted(graph.get(node, ()))) or '-'}")
