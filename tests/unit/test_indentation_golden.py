"""A cursor on a line of indentation only, held or not: golden cases (golden/indentation.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.postprocess import align_to_cursor, postprocess
from engine.stops import block_indent, check_stop
from engine.templates import QWEN, continued_line, healed_tail, middle_seed, render_prompt
from engine.types import FimInput, StopPolicy

CASES = tomllib.loads((Path(__file__).parent / "golden" / "indentation.toml").read_text("utf-8"))


def previous_line(prefix: str) -> str:
    """The last non-blank line before the cursor's line."""
    return next((ln for ln in reversed(prefix.split("\n")) if ln.strip()), "")


@pytest.mark.parametrize("case", CASES["case"], ids=lambda case: case["name"])
def test_indentation_only_line(case):
    fim = FimInput(
        prefix=case["prefix"],
        line_prefix=case["line_prefix"],
        suffix=case["suffix"],
        indentation=case["indentation"],
    )
    heal = healed_tail(QWEN, fim)
    assert heal == case["heal"]
    # The prompt ends with the newline and what is kept of the line: nothing ("model"), or
    # the indentation but its last blank ("hold"), the way the tokenizer splits such a line.
    kept = fim.line_prefix[:-1] if fim.indentation == "hold" else ""
    assert middle_seed(QWEN, fim) == ("\n" if fim.prefix else "") + kept
    assert render_prompt(QWEN, fim).endswith("<|fim_middle|>" + middle_seed(QWEN, fim))
    model = case["model"]
    assert model.startswith(heal)  # what the healing backend guarantees
    if heal:
        assert model[len(heal) : len(heal) + 1] not in (" ", "\t")  # and no blank after it
    multiline = case.get("multiline", False)
    previous = previous_line(fim.prefix)
    policy = StopPolicy(
        multiline=multiline, indent=block_indent(fim.line_prefix, previous) if multiline else 0
    )
    text = model[: check_stop(model, policy).keep]
    suggestion = postprocess(
        align_to_cursor(text, continued_line(QWEN, fim), fim.line_prefix),
        line_prefix=fim.line_prefix,
        suffix=fim.suffix,
        previous_line=previous,
    )
    assert suggestion == case["expected"]
