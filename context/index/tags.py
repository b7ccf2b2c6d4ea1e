"""Symbols from tree-sitter tags queries: name, kind, line range, signature.

Each language uses its grammar wheel's `TAGS_QUERY` where the wheel ships one; TypeScript
and TSX ship none, so theirs lives in `queries/typescript.scm` (data, not code). Parsers
are per thread (a tree-sitter parser is not safe to share); compiled queries are shared.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

QUERY_DIR = Path(__file__).with_name("queries")
SIGNATURE_MAX_LINES = 6
SIGNATURE_MAX_CHARS = 400
SMALL_TYPE_LINES = 15  # a type this short is shown whole (struct fields, enum members)
TYPE_KINDS = frozenset({"class", "type", "interface", "struct", "enum", "module"})

# extension → language name (the key of GRAMMARS)
EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
}
# language → (module, language function, tags query: "TAGS_QUERY" or a .scm file name)
GRAMMARS: dict[str, tuple[str, str, str]] = {
    "python": ("tree_sitter_python", "language", "TAGS_QUERY"),
    "javascript": ("tree_sitter_javascript", "language", "TAGS_QUERY"),
    "typescript": ("tree_sitter_typescript", "language_typescript", "typescript.scm"),
    "tsx": ("tree_sitter_typescript", "language_tsx", "typescript.scm"),
    "go": ("tree_sitter_go", "language", "TAGS_QUERY"),
    "rust": ("tree_sitter_rust", "language", "TAGS_QUERY"),
    "java": ("tree_sitter_java", "language", "TAGS_QUERY"),
    "c": ("tree_sitter_c", "language", "TAGS_QUERY"),
    "cpp": ("tree_sitter_cpp", "language", "TAGS_QUERY"),
}


@dataclass(frozen=True)
class Symbol:
    """A definition: lines are 1-based and inclusive; `signature` is its header text."""

    name: str
    kind: str
    start_line: int
    end_line: int
    signature: str


def language_for(path: str) -> str:
    """The tags language of a path by extension; "" for files indexed as plain text."""
    dot = path.rfind(".")
    return EXTENSIONS.get(path[dot:].lower(), "") if dot > path.rfind("/") else ""


_lock = threading.Lock()
_languages: dict[str, Any] = {}
_queries: dict[str, Any] = {}
_broken: set[str] = set()
_local = threading.local()


def load_language(lang: str) -> Any | None:
    """The tree-sitter Language for `lang`, or None when its wheel is missing or broken."""
    if lang in _languages or lang in _broken or lang not in GRAMMARS:
        return _languages.get(lang)
    with _lock:
        if lang in _languages or lang in _broken:
            return _languages.get(lang)
        try:
            from tree_sitter import Language, Query

            module_name, function, query_name = GRAMMARS[lang]
            module = importlib.import_module(module_name)
            language = Language(getattr(module, function)())
            if query_name.endswith(".scm"):
                source = (QUERY_DIR / query_name).read_text(encoding="utf-8")
            else:
                source = getattr(module, query_name)
            _queries[lang] = Query(language, source)
            _languages[lang] = language
        except Exception as error:  # a missing wheel costs that language its symbols only
            log.warning("no tree-sitter tags for %s: %s", lang, error)
            _broken.add(lang)
    return _languages.get(lang)


def parse(lang: str, source: bytes) -> Any | None:
    """Parse `source` with this thread's parser for `lang` (None when unavailable)."""
    language = load_language(lang)
    if language is None:
        return None
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(lang)
    if parser is None:
        from tree_sitter import Parser

        parser = parsers[lang] = Parser(language)
    return parser.parse(source)


def _line_start(source: bytes, offset: int) -> int:
    return source.rfind(b"\n", 0, offset) + 1


def _header_start(source: bytes, node: Any) -> int:
    """Start of the definition's header: back to the line start over modifiers (`export const`)."""
    start = _line_start(source, node.start_byte)
    before = source[start : node.start_byte]
    return start if not any(c in before for c in b"{(;=") else node.start_byte


def _body(node: Any) -> Any | None:
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    return body


def _trim(text: str, max_lines: int) -> str:
    lines = [ln.rstrip() for ln in text.rstrip().split("\n")]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [lines[0][: len(lines[0]) - len(lines[0].lstrip())] + "..."]
    joined = "\n".join(lines)
    return joined if len(joined) <= SIGNATURE_MAX_CHARS else joined[:SIGNATURE_MAX_CHARS] + "..."


def _has_functions(node: Any) -> bool:
    """True when a type's body holds methods: then it is shown as an outline instead."""
    body = _body(node) or node
    for child in body.named_children:
        kind = child.type
        if "function" in kind or "method" in kind or kind in ("decorated_definition", "impl_item"):
            return True
    return False


def signature_of(source: bytes, node: Any, kind: str) -> str:
    """Header of a definition: up to its body; a short type is kept whole."""
    start = _header_start(source, node)
    lines = node.end_point[0] - node.start_point[0] + 1
    if kind in TYPE_KINDS and lines <= SMALL_TYPE_LINES and not _has_functions(node):
        return _trim(
            source[start : node.end_byte].decode("utf-8", errors="replace"), SMALL_TYPE_LINES
        )
    body = _body(node)
    if body is not None and body.start_byte > node.start_byte:
        end = body.start_byte
        # Keep an opening brace on the header line; Python's ':' is before the body already.
        if source[end : end + 1] == b"{":
            end += 1
    else:
        end = source.find(b"\n", node.start_byte)
        end = node.end_byte if end < 0 else min(end, node.end_byte)
    return _trim(source[start:end].decode("utf-8", errors="replace"), SIGNATURE_MAX_LINES)


def extract_symbols(lang: str, source: bytes, tree: Any | None = None) -> list[Symbol]:
    """Definitions in `source` by the language's tags query; [] for plain text or failure.

    A file with syntax errors still yields what tree-sitter recovered.
    """
    if lang not in GRAMMARS:
        return []
    try:
        tree = tree or parse(lang, source)
        query = _queries.get(lang)
        if tree is None or query is None:
            return []
        from tree_sitter import QueryCursor

        matches = QueryCursor(query).matches(tree.root_node)
    except Exception as error:  # a parser crash must cost this file its symbols, no more
        log.warning("tags query failed (%s): %s", lang, error)
        return []
    found: dict[tuple[str, int], Symbol] = {}
    for _, captures in matches:
        kinds = [k for k in captures if k.startswith("definition.")]
        names = captures.get("name") or []
        if not kinds or not names or not captures[kinds[0]]:
            continue
        node = captures[kinds[0]][0]
        kind = kinds[0].split(".", 1)[1]
        name = (names[0].text or b"").decode("utf-8", errors="replace")
        symbol = Symbol(
            name=name,
            kind=kind,
            start_line=node.start_point[0] + 1,
            end_line=node.end_point[0] + 1,
            signature=signature_of(source, node, kind),
        )
        found.setdefault((name, symbol.start_line), symbol)
    return sorted(found.values(), key=lambda s: (s.start_line, s.name))
