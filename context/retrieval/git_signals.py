"""Git signals for context: uncommitted changes, and files that change together.

Read through gitpython, cached (a diff for a few seconds, the history until HEAD moves)
because they are asked on every keystroke. Any git trouble — no repository, an empty
repository, a detached HEAD, git missing — gives empty signals, never an error.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import git

log = logging.getLogger(__name__)

HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
HEAD_TTL_S = 2.0  # a new commit reaches the co-change history this late at most
BULK_COMMIT_FILES = 40  # a commit touching more files says little about which belong together


def parse_diff(diff: str) -> dict[str, list[tuple[int, int]]]:
    """`git diff -U0` text → new-side line ranges (1-based, inclusive) per path."""
    regions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    path = ""
    for line in diff.split("\n"):
        if line.startswith("+++ "):
            target = line[4:].strip()
            path = target[2:] if target.startswith("b/") else ""
            continue
        match = HUNK.match(line) if path else None
        if match:
            start, count = int(match.group(1)), int(match.group(2) or "1")
            # A pure deletion (count 0) points between lines: keep the line after it.
            regions[path].append((max(start, 1), max(start, 1) + max(count, 1) - 1))
    return dict(regions)


def cochange_counts(commits: list[list[str]], path: str) -> dict[str, float]:
    """For each other file: the share of `path`'s commits that also touched it."""
    together: Counter = Counter()
    own = 0
    for files in commits:
        if path not in files or len(files) > BULK_COMMIT_FILES:
            continue
        own += 1
        together.update(f for f in set(files) if f != path)
    return {f: n / own for f, n in together.items()} if own else {}


class GitSignals:
    """Cached git facts about one work tree."""

    def __init__(self, root: Path, history: int = 200, ttl_s: float = 10.0) -> None:
        self.root = root
        self.history = history
        self.ttl_s = ttl_s
        self._lock = threading.Lock()  # guards the cached values
        # gitpython's Repo is not thread-safe (its persistent `cat-file` pipes deadlock when
        # two threads talk to them): every use of the repository holds this lock.
        self._git_lock = threading.Lock()
        self._repo: git.Repo | None = None
        self._opened = False
        self._diff: tuple[float, dict[str, list[tuple[int, int]]]] = (0.0, {})
        self._refreshing = False
        self._log: tuple[str, list[list[str]]] = ("", [])
        self._head_read: tuple[float, str] | None = None  # (when, HEAD's id)

    def _open(self) -> git.Repo | None:
        if not self._opened:
            self._opened = True
            try:
                import git

                self._repo = git.Repo(self.root, search_parent_directories=False)
            except Exception as error:  # not a repository, or git/gitpython missing
                log.debug("no git signals for %s: %s", self.root, error)
        return self._repo

    def _head(self) -> str:
        """HEAD's commit id, re-read at most every HEAD_TTL_S: resolving it is a round trip
        to git's `cat-file`, and `cochanged` asks on every keystroke.
        """
        now = time.monotonic()
        if self._head_read and now - self._head_read[0] < HEAD_TTL_S:
            return self._head_read[1]
        repo = self._open()
        try:
            head = repo.head.commit.hexsha if repo is not None else ""
        except Exception:  # an empty repository has no HEAD commit
            head = ""
        self._head_read = (now, head)
        return head

    def last_head(self) -> str:
        """HEAD's commit id as last read (requests re-read it every HEAD_TTL_S); "" before."""
        read = self._head_read
        return read[1] if read else ""

    def _read_diff(self) -> dict[str, list[tuple[int, int]]]:
        with self._git_lock:
            return self._read_diff_locked()

    def _read_diff_locked(self) -> dict[str, list[tuple[int, int]]]:
        regions: dict[str, list[tuple[int, int]]] = {}
        if self._head() and self._repo is not None:
            try:
                text = self._repo.git.diff(
                    "HEAD", "-U0", "--no-color", "--no-ext-diff", "--relative"
                )
                regions = parse_diff(text)
            except Exception as error:
                log.debug("git diff failed in %s: %s", self.root, error)
        return regions

    def _refresh_diff(self) -> None:
        regions = self._read_diff()
        with self._lock:
            self._diff = (time.monotonic(), regions)
            self._refreshing = False

    def changed_regions(self) -> dict[str, list[tuple[int, int]]]:
        """Uncommitted (staged or not) line ranges per path, relative to the root.

        The first call reads git; later ones answer from the cache at once and, when it
        is older than the TTL, refresh it on a background thread (a diff of a large repo
        costs tens of milliseconds: too much for a keystroke).
        """
        with self._lock:
            stamp, cached = self._diff
            if stamp:
                if time.monotonic() - stamp >= self.ttl_s and not self._refreshing:
                    self._refreshing = True
                    threading.Thread(
                        target=self._refresh_diff, name="cove-git", daemon=True
                    ).start()
                return cached
        self._refresh_diff()
        return self._diff[1]

    def invalidate(self) -> None:
        """The work tree changed (a save): the next request starts a refresh."""
        with self._lock:
            if self._diff[0]:
                self._diff = (time.monotonic() - self.ttl_s - 1, self._diff[1])

    def warm(self) -> None:
        """Read the diff and the history now (e.g. right after indexing), off the request path."""
        self._refresh_diff()
        with self._git_lock:
            self._commits()

    def _commits(self) -> list[list[str]]:
        """The recent history's file lists (the caller holds the git lock)."""
        head = self._head()
        if not head or self._repo is None:
            return []
        if self._log[0] == head:
            return self._log[1]
        commits: list[list[str]] = []
        try:
            text = self._repo.git.log(
                "-n",
                str(self.history),
                "--name-only",
                "--format=%x00",
                "--relative",
                "--no-renames",
            )
            for block in text.split("\x00"):
                files = [ln.strip() for ln in block.split("\n") if ln.strip()]
                if files:
                    commits.append(files)
        except Exception as error:
            log.debug("git log failed in %s: %s", self.root, error)
        self._log = (head, commits)
        return commits

    def cochanged(self, path: str, limit: int = 5) -> list[tuple[str, float]]:
        """Files that most often changed in the same commits as `path`, with their share."""
        if self._git_lock.acquire(blocking=False):
            try:
                commits = self._commits()
            finally:
                self._git_lock.release()
        else:  # a refresh is talking to git: answer from the history read last time
            commits = self._log[1]
        shares = cochange_counts(commits, path)
        return sorted(shares.items(), key=lambda item: (-item[1], item[0]))[:limit]
