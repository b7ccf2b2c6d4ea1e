"""Stop rules, as a pure function over the text generated so far."""

from __future__ import annotations

from dataclasses import dataclass

from engine.types import StopPolicy

BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then")


@dataclass(frozen=True)
class StopDecision:
    """Where to cut the generated text and why; `reason` is empty while generation goes on."""

    reason: str
    keep: int  # number of characters of the text to keep


def indent_width(line: str, tab_size: int = 4) -> int:
    """Columns of leading whitespace, tabs counted as `tab_size`."""
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += tab_size
        else:
            break
    return width


def block_indent(line_prefix: str, previous_line: str = "") -> int:
    """Indentation a generated line may not fall below.

    The cursor's own line sets it. When the cursor follows a block opener (`def f():`,
    `if (x) {`), the new block is deeper, so lines back at the opener's level stop too.
    When the cursor's line is still blank, the previous line's opener counts.
    """
    if line_prefix.strip():
        base = indent_width(line_prefix)
        if line_prefix.rstrip().endswith(BLOCK_OPENERS):
            return base + 1
        return base
    base = indent_width(line_prefix)
    if previous_line.rstrip().endswith(BLOCK_OPENERS):
        return max(base, indent_width(previous_line) + 1)
    return base


def check_stop(text: str, policy: StopPolicy) -> StopDecision:
    """Decide whether generation should stop, given everything generated so far.

    Single-line mode stops at the first newline. Multi-line mode stops before a line
    that dedents below the cursor's block, at two blank lines in a row, and after
    `max_lines` lines. Stop strings cut wherever they appear.
    """
    for stop in policy.stop_strings:
        at = text.find(stop)
        if stop and at >= 0:
            return StopDecision("stop_string", at)
    newline = text.find("\n")
    if newline < 0:
        return StopDecision("", len(text))
    if not policy.multiline:
        return StopDecision("newline", newline)
    lines = text.split("\n")
    offset = len(lines[0]) + 1  # index where the current line starts
    last_content_end = len(lines[0])
    blank_run = 0
    for number, line in enumerate(lines[1:], start=2):
        complete = number < len(lines)
        if line.strip():
            blank_run = 0
            if indent_width(line) < policy.indent:
                return StopDecision("dedent", last_content_end)
            last_content_end = offset + len(line)
        elif complete:
            blank_run += 1
            if blank_run >= 2:
                return StopDecision("blank_lines", last_content_end)
        if complete and number >= policy.max_lines:
            return StopDecision("max_lines", offset + len(line))
        offset += len(line) + 1
    return StopDecision("", len(text))
