"""The rules of the house, read from the source with ``ast`` so they stay true.

- Stages import one way: ``run`` may import ``build``, ``results``, ``ui`` and ``gateway``; ``build``
  may import ``ui``; ``results``, ``ui`` and ``gateway`` import no other stage. Every import counts:
  at module level, under ``TYPE_CHECKING`` and inside functions.
- No import cycle between modules (same counting).
- No module imports another module's private name, and across stages only a stage's face (its
  ``__init__``) is imported, never one of its private modules.
- No ``obj._attribute`` on anything but ``self`` / ``cls`` (a namedtuple's ``_replace`` and
  friends, and IPython's ``_repr_*_`` protocol, are public API despite the underscore).
- Each stage's ``__all__`` names only what it defines or imports, once (ruff's RUF022 keeps it sorted).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfbatch_nb"
STAGES = ("build", "run", "results", "ui", "gateway")
# Which other stages (and top-level modules) each part of the package may import.
BASE = {"tfbatch_nb.errors", "tfbatch_nb.providers", "tfbatch_nb.datasets"}
ALLOWED: dict[str, set[str]] = {
    "build": {"ui"},
    "run": {"build", "results", "ui", "gateway"},
    "results": set(),
    "ui": set(),
    "gateway": set(),
}
PUBLIC_UNDERSCORE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def imports(module: str, source: str | None = None) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of ``module``, wherever it is."""
    path = MODULES.get(module)
    is_package = path is not None and path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    text = source if source is not None else MODULES[module].read_text()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                # "from pkg import mod" imports a module: count it as one
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def internal_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _ in imports(module):
            while target and target not in MODULES:  # "a.b.c" where c is a name: the module a.b
                target = target.rpartition(".")[0]
            if target.startswith("tfbatch_nb") and target != module:
                edges[module].add(target)
    return edges


def order_violations(module: str, source: str | None = None) -> list[str]:
    here = stage_of(module)
    if here is None:
        return []
    wrong = []
    for target, _, line in imports(module, source):
        there = stage_of(target)
        if target.startswith("tfbatch_nb") and there is None and target not in BASE:
            if target != "tfbatch_nb":
                wrong.append(f"{module}:{line} imports {target} (above the stages)")
            continue
        if there is not None and there != here and there not in ALLOWED[here]:
            wrong.append(f"{module}:{line} imports {target} ({here} may not import {there})")
    return wrong


def test_stages_import_one_way() -> None:
    assert [w for module in MODULES for w in order_violations(module)] == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle() -> None:
    edges = internal_edges()
    # A package's __init__ importing its own modules is how a face works, and a module importing
    # a sibling through that face would hide a cycle: count both, but not the package's own
    # re-exports as a cycle with the top-level lazy __init__ (it imports nothing at module level).
    assert find_cycle(edges) is None


def test_find_cycle_sees_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def reach_violations(module: str, source: str | None = None) -> list[str]:
    wrong = []
    here = stage_of(module)
    for target, name, line in imports(module, source):
        if not target.startswith("tfbatch_nb"):
            continue
        if name is not None and name.startswith("_") and not name.startswith("__"):
            wrong.append(f"{module}:{line} imports private name {target}.{name}")
        leaf = target.rpartition(".")[2]
        there = stage_of(target)
        if leaf.startswith("_") and not leaf.startswith("__") and (there != here or there is None):
            wrong.append(f"{module}:{line} imports {target}, a private module of another stage")
    text = source if source is not None else MODULES[module].read_text()
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in PUBLIC_UNDERSCORE
            and not (node.attr.startswith(("_repr_", "_ipython_")) and node.attr.endswith("_"))
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            wrong.append(f"{module}:{node.lineno} reaches {ast.unparse(node)}")
    return wrong


def test_no_private_reach() -> None:
    assert [w for module in MODULES for w in reach_violations(module)] == []


def test_the_checks_see_what_they_forbid() -> None:
    bad = """
from ..ui._snapshot import Snapshot
from ._poll import _helper
from ..run import Batch
import tfbatch_nb.cli
def f(batch, row):
    return batch._gw, self._mine, row._replace(a=1), batch._repr_html_()
"""
    reach = reach_violations("tfbatch_nb.ui._example", bad)
    assert any("tfbatch_nb.ui._snapshot" in w for w in reach) is False  # a sibling's module is fine
    assert any("_helper" in w for w in reach)
    assert any("batch._gw" in w for w in reach)
    assert not any("_mine" in w or "_replace" in w or "_repr_html_" in w for w in reach)
    assert any("private module of another stage" in w for w in reach_violations("tfbatch_nb.run._x", bad))
    order = order_violations("tfbatch_nb.ui._example", bad)
    assert any("ui may not import run" in w for w in order)
    assert any("tfbatch_nb.cli (above the stages)" in w for w in order)
    assert (
        order_violations("tfbatch_nb.run._x", "from ..ui import Snapshot\nfrom ..build import BatchRequests")
        == []
    )


@pytest.mark.parametrize("stage", ["tfbatch_nb", *(f"tfbatch_nb.{s}" for s in STAGES)])
def test_faces_have_sorted_all(stage: str) -> None:
    # The order is ruff's (RUF022, isort-style: constants, classes, functions), checked by test_ruff_clean.
    mod = importlib.import_module(stage)
    names = list(mod.__all__)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(mod, name), f"{stage}.__all__ names {name}, which it does not have"
