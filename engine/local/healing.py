"""Token healing's vocabulary index: which token ids may start the generation when the
prompt left out the end of the user's text (a word being typed, or held indentation).

Pure over (token text, id) pairs, so it is tested on a toy vocabulary.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

import numpy as np

BLANKS = (b"\t", b" ")  # in byte order


class HealingIndex:
    """The vocabulary sorted by token text, built once on first use (~0.5 s for Qwen's)."""

    def __init__(self, pieces: Callable[[], Iterable[tuple[bytes, int]]]) -> None:
        self._pieces = pieces
        self._sorted: tuple[list[bytes], np.ndarray] | None = None
        self._by_text: dict[bytes, list[int]] = {}

    def _tables(self) -> tuple[list[bytes], np.ndarray]:
        if self._sorted is None:
            ordered = sorted((t, i) for t, i in self._pieces() if t)
            self._sorted = (
                [t for t, _ in ordered],
                np.array([i for _, i in ordered], dtype=np.int64),
            )
            self._by_text = {}
            for text, token in ordered:
                self._by_text.setdefault(text, []).append(token)
        return self._sorted

    def matching(self, pending: bytes, exact: bool = False) -> np.ndarray:
        """Ids whose text starts with `pending` or is a start of it (token healing); with
        `exact` (held indentation) none that writes a further blank after `pending`.
        """
        texts, ids = self._tables()
        low = bisect.bisect_left(texts, pending)
        high = bisect.bisect_left(texts, pending + b"\xff", low)  # 0xff never occurs in UTF-8
        shorter = [t for k in range(1, len(pending)) for t in self._by_text.get(pending[:k], [])]
        spans, start = [], low
        for blank in BLANKS if exact else ():  # sorted: pending+"\t"... then pending+" "...
            cut = bisect.bisect_left(texts, pending + blank, low, high)
            spans.append(ids[start:cut])
            start = bisect.bisect_left(texts, pending + blank + b"\xff", cut, high)
        spans.append(ids[start:high])
        return np.concatenate([*spans, np.array(shorter, dtype=np.int64)])

    def blanks(self) -> np.ndarray:
        """Ids whose text starts with a space or a tab (none may follow held indentation)."""
        texts, ids = self._tables()
        spans = [
            (bisect.bisect_left(texts, b), bisect.bisect_left(texts, b + b"\xff")) for b in BLANKS
        ]
        return np.concatenate([ids[low:high] for low, high in spans])
