import pytest

from context.completion import decide_multiline
from context.window import SNAP_LINES, BudgetSettings, cursor_window


class Words:
    """A deterministic stand-in tokenizer: one token per whitespace-separated word + newline."""

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + text.count("\n")


def test_window_layout():
    text = "a = 1\nb = 2\nc = 3 + x\nd = 4\n"
    window = cursor_window(text, 2, 6, BudgetSettings(), Words())
    assert window.prefix == "a = 1\nb = 2\n"
    assert window.line_prefix == "c = 3 "
    assert window.suffix.startswith("+ x\nd = 4")
    assert window.previous_line == "b = 2"


def test_budget_cuts_prefix_and_snaps_to_grid():
    lines = [f"v{i} = {i}" for i in range(200)]
    text = "\n".join(lines)
    window = cursor_window(
        text, 150, 0, BudgetSettings(prefix_tokens=40, suffix_tokens=20), Words()
    )
    assert window.first_line % SNAP_LINES == 0
    assert window.prefix.count("\n") <= 10
    # Moving down one line keeps the same first line: the KV cache survives Enter.
    below = cursor_window(text, 151, 0, BudgetSettings(prefix_tokens=40, suffix_tokens=20), Words())
    assert below.first_line == window.first_line or below.first_line % SNAP_LINES == 0
    assert window.suffix.count("\n") <= 6


def test_positions_outside_raise():
    with pytest.raises(ValueError):
        cursor_window("x\n", 5, 0, BudgetSettings(), Words())
    with pytest.raises(ValueError):
        cursor_window("x\n", 0, 3, BudgetSettings(), Words())


def test_huge_single_line_is_cut():
    text = "x" * 5_000_000
    window = cursor_window(text, 0, 4_000_000, BudgetSettings(), Words())
    assert len(window.line_prefix) <= 4000 and len(window.suffix) <= 4000


def test_multiline_decision():
    body = cursor_window("def f(x):\n    \n", 1, 4, BudgetSettings(), Words())
    assert decide_multiline(body, "auto") is True
    expr = cursor_window("y = compute(\n", 0, 10, BudgetSettings(), Words())
    assert decide_multiline(expr, "auto") is False
    assert decide_multiline(expr, "always") is True and decide_multiline(body, "never") is False
