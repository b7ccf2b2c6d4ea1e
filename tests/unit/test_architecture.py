"""Imports point one way (lsp → context → engine), no module imports itself back through
others, only lsp/ speaks the protocol, and every setting is documented.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"engine": set(), "context": {"engine"}, "lsp": {"context", "engine"}}
OURS = {"engine", "context", "lsp", "bench", "tests"}
PROTOCOL_LIBS = {"pygls", "lsprotocol"}
PACKAGES = ("lsp", "context", "engine", "bench")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    """Every module name `path` imports, at any depth (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here[: len(here) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imported_modules(path: Path) -> set[str]:
    """Top-level packages `path` imports."""
    return {name.split(".")[0] for name in imported_names(path) if name}


def test_imports_point_one_way():
    problems = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for module in imported_modules(path):
                if module in OURS and module != package and module not in allowed:
                    problems.append(f"{path.relative_to(ROOT)} imports {module}")
                if module in PROTOCOL_LIBS and package != "lsp":
                    problems.append(f"{path.relative_to(ROOT)} imports {module} (only lsp/ may)")
    assert problems == []


def _import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {resolve(n) for n in imported_names(path)}
        # A module importing its own package's __init__ is not an edge of a cycle.
        graph[name] = {t for t in targets if t and t != name and not name.startswith(t + ".")}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
            visit(node)
    return groups


def test_find_cycles_sees_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules():
    assert find_cycles(_import_graph()) == []


def test_wheel_ships_runtime_code_only():
    """bench/ and tests/ stay in the checkout: pyproject packages only the three layers."""
    text = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["lsp*", "context*", "engine*"]' in text


def _keys(cls, prefix=""):
    for field in dataclasses.fields(cls):
        default = (
            field.default_factory()
            if field.default_factory is not dataclasses.MISSING
            else field.default
        )
        head, *rest = field.name.split("_")
        camel = head + "".join(p.title() for p in rest)
        if dataclasses.is_dataclass(default):
            yield from _keys(type(default), f"{prefix}{camel}.")
        else:
            yield f"{prefix}{camel}"


def test_every_setting_is_documented_in_the_readme():
    from lsp.settings import CoveSettings

    readme = (ROOT / "README.md").read_text()
    missing = [key for key in _keys(CoveSettings) if f"`{key}`" not in readme]
    assert missing == []
