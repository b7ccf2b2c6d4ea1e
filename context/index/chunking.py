"""From a file's text to its index rows: git blob hash, line chunks, query words.

Pure functions (tree-sitter aside); `context.index.index` writes what they return.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
import re
import time
from dataclasses import dataclass
from typing import Any

from context.index.tags import Symbol, extract_symbols
from context.syntax.languages import language_for, parse, tags_query

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STOPWORDS = frozenset(
    """self cls this def class return import from as if else elif for while in is not and or
    none true false null nil let var const function fn func pub use mut static void int str
    new try except catch finally with pass break continue raise throw async await yield public
    private protected package interface struct type enum impl the to of""".split()  # noqa: SIM905
)
CONTINUED = ("\\", ",", "(", "[")  # a line ending so continues: the next one is not top-level
FIRST_CHAR = operator.itemgetter(slice(0, 1))


def blob_hash(data: bytes) -> str:
    """Git's blob id of `data` (so it matches `git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def index_terms(text: str) -> list[str]:
    """Words of `text` as the FTS tokenizer sees them (identifiers, lowercased), minus keywords.

    Used for queries and overlap scores; the index itself is tokenized by SQLite in C.
    """
    return [
        w
        for w in (m.lower() for m in IDENTIFIER.findall(text))
        if len(w) > 1 and w not in STOPWORDS
    ]


def split_chunks(lines: list[str], target: int) -> list[tuple[int, int]]:
    """Cover `lines` with consecutive windows (1-based, inclusive) of about `target` lines.

    A window ends before a top-level line once it is half full, after a blank line once
    full, and anywhere at twice the target, so chunks tend to hold whole definitions.
    """
    if not lines:
        return []
    # The lines where a window may end, found in two passes; then each window is one
    # bisect away (a line-by-line loop here was a tenth of the whole index build).
    # (itertools over str methods: no Python-level step per line).
    firsts = map(str.strip, map(FIRST_CHAR, lines))
    tops = [
        i
        for i in itertools.compress(itertools.count(), firsts)
        if i and not lines[i - 1].rstrip().endswith(CONTINUED)
    ]
    after_blank = sorted(
        itertools.chain(
            itertools.compress(itertools.count(1), map(operator.not_, lines)),
            itertools.compress(itertools.count(1), map(str.isspace, lines)),
        )
    )
    ranges: list[tuple[int, int]] = []
    start, total = 0, len(lines)
    while True:
        end = start + max(2 * target, 1)
        at = bisect.bisect_left(tops, start + max(target // 2, 1))
        if at < len(tops):
            end = min(end, tops[at])
        at = bisect.bisect_left(after_blank, start + max(target, 1))
        if at < len(after_blank):
            end = min(end, after_blank[at])
        if end >= total:
            break
        ranges.append((start + 1, end))
        start = end
    ranges.append((start + 1, total))
    return ranges


@dataclass(frozen=True)
class ParsedFile:
    """One file's new rows, computed without the database lock."""

    path: str
    blob: str
    mtime_ns: int
    size: int
    language: str
    lines: int
    symbols: list[Symbol]
    chunks: list[tuple[int, int, str]]


def _tree_of(language: str, data: bytes) -> Any | None:
    """The syntax tree when the language has tags (None otherwise, or when parsing fails:
    then `extract_symbols` tries again and logs why, and the file keeps its chunks).
    """
    if not language or tags_query(language) is None:
        return None
    try:
        return parse(data, language)
    except Exception:
        return None


def parse_file(
    path: str,
    text: str,
    data: bytes,
    mtime_ns: int,
    size: int,
    chunk_lines: int,
    clock: dict[str, float] | None = None,
) -> ParsedFile:
    """Symbols and chunks of one file's text.

    `clock`, when given, gains this thread's CPU seconds per step: "parse" (tree-sitter),
    "symbols" (the tags query and signatures), "chunk" (line windows and the blob id).
    """
    started = time.thread_time()
    language = language_for(path) or ""  # the store keeps "" for plain text
    tree = _tree_of(language, data)
    parsed = time.thread_time()
    symbols = extract_symbols(language, data, tree) if language else []
    extracted = time.thread_time()
    lines = text.split("\n")
    chunks = [(s, e, "\n".join(lines[s - 1 : e])) for s, e in split_chunks(lines, chunk_lines)]
    result = ParsedFile(
        path, blob_hash(data), mtime_ns, size, language, len(lines), symbols, chunks
    )
    if clock is not None:
        for step, seconds in (
            ("parse", parsed - started),
            ("symbols", extracted - parsed),
            ("chunk", time.thread_time() - extracted),
        ):
            clock[step] = clock.get(step, 0.0) + seconds
    return result
