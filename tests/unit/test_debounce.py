"""The typing-rhythm estimate behind `features.debounceMs` (pure: times are passed in)."""

from __future__ import annotations

import pytest

from context.debounce import MIN_SAMPLES, TypingRhythm


def typed(rhythm: TypingRhythm, gaps_ms: list[float], start: float = 100.0) -> float:
    """Note one edit at `start` and one after each gap; the time of the last edit."""
    now = start
    rhythm.note_edit(now)
    for gap in gaps_ms:
        now += gap / 1000
        rhythm.note_edit(now)
    return now


def test_no_ceiling_means_no_wait():
    rhythm = TypingRhythm()
    last = typed(rhythm, [100] * 10)
    assert rhythm.delay_ms(last, 0) == 0


def test_no_edit_yet_means_no_wait():
    assert TypingRhythm().delay_ms(5.0, 300) == 0


def test_until_the_rhythm_is_known_the_ceiling_counts_from_the_last_edit():
    rhythm = TypingRhythm()
    last = typed(rhythm, [120] * (MIN_SAMPLES - 1))
    assert rhythm.typical_gap_ms() is None
    assert rhythm.delay_ms(last, 300) == pytest.approx(300)
    assert rhythm.delay_ms(last + 0.1, 300) == pytest.approx(200)


def test_a_fast_typist_waits_for_twice_the_usual_gap():
    rhythm = TypingRhythm(rate=2.0)
    last = typed(rhythm, [90, 110, 100, 100, 95, 105, 100])
    assert rhythm.typical_gap_ms() == pytest.approx(100)
    assert rhythm.delay_ms(last, 1000) == pytest.approx(200)  # less than the ceiling
    assert rhythm.delay_ms(last + 0.05, 1000) == pytest.approx(150)


def test_a_slow_typist_never_waits_past_the_ceiling():
    rhythm = TypingRhythm(rate=2.0)
    last = typed(rhythm, [400] * 8)
    assert rhythm.delay_ms(last, 300) == pytest.approx(300)


def test_after_a_pause_there_is_no_wait():
    rhythm = TypingRhythm(rate=2.0)
    last = typed(rhythm, [100] * 8)
    assert rhythm.delay_ms(last + 0.25, 1000) == 0  # 250 ms > 2 x 100 ms: the user paused


def test_pauses_and_bursts_are_not_part_of_the_rhythm():
    rhythm = TypingRhythm()
    last = typed(rhythm, [100, 3000, 2, 100, 5000, 100, 1, 100])
    # The 3 s and 5 s pauses are left out, and so are the 1-2 ms bursts (one keystroke
    # reported as two changes, timed from its first): four gaps of about 100 ms remain.
    assert rhythm.typical_gap_ms() == pytest.approx(100, abs=3)
    assert rhythm.delay_ms(last, 1000) == pytest.approx(200, abs=6)
