"""The cursor window: prefix and suffix around the cursor, cut to token budgets.

Pure functions over text and a token counter. The prefix's first line is snapped to a
coarse grid so that moving down a line keeps the same start (and the KV cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.types import Tokenizer

SNAP_LINES = 16
MAX_LINE_CHARS = 4000  # a longer line is cut (minified or generated text)


@dataclass(frozen=True, kw_only=True)
class BudgetSettings:
    """Token budgets of the prompt around the cursor."""

    prefix_tokens: int = 1024  # file text before the cursor's line
    suffix_tokens: int = 384  # text after the cursor (rest of the line included)
    context_tokens: int = 256  # repository context in the prompt (0: none; where and when:
    # generation.contextPlacement / contextWhen)


@dataclass(frozen=True, kw_only=True)
class CursorWindow:
    """The text around the cursor and where it came from."""

    prefix: str
    line_prefix: str
    suffix: str
    previous_line: str
    first_line: int  # 0-based line where the prefix starts
    last_line: int  # 0-based line where the suffix ends (exclusive)


def split_lines(text: str) -> list[str]:
    r"""Lines as the LSP counts them: split at \n, \r\n or \r, terminators removed (a final
    line end gives a last empty line). The one splitter: documents, windows and the server.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _line_cost(line: str, budget: int, tokens: Tokenizer) -> int:
    """Tokens of one line with its newline; a line too long to ever fit is not tokenized."""
    if len(line) > budget * 8:
        return budget + 1
    return tokens.count_tokens(line + "\n")


def _prefix_start(lines: Sequence[str], line: int, budget: int, tokens: Tokenizer) -> int:
    """First line of the prefix: as far back as the budget allows, snapped forward."""
    used = 0
    start = line
    while start > 0:
        cost = _line_cost(lines[start - 1], budget, tokens)
        if used + cost > budget:
            break
        used += cost
        start -= 1
    if start == 0:
        return 0
    # Snap forward to the grid: the start moves only every SNAP_LINES lines.
    return min(line, -(-start // SNAP_LINES) * SNAP_LINES)


def _suffix_end(
    lines: Sequence[str], line: int, first_cost: int, budget: int, tokens: Tokenizer
) -> int:
    """Line after the last one of the suffix."""
    used = first_cost
    end = line + 1
    while end < len(lines):
        cost = _line_cost(lines[end], budget, tokens)
        if used + cost > budget:
            break
        used += cost
        end += 1
    return end


def cursor_window(
    text: str | Sequence[str],
    line: int,
    character: int,
    budgets: BudgetSettings,
    tokens: Tokenizer,
) -> CursorWindow:
    """Cut the prefix and suffix around (line, character), 0-based, in code points.

    `text` may be given as its lines (`split_lines`), as an open document keeps them: then
    only the lines the window needs are read. Raises ValueError when the position is
    outside the text.
    """
    lines = split_lines(text) if isinstance(text, str) else text
    if line < 0 or line >= len(lines):
        raise ValueError(f"line {line + 1} is outside the file (it has {len(lines)} lines)")
    current = lines[line]
    if character < 0 or character > len(current):
        raise ValueError(
            f"column {character + 1} is outside line {line + 1} (length {len(current)})"
        )
    start = _prefix_start(lines, line, budgets.prefix_tokens, tokens)
    rest = current[character:][:MAX_LINE_CHARS]
    end = _suffix_end(
        lines, line, _line_cost(rest, budgets.suffix_tokens, tokens), budgets.suffix_tokens, tokens
    )
    prefix = "".join(f"{ln}\n" for ln in lines[start:line])
    following = lines[line + 1 : end]
    suffix = rest + ("\n" + "\n".join(following) if following else "")
    if end < len(lines) and following:
        suffix += "\n"
    previous = next((lines[i] for i in range(line - 1, -1, -1) if lines[i].strip()), "")
    return CursorWindow(
        prefix=prefix,
        line_prefix=current[:character][-MAX_LINE_CHARS:],
        suffix=suffix,
        previous_line=previous,
        first_line=start,
        last_line=end,
    )
