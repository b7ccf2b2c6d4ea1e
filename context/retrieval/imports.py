"""A file's imports, and where in the repository they lead.

Import statements are line-shaped in every supported language, so a few regular
expressions read them from the live buffer (which may not parse while the user types).
Resolution maps a module to indexed files through a suffix table of repository paths.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

PY_FROM = re.compile(
    r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.MULTILINE
)
PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#]+)", re.MULTILINE)
JS_IMPORT = re.compile(
    r"""^[ \t]*(?:import|export)\s+(?:type\s+)?([\w*{}\s,$]+?)\s+from\s+['"]([^'"]+)['"]"""
    r"""|require\(\s*['"]([^'"]+)['"]\s*\)""",
    re.MULTILINE,
)
GO_BLOCK = re.compile(r"^import\s*\(([^)]*)\)", re.MULTILINE)
GO_SINGLE = re.compile(r"^import[ \t]+([^(\n][^\n]*)", re.MULTILINE)
GO_SPEC = re.compile(r'\s*(\w+|\.|_)?\s*"([^"]+)"')
RUST_USE = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?use[ \t]+([^;]+);", re.MULTILINE)
JAVA_IMPORT = re.compile(
    r"^[ \t]*import[ \t]+(?:static[ \t]+)?([\w.]+)(?:\.\*)?[ \t]*;", re.MULTILINE
)
C_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.MULTILINE)

JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts")


@dataclass(frozen=True)
class Import:
    """One import: the module as written and the names it binds (original, local)."""

    module: str
    names: tuple[tuple[str, str], ...] = ()  # ("join", "j") for `from os.path import join as j`
    alias: str = ""  # the local name bound to the module itself (`import numpy as np` → "np")
    level: int = 0  # Python's leading dots of a relative import


def _split_names(text: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in text.strip("() \t").replace("\n", " ").split(","):
        words = part.split()
        if not words or words[0] in ("*", "\\"):
            continue
        if len(words) >= 3 and words[1] == "as":
            out.append((words[0], words[2]))
        elif words[0].isidentifier():
            out.append((words[0], words[0]))
    return tuple(out)


def _python(text: str) -> list[Import]:
    found = [
        Import(module=m.group(2), names=_split_names(m.group(3)), level=len(m.group(1)))
        for m in PY_FROM.finditer(text)
    ]
    for m in PY_IMPORT.finditer(text):
        for part in m.group(1).split(","):
            words = part.split()
            if words and all(w.isidentifier() for w in words[0].split(".")):
                alias = words[2] if len(words) >= 3 and words[1] == "as" else words[0].split(".")[0]
                found.append(Import(module=words[0], alias=alias))
    return found


def _javascript(text: str) -> list[Import]:
    found = []
    for m in JS_IMPORT.finditer(text):
        if m.group(3):
            found.append(Import(module=m.group(3)))
            continue
        clause, names, alias = m.group(1), [], ""
        inner = re.search(r"\{([^}]*)\}", clause)
        if inner:
            names = list(_split_names(inner.group(1)))
        rest = re.sub(r"\{[^}]*\}", "", clause)
        star = re.search(r"\*\s+as\s+(\w+)", rest)
        if star:
            alias = star.group(1)
        else:
            default = rest.strip(" ,")
            if default.isidentifier():
                names.append(("default", default))
        found.append(Import(module=m.group(2), names=tuple(names), alias=alias))
    return found


def _go(text: str) -> list[Import]:
    specs = [line for block in GO_BLOCK.findall(text) for line in block.split("\n")]
    specs += GO_SINGLE.findall(text)
    out = []
    for spec in specs:
        m = GO_SPEC.match(spec)
        if m:
            out.append(Import(module=m.group(2), alias=m.group(1) or m.group(2).rsplit("/", 1)[-1]))
    return out


def _rust(text: str) -> list[Import]:
    out = []
    for m in RUST_USE.finditer(text):
        spec = " ".join(m.group(1).split()).replace(":: ", "::").replace(" ::", "::")
        head, _, tail = spec.partition("::{")
        if tail:
            names = _split_names(tail.rstrip("} ").replace("{", ",").replace("}", ","))
            out.append(Import(module=head, names=names))
            continue
        module, _, name = spec.rpartition("::")
        words = name.split()
        if words and words[0] != "*":
            local = words[2] if len(words) >= 3 and words[1] == "as" else words[0]
            out.append(Import(module=module, names=((words[0], local),)))
    return out


def parse_imports(language: str, text: str) -> list[Import]:
    """The imports of a buffer in `language` (a tags language name); [] for others."""
    if language == "python":
        return _python(text)
    if language in ("javascript", "typescript", "tsx"):
        return _javascript(text)
    if language == "go":
        return _go(text)
    if language == "rust":
        return _rust(text)
    if language == "java":
        return [
            Import(module=m.rsplit(".", 1)[0], names=((m.rsplit(".", 1)[-1],) * 2,))
            for m in JAVA_IMPORT.findall(text)
        ]
    if language in ("c", "cpp"):
        return [Import(module=m) for m in C_INCLUDE.findall(text)]
    return []


class PathTable:
    """Repository paths by file name, to resolve modules by path suffix quickly."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = set(paths)
        self._by_name: dict[str, list[str]] = defaultdict(list)
        for path in sorted(self.paths):
            self._by_name[path.rsplit("/", 1)[-1]].append(path)

    def add(self, path: str) -> None:
        """A file entered the index."""
        if path not in self.paths:
            self.paths.add(path)
            self._by_name[path.rsplit("/", 1)[-1]].append(path)

    def discard(self, path: str) -> None:
        """A file left the index."""
        if path in self.paths:
            self.paths.discard(path)
            self._by_name[path.rsplit("/", 1)[-1]].remove(path)

    def with_suffix(self, suffix: str) -> list[str]:
        """Paths equal to `suffix` or ending with `/suffix`, shortest first."""
        suffix = suffix.lstrip("/")
        hits = [
            p
            for p in self._by_name.get(suffix.rsplit("/", 1)[-1], ())
            if p == suffix or p.endswith("/" + suffix)
        ]
        return sorted(hits, key=lambda p: (p.count("/"), p))

    def in_folder(self, folder: str) -> list[str]:
        """Files directly inside `folder` (relative)."""
        prefix = folder.rstrip("/") + "/" if folder else ""
        return sorted(
            p for p in list(self.paths) if p.startswith(prefix) and "/" not in p[len(prefix) :]
        )


def _python_module_files(table: PathTable, current: str, imp: Import, name: str = "") -> list[str]:
    parts = [p for p in imp.module.split(".") if p] + ([name] if name else [])
    if imp.level:
        base = posixpath.dirname(current)
        for _ in range(imp.level - 1):
            base = posixpath.dirname(base)
        stem = posixpath.join(base, *parts) if parts else base
        return [p for p in (stem + ".py", stem + "/__init__.py", stem + ".pyi") if p in table.paths]
    if not parts:
        return []
    stem = "/".join(parts)
    for suffix in (stem + ".py", stem + "/__init__.py", stem + ".pyi"):
        hits = table.with_suffix(suffix)
        if hits:
            return hits[:1]
    return []


def resolve_import(language: str, current: str, imp: Import, table: PathTable) -> list[str]:
    """Repository files an import leads to (empty for third-party modules)."""
    if language == "python":
        files = _python_module_files(table, current, imp)
        for original, _ in imp.names:  # `from pkg import module` names a file, not a symbol
            files += _python_module_files(table, current, imp, original)
        return list(dict.fromkeys(files))
    if language in ("javascript", "typescript", "tsx"):
        if not imp.module.startswith("."):
            return []
        stem = posixpath.normpath(posixpath.join(posixpath.dirname(current), imp.module))
        options = (
            [stem] + [stem + e for e in JS_EXTENSIONS] + [f"{stem}/index{e}" for e in JS_EXTENSIONS]
        )
        return [p for p in options if p in table.paths][:1]
    if language == "go":
        parts = imp.module.split("/")
        for start in range(len(parts)):
            folder = "/".join(parts[start:])
            files = [
                p
                for p in table.in_folder(folder)
                if p.endswith(".go") and not p.endswith("_test.go")
            ]
            if files:
                return files
        return []
    if language == "rust":
        parts = [p for p in imp.module.split("::") if p not in ("crate", "self", "super", "")]
        for cut in range(len(parts), 0, -1):
            stem = "/".join(parts[:cut])
            hits = table.with_suffix(stem + ".rs") or table.with_suffix(stem + "/mod.rs")
            if hits:
                return hits[:1]
        return []
    if language == "java":
        return (
            table.with_suffix(imp.module.replace(".", "/") + "/" + imp.names[0][0] + ".java")[:1]
            if imp.names
            else []
        )
    if language in ("c", "cpp"):
        local = posixpath.normpath(posixpath.join(posixpath.dirname(current), imp.module))
        return [local] if local in table.paths else table.with_suffix(imp.module)[:1]
    return []
