"""Explain and docstring services with the real model: the text is right in form and the
edit lands where it should.
"""

from __future__ import annotations

import ast

import pytest

from context.assist.actions import AssistSettings, docstring_edit, explain
from tests.assist_sample import PY, apply

SLOW = AssistSettings(
    deadline_ms=180000
)  # the format is under test, not the speed of a busy machine


GO = """package mathx

func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
"""


@pytest.mark.model
def test_model_python_docstring_lands_in_the_function(backend):
    edit = docstring_edit(backend, PY, "cfg.py", 5, settings=SLOW)
    new = apply(PY, edit)
    doc = ast.get_docstring(ast.parse(new).body[1].body[0])
    assert doc and len(doc.split("\n")[0]) > 10
    assert new.replace(edit.new_text, "") == PY


@pytest.mark.model
def test_model_go_doc_comment_lands_above_the_function(backend):
    new = apply(GO, docstring_edit(backend, GO, "m.go", 2, settings=SLOW))
    lines = new.split("\n")
    start = lines.index("func Clamp(v, lo, hi int) int {")
    assert lines[2].startswith("// Clamp ") and all(ln.startswith("//") for ln in lines[2:start])


@pytest.mark.model
def test_model_explanation_is_not_empty(backend):
    text = explain(backend, GO, "m.go", 2, settings=SLOW)
    assert len(text.split()) >= 5 and "```" not in text
