"""The repository index: building it, and keeping it current one file at a time.

Tables (see `context.index.store`): `files` (path, git blob hash, mtime + size, language),
`symbols` (tree-sitter tags: name, kind, lines, signature), `chunks` (consecutive line
windows covering every file) and `chunks_fts` (FTS5 over the chunks, for BM25). A file
whose mtime and size are unchanged is not read; one whose content hash is unchanged is
not parsed, so a second build of an unchanged repository parses nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from context.index import files as filesmod
from context.index.chunking import ParsedFile, blob_hash, parse_file
from context.index.store import IndexStore, database_path
from context.settings import ContextSettings

log = logging.getLogger(__name__)

BATCH_FILES = 64  # files written per transaction: readers get a turn between batches
Progress = Callable[[int, int, str], None]


@dataclass
class BuildStats:
    """What one build did."""

    files: int = 0  # files in the index after the build
    parsed: int = 0  # files read and parsed (new or changed content)
    touched: int = 0  # files whose stat changed but content did not (re-stat only)
    removed: int = 0  # files that left the index (deleted, renamed, now ignored)
    skipped: Counter = field(default_factory=Counter)
    seconds: float = 0.0


class RepositoryIndex(IndexStore):
    """The index of one repository root: building and updating on top of its store."""

    def __init__(
        self, root: Path, settings: ContextSettings | None = None, db_path: Path | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.settings = settings or ContextSettings()
        super().__init__(self.root, db_path or database_path(self.root, self.settings))

    def build(
        self, progress: Progress | None = None, cancel: threading.Event | None = None
    ) -> BuildStats:
        """Bring the index up to date with the files on disk; unchanged files cost a stat.

        `progress(done, total, path)` is called for every file; setting `cancel` stops
        after the current batch (what was written stays consistent).
        """
        started = time.perf_counter()
        try:
            stats = self._build(progress, cancel)
        except sqlite3.DatabaseError as error:
            log.warning(
                "index database %s failed during the build (%s); rebuilding it", self.db_path, error
            )
            self.reset()
            stats = self._build(progress, cancel)
        stats.seconds = time.perf_counter() - started
        log.info(
            "indexed %s: %d files, %d parsed, %d re-stat'ed, %d removed in %.2f s",
            self.root,
            stats.files,
            stats.parsed,
            stats.touched,
            stats.removed,
            stats.seconds,
        )
        return stats

    def _build(self, progress: Progress | None, cancel: threading.Event | None) -> BuildStats:
        discovery = filesmod.discover_files(self.root, self.settings)
        known = self.known()
        present = {entry.path for entry in discovery.files}
        removed = [path for path in known if path not in present]
        stats = BuildStats(skipped=Counter(discovery.skipped), removed=len(removed))
        parsed: list[ParsedFile] = []
        touched: list[tuple[str, int, int]] = []
        total = len(discovery.files)
        for done, entry in enumerate(discovery.files, 1):
            old = known.get(entry.path)
            if old is None or (old[1], old[2]) != (entry.mtime_ns, entry.size):
                self._examine(entry, old, parsed, touched, removed, stats)
            if progress is not None:
                progress(done, total, entry.path)
            if len(parsed) >= BATCH_FILES or len(touched) + len(removed) >= 20 * BATCH_FILES:
                self.write(parsed, touched, removed)
                parsed, touched, removed = [], [], []
                if cancel is not None and cancel.is_set():
                    break
        self.write(parsed, touched, removed)
        stats.files = self.file_count()
        return stats

    def _examine(self, entry, old, parsed, touched, removed, stats: BuildStats) -> None:
        """Read one changed or new file: queue its rows, a re-stat, or its removal."""
        text, data, reason = filesmod.read_text(self.root, entry.path)
        if text is None or data is None:
            stats.skipped[reason] += 1
            if old is not None:
                removed.append(entry.path)
                stats.removed += 1
            return
        if old is not None and old[0] == blob_hash(data):
            touched.append((entry.path, entry.mtime_ns, entry.size))
            stats.touched += 1
            return
        try:
            parsed.append(
                parse_file(
                    entry.path, text, data, entry.mtime_ns, entry.size, self.settings.chunk_lines
                )
            )
            stats.parsed += 1
        except Exception:  # one odd file must not stop the build
            log.exception("cannot index %s", entry.path)
            stats.skipped["error"] += 1

    # -- single files -------------------------------------------------------------------

    def relative(self, path: str | Path) -> str | None:
        """`path` relative to the root (POSIX), or None when it lies outside."""
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        try:
            return Path(os.path.abspath(candidate)).relative_to(self.root).as_posix()
        except ValueError:
            try:
                return candidate.resolve().relative_to(self.root).as_posix()
            except (ValueError, OSError):
                return None

    def _git_ignored(self, path: str) -> bool:
        """True when git would not list this path (checked only for files new to the index)."""
        try:
            out = subprocess.run(
                ["git", "-C", str(self.root), "check-ignore", "-q", "--", path],
                capture_output=True,
                timeout=filesmod.GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return out.returncode == 0

    def update_file(self, path: str | Path, text: str | None = None) -> str:
        """Re-index one file from disk, or from `text` (an unsaved editor buffer).

        Returns what happened: "indexed", "unchanged", "removed", or "skipped:<why>".
        A file that is gone, now ignored, secret, binary or too large leaves the index.
        """
        rel = self.relative(path)
        if rel is None or rel == ".":
            return "skipped:outside"
        rules = filesmod.IgnoreRules.for_root(self.root, self.settings)
        reason = filesmod.skip_reason(rel, rules)
        if reason is None and not self.has_file(rel) and self._git_ignored(rel):
            reason = "ignored"
        data: bytes | None = None
        if reason is None and text is not None:
            data = text.encode("utf-8", errors="surrogatepass")
            mtime_ns, size = 0, -1  # an unsaved buffer: the next build re-reads the disk
            if len(data) > self.settings.max_file_bytes:
                reason = "too_large"
            elif filesmod.looks_minified(text):
                reason = "minified"
        elif reason is None:
            entry, reason = filesmod.stat_entry(self.root, rel, self.settings)
            if entry is not None:
                text, data, reason = filesmod.read_text(self.root, rel)
                mtime_ns, size = entry.mtime_ns, entry.size
        if reason or text is None or data is None:  # read_text gives data with any text
            return "removed" if self.remove_file(rel) else f"skipped:{reason}"
        return self._update(rel, text, data, mtime_ns, size)

    def _update(self, rel: str, text: str, data: bytes, mtime_ns: int, size: int) -> str:
        with self._lock:
            row = self._conn.execute("SELECT blob FROM files WHERE path=?", (rel,)).fetchone()
        if row is not None and row[0] == blob_hash(data):
            self.write([], [(rel, mtime_ns, size)], [])
            return "unchanged"
        self.write([parse_file(rel, text, data, mtime_ns, size, self.settings.chunk_lines)], [], [])
        return "indexed"

    def remove_file(self, path: str | Path) -> bool:
        """Drop one file from the index (deleted or renamed away); True if it was there."""
        rel = self.relative(path)
        if rel is None:
            return False
        gone = self.has_file(rel)
        if gone:
            self.write([], [], [rel])
        return gone
