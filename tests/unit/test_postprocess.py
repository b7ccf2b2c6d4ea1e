"""Post-processing against golden cases kept as data (golden/postprocess.toml), the way
Tabby keeps its filters' cases: a document with the cursor marked, the model's text, the
suggestion expected.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.postprocess import align_to_cursor, postprocess

GOLDEN = tomllib.loads((Path(__file__).parent / "golden" / "postprocess.toml").read_text("utf-8"))
CURSOR = "║"


def at_cursor(document: str) -> dict[str, str]:
    """The line up to the cursor, the text after it, and the line before the cursor's line."""
    assert document.count(CURSOR) == 1, f"one {CURSOR} per document: {document!r}"
    before, suffix = document.split(CURSOR)
    lines = before.split("\n")
    previous_line = lines[-2] if len(lines) > 1 else ""
    return {"line_prefix": lines[-1], "suffix": suffix, "previous_line": previous_line}


@pytest.mark.parametrize("case", GOLDEN["postprocess"], ids=lambda case: case["name"])
def test_postprocess(case):
    special_tokens = tuple(case.get("special_tokens", ()))
    got = postprocess(
        case["completion"], special_tokens=special_tokens, **at_cursor(case["document"])
    )
    assert got == case["expected"]


@pytest.mark.parametrize("case", GOLDEN["align"], ids=lambda case: case["name"])
def test_align_to_cursor(case):
    got = align_to_cursor(case["completion"], case["continued"], case["line_prefix"])
    assert got == case["expected"]
