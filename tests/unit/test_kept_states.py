"""The kept prompt states' LRU and its decisions, with fake states (no model)."""

from __future__ import annotations

import numpy as np

from engine.local.states import GAIN, MIN_TOKENS, KeptState, KeptStates, shared_prefix


def state(tokens: list[int] | range, size: int = 1000) -> KeptState:
    """A fake state: the ids and `size` bytes of data."""
    return KeptState(tokens=np.array(tokens, dtype=np.intc), data=np.zeros(size, np.uint8))


def ids(tokens) -> np.ndarray:
    return np.array(tokens, dtype=np.intc)


A, B, C = range(0, 1000), range(10_000, 11_000), range(20_000, 21_000)


def test_shared_prefix():
    assert shared_prefix(ids([1, 2, 3]), ids([1, 2, 4])) == 2
    assert shared_prefix(ids([1, 2]), ids([1, 2, 3])) == 2
    assert shared_prefix(ids([]), ids([1])) == 0
    assert shared_prefix(ids([5]), ids([1])) == 0


def test_the_live_cache_is_kept_only_when_long_and_mostly_lost():
    kept = KeptStates(4)
    assert kept.should_save(cached=1200, reused=10, prompt=1300)
    assert not kept.should_save(cached=1200, reused=700, prompt=1300)  # most of it is reused
    assert not kept.should_save(cached=MIN_TOKENS - 1, reused=0, prompt=1300)  # cheap again
    assert not KeptStates(0).should_save(cached=1200, reused=10, prompt=1300)  # off


def test_the_best_state_is_the_longest_shared_prefix_and_must_beat_the_live_cache():
    kept = KeptStates(4)
    a, b = state(A), state(B)
    kept.add(a)
    kept.add(b)
    prompt = ids([*A[:800], 7, 7, 7])
    assert kept.best(prompt, reused=0) == (a, 800)
    assert kept.best(prompt, reused=800 - GAIN + 1) == (None, 800 - GAIN + 1)  # too little gain
    assert kept.best(ids(C), reused=0) == (None, 0)


def test_least_recently_used_goes_first_and_a_restore_counts_as_use():
    kept = KeptStates(2)
    a, b, c = state(A), state(B), state(C)
    kept.add(a)
    kept.add(b)
    kept.best(ids(A), reused=0)  # A used again: B is now the oldest
    kept.add(c)
    assert len(kept) == 2
    assert kept.best(ids(B), reused=0) == (None, 0)
    assert kept.best(ids(A), reused=0)[0] is a and kept.best(ids(C), reused=0)[0] is c


def test_bytes_are_capped_too():
    kept = KeptStates(4, max_bytes=11_000)
    for tokens in (A, B, C):
        kept.add(state(tokens, size=1000))  # 5000 bytes with its 1000 ids
    assert len(kept) == 2 and kept.nbytes == 10_000
    assert kept.best(ids(A), reused=0) == (None, 0)  # the oldest went
    kept.add(state(range(30_000, 30_400), size=12_000))  # larger than the cap alone: not kept
    assert len(kept) == 2


def test_an_edited_region_supersedes_its_older_state():
    kept = KeptStates(4)
    kept.add(state(A))
    edited = state([*A[:700], 5, 5, 5])  # same region, edited at 700
    kept.add(edited)
    assert len(kept) == 1 and kept.best(ids(A), reused=0) == (edited, 700)
    kept.add(state([*A[:300], *B]))  # shares less than half: a different region
    assert len(kept) == 2


def test_a_state_already_kept_covers_a_prefix_of_it():
    kept = KeptStates(4)
    kept.add(state(A))
    assert kept.covers(ids(A[:600]))
    assert not kept.covers(ids([*A[:600], 3]))
    assert not kept.covers(ids(B))


def test_off_keeps_nothing():
    kept = KeptStates(0)
    kept.add(state(A))
    assert len(kept) == 0 and kept.saves == 0


def test_the_setting_accepts_zero_and_rejects_a_negative_count():
    from lsp.settings import parse_settings

    off, problems = parse_settings({"model": {"keptPrompts": 0}})
    assert off.model.kept_prompts == 0 and problems == []
    bad, problems = parse_settings({"model": {"keptPrompts": -1}})
    assert bad.model.kept_prompts == 4 and "model.keptPrompts" in problems[0]
