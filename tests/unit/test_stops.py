"""Stop and indentation rules against golden cases kept as data (golden/stops.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.stops import block_indent, check_stop, indent_width
from engine.types import StopPolicy

GOLDEN = tomllib.loads((Path(__file__).parent / "golden" / "stops.toml").read_text("utf-8"))


def policy_of(fields: dict) -> StopPolicy:
    """A StopPolicy from a case's fields (TOML lists become tuples)."""
    return StopPolicy(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


@pytest.mark.parametrize("case", GOLDEN["check_stop"], ids=lambda case: case["name"])
def test_check_stop(case):
    text = case["text"]
    decision = check_stop(text, policy_of(case["policy"]))
    assert decision.reason == case["reason"]
    if "kept" in case:
        assert text[: decision.keep] == case["kept"]


@pytest.mark.parametrize("case", GOLDEN["block_indent"], ids=lambda case: case["name"])
def test_block_indent(case):
    assert block_indent(case["line_prefix"], case.get("previous_line", "")) == case["expected"]


@pytest.mark.parametrize("case", GOLDEN["indent_width"], ids=lambda case: case["name"])
def test_indent_width(case):
    assert indent_width(case["line"]) == case["expected"]
