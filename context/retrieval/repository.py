"""`RepositoryContext`: the one object the server and the CLI hold per repository.

It owns the index, the recent-positions ring and the git signals, and exposes
`provider(text, path, window, budget_tokens)` — the `ContextProvider` hook of
`context.completion.CompletionService`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from context.index.files import find_root
from context.index.index import BuildStats, RepositoryIndex
from context.retrieval.candidates import Cursor, Retriever
from context.retrieval.git_signals import GitSignals
from context.retrieval.imports import PathTable
from context.retrieval.ranking import CursorRegion, rank_context
from context.retrieval.recent import RecentRing
from context.settings import ContextSettings
from context.window import CursorWindow, split_lines
from engine.types import ContextChunk, Tokenizer

log = logging.getLogger(__name__)


class ApproximateTokenizer:
    """Used until a model's tokenizer is attached: about 3.5 characters per token."""

    def count_tokens(self, text: str) -> int:
        """An estimate that errs on the high side for code."""
        return max(1, int(len(text) / 3.5) + 1) if text else 0


class MemoTokenizer:
    """Remembers counts: the same chunks are re-counted on every keystroke."""

    def __init__(self, inner: Tokenizer, size: int = 4096) -> None:
        self.inner = inner
        self._size = size
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        """The inner tokenizer's count, memoized by text."""
        key = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        count = self.inner.count_tokens(text)
        with self._lock:
            self._counts[key] = count
            if len(self._counts) > self._size:
                self._counts.popitem(last=False)
        return count


class RepositoryContext:
    """Index, ring and git signals of one repository, behind a context provider."""

    def __init__(
        self, root: Path, settings: ContextSettings, tokenizer: Tokenizer | None = None
    ) -> None:
        self.root = root
        self.settings = settings
        self.index = RepositoryIndex(root, settings)
        self.ring = RecentRing(settings.recent_size)
        self.git = GitSignals(root, settings.cochange_commits, settings.git_ttl_s)
        self.tokenizer: Tokenizer = MemoTokenizer(tokenizer or ApproximateTokenizer())
        self._generation = 0
        self._table: tuple[int, PathTable] | None = None
        # The path table is read by the thread preparing requests and changed by the index
        # threads (build, debounced re-index, watched files).
        self._table_lock = threading.Lock()
        self._indexed_head: str | None = None  # HEAD as the last build left it (None: unbuilt)
        self.retriever = Retriever(self.index, settings, self.ring, self.git, self.path_table)

    @classmethod
    def open(
        cls,
        root: str | Path,
        settings: ContextSettings | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> RepositoryContext:
        """The context of the repository holding `root` (a folder or a file in it)."""
        return cls(find_root(root), settings or ContextSettings(), tokenizer)

    @property
    def repo_name(self) -> str:
        """The repository's folder name (the `<|repo_name|>` of repo-level prompts)."""
        return self.root.name

    def relative_path(self, path: str | Path) -> str | None:
        """`path` relative to the root, or None outside the repository."""
        return self.index.relative(path)

    def path_table(self) -> PathTable:
        """The indexed paths by name, rebuilt after the index changes."""
        with self._table_lock:
            generation = self._generation
            if self._table is None or self._table[0] != generation:
                self._table = (generation, PathTable(self.index.paths()))
            return self._table[1]

    # -- keeping the index current --------------------------------------------------------

    def build(
        self,
        progress: Callable[[int, int, str], None] | None = None,
        cancel: threading.Event | None = None,
        pause: Callable[[], bool] | None = None,
    ) -> BuildStats:
        """Index the repository (incremental: unchanged files are not read); while
        `pause()` is true (a completion waits) the build holds off.
        """
        try:
            stats = self.index.build(progress, cancel, pause)
        finally:
            with self._table_lock:
                self._generation += 1
        self.git.warm()
        self._indexed_head = self.git.last_head()
        return stats

    def head_moved(self) -> bool:
        """True once each time HEAD left where the last build saw it (a branch switch, a
        rebase, a pull, a commit): the caller builds again, which re-reads changed files only.
        No editor reports those files changed; HEAD is re-read by requests anyway.
        """
        head = self.git.last_head()
        if self._indexed_head is None or not head or head == self._indexed_head:
            return False
        log.info("%s: HEAD moved to %s; re-indexing", self.root, head[:12])
        self._indexed_head = head
        return True

    def update_file(self, path: str | Path, text: str | None = None) -> str:
        """Re-index one file (from `text` when given: an unsaved buffer). See `RepositoryIndex.update_file`."""
        result = self.index.update_file(path, text)
        rel = self.relative_path(path)
        with self._table_lock:
            if self._table is not None and rel is not None:
                # Keep the path table in step instead of re-reading every path next request.
                if result in ("indexed", "unchanged"):
                    self._table[1].add(rel)
                elif result == "removed":
                    self._table[1].discard(rel)
        if text is None:  # saved to disk: the uncommitted diff changed
            self.git.invalidate()
        return result

    def remove_file(self, path: str | Path) -> bool:
        """Drop a deleted or renamed-away file from the index and the ring."""
        rel = self.relative_path(path)
        if rel is not None:
            self.ring.forget(rel)
        gone = self.index.remove_file(path)
        with self._table_lock:
            if self._table is not None and rel is not None:
                self._table[1].discard(rel)
        return gone

    def note_edit(self, path: str | Path, line: int) -> None:
        """The user changed `path` at `line` (0-based, as LSP sends it)."""
        rel = self.relative_path(path)
        if rel is not None:
            self.ring.note(rel, line + 1, "edit")

    def note_view(self, path: str | Path, line: int) -> None:
        """The user looked at `path` around `line` (0-based): opened it, moved there."""
        rel = self.relative_path(path)
        if rel is not None:
            self.ring.note(rel, line + 1, "view")

    # -- the provider ---------------------------------------------------------------------

    def cursor_of(self, text: str, path: str, window: CursorWindow) -> Cursor:
        """The retrieval view of a request: relative path, cursor line, window region."""
        rel = self.relative_path(path) or Path(path).name
        if "\r" in text:  # an open document's text is normalized already: no split, no join
            text = "\n".join(split_lines(text))
        line = window.first_line + window.prefix.count("\n")  # 0-based cursor line
        region = CursorRegion(
            path=rel,
            first_line=window.first_line + 1,
            last_line=max(window.last_line, line + 1),
            text=window.prefix + window.line_prefix + window.suffix,
        )
        return Cursor(
            path=rel,
            text=text,
            line=line + 1,
            line_prefix=window.line_prefix,
            region=region,
        )

    def provider(
        self, text: str, path: str, window: CursorWindow, budget_tokens: int
    ) -> list[ContextChunk]:
        """Ranked context chunks for the cursor, within `budget_tokens` (the ContextProvider hook)."""
        return self._provide(text, path, window, budget_tokens, self.retriever)

    def variant(
        self, **overrides: Any
    ) -> Callable[[str, str, CursorWindow, int], list[ContextChunk]]:
        """A provider over this index with some `ContextSettings` weights replaced (e.g.
        `weight_similar=0.0`: no BM25 neighbours), for measuring one source against another.
        """
        retriever = Retriever(
            self.index,
            dataclasses.replace(self.settings, **overrides),
            self.ring,
            self.git,
            self.path_table,
        )
        return lambda text, path, window, budget: self._provide(
            text, path, window, budget, retriever
        )

    def _provide(
        self, text: str, path: str, window: CursorWindow, budget_tokens: int, retriever: Retriever
    ) -> list[ContextChunk]:
        if not self.settings.enabled or budget_tokens <= 0:
            return []
        started = time.perf_counter()
        cursor = self.cursor_of(text, path, window)
        candidates = retriever.candidates(cursor)
        chunks = rank_context(
            candidates,
            cursor.region,
            budget_tokens,
            self.tokenizer,
            min_score=retriever.settings.min_score,
        )
        log.debug(
            "context %s:%d: %d candidates, %d chosen, %d tokens, %.1f ms",
            cursor.path,
            cursor.line,
            len(candidates),
            len(chunks),
            sum(c.tokens for c in chunks),
            (time.perf_counter() - started) * 1000,
        )
        return chunks

    def close(self) -> None:
        """Close the index database."""
        self.index.close()


class Repositories:
    """The `RepositoryContext` of each repository the editor touches, opened on first use."""

    def __init__(
        self,
        settings: ContextSettings | None = None,
        tokenizer: Tokenizer | None = None,
        on_open: Callable[[RepositoryContext], None] | None = None,
    ) -> None:
        self.settings = settings or ContextSettings()
        self.tokenizer = tokenizer
        # Called once per newly opened repository (by `provider`): the server builds it
        # there with $/progress; the default builds it on a background thread.
        self.on_open = on_open or _build_in_background
        self._open: dict[Path, RepositoryContext] = {}
        self._roots: dict[Path, Path] = {}
        self._lock = threading.Lock()

    def for_path(self, path: str | Path) -> tuple[RepositoryContext, bool]:
        """The context of the repository holding `path`, and whether it was just opened
        (then the caller should `build()` it, e.g. in the background with progress).
        """
        folder = Path(path).resolve()
        folder = folder if folder.is_dir() else folder.parent
        root = self._roots.get(folder)
        if root is None:  # `git rev-parse` once per folder, not on every keystroke
            root = self._roots[folder] = find_root(folder)
        with self._lock:
            repo = self._open.get(root)
            if repo is not None:
                return repo, False
            repo = self._open[root] = RepositoryContext(root, self.settings, self.tokenizer)
            return repo, True

    def provider(
        self, text: str, path: str, window: CursorWindow, budget_tokens: int
    ) -> list[ContextChunk]:
        """A `ContextProvider` over every repository: the file's own repository answers.

        A repository seen for the first time is handed to `on_open` (to be indexed) and
        answers with what its index already holds.
        """
        if not self.settings.enabled:
            return []
        repo, fresh = self.for_path(path)
        if fresh or repo.index.take_rebuild() or repo.head_moved():  # new, bad, or moved
            self.on_open(repo)
        return repo.provider(text, path, window, budget_tokens)

    def display_path(self, path: str | Path) -> str:
        """The path a prompt shows: relative to its repository root (never absolute)."""
        repo, fresh = self.for_path(path)
        if fresh:
            self.on_open(repo)
        return repo.relative_path(Path(path).resolve()) or Path(path).name

    def close(self) -> None:
        """Close every index."""
        with self._lock:
            for repo in self._open.values():
                repo.close()
            self._open.clear()


def _build_in_background(repo: RepositoryContext) -> None:
    """Index a repository on a daemon thread (used when no one asked for progress)."""

    def run() -> None:
        try:
            repo.build()
        except Exception:  # the index stays as it was: still consistent, maybe partial
            log.exception("indexing %s failed", repo.root)

    threading.Thread(target=run, name="cove-index", daemon=True).start()


class DebouncedUpdates:
    """Re-index edited buffers once typing pauses: one timer per file, the newest text wins."""

    def __init__(self, delay_s: float = 0.75) -> None:
        self.delay_s = delay_s
        self._timers: dict[tuple[int, str], threading.Timer] = {}
        self._lock = threading.Lock()

    def schedule(self, repo: RepositoryContext, path: str | Path, text: str | None = None) -> None:
        """Re-index `path` (from `text`, or from disk when None) after the delay."""
        key = (id(repo), str(path))

        def run() -> None:
            with self._lock:
                if self._timers.get(key) is not timer:
                    return
                del self._timers[key]
            try:
                repo.update_file(path, text)
            except sqlite3.OperationalError as error:  # locked, read-only, full: one line
                log.warning("re-indexing %s skipped: %s", path, error)
            except Exception:  # a failed update leaves the old rows: still consistent
                log.exception("re-indexing %s failed", path)

        timer = threading.Timer(self.delay_s, run)
        timer.daemon = True
        with self._lock:
            old = self._timers.get(key)
            if old is not None:
                old.cancel()
            self._timers[key] = timer
        timer.start()

    def cancel_all(self) -> None:
        """Stop every pending update (shutdown)."""
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
