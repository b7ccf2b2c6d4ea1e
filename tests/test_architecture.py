"""Imports point one way (lsp → context → engine), and every setting is documented."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"engine": set(), "context": {"engine"}, "lsp": {"context", "engine", "lsp"}}
OURS = {"engine", "context", "lsp"}
PROTOCOL_LIBS = {"pygls", "lsprotocol"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


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


def _keys(cls, prefix=""):
    for field in dataclasses.fields(cls):
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
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
