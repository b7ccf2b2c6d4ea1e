"""Explain and docstring services: targets, prompts within budget, edits that land in the
right place (pure, with a scripted backend).
"""

from __future__ import annotations

import ast
import concurrent.futures
import threading

import pytest

from context.assist.actions import (
    DOCSTRING,
    EXPLAIN,
    REPLACE_DOCSTRING,
    AssistSettings,
    actions_at,
    docstring_edit,
    explain,
    explain_edit,
    find_target,
)
from context.syntax.definitions import enclosing_definition, parse
from engine.types import CompletionError, ContextChunk
from tests.assist_sample import PY, apply


class ScriptedBackend:
    """Answers every chat with `reply`; counts tokens as characters/3; records prompts."""

    model_name = "scripted"

    def __init__(self, reply: str = "") -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 3

    def chat(self, messages, *, max_tokens, deadline_ms, cancel=None):
        self.prompts.append("\n".join(m["content"] for m in messages))
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        future.set_result(self.reply)
        return future


DOC_REPLY = "SUMMARY: Reads a JSON file over the defaults.\nPARAM path: the JSON file\nPARAM defaults: base values\nRETURNS: the merged mapping"


def test_find_target_definition_selection_and_blank_ground():
    target = find_target(PY, "python", 8, None)
    assert (target.start_line, target.end_line, target.definition.name) == (4, 9, "load")
    selection = find_target(PY, "python", 1, 3)  # blank edges are trimmed
    assert (selection.start_line, selection.end_line, selection.definition) == (3, 3, None)
    assert find_target(PY, "python", 1, None) is None
    assert find_target(PY, "python", 0, None).start_line == 0  # a top-level statement
    assert find_target(PY, "python", 99, None) is None


def test_python_docstring_lands_after_a_multiline_signature():
    backend = ScriptedBackend(DOC_REPLY)
    edit = docstring_edit(backend, PY, "cfg.py", 5)
    new = apply(PY, edit)
    method = ast.parse(new).body[1].body[0]
    doc = ast.get_docstring(method)
    assert doc.startswith("Reads a JSON file over the defaults.")
    assert "Args:\n    path: The JSON file.\n    defaults: Base values." in doc
    assert new.split("\n")[7] == '        """Reads a JSON file over the defaults.'
    assert new.replace(edit.new_text, "") == PY  # nothing else moved
    assert "def load(path," in backend.prompts[0] and "PARAM defaults:" in backend.prompts[0]


def test_python_docstring_follows_the_file_style_and_one_line_bodies():
    text = 'def a(x):\n    """A.\n\n    :param x: thing.\n    """\n\n\ndef b(y): return y\n'
    edit = docstring_edit(
        ScriptedBackend("SUMMARY: Echo y.\nPARAM y: the value\nRETURNS: y"), text, "m.py", 7
    )
    new = apply(text, edit)
    func = ast.parse(new).body[1]
    assert ast.get_docstring(func) == "Echo y.\n\n:param y: The value.\n:returns: Y."
    assert isinstance(func.body[1], ast.Return)


def test_python_docstring_at_end_of_file_and_crlf():
    text = "def f(a):\r\n    return a"
    edit = docstring_edit(
        ScriptedBackend("SUMMARY: Identity."), text.replace("\r\n", "\n"), "m.py", 0
    )
    assert apply(text.replace("\r\n", "\n"), edit) == 'def f(a):\n    """Identity."""\n    return a'
    crlf = docstring_edit(ScriptedBackend("SUMMARY: Identity."), text, "m.py", 0)
    assert apply(text, crlf) == 'def f(a):\r\n    """Identity."""\r\n    return a'
    bare = "def g():"
    assert (
        apply(bare, docstring_edit(ScriptedBackend("SUMMARY: G."), bare, "m.py", 0))
        == 'def g():\n    """G."""'
    )


def test_existing_docstring_is_replaced_only_when_asked():
    text = 'def f(x):\n    """Old."""\n    return x\n'
    backend = ScriptedBackend("SUMMARY: New one.")
    assert docstring_edit(backend, text, "m.py", 0) is None
    assert backend.prompts == []  # no model call when there is nothing to do
    new = apply(text, docstring_edit(backend, text, "m.py", 2, replace=True))
    assert new.count('"""') == 2 and ast.get_docstring(ast.parse(new).body[0]).startswith(
        "New one."
    )


def test_no_docstring_on_blank_lines_or_outside_definitions():
    backend = ScriptedBackend(DOC_REPLY)
    assert docstring_edit(backend, PY, "cfg.py", 10) is None  # blank line inside the class
    assert docstring_edit(backend, PY, "cfg.py", 0) is None  # import
    assert docstring_edit(backend, "some text\n", "notes.txt", 0) is None
    assert (
        docstring_edit(ScriptedBackend("I cannot help."), PY, "cfg.py", 5) is not None
    )  # lenient summary
    with pytest.raises(CompletionError, match="no answer within 30 s"):
        docstring_edit(ScriptedBackend(""), PY, "cfg.py", 5)  # nothing said: the deadline passed


JS = """import x from "x";

export function clamp(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}
"""


def test_jsdoc_lands_above_export():
    edit = docstring_edit(
        ScriptedBackend(
            "SUMMARY: Clamps v.\nPARAM v: value\nPARAM lo: low\nPARAM hi: high\nRETURNS: v in range"
        ),
        JS,
        "m.js",
        3,
    )
    new = apply(JS, edit)
    assert new.split("\n")[2:9] == [
        "/**", " * Clamps v.", " *", " * @param v - Value.", " * @param lo - Low.", " * @param hi - High.", " * @returns V in range.",
    ]  # fmt: skip
    assert enclosing_definition(new, "javascript", 11).doc_lines == (2, 9)


def test_go_and_rust_doc_comments_replace_old_ones():
    go = "package m\n\n// Clamp old.\nfunc Clamp(v, lo, hi int) int {\n\treturn v\n}\n"
    edit = docstring_edit(
        ScriptedBackend("SUMMARY: Limits v to [lo, hi]."), go, "m.go", 3, replace=True
    )
    assert (
        apply(go, edit)
        == "package m\n\n// Clamp limits v to [lo, hi].\nfunc Clamp(v, lo, hi int) int {\n\treturn v\n}\n"
    )
    rust = "impl A {\n    #[inline]\n    fn size(&self) -> usize {\n        1\n    }\n}\n"
    new = apply(rust, docstring_edit(ScriptedBackend("SUMMARY: The size."), rust, "a.rs", 2))
    assert new.split("\n")[1:3] == ["    /// The size.", "    #[inline]"]


def test_explain_edit_goes_above_decorators_at_the_code_indent():
    backend = ScriptedBackend(
        "```\nLoads **JSON** config and merges it over the defaults, so missing keys fall back.\n```"
    )
    edit = explain_edit(backend, PY, "cfg.py", 7)
    new = apply(PY, edit)
    lines = new.split("\n")
    inserted = edit.new_text.count("\n")
    assert (edit.start_line, edit.start_character) == (4, 0) and inserted >= 1
    assert lines[4].startswith("    # Loads JSON config") and all(
        ln.startswith("    # ") for ln in lines[4 : 4 + inserted]
    )
    assert lines[4 + inserted] == "    @staticmethod"
    assert all(len(line) <= 88 for line in lines)
    assert parse(new, "python").root_node.has_error is False


def test_explain_selection_and_markdown_cleanup():
    backend = ScriptedBackend("Explanation:\nIt reads `data` from a file.")
    text = explain(backend, PY, "cfg.py", 7, 8)
    assert text == "It reads `data` from a file."
    assert (
        "with open(path) as handle:" in backend.prompts[0]
        and "lines 8-9 of `cfg.py`" in backend.prompts[0]
    )


def test_explain_a_whole_huge_file_uses_the_outline_within_budget():
    text = "".join(
        f"def handler_{i}(request):\n"
        + "    value = request.get('x')\n" * 12
        + "    return value\n\n"
        for i in range(700)
    )
    assert text.count("\n") > 10000
    backend = ScriptedBackend("It defines many handlers.")
    settings = AssistSettings(code_tokens=1000)
    assert (
        explain(backend, text, "big.py", 0, text.count("\n"), settings=settings)
        == "It defines many handlers."
    )
    prompt = backend.prompts[0]
    assert "are too long to show" in prompt and "1: def handler_0(request):" in prompt
    assert backend.count_tokens(prompt) <= settings.code_tokens + 200


def test_explain_adds_repository_context_within_budget():
    chunks = [
        ContextChunk(path="lib/util.py", text="def helper():\n    return 1\n"),
        ContextChunk(path="big.py", text="x" * 9000),
    ]
    backend = ScriptedBackend("Uses helper.")
    explain(backend, PY, "cfg.py", 7, chunks=chunks)
    assert "`lib/util.py`" in backend.prompts[0] and "`big.py`" not in backend.prompts[0]


def test_cancelled_requests_return_nothing():
    cancel = threading.Event()
    cancel.set()
    backend = ScriptedBackend(DOC_REPLY)
    assert explain(backend, PY, "cfg.py", 7, cancel=cancel) == ""
    assert docstring_edit(backend, PY, "cfg.py", 5, cancel=cancel) is None
    assert backend.prompts == []


def test_actions_at():
    assert actions_at(PY, "cfg.py", 5) == [EXPLAIN, DOCSTRING]
    assert actions_at(PY, "cfg.py", 10) == [EXPLAIN]  # blank line inside the class: no docstring
    assert actions_at(PY, "cfg.py", 1) == []  # blank line at top level
    assert actions_at(PY, "cfg.py", 1, 0, 3) == [EXPLAIN]  # a selection can be explained
    with_doc = 'def f():\n    """Doc."""\n'
    assert actions_at(with_doc, "m.py", 0) == [EXPLAIN, REPLACE_DOCSTRING]
    assert actions_at("hello\n", "notes.txt", 0) == [EXPLAIN]


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("It reads the file. Then it merges the", "It reads the file."),
        ("- reads the file\n- merges the", "- reads the file"),
        ("Only a fragment without an end", "Only a fragment without an end"),
        ("Ends with code `x`", "Ends with code `x`"),
        ("Complete sentence.", "Complete sentence."),
    ],
)
def test_a_reply_cut_by_the_deadline_loses_its_last_fragment(reply, kept):
    assert explain(ScriptedBackend(reply), PY, "cfg.py", 7) == kept
