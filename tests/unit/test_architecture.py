"""The layout holds: no import cycles, no upward imports, and the shared machinery names no
particular saga (only the built-in catalogue does). Read from the code (AST), not run."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sagas.builtin import SAGAS
from sagas.descriptor import SagaDescriptor

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {
    "services": 0,
    "models": 0,
    "adapter": 1,
    "activities": 2,
    "workflows": 2,
    "plumbing": 3,
    "sagas": 4,
    "frontends": 5,
    "worker": 6,
    "starter": 6,
    "bench": 7,
}
"""Who may import whom: a package imports its own modules and those of lower layers only
(the simulated services, the outside world, import nothing of the project)."""
CATALOGUE = "sagas.builtin"
NOT_SHARED = ("examples", "tests", "bench", "services")
"""Where a particular saga may be named besides its own modules."""


@dataclass(frozen=True)
class Import:
    module: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [ROOT / "worker.py", ROOT / "starter.py"]
    files += [path for package in LAYERS for path in sorted((ROOT / package).rglob("*.py"))]
    return {module_name(path): path for path in files if path.exists()}


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports_of(tree: ast.AST, modules: set[str]) -> Iterator[Import]:
    """The project modules a module imports at run time (``TYPE_CHECKING`` blocks left
    out), at any depth: an import inside a function still runs."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            pending += node.orelse
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                yield Import(name, getattr(node, "lineno", 0))
                break
        pending += ast.iter_child_nodes(node)


def import_graph() -> dict[str, dict[str, int]]:
    modules = project_modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"))
        found = {i.module: i.line for i in imports_of(tree, set(modules)) if i.module != name}
        graph[name] = found
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_upward_imports() -> None:
    upward = [
        f"{module} imports {target} (line {line})"
        for module, targets in import_graph().items()
        for target, line in targets.items()
        if module.split(".")[0] != target.split(".")[0]
        and (_layer(target) >= _layer(module) or module.startswith("services"))
    ]
    assert upward == []


# -- the shared machinery names no particular saga -----------------------------------------


def own_modules(saga: SagaDescriptor) -> set[str]:
    """The saga's own modules: those its descriptor names."""
    references = [saga.workflow, saga.activities, saga.steps, saga.request, saga.input_model]
    references += [saga.summary, *([saga.identity] if saga.identity else [])]
    return {reference.partition(":")[0] for reference in references}


def saga_literals(saga: SagaDescriptor) -> set[str]:
    return {saga.kind, saga.command, saga.workflow_type, saga.api_path, saga.config.name}


def namings(module: str, tree: ast.AST, saga: SagaDescriptor) -> list[str]:
    """Where ``module`` names ``saga``: an import of one of its modules, or its kind,
    command, workflow type, API path or config file as a string literal."""
    own = own_modules(saga)
    literals = saga_literals(saga)
    found = [
        f"{module}:{i.line} imports {i.module}"
        for i in imports_of(tree, own | set(project_modules()))
        if i.module in own
    ]
    found += [
        f"{module}:{node.lineno} says {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value in literals
    ]
    return found


def shared_modules(saga: SagaDescriptor) -> dict[str, Path]:
    every_own = set().union(*(own_modules(s) for s in SAGAS))
    return {
        name: path
        for name, path in project_modules().items()
        if name not in every_own and not name.startswith(NOT_SHARED)
    }


@pytest.mark.parametrize("saga", SAGAS, ids=lambda saga: saga.kind)
def test_only_the_catalogue_names_a_saga(saga: SagaDescriptor) -> None:
    named = {
        line
        for name, path in shared_modules(saga).items()
        for line in namings(name, ast.parse(path.read_text("utf-8")), saga)
    }
    assert {line.partition(":")[0] for line in named} <= {CATALOGUE}, sorted(named)


def test_the_naming_check_catches_an_import_and_a_literal() -> None:
    order = next(saga for saga in SAGAS if saga.kind == "order")
    code = "from models.order import OrderInput\nKIND = 'order'\nPATH = '/orders'\n"
    found = namings("frontends.x", ast.parse(code), order)
    assert found == [
        "frontends.x:1 imports models.order",
        "frontends.x:2 says 'order'",
        "frontends.x:3 says '/orders'",
    ]
