"""The code's shape: imports in app/ point one way, and sit at the top of modules.

Imports inside functions count as edges (they are cycles that merely happen later);
``if TYPE_CHECKING:`` ones do not. The few imports that stay inside functions are listed with
their reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.processes import ROOT

APP = ROOT / "app"
# Deliberately late: the factory imports the rooms when it runs (as flaskr's does), so importing
# one module of the package does not load them all; the cloud SDK of a backend loads only when
# that backend is used; pyngrok is an optional extra; prometheus's multiprocess collector exists
# only in that mode; the SQL dialect's upsert is chosen by the database in use.
LATE = {"app/__init__.py", "app/storage/__init__.py", "app/tunnel.py", "app/metrics.py",
        "app/recordings/catalogue.py"}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(path): path for path in APP.rglob("*.py")}


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> list[tuple[ast.stmt, str, bool]]:
    """``(statement, imported app module, inside a function)`` for each import of an app module."""
    path = MODULES[module]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                for other in child.orelse:
                    visit(other, in_function)
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((child, _known(alias.name), inner) for alias in child.names if alias.name.startswith("app"))
            elif isinstance(child, ast.ImportFrom):
                base = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(max(child.level - 1, 0)):
                    base = base.rpartition(".")[0]
                full = (f"{base}.{child.module}" if child.module else base) if child.level else (child.module or "")
                if full.startswith("app"):
                    for alias in child.names:
                        exact = f"{full}.{alias.name}"
                        found.append((child, exact if exact in MODULES else _known(full), inner))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return [(statement, target, inner) for statement, target, inner in found if target and target != module]


def cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    graph = {module: {target for _, target, _ in imports_of(module)} for module in MODULES}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def test_no_import_cycles_in_app():
    assert cycles() == []


def test_the_detector_sees_a_cycle_through_an_import_inside_a_function(tmp_path, monkeypatch):
    one, two = tmp_path / "app" / "one.py", tmp_path / "app" / "two.py"
    one.parent.mkdir()
    one.write_text("from app import two\n")
    two.write_text("def later():\n    from app.one import x\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path, raising=False)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "MODULES", {module_of(p): p for p in (one, two)})
    assert cycles() == [["app.one", "app.two"]]


def test_nothing_imports_the_factory_but_the_entry_points():
    importers = sorted(module for module in MODULES for statement, target, _ in imports_of(module)
                       if target == "app" and any(alias.name == "create_app" for alias in statement.names))
    assert importers == ["app.worker"]  # and wsgi.py, outside app/


def test_imports_sit_at_the_top_of_modules():
    late = []
    for module, path in sorted(MODULES.items()):
        if str(path.relative_to(ROOT)) in LATE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                late += [f"{path.relative_to(ROOT)}:{sub.lineno}" for sub in ast.walk(node)
                         if isinstance(sub, (ast.Import, ast.ImportFrom))]
    assert late == []
