"""Ranking and budgeting of context candidates: pure functions, no I/O.

Candidates in, chosen `ContextChunk`s out: drop what repeats the cursor window, merge
duplicates, take the best that fit the token budget (counted with the model's own
tokenizer), and emit them in an order that does not depend on the scores, so that the
prompt prefix — and llama.cpp's KV cache — survives keystrokes that re-rank.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.types import ContextChunk, Tokenizer

# Emission order by source: the most cursor-specific sources come last, nearest the file.
SOURCE_ORDER = ("cochange", "git", "similar", "recent", "import", "definition")
REPEAT_SHARE = 0.5  # a chunk whose lines are at least this share of the window's is a repeat
CHUNK_OVERHEAD_TOKENS = 3  # the file separator marker and the path's newline


@dataclass(frozen=True)
class Candidate:
    """A piece of context proposed by one retrieval source (lines 1-based, inclusive)."""

    path: str
    text: str
    source: str
    start_line: int
    end_line: int
    score: float


@dataclass(frozen=True)
class CursorRegion:
    """What the prompt already shows: the current file's path, window lines and text."""

    path: str
    first_line: int  # 1-based, inclusive
    last_line: int  # 1-based, inclusive
    text: str


def _normal_lines(text: str) -> set[str]:
    """Lines compared for repetition: stripped, non-trivial ones only."""
    return {s for s in (ln.strip() for ln in text.split("\n")) if len(s) > 3}


def repeats_window(
    candidate: Candidate, region: CursorRegion, window_lines: set[str] | None = None
) -> bool:
    """True when the candidate shows what the cursor window already shows."""
    if (
        candidate.path == region.path
        and candidate.start_line <= region.last_line
        and candidate.end_line >= region.first_line
    ):
        return True
    lines = _normal_lines(candidate.text)
    if not lines:
        return True
    seen = window_lines if window_lines is not None else _normal_lines(region.text)
    return len(lines & seen) / len(lines) >= REPEAT_SHARE


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.path == b.path and a.start_line <= b.end_line and b.start_line <= a.end_line


def _order_key(c: Candidate) -> tuple:
    rank = SOURCE_ORDER.index(c.source) if c.source in SOURCE_ORDER else -1
    return (rank, c.path, c.start_line, c.end_line, c.text)


def dedupe(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Keep the best of candidates with the same text or overlapping lines of one file.

    Ties break on the stable order key, so the result does not depend on input order.
    """
    ordered = sorted(candidates, key=lambda c: (-c.score, _order_key(c)))
    kept: list[Candidate] = []
    texts: set[str] = set()
    for cand in ordered:
        key = cand.text.strip()
        if key in texts or any(_overlaps(cand, k) for k in kept):
            continue
        texts.add(key)
        kept.append(cand)
    return kept


def chunk_tokens(candidate: Candidate, tokenizer: Tokenizer) -> int:
    """Prompt tokens of a chunk as rendered: its path line, text and separator."""
    return (
        tokenizer.count_tokens(f"{candidate.path}\n{candidate.text.rstrip()}\n")
        + CHUNK_OVERHEAD_TOKENS
    )


def fill_budget(
    candidates: list[Candidate], budget: int, tokenizer: Tokenizer
) -> list[tuple[Candidate, int]]:
    """Greedy by score: every candidate that still fits, with its token cost."""
    chosen: list[tuple[Candidate, int]] = []
    left = budget
    for cand in sorted(candidates, key=lambda c: (-c.score, _order_key(c))):
        if left <= CHUNK_OVERHEAD_TOKENS:
            break
        cost = chunk_tokens(cand, tokenizer)
        if cost <= left:
            chosen.append((cand, cost))
            left -= cost
    return chosen


def stable_order(chosen: list[tuple[Candidate, int]]) -> list[tuple[Candidate, int]]:
    """Emission order: by source (fixed), then path and line — never by score."""
    return sorted(chosen, key=lambda item: _order_key(item[0]))


def rank_context(
    candidates: Iterable[Candidate],
    region: CursorRegion,
    budget: int,
    tokenizer: Tokenizer,
    *,
    min_score: float = 0.0,
) -> list[ContextChunk]:
    """Score-filter, drop repeats of the window, dedupe, fit `budget` tokens, order stably."""
    if budget <= 0:
        return []
    window_lines = _normal_lines(region.text)
    fresh = [
        c
        for c in candidates
        if c.score >= min_score and c.text.strip() and not repeats_window(c, region, window_lines)
    ]
    chosen = stable_order(fill_budget(dedupe(fresh), budget, tokenizer))
    return [
        ContextChunk(
            path=c.path,
            text=c.text.rstrip(),
            source=c.source,
            start_line=c.start_line,
            end_line=c.end_line,
            score=round(c.score, 4),
            tokens=cost,
        )
        for c, cost in chosen
    ]
