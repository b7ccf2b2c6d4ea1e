"""Comment syntax, wrapping, docstring style detection and rendering (pure)."""

from __future__ import annotations

import ast

import pytest

from context.syntax.comments import (
    DocParts,
    detect_docstring_style,
    detect_line_length,
    detect_quote,
    parse_doc_reply,
    plain_text,
    render_doc_comment,
    render_python_docstring,
    sentence,
    wrap_comment,
)

LONG_TEXT = (
    "This function reads the configuration file given by path, merges it over the defaults "
    "and returns the merged mapping so that callers always see every key, even the ones the "
    "user did not set."
)


def _lines_of(width: int, count: int) -> str:
    return "".join("x = " + "a" * (width - 4) + "\n" for _ in range(count)) + "y = 1\n" * 50


def test_line_length_defaults_when_the_file_says_nothing():
    assert detect_line_length("x = 1\n", "python") == 88
    assert detect_line_length("let x = 1;\n", "javascript") == 100
    assert detect_line_length("", "rust") == 100


@pytest.mark.parametrize(
    ("longest", "expected"), [(77, 79), (85, 88), (97, 100), (110, 120), (300, 120)]
)
def test_line_length_snaps_to_the_smallest_limit_the_file_respects(longest, expected):
    assert detect_line_length(_lines_of(longest, 10), "python") == expected


def test_line_length_ignores_a_rare_outlier():
    text = _lines_of(86, 200) + "url = '" + "u" * 200 + "'\n"
    assert detect_line_length(text, "python") == 88


def test_wrap_comment_respects_width_indent_and_keeps_every_word():
    block = wrap_comment(LONG_TEXT, "python", "    ", 60)
    lines = block.split("\n")[:-1]
    assert block.endswith("\n") and len(lines) > 2
    assert all(line.startswith("    # ") and len(line) <= 60 for line in lines)
    assert " ".join(line[6:] for line in lines) == LONG_TEXT


def test_wrap_comment_lists_markdown_and_crlf():
    text = "## Overview\n\n**Reads** the file.\n\n- first item that is rather long and will have to wrap around\n- second"
    block = wrap_comment(text, "go", "\t", 40, newline="\r\n")
    lines = block.split("\r\n")[:-1]
    assert lines[0] == "\t// Overview" and lines[1] == "\t//" and lines[2] == "\t// Reads the file."
    assert lines[4].startswith("\t// - first") and lines[5].startswith("\t//   ")  # hanging indent
    assert lines[-1] == "\t// - second"
    assert "\n" not in block.replace("\r\n", "")


def test_plain_text_drops_fences_and_emphasis():
    assert plain_text("# Title\n```python\nx = 1\n```\n__bold__ text") == "Title\nx = 1\nbold text"


@pytest.mark.parametrize(
    ("docstring", "style"),
    [
        (
            '"""Do it.\n\n    Args:\n        x: thing.\n\n    Returns:\n        other.\n    """',
            "google",
        ),
        (
            '"""Do it.\n\n    Parameters\n    ----------\n    x : int\n        thing.\n    """',
            "numpy",
        ),
        ('"""Do it.\n\n    :param x: thing.\n    :returns: other.\n    """', "rest"),
        ('"""Just a summary."""', None),
    ],
)
def test_docstring_style_detection(docstring, style):
    text = f"def f(x):\n    {docstring}\n    return x\n"
    assert detect_docstring_style(text) == style


def test_quote_detection():
    assert detect_quote("def f():\n    '''Doc.'''\n") == "'''"
    assert detect_quote("x = 1\n") == '"""'


PARTS = DocParts(
    summary="merge the config over defaults",
    params=(("path", "the file to read"), ("defaults", "base values")),
    returns="the merged mapping",
)


def _docstring_of(block: str) -> str:
    source = "def load(path, defaults):\n" + block + "    return {}\n"
    return ast.get_docstring(ast.parse(source).body[0])


@pytest.mark.parametrize(
    ("style", "expected_lines"),
    [
        ("google", ["Args:", "    path: The file to read.", "Returns:", "    The merged mapping."]),
        (
            "numpy",
            [
                "Parameters",
                "----------",
                "path : str",
                "    The file to read.",
                "Returns",
                "-------",
                "dict",
            ],
        ),
        ("rest", [":param path: The file to read.", ":returns: The merged mapping."]),
    ],
)
def test_python_docstring_styles_are_valid_python(style, expected_lines):
    block = render_python_docstring(
        PARTS, indent="    ", width=88, style=style, types={"path": "str"}, returns_type="dict"
    )
    doc = _docstring_of(block)
    assert doc.startswith("Merge the config over defaults.")
    for line in expected_lines:
        assert line in doc.split("\n")
    assert all(len(line) <= 88 for line in block.split("\n"))


def test_python_docstring_one_liner_and_quote():
    block = render_python_docstring(
        DocParts(summary="say hello"), indent="        ", width=88, quote="'''"
    )
    assert block == "        '''Say hello.'''\n"


def test_python_docstring_wraps_long_summary_and_descriptions():
    parts = DocParts(summary=LONG_TEXT, params=(("path", LONG_TEXT),))
    block = render_python_docstring(parts, indent="    ", width=70)
    assert all(len(line) <= 70 for line in block.split("\n"))
    assert " ".join(_docstring_of(block).split()).startswith(LONG_TEXT[:60])


def test_jsdoc_java_and_c_doc_comments():
    js = render_doc_comment(PARTS, "typescript", name="load", indent="  ", width=100)
    lines = js.split("\n")[:-1]
    assert lines[0] == "  /**" and lines[-1] == "   */"  # stars aligned under the first `*`
    assert lines[1] == "   * Merge the config over defaults."
    assert (
        "   * @param path - The file to read." in lines
        and "   * @returns The merged mapping." in lines
    )
    java = render_doc_comment(PARTS, "java", name="load", indent="", width=100)
    assert " * @param defaults Base values." in java and " * @return The merged mapping." in java


def test_go_doc_comment_starts_with_the_name():
    go = render_doc_comment(
        DocParts(summary="Returns v limited to [lo, hi]"), "go", name="Clamp", indent="", width=100
    )
    assert go == "// Clamp returns v limited to [lo, hi].\n"
    kept = render_doc_comment(
        DocParts(summary="Clamp limits v"), "go", name="Clamp", indent="", width=100
    )
    assert kept == "// Clamp limits v.\n"


def test_rust_doc_comment():
    rust = render_doc_comment(
        DocParts(summary="area of the rectangle", details="Width times height."),
        "rust",
        name="area",
        indent="    ",
        width=100,
    )
    assert rust == "    /// Area of the rectangle.\n    ///\n    /// Width times height.\n"


def test_parse_doc_reply_in_format():
    reply = "SUMMARY: Loads the config.\nPARAM path: the file\nPARAM defaults: base values\nRETURNS: merged dict"
    parts = parse_doc_reply(reply, ["path", "defaults"])
    assert parts.summary == "Loads the config."
    assert parts.params == (("path", "The file."), ("defaults", "Base values."))
    assert parts.returns == "Merged dict."


def test_parse_doc_reply_is_lenient():
    reply = "```\n**SUMMARY:** Loads it.\n- PARAM `path`: where\nPARAM bogus: invented\nPARAM: defaults: base\n```"
    parts = parse_doc_reply(reply, ["path", "defaults", "*args"])
    assert parts.summary == "Loads it."
    assert dict(parts.params) == {"path": "Where.", "defaults": "Base."}
    free = parse_doc_reply("This function loads the config. It is fast.", ["path"])
    assert free.summary == "This function loads the config." and free.params == ()


def test_sentence():
    assert sentence('  "returns `x`"  ') == "Returns `x`."
    assert sentence("Done!") == "Done!"
    assert sentence("   ") == ""
