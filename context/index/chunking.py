"""From a file's text to its index rows: git blob hash, line chunks, query words.

Pure functions (tree-sitter aside); `context.index.index` writes what they return.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from context.index.tags import Symbol, extract_symbols
from context.syntax.languages import language_for

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STOPWORDS = frozenset(
    """self cls this def class return import from as if else elif for while in is not and or
    none true false null nil let var const function fn func pub use mut static void int str
    new try except catch finally with pass break continue raise throw async await yield public
    private protected package interface struct type enum impl the to of""".split()  # noqa: SIM905
)


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
    ranges: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(lines)):
        size = i - start
        line = lines[i]
        top_level = (
            bool(line.strip())
            and not line[0].isspace()
            and not lines[i - 1].rstrip().endswith(("\\", ",", "(", "["))
        )
        blank_before = not lines[i - 1].strip()
        if (
            (size >= target // 2 and top_level)
            or (size >= target and blank_before)
            or size >= 2 * target
        ):
            ranges.append((start + 1, i))
            start = i
    if lines:
        ranges.append((start + 1, len(lines)))
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


def parse_file(
    path: str, text: str, data: bytes, mtime_ns: int, size: int, chunk_lines: int
) -> ParsedFile:
    """Symbols and chunks of one file's text."""
    language = language_for(path) or ""  # the store keeps "" for plain text
    symbols = extract_symbols(language, data) if language else []
    lines = text.split("\n")
    chunks = [(s, e, "\n".join(lines[s - 1 : e])) for s, e in split_chunks(lines, chunk_lines)]
    return ParsedFile(path, blob_hash(data), mtime_ns, size, language, len(lines), symbols, chunks)
