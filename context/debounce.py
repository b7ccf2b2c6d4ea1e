"""How long an automatic completion request waits: learnt from the user's typing rhythm.

As Tabby's agent does, the wait adapts: the intervals between the user's edits give a
typical keystroke gap; a request waits until the next keystroke is overdue (`rate` times
the typical gap after the last edit), never longer than the configured ceiling. A fast
typist mid-word waits a little; someone who has already paused waits not at all. Until
enough intervals are known, the ceiling is the expected gap. Pure: the caller passes
the clock's readings (seconds, monotonic).
"""

from __future__ import annotations

import statistics
from collections import deque

MIN_SAMPLES = 4  # intervals needed before the rhythm is trusted
BURST_MS = 15.0  # edits closer than this are one keystroke (auto-closed brackets, IME)
PAUSE_MS = 1500.0  # a longer gap is a pause, not part of the rhythm


class TypingRhythm:
    """The recent intervals between edits, and the wait they suggest."""

    def __init__(self, *, samples: int = 24, rate: float = 2.0) -> None:
        self.rate = rate
        self._intervals: deque[float] = deque(maxlen=samples)
        self._last: float | None = None

    def note_edit(self, now: float) -> None:
        """The user changed a document at `now`."""
        if self._last is not None:
            gap_ms = (now - self._last) * 1000
            if gap_ms < BURST_MS:
                return  # the same keystroke: keep the first edit's time
            if gap_ms <= PAUSE_MS:
                self._intervals.append(gap_ms)
        self._last = now

    def typical_gap_ms(self) -> float | None:
        """The median gap between keystrokes; None until `MIN_SAMPLES` are known."""
        if len(self._intervals) < MIN_SAMPLES:
            return None
        return statistics.median(self._intervals)

    def delay_ms(self, now: float, ceiling_ms: float) -> float:
        """How long a request arriving at `now` should still wait (0 with no ceiling)."""
        if ceiling_ms <= 0:
            return 0.0
        typical = self.typical_gap_ms()
        expected = ceiling_ms if typical is None else min(ceiling_ms, self.rate * typical)
        since = float("inf") if self._last is None else (now - self._last) * 1000
        return max(0.0, expected - since)
