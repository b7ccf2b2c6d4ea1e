"""Tree-sitter helpers: languages, definitions at a line, outlines, multi-line decisions."""

from __future__ import annotations

import pytest

from context.syntax.definitions import (
    enclosing_definition,
    language_for,
    outline,
    should_complete_multiline,
)

PYTHON = '''import os


@cache
def load(path: str, *, strict=False) -> dict:
    """Read it."""
    return {}


class Store:
    def put(self, key, value):
        def inner():
            return key
        return inner


def one(): return 1
'''


def test_language_from_path_and_language_id():
    assert language_for("a/b.py") == "python"
    assert language_for("x.tsx") == "tsx"
    assert language_for("x.h") == "c"
    assert language_for("x.hpp") == "cpp"
    assert language_for("x.txt") is None
    assert language_for("", "typescriptreact") == "tsx"
    assert language_for("file.js", "typescript") == "typescript"  # the client's languageId wins


def test_one_language_table_for_syntax_and_tags():
    from context.index.tags import extract_symbols
    from context.syntax.languages import GRAMMARS, get_parser, parse, tags_query

    assert language_for("x.c++") == language_for("x.CC") == "cpp"
    assert language_for("Makefile") is None and language_for("") is None
    assert language_for("notes.md", "plaintext") is None  # unknown both ways: None, never ""
    assert language_for("a.py", "rust") == "rust"  # the languageId wins over the extension
    assert language_for("a.py", "no-such-id") == "python"  # an unknown id falls back
    assert set(GRAMMARS) == set(language_for(f"x{e}") for e in (".py", ".js", ".ts", ".tsx",
        ".go", ".rs", ".java", ".c", ".cpp"))  # fmt: skip
    assert all(tags_query(name) is not None for name in GRAMMARS)  # wheel or our own .scm
    assert get_parser(None) is None and parse("x = 1", None) is None
    tree = parse(b"def f():\n    return 1\n", "python")  # text or bytes, the same tree
    assert str(tree.root_node) == str(parse("def f():\n    return 1\n", "python").root_node)
    symbols = extract_symbols("python", b"def f():\n    return 1\n", tree)
    assert [(s.name, s.kind, s.start_line) for s in symbols] == [("f", "function", 1)]
    assert extract_symbols(None, b"def f(): pass") == []


def test_python_decorated_function_with_docstring():
    d = enclosing_definition(PYTHON, "python", 6)
    assert (d.name, d.kind, d.start_line, d.header_line, d.end_line) == (
        "load",
        "function",
        3,
        4,
        6,
    )
    assert d.doc_lines == (5, 5)
    assert d.params == (("path", "str"), ("strict", ""))
    assert d.returns == "dict"
    assert d.signature.startswith("def load(path: str")


def test_python_innermost_definition_and_method_kind():
    inner = enclosing_definition(PYTHON, "python", 12)
    assert (inner.name, inner.kind) == ("inner", "function")
    method = enclosing_definition(PYTHON, "python", 13)
    assert (method.name, method.kind, method.indent) == ("put", "method", "    ")
    assert method.params == (("key", ""), ("value", ""))  # no self
    assert method.returns == ""  # returns a value, no annotation


def test_python_blank_line_between_definitions_is_outside():
    assert enclosing_definition(PYTHON, "python", 8) is None
    assert enclosing_definition(PYTHON, "python", 0) is None


def test_python_one_line_body():
    d = enclosing_definition(PYTHON, "python", 16)
    assert (
        d.name == "one"
        and d.one_line_body
        and d.body_start_character == PYTHON.split("\n")[16].index("return")
    )


def test_python_docstring_span_uses_character_columns():
    text = 'def f():\n    x = "é"; "not a docstring"\n\ndef g():\n    "héllo wörld"\n'
    assert enclosing_definition(text, "python", 1).doc_lines is None
    d = enclosing_definition(text, "python", 4)
    line = text.split("\n")[4]
    assert d.doc_span == (4, 4, 4, len(line))


JS = """/** Adds. */
export function add(a, b = 1, ...rest) {
  return a + b;
}

const twice = (x) => x * 2;

class Box {
  open(lid) {
    return;
  }
}
"""


def test_javascript_export_doc_comment_arrow_and_method():
    add = enclosing_definition(JS, "javascript", 2)
    assert (add.name, add.start_line, add.doc_lines) == ("add", 1, (0, 0))
    assert [p for p, _ in add.params] == ["a", "b", "rest"]
    assert enclosing_definition(JS, "javascript", 0).name == "add"  # on its doc comment
    twice = enclosing_definition(JS, "javascript", 5)
    assert (twice.name, twice.returns) == ("twice", "")
    method = enclosing_definition(JS, "javascript", 9)
    assert (method.name, method.kind, method.returns) == ("open", "method", None)


def test_typescript_parameter_types():
    text = "function greet(name: string, times?: number): void {\n  console.log(name);\n}\n"
    d = enclosing_definition(text, "typescript", 1)
    assert d.params == (("name", "string"), ("times", "number")) and d.returns is None


def test_go_doc_comment_and_receiver():
    text = "package m\n\n// Clamp limits v.\n// More.\nfunc Clamp(v, lo, hi int) int {\n\treturn v\n}\n\nfunc (s *S) Reset() {}\n"
    d = enclosing_definition(text, "go", 5)
    assert (d.name, d.doc_lines, d.returns) == ("Clamp", (2, 3), "int")
    assert [p for p, _ in d.params] == ["v", "lo", "hi"]
    reset = enclosing_definition(text, "go", 8)
    assert (reset.name, reset.kind, reset.params, reset.doc_lines) == ("Reset", "method", (), None)


def test_rust_attributes_belong_to_the_item():
    text = "/// Doc.\n#[inline]\npub fn area(w: u32, h: u32) -> u32 {\n    w * h\n}\n\nimpl Shape {\n    fn grow(&mut self, by: u32) {}\n}\n"
    d = enclosing_definition(text, "rust", 3)
    assert (d.name, d.start_line, d.header_line, d.doc_lines, d.returns) == (
        "area",
        1,
        2,
        (0, 0),
        "u32",
    )
    grow = enclosing_definition(text, "rust", 7)
    assert (grow.name, grow.kind, grow.params) == ("grow", "method", (("by", "u32"),))


def test_java_and_c_family():
    java = "class A {\n    /** Doc. */\n    @Override\n    public int size(int extra) {\n        return 1;\n    }\n}\n"
    d = enclosing_definition(java, "java", 4)
    assert (d.name, d.kind, d.doc_lines, d.returns, d.params) == (
        "size",
        "method",
        (1, 1),
        "int",
        (("extra", "int"),),
    )
    c = "// Makes a buffer.\nstatic char *make(int n) {\n  return 0;\n}\nvoid noop(void) {}\n"
    made = enclosing_definition(c, "c", 2)
    assert (made.name, made.doc_lines, made.params) == ("make", (0, 0), (("n", "int"),))
    assert made.returns is not None  # a pointer is returned
    assert enclosing_definition(c, "c", 4).returns is None
    cpp = "template <typename T>\nT twice(T x) {\n  return x + x;\n}\n"
    t = enclosing_definition(cpp, "cpp", 2)
    assert (t.name, t.start_line, t.header_line) == ("twice", 0, 1)


@pytest.mark.parametrize(
    ("language", "text", "name"),
    [
        ("python", "def f(x):\n    return x\n", "f"),
        ("javascript", "function f(x) {\n  return x;\n}\n", "f"),
        ("typescript", "function f(x: number): number {\n  return x;\n}\n", "f"),
        ("tsx", "function F() {\n  return <div />;\n}\n", "F"),
        ("go", "package p\nfunc f(x int) int {\n\treturn x\n}\n", "f"),
        ("rust", "fn f(x: i32) -> i32 {\n    x\n}\n", "f"),
        ("java", "class A {\n  int f(int x) {\n    return x;\n  }\n}\n", "f"),
        ("c", "int f(int x) {\n  return x;\n}\n", "f"),
        ("cpp", "int f(int x) {\n  return x;\n}\n", "f"),
    ],
)
def test_every_language_finds_its_function(language, text, name):
    body_line = next(
        i for i, line in enumerate(text.split("\n")) if "return" in line or line.strip() == "x"
    )
    assert enclosing_definition(text, language, body_line).name == name


def test_unknown_language_has_no_syntax():
    assert enclosing_definition("def f(): pass\n", None, 0) is None
    assert outline("def f(): pass\n", None) == ""
    assert should_complete_multiline("x", None, 0, 1) is None


def test_outline_of_a_huge_file_fits_the_budget():
    text = "".join(
        f"def f{i}(a, b):\n" + "    x = a\n" * 8 + "    return b\n\n" for i in range(1000)
    )
    shape = outline(text, "python", max_chars=2000)
    assert len(shape) <= 2100
    assert shape.startswith("1: def f0(a, b):")
    assert "more definitions" in shape
    window = outline(text, "python", 105, 130)  # each definition is 11 lines long
    assert [line.split(":")[0] for line in window.split("\n")] == ["100", "111", "122"]


def test_outline_nests_methods():
    shape = outline(PYTHON, "python")
    assert "11:   def put(self, key, value):" in shape.split("\n")


@pytest.mark.parametrize(
    ("language", "text", "line", "character", "expected"),
    [
        ("python", "def f(x):\n    \n", 1, 4, True),  # empty body
        ("python", "def f(x):\n    \n\ndef g():\n    pass\n", 1, 4, True),
        ("python", "def f(x):\n    y = 1\n    \n    return y\n", 2, 4, None),  # between statements
        ("python", "foo(a,\n    \n)\n", 1, 4, False),  # inside an argument list
        ("python", 'x = """abc\n   \ndef"""\n', 1, 3, False),  # inside a string
        ("python", "total = price * \n", 0, 16, False),  # mid-line expression
        ("javascript", "function f(a) {\n  \n}\n", 1, 2, True),
        ("javascript", "call(a,\n  \n);\n", 1, 2, False),
        ("go", "package p\nfunc f() {\n\t\n}\n", 2, 1, True),
        ("rust", 'fn f() {\n    let s = "ab";\n}\n', 1, 14, False),  # inside a string literal
    ],
)
def test_should_complete_multiline(language, text, line, character, expected):
    assert should_complete_multiline(text, language, line, character) is expected
