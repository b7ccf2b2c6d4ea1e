"""Tree-sitter for the assist features: languages, definitions at a line, outlines, and
whether a completion at the cursor should span several lines.

Everything here is pure over the text it is given: the same text and position always
give the same answer, so an edit computed from it never lands somewhere else. Points
are 0-based; columns are Python string indices (the LSP layer converts).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from context.syntax.languages import (
    COMMENTS,
    DEFINITIONS,
    INLINE_CONTAINERS,
    LEADING_SIBLINGS,
    SCOPES,
    STRINGS,
    WRAPPERS,
    function_value,
    language_for,
    parameters_of,
    parse,
    return_type_of,
    utf8_len,
)
from context.syntax.languages import end_row as _end_row
from context.syntax.languages import node_text as _text

log = logging.getLogger(__name__)

__all__ = [
    "Definition", "enclosing_definition", "language_for", "outline", "parse",
    "should_complete_multiline",
]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Definition:
    """A function, method or type around a line, with the lines a doc edit needs.

    `start_line` includes decorators, attributes and `export`; `doc_lines` is the existing
    docstring (Python) or doc comment (above the definition) as an inclusive line range.
    """

    kind: str
    name: str
    language: str
    start_line: int
    header_line: int
    end_line: int
    signature: str
    body_start_line: int | None
    indent: str
    params: tuple[tuple[str, str], ...] = ()  # (name, type text or "")
    returns: str | None = None  # return type text, "" when it returns a value of no stated type
    doc_lines: tuple[int, int] | None = None
    doc_span: tuple[int, int, int, int] | None = None  # Python docstring: line, col, end line, col
    header_end_line: int = 0  # Python: the line of the `:` ending the header
    body_start_character: int = 0  # column of the first body character on `body_start_line`
    one_line_body: bool = False  # Python `def f(): pass`


def _is_definition(node, language: str) -> bool:
    kinds = DEFINITIONS.get(language, {})
    if node.type not in kinds:
        return False
    if node.type in ("lexical_declaration", "variable_declaration"):
        return function_value(node) is not None
    if node.type in ("struct_specifier", "class_specifier"):
        return node.child_by_field_name("body") is not None
    return True


def _unwrap(node, language: str):
    """(definition node, outer node) when `node` is a definition or wraps one."""
    outer = node
    while node.type in WRAPPERS:
        inner = node.child_by_field_name("definition") or node.child_by_field_name("declaration")
        if inner is None:
            inner = next((c for c in node.named_children if _is_definition(c, language)), None)
        if inner is None:
            return None, outer
        node = inner
    return (node, outer) if _is_definition(node, language) else (None, outer)


def _definition_path(root, line: int, language: str) -> list[tuple]:
    """(definition, outer) pairs containing `line`, outermost first; doc comments count."""
    found: list[tuple] = []
    node = root
    while True:
        children = node.named_children
        # The last child on the line: on `class A { m() {} }` that is the body, not the name.
        containing = [i for i, c in enumerate(children) if c.start_point.row <= line <= _end_row(c)]
        if not containing:
            return found
        nxt = children[containing[-1]]
        if nxt.type in COMMENTS | LEADING_SIBLINGS:
            nxt = _documented_after(children, containing[-1], language) or nxt
        definition, outer = _unwrap(nxt, language)
        if definition is not None:
            found.append((definition, outer))
            nxt = definition
        node = nxt


def _documented_after(children, index: int, language: str):
    """The definition a comment/attribute run starting at `index` sits directly above."""
    row = _end_row(children[index])
    for child in children[index + 1 :]:
        if child.start_point.row > row + 1:
            return None
        if child.type in COMMENTS | LEADING_SIBLINGS:
            row = _end_row(child)
            continue
        return child if _unwrap(child, language)[0] is not None else None
    return None


def _leading_start(outer) -> int:
    """First line of attributes/decorators written as siblings above `outer`."""
    start, sibling = outer.start_point.row, outer.prev_named_sibling
    while (
        sibling is not None and sibling.type in LEADING_SIBLINGS and _end_row(sibling) >= start - 1
    ):
        start, sibling = sibling.start_point.row, sibling.prev_named_sibling
    return start


def _doc_comment_lines(outer, start: int, language: str) -> tuple[int, int] | None:
    """Inclusive line range of the doc comment directly above a definition."""
    sibling = outer.prev_named_sibling
    while sibling is not None and sibling.type in LEADING_SIBLINGS:
        sibling = sibling.prev_named_sibling
    top, last = start, None
    while sibling is not None and sibling.type in COMMENTS and _end_row(sibling) >= top - 1:
        if not _is_doc_comment(_text(sibling), language):
            break
        last = _end_row(sibling) if last is None else last
        top = sibling.start_point.row
        sibling = sibling.prev_named_sibling
    return (top, last) if last is not None else None


def _is_doc_comment(comment: str, language: str) -> bool:
    if language in ("javascript", "typescript", "tsx", "java"):
        return comment.startswith("/**")
    if language == "rust":
        return comment.startswith(("///", "/**")) and not comment.startswith("////")
    return language in ("go", "c", "cpp")


def _python_docstring(body):
    """The docstring expression of a Python body, if its first statement is a string."""
    first = body.named_children[0] if body is not None and body.named_children else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    return first if first.named_children[0].type in ("string", "concatenated_string") else None


def _name_of(node, language: str) -> str:
    if node.type == "type_declaration":
        spec = next((c for c in node.named_children if c.type in ("type_spec", "type_alias")), None)
        return _text(spec.child_by_field_name("name")) if spec else ""
    if node.type == "impl_item":
        trait, kind = node.child_by_field_name("trait"), _text(node.child_by_field_name("type"))
        return f"{_text(trait)} for {kind}" if trait is not None else kind
    if node.type in ("lexical_declaration", "variable_declaration"):
        return _text(node.named_children[0].child_by_field_name("name"))
    name = node.child_by_field_name("name")
    if name is not None:
        return _text(name)
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.child_by_field_name("declarator") is not None:
        declarator = declarator.child_by_field_name("declarator")
    return _text(declarator)


def _body_of(node):
    if node.type in ("lexical_declaration", "variable_declaration"):
        value = function_value(node)
        return value.child_by_field_name("body") if value is not None else None
    return node.child_by_field_name("body")


def _column(lines: list[str], point) -> int:
    """A tree-sitter point's byte column as a string index on its line."""
    line = lines[point.row] if point.row < len(lines) else ""
    return len(line.encode("utf-8")[: point.column].decode("utf-8", errors="ignore"))


def _build(definition, outer, language: str, lines: list[str]) -> Definition:
    body = _body_of(definition)
    start = _leading_start(outer)
    body_start = body.start_point.row if body is not None else None
    head_end = body.start_byte if body is not None else definition.end_byte
    head = definition.text[: head_end - definition.start_byte].decode("utf-8", errors="replace")
    doc_lines = doc_span = None
    header_end = definition.start_point.row
    if language == "python" and body is not None:
        header_end = _header_end(definition, body)
        doc = _python_docstring(body)
        if doc is not None:
            doc_lines = (doc.start_point.row, _end_row(doc))
            doc_span = (
                doc.start_point.row,
                _column(lines, doc.start_point),
                doc.end_point.row,
                _column(lines, doc.end_point),
            )
    elif language != "python":
        doc_lines = _doc_comment_lines(outer, start, language)
    line = lines[start] if start < len(lines) else ""
    return Definition(
        kind=_kind(definition, language),
        name=_name_of(definition, language),
        language=language,
        start_line=start,
        header_line=definition.start_point.row,
        end_line=_end_row(definition),
        signature=" ".join(head.split())[:300],
        body_start_line=body_start,
        indent=line[: len(line) - len(line.lstrip())],
        params=parameters_of(definition, language),
        returns=return_type_of(definition, body, language),
        doc_lines=doc_lines,
        doc_span=doc_span,
        header_end_line=header_end,
        body_start_character=_column(lines, body.start_point) if body is not None else 0,
        one_line_body=language == "python"
        and body is not None
        and body.named_child_count > 0
        and body_start == header_end,
    )


def _header_end(definition, body) -> int:
    """Line of the `:` that ends a Python header."""
    colon = body.prev_sibling
    return colon.end_point.row if colon is not None else definition.start_point.row


def _kind(node, language: str) -> str:
    kind = DEFINITIONS[language][node.type]
    if kind == "function" and node.parent is not None:
        scope = (
            node.parent.parent
            if node.parent.type
            in ("block", "declaration_list", "field_declaration_list", "class_body")
            else None
        )
        if scope is not None and scope.type in SCOPES:
            return "method"
    return kind


def enclosing_definition(text: str, language: str | None, line: int) -> Definition | None:
    """The innermost function/class/method containing 0-based `line` (its doc comment and
    decorators count as part of it), or None.
    """
    tree = parse(text, language)
    if tree is None or language is None or line < 0:  # no language: parse gave no tree
        return None
    path = _definition_path(tree.root_node, line, language)
    if not path:
        return None
    definition, outer = path[-1]
    return _build(definition, outer, language, text.split("\n"))


def outline(
    text: str,
    language: str | None,
    start_line: int = 0,
    end_line: int | None = None,
    *,
    max_chars: int = 6000,
) -> str:
    """Signatures of the definitions between the lines, one per line with its 1-based line
    number and nesting, cut to `max_chars`; empty when there are none or no grammar.
    """
    tree = parse(text, language)
    if tree is None or language is None:  # no language: parse gave no tree
        return ""
    end = end_line if end_line is not None else text.count("\n")
    entries: list[str] = []

    def visit(node, depth: int) -> None:
        for child in node.named_children:
            if _end_row(child) < start_line or child.start_point.row > end:
                continue
            definition, _outer = _unwrap(child, language)
            if definition is None:
                if depth < 3 and child.type not in COMMENTS and child.named_child_count:
                    visit(child, depth)
                continue
            head = _build(definition, child, language, [])
            entries.append(f"{definition.start_point.row + 1}: {'  ' * depth}{head.signature}")
            body = _body_of(definition)
            if body is not None and depth < 2:
                visit(body, depth + 1)

    visit(tree.root_node, 0)
    return _cut_lines(entries, max_chars)


def _cut_lines(entries: list[str], max_chars: int) -> str:
    kept, used = [], 0
    for index, entry in enumerate(entries):
        if used + len(entry) + 1 > max_chars:
            kept.append(f"... ({len(entries) - index} more definitions)")
            break
        kept.append(entry)
        used += len(entry) + 1
    return "\n".join(kept)


_BLOCK_OPENERS = {
    "function_definition", "class_definition", "if_statement", "elif_clause", "else_clause",
    "for_statement", "while_statement", "with_statement", "try_statement", "except_clause",
    "finally_clause", "match_statement", "case_clause", "ERROR", "module", "block",
}  # fmt: skip
_CLOSERS = set(")]}>;,\"'`")


_SPACE = " \t\r\x0b\x0c"  # what bytes.strip() strips, but for "\n" (lines have none)


def should_complete_multiline(
    text: str,
    language: str | None,
    line: int,
    character: int,
    *,
    tree=None,
    lines: Sequence[str] | None = None,
) -> bool | None:
    """Tree-sitter's say on single- vs multi-line at the cursor, or None when it has none.

    Multi-line in an empty body (after a `:` header in Python or between `{` and its `}`);
    single-line inside a string or comment, inside an argument list, parameters or other
    expression, and mid-line. Other places (between statements) are left to the caller.
    `tree` may be a kept parse of exactly the text, and `lines` its lines split at newlines
    (an open document's): then nothing is parsed, split or encoded but the cursor's line.
    """
    lines = lines if lines is not None else text.split("\n")
    if tree is None:
        tree = parse(text if text or not lines else "\n".join(lines), language)
    if tree is None or not 0 <= line < len(lines):
        return None
    line_text = lines[line]
    before, after = line_text[:character], line_text[character:]
    cursor = (line, utf8_len(before))  # tree-sitter points: (row, UTF-8 byte column)
    root = tree.root_node
    if _inside(root, cursor, STRINGS | COMMENTS, strict=True):
        return False
    if before.strip():
        if after.strip() and not set(after.strip()) <= _CLOSERS:
            return False
        if before.rstrip().endswith(("{", ":", "(", "[", "=>")):
            return None  # a header or an opener at the end of the line: the caller's heuristic
        return False
    if after.strip() and not set(after.strip()) <= _CLOSERS:
        return False
    previous = _previous_token(root, lines, line, before)
    if previous is not None and _opens_empty_body(previous, lines, line, after, language):
        return True
    container = _nearest(root, cursor)
    return False if container in INLINE_CONTAINERS else None


def _previous_token(root, lines: Sequence[str], line: int, before: str):
    """The smallest node covering the last non-blank character before the cursor."""
    row, kept = line, before.rstrip(_SPACE)
    while not kept:
        row -= 1
        if row < 0:
            return None
        kept = lines[row].rstrip(_SPACE)
    end = utf8_len(kept)
    return root.descendant_for_point_range((row, end - 1), (row, end))


def _inside(root, point: tuple[int, int], types: set[str], *, strict: bool) -> bool:
    node = root.descendant_for_point_range(point, point)
    while node is not None:
        if node.type in types and (
            not strict or tuple(node.start_point) < point < tuple(node.end_point)
        ):
            return True
        node = node.parent
    return False


def _nearest(root, point: tuple[int, int]) -> str | None:
    """The type of the innermost inline container or block around `point`."""
    node = root.named_descendant_for_point_range(point, point)
    while node is not None:
        if node.type in INLINE_CONTAINERS and (
            tuple(node.start_point) < point < tuple(node.end_point)
        ):
            return node.type
        if node.type in (
            "block",
            "statement_block",
            "compound_statement",
            "class_body",
            "declaration_list",
        ):
            return node.type
        node = node.parent
    return None


def _first_after(lines: Sequence[str], line: int, after: str) -> str:
    """The first non-blank character after the cursor ("" when there is none)."""
    row, rest = line, after.lstrip(_SPACE)
    while not rest:
        row += 1
        if row >= len(lines):
            return ""
        rest = lines[row].lstrip(_SPACE)
    return rest[0]


def _opens_empty_body(
    previous, lines: Sequence[str], line: int, after: str, language: str | None
) -> bool:
    """The token before the cursor opens a body with nothing in it yet."""
    if previous.type == "{":
        return _first_after(lines, line, after) in ("}", "")
    if previous.type == ":" and language == "python" and previous.parent is not None:
        if previous.parent.type not in _BLOCK_OPENERS:
            return False
        row, column = previous.start_point
        header = lines[row].encode("utf-8", "surrogatepass")[:column]
        header_indent = len(header) - len(header.lstrip())
        following = (ln for ln in itertools.islice(lines, line + 1, None) if ln.strip(_SPACE))
        nxt = next(following, None)
        return nxt is None or len(nxt) - len(nxt.lstrip(_SPACE)) <= header_indent
    return False
