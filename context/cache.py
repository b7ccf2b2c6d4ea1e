"""Reuse before recompute: the typed-ahead cache and the result cache (pure data structures)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from engine.confidence import Confidence

V = TypeVar("V")


def text_key(*parts: str) -> str:
    """A short, stable digest of some texts."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


@dataclass(frozen=True)
class ShownSuggestion:
    """A suggestion shown at a place: the line's text up to the cursor and the text around."""

    line: int
    line_prefix: str
    text: str
    before_key: str  # digest of the file up to the cursor's line
    after_key: str  # digest of the text right of the cursor and below
    confidence: Confidence | None = None  # the model's, when the suggestion was made


class TypedAheadCache:
    """If the user types the start of the suggestion shown there, the rest is the answer.

    Keyed by document, line and the surrounding text, so an edit elsewhere (above or below
    the cursor) invalidates it.
    """

    def __init__(self, per_document: int = 8) -> None:
        self._shown: dict[str, deque[ShownSuggestion]] = defaultdict(
            lambda: deque(maxlen=per_document)
        )

    def remember(self, uri: str, shown: ShownSuggestion) -> None:
        """Record a suggestion that was returned to the editor."""
        if shown.text:
            self._shown[uri].append(shown)

    def lookup(
        self, uri: str, line: int, line_prefix: str, before_key: str, after_key: str
    ) -> str | None:
        """The untyped rest of a shown suggestion the user is typing through, or None."""
        found = self.find(uri, line, line_prefix, before_key, after_key)
        return found[0] if found else None

    def find(
        self, uri: str, line: int, line_prefix: str, before_key: str, after_key: str
    ) -> tuple[str, ShownSuggestion] | None:
        """(untyped rest, the suggestion it belongs to), or None."""
        for shown in reversed(self._shown.get(uri, ())):
            if shown.line != line or shown.before_key != before_key or shown.after_key != after_key:
                continue
            if not line_prefix.startswith(shown.line_prefix):
                continue
            typed = line_prefix[len(shown.line_prefix) :]
            if typed and shown.text.startswith(typed) and len(shown.text) > len(typed):
                rest = shown.text[len(typed) :]
                if rest.strip():
                    return rest, shown
        return None

    def forget(self, uri: str) -> None:
        """Drop a closed document's entries."""
        self._shown.pop(uri, None)


class ResultCache(Generic[V]):
    """An LRU map from a context hash (the rendered prompt and limits) to a suggestion."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[str, V] = OrderedDict()
        self._size = size

    def get(self, key: str) -> V | None:
        """The cached suggestion, refreshed as most recently used."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: str, value: V) -> None:
        """Store a suggestion, evicting the least recently used beyond the size."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
