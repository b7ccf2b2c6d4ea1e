"""Symbols from tree-sitter tags queries: name, kind, line range, signature.

Languages, grammars, parsers and the compiled tags queries (each grammar wheel's
`TAGS_QUERY`, or ours in `queries/*.scm` where a wheel ships none) come from the one
language table, `context.syntax.languages`; this module only turns query matches into
`Symbol`s.
"""

from __future__ import annotations

import logging
import operator
import re
from dataclasses import dataclass
from typing import Any

from context.syntax.languages import parse, tags_query

log = logging.getLogger(__name__)

SIGNATURE_MAX_LINES = 6
SIGNATURE_MAX_CHARS = 400
SMALL_TYPE_LINES = 15  # a type this short is shown whole (struct fields, enum members)
TYPE_KINDS = frozenset({"class", "type", "interface", "struct", "enum", "module"})
HEADER_STOPS = re.compile(rb"[{(;=]")  # before the node on its line: not a modifier
SYMBOL_ORDER = operator.attrgetter("start_line", "name")


@dataclass(frozen=True)
class Symbol:
    """A definition: lines are 1-based and inclusive; `signature` is its header text."""

    name: str
    kind: str
    start_line: int
    end_line: int
    signature: str


def _line_start(source: bytes, offset: int) -> int:
    return source.rfind(b"\n", 0, offset) + 1


def _header_start(source: bytes, node: Any) -> int:
    """Start of the definition's header: back to the line start over modifiers (`export const`)."""
    offset = node.start_byte
    start = _line_start(source, offset)
    return start if HEADER_STOPS.search(source, start, offset) is None else offset


def _body(node: Any) -> Any | None:
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    return body


def _trim(text: str, max_lines: int) -> str:
    text = text.rstrip()
    if "\n" not in text and len(text) <= SIGNATURE_MAX_CHARS:
        return text  # one short line, most headers: what the general case below gives
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


def signature_of(source: bytes, node: Any, kind: str, lines: int | None = None) -> str:
    """Header of a definition: up to its body; a short type is kept whole.

    `lines`: the node's line count, when the caller has it already.
    """
    start = _header_start(source, node)
    if lines is None:
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


def extract_symbols(lang: str | None, source: bytes, tree: Any | None = None) -> list[Symbol]:
    """Definitions in `source` by the language's tags query; [] for plain text or failure.

    `tree` may be a parse of exactly `source`. A file with syntax errors still yields
    what tree-sitter recovered.
    """
    query = tags_query(lang) if lang else None
    if query is None:
        return []
    try:
        tree = tree or parse(source, lang)
        if tree is None:
            return []
        from tree_sitter import QueryCursor

        matches = QueryCursor(query).matches(tree.root_node)
    except Exception as error:  # a parser crash must cost this file its symbols, no more
        log.warning("tags query failed (%s): %s", lang, error)
        return []
    found: dict[tuple[str, int], Symbol] = {}
    for _, captures in matches:
        capture = next((k for k in captures if k.startswith("definition.")), "")
        names = captures.get("name")
        nodes = captures.get(capture) if capture else None
        if not names or not nodes:
            continue
        node = nodes[0]
        kind = capture.split(".", 1)[1]
        name = (names[0].text or b"").decode("utf-8", errors="replace")
        start_line, end_line = node.start_point[0] + 1, node.end_point[0] + 1
        if (name, start_line) in found:
            continue  # the first match of a definition wins; its header is not needed twice
        found[name, start_line] = Symbol(
            name=name,
            kind=kind,
            start_line=start_line,
            end_line=end_line,
            signature=signature_of(source, node, kind, end_line - start_line + 1),
        )
    return sorted(found.values(), key=SYMBOL_ORDER)
