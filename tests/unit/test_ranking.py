"""Ranking and budgeting: pure functions over candidates and a fake tokenizer."""

from __future__ import annotations

import random

from context.retrieval.ranking import (
    CHUNK_OVERHEAD_TOKENS,
    Candidate,
    CursorRegion,
    chunk_tokens,
    dedupe,
    fill_budget,
    rank_context,
    repeats_window,
)


class WordTokenizer:
    """One token per whitespace-separated word (enough to test budgets exactly)."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())


TOKENS = WordTokenizer()
REGION = CursorRegion(
    path="app.py", first_line=10, last_line=40, text="def run():\n    total = compute(items)\n"
)


def cand(
    path: str, text: str, score: float, source: str = "definition", start: int = 1, end: int = 3
) -> Candidate:
    return Candidate(
        path=path, text=text, source=source, start_line=start, end_line=end, score=score
    )


def test_budget_is_never_exceeded_and_costs_are_reported():
    cands = [
        cand(f"m{i}.py", " ".join(["w"] * (5 + i)), 1.0 - i / 10, start=1, end=1) for i in range(6)
    ]
    chunks = rank_context(cands, REGION, 30, TOKENS)
    assert chunks
    assert sum(c.tokens for c in chunks) <= 30
    for chunk in chunks:
        assert (
            chunk.tokens
            == TOKENS.count_tokens(f"{chunk.path}\n{chunk.text}\n") + CHUNK_OVERHEAD_TOKENS
        )


def test_greedy_skips_a_big_chunk_but_takes_smaller_ones_after_it():
    big = cand("big.py", "w " * 50, 0.9)
    small = cand("small.py", "tiny text", 0.5)
    chosen = [c.path for c, _ in fill_budget([big, small], 20, TOKENS)]
    assert chosen == ["small.py"]


def test_higher_score_wins_the_budget():
    a = cand("a.py", "alpha beta gamma", 0.9)
    b = cand("b.py", "delta epsilon zeta", 0.3)
    cost = chunk_tokens(a, TOKENS)
    chunks = rank_context([b, a], REGION, cost, TOKENS)
    assert [c.path for c in chunks] == ["a.py"]


def test_chunks_repeating_the_cursor_window_are_dropped():
    same_file_overlap = cand("app.py", "something else entirely", 1.0, start=35, end=50)
    same_file_far = cand("app.py", "def helper_far_away():", 1.0, start=100, end=101)
    copied_text = cand("copy.py", "def run():\n    total = compute(items)", 1.0)
    assert repeats_window(same_file_overlap, REGION)
    assert not repeats_window(same_file_far, REGION)
    assert repeats_window(copied_text, REGION)
    chunks = rank_context([same_file_overlap, same_file_far, copied_text], REGION, 100, TOKENS)
    assert [(c.path, c.start_line) for c in chunks] == [("app.py", 100)]


def test_dedupe_keeps_best_of_same_text_and_of_overlapping_ranges():
    a = cand("lib.py", "def compute(items):", 0.4, start=5, end=9)
    b = cand("lib.py", "class Box:\n    def compute(self):", 0.8, start=1, end=20, source="import")
    c = cand("other.py", "def compute(items):", 0.6, start=1, end=2)
    kept = dedupe([a, b, c])
    assert [(k.path, k.score) for k in kept] == [("lib.py", 0.8), ("other.py", 0.6)]


def test_order_is_stable_whatever_the_scores_and_input_order():
    base = [
        cand("z.py", "zeta one", 0.9, "similar", 1, 2),
        cand("a.py", "alpha two", 0.5, "definition", 4, 5),
        cand("m.py", "mid three", 0.7, "definition", 1, 2),
        cand("b.py", "beta four", 0.2, "recent", 1, 2),
    ]
    expected = [c.path for c in rank_context(base, REGION, 1000, TOKENS)]
    assert expected == ["z.py", "b.py", "a.py", "m.py"]  # by source, then path — never score
    rng = random.Random(7)
    for _ in range(20):
        shuffled = [
            cand(c.path, c.text, rng.uniform(0.1, 1.0), c.source, c.start_line, c.end_line)
            for c in base
        ]
        rng.shuffle(shuffled)
        assert [c.path for c in rank_context(shuffled, REGION, 1000, TOKENS)] == expected


def test_adding_a_chunk_keeps_the_others_in_place_within_a_source():
    first = [cand("a.py", "alpha", 0.9), cand("c.py", "gamma", 0.8)]
    second = first + [cand("b.py", "beta", 0.7)]
    one = [c.path for c in rank_context(first, REGION, 1000, TOKENS)]
    two = [c.path for c in rank_context(second, REGION, 1000, TOKENS)]
    assert one == ["a.py", "c.py"] and two == ["a.py", "b.py", "c.py"]


def test_zero_budget_low_scores_and_empty_text_give_nothing():
    good = cand("a.py", "alpha", 0.9)
    assert rank_context([good], REGION, 0, TOKENS) == []
    assert rank_context([cand("a.py", "alpha", 0.01)], REGION, 100, TOKENS, min_score=0.05) == []
    assert rank_context([cand("a.py", "   \n", 0.9)], REGION, 100, TOKENS) == []


def test_edit_similarity_and_percentile():
    from bench.evaluate import edit_similarity
    from bench.report import percentile

    assert edit_similarity("abc", "abc") == 1.0
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("kitten", "sitting") == 1 - 3 / 7
    assert edit_similarity("", "xy") == 0.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 95) == 5.0
    assert percentile([], 50) == 0.0
