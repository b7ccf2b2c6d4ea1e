r"""One `Document` per open editor buffer: its lines, version and a syntax tree kept current.

The server feeds it the client's changes, positions already converted to code points.
Each change edits the lines in place of the old ones and calls `tree.edit(...)` on the
tree; the re-parse is incremental and happens only when a request asks for the tree
(`Snapshot.tree`, on the thread preparing the request, never on the event loop).

The text a request sees is normalized: lines joined with "\n" (the LSP counts \r\n and
a lone \r as line ends too). The tree is a parse of that text, so its rows are our line
numbers and its columns UTF-8 bytes of a line. `source` keeps the client's own line ends.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from context.syntax.languages import get_parser, language_for, load_language, parse, utf8_len
from context.window import split_lines

MAX_SYNTAX_CHARS = 2_000_000  # a larger buffer (minified, generated) gets no tree
_LINE_END = re.compile(r"(\r\n|\r|\n)")


def _split_ends(text: str) -> tuple[list[str], list[str]]:
    """Lines without their ends, and each line's end ("" for the last line)."""
    parts = _LINE_END.split(text)
    return parts[0::2], parts[1::2] + [""]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One version of a document, as a request sees it; never changes.

    `lines` is shared with the `Document` (which builds a new list on every change);
    `text` and `tree` are computed on first use, on the thread that asks.
    """

    lines: list[str]
    path: str = ""
    language: str | None = None
    language_id: str = ""
    uri: str = ""
    version: int = 0
    document: Document | None = field(default=None, repr=False)
    revision: int = 0  # the document's own change count (a client's versions may repeat)

    @classmethod
    def of(cls, text: str, path: str = "", language: str | None = None, uri: str = "") -> Snapshot:
        """A snapshot of plain text (the CLI, tests): its tree is parsed when first asked."""
        snapshot = cls(split_lines(text), path, language or language_for(path), uri=uri or path)
        if "\r" not in text:
            snapshot.__dict__["text"] = text  # already normalized: no join needed
        return snapshot

    @functools.cached_property
    def text(self) -> str:
        r"""The normalized text: the lines joined with "\n"."""
        return "\n".join(self.lines)

    @functools.cached_property
    def tree(self) -> Any | None:
        """The syntax tree of `text` (None: unknown language, too large, or a newer version)."""
        if self.document is not None:
            return self.document.tree_of(self.revision)
        if get_parser(self.language) is None or len(self.text) > MAX_SYNTAX_CHARS:
            return None
        return parse(self.text, self.language)


class Document:
    """An open buffer: lines (and their ends), version, language, a tree edited in step.

    Changes come from one thread (the event loop); `snapshot()` may be called there and
    `Snapshot.tree` from any thread: a lock guards the state, never held while parsing.
    """

    def __init__(
        self,
        uri: str,
        text: str,
        *,
        path: str = "",
        language_id: str = "",
        version: int = 0,
    ) -> None:
        self.uri = uri
        self.path = path or uri
        self.language_id = language_id or ""
        self.language = language_for(self.path, self.language_id)
        self._lock = threading.Lock()
        self.version = version
        self._revision = 0
        self._replace(text)

    # -- state ------------------------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """The current lines, without their ends (do not modify)."""
        return self._lines

    @property
    def text(self) -> str:
        r"""The current normalized text (lines joined with "\n")."""
        return self.snapshot().text

    @property
    def source(self) -> str:
        """The current text with the client's own line ends."""
        with self._lock:
            return "".join(line + end for line, end in zip(self._lines, self._ends, strict=True))

    def _replace(self, text: str) -> None:
        self._lines, self._ends = _split_ends(text)
        self._chars = len(text)
        self._starts = [0]  # byte offset of each line in the normalized text, a valid prefix
        self._tree: Any | None = None  # the last parse, `tree.edit`ed for each change since
        self._fresh = False  # whether `_tree` is a parse of the current version
        self._data: bytes | None = None  # the normalized text in UTF-8, kept with the tree
        self._snapshot: Snapshot | None = None

    def _syntax_wanted(self) -> bool:
        grammar = load_language(self.language) if self.language else None
        return grammar is not None and self._chars <= MAX_SYNTAX_CHARS

    # -- changes ----------------------------------------------------------------------------

    def replace(self, text: str, version: int | None = None) -> None:
        """A full-text change: new lines; the next tree is a full parse."""
        with self._lock:
            self._replace(text)
            self.version = self.version + 1 if version is None else version
            self._revision += 1

    def apply_change(
        self,
        start: tuple[int, int],
        end: tuple[int, int],
        text: str,
        version: int | None = None,
    ) -> None:
        """Replace the range `start`..`end` ((line, column), 0-based, code points) by `text`.

        Out-of-range positions are clamped, as the LSP asks (a line past the end means
        the end of the document; a column past a line's end, the line's end).
        """
        with self._lock:
            (sl, sc), (el, ec) = sorted((self._clamp(*start), self._clamp(*end)))
            self._edit(sl, sc, el, ec, text)
            self.version = self.version + 1 if version is None else version
            self._revision += 1
            self._snapshot = None

    def _clamp(self, line: int, column: int) -> tuple[int, int]:
        last = len(self._lines) - 1
        if line > last:
            return last, len(self._lines[last])
        line = max(line, 0)
        return line, min(max(column, 0), len(self._lines[line]))

    def _edit(self, sl: int, sc: int, el: int, ec: int, text: str) -> None:
        lines, ends = self._lines, self._ends
        first, head = sl, lines[sl][:sc]
        if sl > 0 and ends[sl - 1] == "\r":  # a lone \r before may pair with a "\n" now
            first, head = sl - 1, lines[sl - 1] + "\r" + head
        tail = lines[el][ec:]
        new_lines, new_ends = _split_ends(head + text + tail + ends[el])
        if ends[el]:  # the region ended with a line end: what follows is line el + 1
            new_lines.pop()
            new_ends.pop()
        old_chars = sum(map(len, lines[first : el + 1])) + sum(map(len, ends[first : el + 1]))
        self._chars += sum(map(len, new_lines)) + sum(map(len, new_ends)) - old_chars
        if self._tree is not None and self._syntax_wanted():
            self._edit_tree(self._tree, first, sl, head, el, ec, tail, new_lines)
        else:
            self._tree, self._fresh, self._data = None, False, None
        self._lines = lines[:first] + new_lines + lines[el + 1 :]
        self._ends = ends[:first] + new_ends + ends[el + 1 :]
        del self._starts[first + 1 :]  # lines up to `first` start where they did

    def _edit_tree(
        self,
        old: Any,
        first: int,
        sl: int,
        head: str,
        el: int,
        ec: int,
        tail: str,
        new_lines: list[str],
    ) -> None:
        """`tree.edit` in normalized coordinates: bytes and (row, byte column) points."""
        lines = self._lines
        head_bytes = utf8_len(head) if first == sl else 0  # from `first`'s start otherwise
        start_byte = self._line_start(first) + head_bytes
        old_end_column = utf8_len(lines[el][:ec])
        old_end_byte = self._line_start(el) + old_end_column
        last_column = utf8_len(new_lines[-1]) - utf8_len(tail)
        region = "\n".join(new_lines).encode("utf-8", "surrogatepass")
        inserted = region[head_bytes : len(region) - utf8_len(tail)]
        if self._data is not None:  # spliced, not re-joined and re-encoded at the next parse
            self._data = self._data[:start_byte] + inserted + self._data[old_end_byte:]
        tree = old.copy()  # a snapshot may be reading the old tree on another thread
        tree.edit(
            start_byte=start_byte,
            old_end_byte=old_end_byte,
            new_end_byte=start_byte + len(inserted),
            start_point=(first, head_bytes),
            old_end_point=(el, old_end_column),
            new_end_point=(first + len(new_lines) - 1, last_column),
        )
        self._tree, self._fresh = tree, False

    def _line_start(self, line: int) -> int:
        """Byte offset of `line` in the normalized text (extends the valid prefix)."""
        starts = self._starts
        if line >= len(starts):
            known = len(starts) - 1
            lengths = (utf8_len(text) + 1 for text in self._lines[known:line])
            starts.extend(accumulate(lengths, initial=starts[known]))
            del starts[known + 1]  # `accumulate` repeats the initial value first
        return starts[line]

    # -- reading ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The current version, for a request (cheap: the tree is brought up to date later)."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = Snapshot(
                    lines=self._lines,
                    path=self.path,
                    language=self.language,
                    language_id=self.language_id,
                    uri=self.uri,
                    version=self.version,
                    document=self,
                    revision=self._revision,
                )
            return self._snapshot

    def tree_of(self, revision: int) -> Any | None:
        """The tree of `revision`, re-parsed incrementally if changes came since the last
        parse; None without a grammar, for a too-large buffer, or when `revision` is no
        longer current (a newer change arrived: that request is stale anyway).
        """
        with self._lock:
            if revision != self._revision or not self._syntax_wanted():
                return None
            if self._fresh:
                return self._tree
            old, data, lines = self._tree, self._data, self._lines
        # Outside the lock: the loop may apply the next change meanwhile (to a copy of `old`).
        if data is None or old is None:
            data = "\n".join(lines).encode("utf-8", "surrogatepass")
        tree = parse(data, self.language, old)
        with self._lock:
            if revision == self._revision and self._tree is old:
                self._tree, self._fresh, self._data = tree, True, data
        return tree
