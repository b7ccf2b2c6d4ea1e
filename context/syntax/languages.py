"""The one language table: names, grammars, tags queries, and the node types that matter.

Every tree-sitter user in Cove (completion, assist, the index) goes through this module:
one table (file extension and LSP languageId to our language name; each language's
grammar and tags query), one grammar loader, one per-thread parser cache and one `parse`.
Tables are data: adding a language means adding a row here and its definition node types.
A missing grammar gives None ("no syntax"), never an exception.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

log = logging.getLogger(__name__)

# Our own tags queries, for grammars whose wheel ships none (data files, not code).
QUERY_DIR = Path(__file__).resolve().parents[1] / "index" / "queries"


@dataclass(frozen=True)
class Grammar:
    """Where a language's grammar and tags query come from."""

    module: str  # the grammar wheel's module
    function: str  # its function returning the grammar
    tags: str = "TAGS_QUERY"  # the module's attribute, or a `.scm` file in QUERY_DIR


GRAMMARS: dict[str, Grammar] = {
    "python": Grammar("tree_sitter_python", "language"),
    "javascript": Grammar("tree_sitter_javascript", "language"),
    "typescript": Grammar("tree_sitter_typescript", "language_typescript", "typescript.scm"),
    "tsx": Grammar("tree_sitter_typescript", "language_tsx", "typescript.scm"),
    "go": Grammar("tree_sitter_go", "language"),
    "rust": Grammar("tree_sitter_rust", "language"),
    "java": Grammar("tree_sitter_java", "language"),
    "c": Grammar("tree_sitter_c", "language"),
    "cpp": Grammar("tree_sitter_cpp", "language"),
}
EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".mts": "typescript",
    ".cts": "typescript", ".tsx": "tsx", ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
}  # fmt: skip
LANGUAGE_IDS = {  # LSP languageId -> our name
    "python": "python", "javascript": "javascript", "javascriptreact": "javascript",
    "typescript": "typescript", "typescriptreact": "tsx", "tsx": "tsx", "go": "go",
    "rust": "rust", "java": "java", "c": "c", "cpp": "cpp", "cuda-cpp": "cpp",
}  # fmt: skip


def language_for(path: str = "", language_id: str = "") -> str | None:
    """Our language name from an LSP languageId (it wins) or else a file path; None when unknown."""
    if language_id and language_id.lower() in LANGUAGE_IDS:
        return LANGUAGE_IDS[language_id.lower()]
    return EXTENSIONS.get(PurePath(path).suffix.lower()) if path else None


@functools.cache
def load_language(language: str) -> Any | None:
    """The compiled grammar (shared: a Language is immutable), or None when missing."""
    grammar = GRAMMARS.get(language)
    if grammar is None:
        return None
    try:
        import tree_sitter

        module = importlib.import_module(grammar.module)
        return tree_sitter.Language(getattr(module, grammar.function)())
    except Exception:  # a missing or incompatible grammar means "no syntax", not a crash
        log.warning("no tree-sitter grammar for %s", language, exc_info=True)
        return None


@functools.cache
def tags_query(language: str) -> Any | None:
    """The compiled tags query of `language`, its definition patterns only (shared), or None."""
    grammar, compiled = GRAMMARS.get(language), load_language(language)
    if grammar is None or compiled is None:
        return None
    try:
        from tree_sitter import Query

        if grammar.tags.endswith(".scm"):
            source = (QUERY_DIR / grammar.tags).read_text(encoding="utf-8")
        else:
            source = getattr(importlib.import_module(grammar.module), grammar.tags)
        query = Query(compiled, source)
        # Symbols need the definitions only: the reference patterns (calls, ...) would
        # match five times as often, each match a Python object the index throws away.
        encoded = source.encode("utf-8")
        for pattern in range(query.pattern_count):
            text = encoded[
                query.start_byte_for_pattern(pattern) : query.end_byte_for_pattern(pattern)
            ]
            if b"@definition." not in text:
                query.disable_pattern(pattern)
        return query
    except Exception as error:  # a broken query costs that language its symbols only
        log.warning("no tree-sitter tags for %s: %s", language, error)
        return None


_local = threading.local()  # a tree-sitter parser must not be shared between threads


def get_parser(language: str | None) -> Any | None:
    """The calling thread's tree-sitter parser for `language` (None: no grammar)."""
    if language not in GRAMMARS:
        return None
    parsers = _local.__dict__.setdefault("parsers", {})
    if language not in parsers:
        grammar = load_language(language)
        if grammar is None:
            return None
        import tree_sitter

        parsers[language] = tree_sitter.Parser(grammar)
    return parsers[language]


def utf8_len(text: str) -> int:
    """Bytes of `text` in UTF-8, as `parse` encodes it (tree-sitter columns are bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def parse(source: str | bytes, language: str | None, old_tree: Any = None) -> Any | None:
    """The syntax tree of `source` (text or UTF-8 bytes), or None for an unknown language.

    `old_tree`: an earlier tree of this document with `tree.edit(...)` applied for every
    change since; tree-sitter then re-parses only what changed.
    """
    parser = get_parser(language)
    if parser is None:
        return None
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    return parser.parse(data, old_tree) if old_tree is not None else parser.parse(data)


_JS_DEFS = {
    "function_declaration": "function", "generator_function_declaration": "function",
    "class_declaration": "class", "method_definition": "method", "lexical_declaration": "function",
    "variable_declaration": "function",
}  # fmt: skip
_TS_DEFS = _JS_DEFS | {
    "abstract_class_declaration": "class", "interface_declaration": "interface",
    "enum_declaration": "enum", "type_alias_declaration": "type", "function_signature": "function",
    "method_signature": "method", "abstract_method_signature": "method",
}  # fmt: skip
DEFINITIONS: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "javascript": _JS_DEFS, "typescript": _TS_DEFS, "tsx": _TS_DEFS,
    "go": {
        "function_declaration": "function", "method_declaration": "method", "type_declaration": "type",
    },
    "rust": {
        "function_item": "function", "function_signature_item": "function", "struct_item": "struct",
        "enum_item": "enum", "trait_item": "trait", "impl_item": "impl",
    },
    "java": {
        "method_declaration": "method", "constructor_declaration": "constructor",
        "class_declaration": "class", "interface_declaration": "interface",
        "enum_declaration": "enum", "record_declaration": "record",
    },
    "c": {"function_definition": "function", "struct_specifier": "struct"},
    "cpp": {
        "function_definition": "function", "class_specifier": "class", "struct_specifier": "struct",
    },
}  # fmt: skip
# Nodes that wrap a definition and belong to it (decorators, export, template<>).
WRAPPERS = {"decorated_definition", "export_statement", "template_declaration"}
# Siblings just above a definition that belong to it (Rust attributes, JS member decorators).
LEADING_SIBLINGS = {"attribute_item", "decorator"}
COMMENTS = {"comment", "line_comment", "block_comment"}
STRINGS = {
    "string", "string_content", "template_string", "raw_string_literal", "string_literal",
    "interpreted_string_literal", "char_literal", "character_literal", "concatenated_string",
    "text_block", "string_fragment",
}  # fmt: skip
INLINE_CONTAINERS = {
    "argument_list", "arguments", "parameters", "formal_parameters", "parameter_list",
    "type_arguments", "type_parameters", "subscript", "list", "tuple", "array",
    "parenthesized_expression", "binary_expression", "boolean_operator", "call_expression",
    "generator_expression", "list_comprehension", "dictionary", "set", "object",
    "initializer_list", "array_expression", "tuple_expression", "composite_literal",
    "literal_value", "expression_list",
}  # fmt: skip
SCOPES = {"class_definition", "class_declaration", "class_specifier", "impl_item", "trait_item",
           "interface_declaration", "struct_specifier", "abstract_class_declaration"}  # fmt: skip


def node_text(node) -> str:
    """A node's source text (empty for None)."""
    return node.text.decode("utf-8", errors="replace") if node is not None else ""


def end_row(node) -> int:
    """Last line a node really covers (a node ending at column 0 ends on the line before)."""
    row = node.end_point.row
    return row - 1 if node.end_point.column == 0 and row > node.start_point.row else row


def function_value(node):
    """`const f = () => ...`: the function assigned by a JS declaration."""
    for declarator in node.named_children:
        value = declarator.child_by_field_name("value")
        if value is not None and value.type in (
            "arrow_function",
            "function_expression",
            "function",
        ):
            return value
    return None


_NAMES = {
    "identifier", "field_identifier", "shorthand_property_identifier_pattern", "list_splat_pattern",
    "dictionary_splat_pattern",
}  # fmt: skip
_NESTED_SCOPES = {
    "function_definition", "class_definition", "lambda", "function_declaration",
    "function_expression", "arrow_function", "method_definition", "class_declaration",
    "func_literal", "closure_expression", "function_item", "lambda_expression",
}  # fmt: skip


def _parameter_list(node, language: str):
    if node.type in ("lexical_declaration", "variable_declaration"):
        node = function_value(node)
    params = node.child_by_field_name("parameters") if node is not None else None
    if params is None and node is not None and language in ("c", "cpp"):
        declarator = node.child_by_field_name("declarator")
        while declarator is not None and declarator.type != "function_declarator":
            declarator = declarator.child_by_field_name("declarator")
        params = declarator.child_by_field_name("parameters") if declarator is not None else None
    if params is None and node is not None and node.type == "arrow_function":
        return node.child_by_field_name("parameter")
    return params


def _param_names(param) -> list[str]:
    if param.type in _NAMES:
        return [node_text(param)]
    if param.type in (
        "parameter_declaration",
        "variadic_parameter_declaration",
    ) and param.children_by_field_name("name"):
        return [node_text(n) for n in param.children_by_field_name("name")]  # Go: `a, b int`
    for field in ("name", "pattern", "declarator", "left"):
        child = param.child_by_field_name(field)
        if child is not None:
            return _param_names(child)[:1]
    named = [c for c in param.named_children if c.type in _NAMES or c.type == "variable_declarator"]
    return _param_names(named[0])[:1] if named else []


def parameters_of(node, language: str) -> tuple[tuple[str, str], ...]:
    """(name, type text) of each parameter of a function definition; no self/cls/receiver."""
    params = _parameter_list(node, language)
    if params is None:
        return ()
    items = (
        [params]
        if params.type in _NAMES
        else [p for p in params.named_children if p.type not in COMMENTS]
    )
    found: list[tuple[str, str]] = []
    for param in items:
        kind = node_text(param.child_by_field_name("type")).lstrip(":").strip()
        found.extend((name, kind) for name in _param_names(param))
    if language == "python" and found and found[0][0] in ("self", "cls"):
        found = found[1:]
    return tuple(found)


def _returns_value(body) -> bool:
    """Whether a body has `return <value>` outside nested functions and classes."""
    stack = [body] if body is not None else []
    while stack:
        node = stack.pop()
        if node.type in ("return_statement", "return_expression") and any(
            c.type not in COMMENTS for c in node.named_children
        ):
            return True
        stack.extend(c for c in node.named_children if c.type not in _NESTED_SCOPES)
    return False


def return_type_of(node, body, language: str) -> str | None:
    """The declared return type, "" when a value is returned without one, None for none."""
    if DEFINITIONS[language][node.type] not in ("function", "method"):
        return None
    field = {"go": "result", "java": "type", "c": "type", "cpp": "type"}.get(
        language, "return_type"
    )
    declared = node.child_by_field_name(field)
    if node.type in ("lexical_declaration", "variable_declaration"):
        value = function_value(node)
        declared = value.child_by_field_name("return_type") if value is not None else None
    kind = node_text(declared).lstrip(":").strip() if declared is not None else ""
    pointer = (
        language in ("c", "cpp")
        and (node.child_by_field_name("declarator") or node).type == "pointer_declarator"
    )
    if (
        body is not None
        and body.type not in ("statement_block", "block")
        and node.type in ("lexical_declaration", "variable_declaration")
    ):
        return kind  # `(x) => x + 1` returns its expression
    if kind in ("None", "void", "()", "Promise<void>") and not pointer:
        return None
    if kind:
        return kind + ("*" if pointer else "")
    if language in ("go", "rust", "java", "c", "cpp"):
        return None
    return "" if _returns_value(body) else None
