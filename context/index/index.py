"""The repository index: building it, and keeping it current one file at a time.

Tables (see `context.index.store`): `files` (path, git blob hash, mtime + size, language),
`symbols` (tree-sitter tags: name, kind, lines, signature), `chunks` (consecutive line
windows covering every file) and `chunks_fts` (FTS5 over the chunks, for BM25). A file
whose mtime and size are unchanged is not read, nor one whose git blob id (from the one
`git ls-files --stage` of the build) is the indexed one; one whose content hash is
unchanged is not parsed, so a second build of an unchanged repository parses nothing.

A build of many files reads them here and parses them in worker processes
(`context.index.pool`: py-tree-sitter holds the GIL while it parses, so threads do not add
up); a small one (a few changed files) parses on threads in-process. Either way parsing
runs a bounded distance ahead of the one writer, which commits a batch of files per
transaction: a crash loses one batch at most, and the next build picks up where this one
stopped. Whenever `pause()` says a completion is waiting, the build holds off between files.
"""

from __future__ import annotations

import contextlib
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
from context.index import pool as poolmod
from context.index.chunking import ParsedFile, blob_hash, parse_file
from context.index.pipeline import Clocks, Outcome, in_workers, on_threads
from context.index.store import IndexStore, database_path
from context.settings import ContextSettings

log = logging.getLogger(__name__)

BATCH_FILES = 64  # files in the first transaction of a build; each next one doubles...
MAX_BATCH_FILES = 512  # ...up to this: what a crash may lose
BATCH_BYTES = 32 << 20  # a batch is written at this much text, whatever its file count
PAUSE_POLL_S = 0.02
PAUSE_MAX_S = 5.0  # a completion that never ends must not stop the index for good
Progress = Callable[[int, int, str], None]
Pause = Callable[[], bool]


def parse_threads() -> int:
    """Worker threads of a build: one per core, at most four (SQLite writes need one too)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class BuildStats:
    """What one build did."""

    files: int = 0  # files in the index after the build
    parsed: int = 0  # files read and parsed (new or changed content)
    touched: int = 0  # files whose stat changed but content did not (re-stat only)
    removed: int = 0  # files that left the index (deleted, renamed, now ignored)
    skipped: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    threads: int = 1  # threads parsing in-process (when `workers` is 0)
    workers: int = 0  # worker processes parsing (0: the build parsed in-process)
    # CPU seconds per step, summed over threads and worker processes: discover, read,
    # parse, symbols, chunk, write (SQL, FTS included), commit; and "paused" (wall
    # seconds spent yielding).
    phases: dict[str, float] = field(default_factory=dict)
    error: str = ""  # why the build stopped short (the database locked, read-only, full)


class RepositoryIndex(IndexStore):
    """The index of one repository root: building and updating on top of its store."""

    def __init__(
        self, root: Path, settings: ContextSettings | None = None, db_path: Path | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.settings = settings or ContextSettings()
        super().__init__(self.root, db_path or database_path(self.root, self.settings))

    def build(
        self,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        pause: Pause | None = None,
        threads: int | None = None,
    ) -> BuildStats:
        """Bring the index up to date with the files on disk; unchanged files cost a stat.

        `progress(done, total, path)` is called for every file; setting `cancel` stops
        after the current file (what was parsed is written; the index stays consistent);
        while `pause()` is true (a completion waits) no file is read or written, up to
        PAUSE_MAX_S at a time.
        """
        started = time.perf_counter()
        threads = threads or parse_threads()
        if not self.reopen():  # still unusable (its log line said so): nothing to build into
            return BuildStats(error=self.unavailable, seconds=time.perf_counter() - started)
        try:
            stats = self._build(progress, cancel, pause, threads)
        except sqlite3.OperationalError as error:  # locked, read-only, full: keep what it holds
            log.warning(
                "index database %s: %s during the build; completions use what it holds, "
                "the next build tries again",
                self.db_path,
                error,
            )
            stats = BuildStats(files=self.file_count(), error=str(error))
        except sqlite3.DatabaseError as error:
            log.warning(
                "index database %s failed during the build (%s); rebuilding it", self.db_path, error
            )
            self.reset()
            stats = (
                BuildStats(error=self.unavailable)
                if self.unavailable
                else self._build(progress, cancel, pause, threads)
            )
        stats.seconds = time.perf_counter() - started
        log.info(
            "indexed %s: %d files, %d parsed, %d re-stat'ed, %d removed in %.2f s (%s)",
            self.root,
            stats.files,
            stats.parsed,
            stats.touched,
            stats.removed,
            stats.seconds,
            ", ".join(f"{k} {v:.2f}" for k, v in stats.phases.items()),
        )
        return stats

    def _plan(
        self, discovery: filesmod.Discovery, known: dict, stats: BuildStats
    ) -> tuple[list[tuple[filesmod.FileEntry, tuple | None]], list[tuple[str, int, int]]]:
        """Files to read (with their indexed row), and re-stats git vouches for unread."""
        todo, touched = [], []
        for entry in discovery.files:
            old = known.get(entry.path)
            if old is not None and (old[1], old[2]) == (entry.mtime_ns, entry.size):
                continue  # unchanged: it cost a stat
            if old is not None and discovery.blobs.get(entry.path) == old[0]:
                touched.append((entry.path, entry.mtime_ns, entry.size))  # git: same content
                stats.touched += 1
                continue
            todo.append((entry, old))
        return todo, touched

    def _build(
        self,
        progress: Progress | None,
        cancel: threading.Event | None,
        pause: Pause | None,
        threads: int,
    ) -> BuildStats:
        clocks = Clocks()
        began = time.perf_counter()
        discovery = filesmod.discover_files(self.root, self.settings)
        known = self.known()
        removed = sorted(set(known) - {entry.path for entry in discovery.files})
        stats = BuildStats(skipped=Counter(discovery.skipped), removed=len(removed))
        todo, touched = self._plan(discovery, known, stats)
        if len(todo) >= poolmod.POOL_MIN_FILES:
            stats.workers = poolmod.pool_workers(self.settings.index_workers)
        stats.threads = 1 if stats.workers else threads
        clocks.add("discover", time.perf_counter() - began)
        total, done = len(discovery.files), len(discovery.files) - len(todo)
        if progress is not None and done:
            progress(done, total, "")
        self._run(todo, touched, removed, stats, (progress, done, total), pause, cancel, clocks)
        stats.files = self.file_count()
        stats.phases = clocks.total()
        return stats

    def _run(self, todo, touched, removed, stats, counting, pause, cancel, clocks) -> None:
        """Parse `todo` (in worker processes or on threads); write in batches."""
        progress, done, total = counting
        parsed: list[ParsedFile] = []
        if stats.workers:
            pool = poolmod.ParsePool(stats.workers)
            read = lambda entry, old: self._read(entry, old, pause, cancel, clocks)  # noqa: E731
            outcomes = in_workers(todo, pool, read, clocks)
        else:
            examine = lambda entry, old: self._examine(entry, old, pause, cancel, clocks)  # noqa: E731
            outcomes = on_threads(todo, stats.threads, examine)
        # Small first (the index is soon of use), then larger: fewer, larger FTS segments.
        batch, pending_bytes = BATCH_FILES, 0
        with contextlib.closing(outcomes):
            for outcome in outcomes:
                done += 1
                self._take(outcome, parsed, touched, removed, stats)
                pending_bytes += outcome.parsed.size if outcome.parsed is not None else 0
                if progress is not None:
                    progress(done, total, outcome.path)
                if cancel is not None and cancel.is_set():
                    break  # what was parsed is written below; the rest waits for the next build
                if (
                    len(parsed) >= batch
                    or pending_bytes >= BATCH_BYTES
                    or len(touched) + len(removed) >= 20 * BATCH_FILES
                ):
                    self._commit(parsed, touched, removed, pause, cancel, clocks)
                    parsed, touched, removed, pending_bytes = [], [], [], 0
                    batch = min(2 * batch, MAX_BATCH_FILES)
        self._commit(parsed, touched, removed, pause, cancel, clocks)

    def _take(self, outcome: Outcome, parsed, touched, removed, stats: BuildStats) -> None:
        """Queue one worker's outcome for the next write, and count it."""
        if outcome.parsed is not None:
            parsed.append(outcome.parsed)
            stats.parsed += 1
        elif outcome.touched is not None:
            touched.append(outcome.touched)
            stats.touched += 1
        else:
            stats.skipped[outcome.skipped] += 1
            if outcome.remove:
                removed.append(outcome.path)
                stats.removed += 1

    def _commit(self, parsed, touched, removed, pause, cancel, clocks: Clocks) -> None:
        """Write one batch (after any completion waiting has had its turn)."""
        if parsed or touched or removed:
            self._hold(pause, cancel, clocks)
            self.write(parsed, touched, removed, clocks.mine())

    def _hold(self, pause: Pause | None, cancel: threading.Event | None, clocks: Clocks) -> None:
        """Wait while `pause()` says a completion is waiting: at most PAUSE_MAX_S, and then
        not again for as long (a completion that never ends halves the build's pace, no more).
        """
        if pause is None or time.perf_counter() < clocks.unpaused_until or not pause():
            return
        began = time.perf_counter()
        while pause() and not (cancel is not None and cancel.is_set()):
            if time.perf_counter() - began >= PAUSE_MAX_S:
                clocks.unpaused_until = time.perf_counter() + PAUSE_MAX_S
                break
            time.sleep(PAUSE_POLL_S)
        clocks.add("paused", time.perf_counter() - began)

    def _read(
        self,
        entry: filesmod.FileEntry,
        old: tuple | None,
        pause: Pause | None,
        cancel: threading.Event | None,
        clocks: Clocks,
    ) -> Outcome | poolmod.Job:
        """Read one new or changed file: an outcome already (skipped, unchanged), or a job."""
        self._hold(pause, cancel, clocks)
        began = time.thread_time()
        data, reason = filesmod.read_bytes(self.root, entry.path)
        clocks.add("read", time.thread_time() - began)
        if data is None:
            return Outcome(entry.path, skipped=reason, remove=old is not None)
        if old is not None and old[0] == blob_hash(data):
            return Outcome(entry.path, touched=(entry.path, entry.mtime_ns, entry.size))
        return (entry.path, data, entry.mtime_ns, entry.size, self.settings.chunk_lines)

    def _examine(
        self,
        entry: filesmod.FileEntry,
        old: tuple | None,
        pause: Pause | None,
        cancel: threading.Event | None,
        clocks: Clocks,
    ) -> Outcome:
        """Read and parse one new or changed file (on a worker thread)."""
        found = self._read(entry, old, pause, cancel, clocks)
        if isinstance(found, Outcome):
            return found
        path, data, mtime_ns, size, chunk_lines = found
        began = time.thread_time()
        text, reason = filesmod.text_of(data)
        clocks.add("read", time.thread_time() - began)
        if text is None:
            return Outcome(path, skipped=reason, remove=old is not None)
        try:
            parsed = parse_file(path, text, data, mtime_ns, size, chunk_lines, clocks.mine())
        except Exception:  # one odd file must not stop the build
            log.exception("cannot index %s", path)
            return Outcome(path, skipped="error")
        return Outcome(path, parsed=parsed)

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
            elif not filesmod.fits_text_limit(rel, len(data), self.settings):
                reason = "large_text"
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
