"""The house rules of ``syncd/``: imports point down the layers, never up, never in a circle.

README's "Design" section draws the layers. This test reads every module with
``ast`` (so nothing is imported or run) and fails naming the module and the import
that breaks a rule. An import inside a function or under ``TYPE_CHECKING`` counts
like any other: hiding an arrow does not remove it. ``importlib`` on a syncd module
is refused outright.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "syncd"

VOCABULARY = frozenset(
    {
        "model", "logs", "metrics", "shutdown", "polling", "progress", "jsonpath",
        "sink_protocol", "collector", "syncd",
    }
)
"""Plain modules every layer may use; they import nothing but each other."""

FACE = frozenset(
    {"cli", "__main__", "daemon", "demo", "status_table", "forecast_text", "progress_display"}
)

ALLOWED: dict[str, frozenset[str]] = {
    "assemble": frozenset(
        {"engine", "mapping", "vendors", "sources", "sinks", "http", "limits", "state", "config"}
    ),
    "engine": frozenset(
        {"mapping", "vendors", "sources", "sinks", "http", "state", "limits", "config"}
    ),
    "mapping": frozenset({"config", "jinja_limits"}),
    "jinja_limits": frozenset(),
    "vendors": frozenset({"http", "limits", "config"}),
    "sources": frozenset({"http", "limits", "config"}),
    "sinks": frozenset({"http", "limits", "config"}),
    "http": frozenset({"limits", "config"}),
    "state": frozenset({"limits", "config"}),
    "limits": frozenset(),
    "config": frozenset(),
    "sandbox": frozenset(),
}
"""What each layer may import besides itself and the vocabulary."""

ENGINE_MAY_USE = {
    "vendors": ("syncd.vendors.base",),
    "sources": ("syncd.sources.base",),
    "sinks": ("syncd.sinks.base",),
    "http": ("syncd.http.errors",),
}
"""The engine talks to vendors, sources and sinks only through their protocols, and knows
the HTTP stack only by its error vocabulary (what ends a cycle with exit code 4)."""


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported syncd module, dotted
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """``syncd.vendors.talentlms.api`` -> ``vendors``; ``syncd.model`` -> ``model``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "syncd"


def imports_of(path: Path) -> Iterator[Import]:
    """Every syncd module ``path`` imports, wherever the statement stands."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "syncd":
                    yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] == "syncd":
                yield Import(module, target, node.lineno)
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    if _is_module(candidate):
                        yield Import(module, candidate, node.lineno)


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def all_imports() -> list[Import]:
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in imports_of(path)]


def breaks_layers(found: Import) -> bool:
    source, target = layer_of(found.module), layer_of(found.target)
    if source == target or source in FACE:
        return False
    if source == "sandbox":
        return target not in VOCABULARY
    if target in FACE or target == "sandbox":
        return True
    if source in VOCABULARY:
        return target not in VOCABULARY
    if target in VOCABULARY:
        return False
    if target not in ALLOWED.get(source, frozenset()):
        return True
    narrow = ENGINE_MAY_USE.get(target) if source == "engine" else None
    return narrow is not None and not found.target.startswith(narrow)


def test_every_import_points_down_a_layer():
    broken = [str(found) for found in all_imports() if breaks_layers(found)]
    assert not broken, "imports that break the layers:\n" + "\n".join(broken)


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = {}
    for found in all_imports():
        if found.target != found.module and _is_module(found.target):
            graph.setdefault(found.module, set()).add(found.target)
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a path that returns to its start, or None (depth-first, colouring)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                stack.append((child, iter(sorted(graph.get(child, ())))))
                path.append(child)
                on_path.add(child)
    return None


def test_no_module_is_loaded_by_name():
    """``importlib`` hides an arrow from every reader and from this test."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import | ast.ImportFrom)
                else []
            )
            module = getattr(node, "module", None) or ""
            if "importlib" in names or module.startswith("importlib"):
                offenders.append(f"{module_name(path)}:{node.lineno}")
    assert not offenders, "modules loaded by name: " + ", ".join(offenders)


@pytest.mark.parametrize(
    ("importer", "imported", "expected"),
    [
        ("syncd.vendors.talentlms.api", "syncd.state.tables", True),
        ("syncd.vendors.talentlms.api", "syncd.http", False),
        ("syncd.engine.push.send", "syncd.vendors.talentlms.adapter", True),
        ("syncd.engine.push.send", "syncd.vendors.base", False),
        ("syncd.engine.push.run", "syncd.http.errors", False),
        ("syncd.engine.push.run", "syncd.http", True),
        ("syncd.sinks.http", "syncd.sources.auth", True),
        ("syncd.sandbox.ilms.fields", "syncd.vendors.ilms.fields", True),
        ("syncd.limits.policy", "syncd.state.tables", True),
        ("syncd.config.loader", "syncd.mapping", True),
        ("syncd.model", "syncd.config", True),
        ("syncd.cli", "syncd.sandbox", False),
        ("syncd.state.store", "syncd.cli", True),
    ],
)
def test_the_rules_themselves(importer, imported, expected):
    """The checker would catch what it is here for (so the tests above can fail)."""
    assert breaks_layers(Import(importer, imported, 1)) is expected


def test_the_cycle_finder_finds_a_hidden_loop():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
