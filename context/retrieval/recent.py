"""The ring of recently edited and viewed places, filled by the server from LSP events.

What the user touched a moment ago is often what the next line needs: the function just
changed in another file, the class just looked at.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RecentEntry:
    """A place the user edited or looked at (line 1-based)."""

    path: str
    line: int
    kind: str  # "edit" or "view"


class RecentRing:
    """The last edited/viewed positions, newest last; nearby notes replace older ones."""

    BUCKET_LINES = 8

    def __init__(self, size: int = 32) -> None:
        self._entries: deque[RecentEntry] = deque()
        self._size = size
        self._lock = threading.Lock()

    def note(self, path: str, line: int, kind: str = "edit") -> None:
        """Remember `path:line`; an edit outranks an earlier view of the same place."""
        with self._lock:
            kept = [
                e
                for e in self._entries
                if e.path != path or abs(e.line - line) >= self.BUCKET_LINES
            ]
            if len(kept) < len(self._entries) and kind == "view":
                replaced = [e for e in self._entries if e not in kept]
                kind = "edit" if any(e.kind == "edit" for e in replaced) else kind
            kept.append(RecentEntry(path, line, kind))
            self._entries = deque(kept[-self._size :])

    def forget(self, path: str) -> None:
        """Drop every entry of a file (deleted or renamed)."""
        with self._lock:
            self._entries = deque(e for e in self._entries if e.path != path)

    def entries(self) -> list[RecentEntry]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._entries))
