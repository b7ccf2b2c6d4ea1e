"""The SQLite side of the index: schema, corruption recovery, rows in and out.

One database per repository (stdlib sqlite3, WAL) under the user cache directory, with two
connections: the writer (builds and updates: one transaction per batch of files, every
row of a batch in a few `executemany` calls) and the reader (completion requests). WAL lets
the reader see the last committed batch while the writer works, so a request never waits
for a build. A database SQLite finds corrupt, or with another schema version, is deleted
and rebuilt, with a log line. One that cannot be opened or written (locked by another
process, a read-only or full disk) is never deleted: the store stands in with empty
in-memory tables (completions go on without repository context), says so in one log
line, and the next build tries the file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import operator
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from context.index.chunking import ParsedFile
from context.settings import ContextSettings

log = logging.getLogger(__name__)

SCHEMA_VERSION = "5"
SEARCH_TERMS = 10  # the rarest query words kept: BM25 cost grows with the postings read
SEARCH_POSTINGS = 4000  # stop adding words once this many chunk hits are implied
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, blob TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, language TEXT NOT NULL, lines INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS symbols(
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    start_line INTEGER NOT NULL, end_line INTEGER NOT NULL, signature TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS symbols_lookup ON symbols(name, file_id, start_line);
CREATE INDEX IF NOT EXISTS symbols_file ON symbols(file_id);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize="unicode61 tokenchars '_'");
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
"""


@dataclass(frozen=True)
class SymbolRecord:
    """A symbol row with its file path."""

    path: str
    name: str
    kind: str
    start_line: int
    end_line: int
    signature: str


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk row with its path and BM25 relevance (higher is better)."""

    path: str
    start_line: int
    end_line: int
    text: str
    score: float


def default_index_dir() -> Path:
    """`$XDG_CACHE_HOME/cove/index` (or `~/.cache/cove/index`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cove" / "index"


def database_path(root: Path, settings: ContextSettings) -> Path:
    """Where the index of `root` lives: a file named by a hash of the root's real path."""
    folder = Path(settings.index_dir) if settings.index_dir else default_index_dir()
    digest = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return folder / f"{digest}.sqlite"


class IndexStore:
    """Rows of one repository's index; safe to use from several threads."""

    def __init__(self, root: Path, db_path: Path) -> None:
        self.root = root
        self.db_path = db_path
        self._lock = threading.RLock()  # the writer connection
        self._read_lock = threading.Lock()  # the reader connection
        self.unavailable = ""  # why the file cannot be used now ("" when it can)
        self._corrupt = 0  # 1: a read found the file corrupt; 2: a rebuild was asked for
        self._conn, self._reader = self._open_or_stand_in()
        # Asked again on every keystroke: per-file symbol lists (a write drops the files it
        # changed) and document frequencies (they drift little: a build batch clears them).
        self._cache_lock = threading.Lock()
        self._generation = 0  # bumped after each commit: a read spanning one is not cached
        self._symbols: OrderedDict[str, list[SymbolRecord]] = OrderedDict()
        self._frequencies: dict[str, int] = {}
        self._paths: dict[int, str] | None = None  # id → path, until a file comes or goes
        self._layout = 0  # bumped when a file is added or removed
        self._small_writes = 0

    # -- database lifecycle -------------------------------------------------------------

    def _open_checked(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            conn.executescript(SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                conn.execute("INSERT OR REPLACE INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
                conn.execute("INSERT OR REPLACE INTO meta VALUES('root', ?)", (str(self.root),))
            elif row[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {row[0]} is not {SCHEMA_VERSION}")
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _open_reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA query_only=1")
        return conn

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._open_checked()
        except sqlite3.OperationalError:  # locked, read-only, full: the file may well be fine
            raise
        except sqlite3.DatabaseError as error:
            log.warning(
                "index database %s is unusable (%s); deleting and rebuilding it",
                self.db_path,
                error,
            )
            self._delete_files()
            return self._open_checked()

    def _open_or_stand_in(
        self, announce: bool = True
    ) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        """Writer and reader on the file, or empty in-memory stand-ins when it is unusable
        (`announce`: say so in the log; a retry that fails again stays quiet).
        """
        try:
            conn = self._connect()
            try:
                return conn, self._open_reader()
            except sqlite3.Error:
                conn.close()
                raise
        except (sqlite3.Error, OSError) as error:
            self.unavailable = str(error) or type(error).__name__
            (log.warning if announce else log.debug)(
                "index database %s cannot be used (%s): completions go on without repository "
                "context; the next build tries again",
                self.db_path,
                self.unavailable,
            )
            stand_ins = []
            for _ in range(2):  # writes land in one, reads see the other: always empty
                conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
                conn.executescript(SCHEMA)
                stand_ins.append(conn)
            return stand_ins[0], stand_ins[1]

    def reopen(self) -> bool:
        """Try the file again after it was unusable (or corrupt); True when it is in use."""
        if not self.unavailable and self._corrupt == 0:
            return True
        with self._lock, self._read_lock:
            for conn in (self._reader, self._conn):
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            if self._corrupt:
                self._delete_files()
            was = self.unavailable
            self.unavailable, self._corrupt = "", 0
            self._conn, self._reader = self._open_or_stand_in(announce=not was)
            self._changed(None)
        if not self.unavailable:
            log.info("index database %s is in use again", self.db_path)
        return not self.unavailable

    def take_rebuild(self) -> bool:
        """True once after a read found the file corrupt: the caller should build() now."""
        with self._cache_lock:
            if self._corrupt == 1:
                self._corrupt = 2
                return True
        return False

    def _delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.db_path}{suffix}")

    def reset(self) -> None:
        """Throw the database away and start empty (after corruption found mid-use)."""
        with self._lock, self._read_lock:
            for conn in (self._reader, self._conn):
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._delete_files()
            self.unavailable, self._corrupt = "", 0
            self._conn, self._reader = self._open_or_stand_in()
            self._changed(None)

    def close(self) -> None:
        """Close the database."""
        with self._lock, self._read_lock:
            self._reader.close()
            self._conn.close()

    # -- writing ------------------------------------------------------------------------

    def _next_id(self, table: str) -> int:
        return self._conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0]

    def _file_ids(self, paths: list[str]) -> dict[str, int]:
        """The ids of those of `paths` already indexed."""
        found: dict[str, int] = {}
        for start in range(0, len(paths), 500):  # SQLite's variable limit
            part = paths[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._conn.execute(f"SELECT path, id FROM files WHERE path IN ({marks})", part)
            found.update(rows)
        return found

    def _store(self, parsed: list[ParsedFile]) -> int:
        """Every row of a batch of files (inside a transaction): ids are ours, so each table
        takes one `executemany`, and the FTS rows come from memory, not read back.
        Returns how many of the files are new to the index.
        """
        conn = self._conn
        ids = self._file_ids([item.path for item in parsed])
        for file_id in ids.values():
            self._delete_rows(file_id)
        next_file, next_chunk = self._next_id("files"), self._next_id("chunks")
        new: list[tuple] = []
        changed: list[tuple] = []
        symbols: list[tuple] = []
        chunks: list[tuple[int, int, int, int, str]] = []
        for item in parsed:
            meta = (item.blob, item.mtime_ns, item.size, item.language, item.lines)
            known = ids.get(item.path)
            if known is None:
                file_id, next_file = next_file, next_file + 1
                new.append((file_id, item.path, *meta))
            else:
                file_id = known
                changed.append((*meta, file_id))
            symbols += [
                (file_id, s.name, s.kind, s.start_line, s.end_line, s.signature)
                for s in item.symbols
            ]
            chunks += [
                (next_chunk + n, file_id, start, end, text)
                for n, (start, end, text) in enumerate(item.chunks)
            ]
            next_chunk += len(item.chunks)
        conn.executemany(
            "INSERT INTO files(id, path, blob, mtime_ns, size, language, lines) VALUES(?,?,?,?,?,?,?)",
            new,
        )
        conn.executemany(
            "UPDATE files SET blob=?, mtime_ns=?, size=?, language=?, lines=? WHERE id=?", changed
        )
        conn.executemany(
            "INSERT INTO symbols(file_id, name, kind, start_line, end_line, signature) VALUES(?,?,?,?,?,?)",
            symbols,
        )
        conn.executemany(
            "INSERT INTO chunks(id, file_id, start_line, end_line, text) VALUES(?,?,?,?,?)", chunks
        )
        conn.executemany(
            "INSERT INTO chunks_fts(rowid, text) VALUES(?,?)", [(c[0], c[4]) for c in chunks]
        )
        return len(new)

    def _delete_rows(self, file_id: int) -> None:
        conn = self._conn
        # External-content FTS: a row is removed by replaying its text as a 'delete'.
        conn.execute(
            "INSERT INTO chunks_fts(chunks_fts, rowid, text) SELECT 'delete', id, text FROM chunks WHERE file_id=?",
            (file_id,),
        )
        conn.execute("DELETE FROM chunks WHERE file_id=?", (file_id,))
        conn.execute("DELETE FROM symbols WHERE file_id=?", (file_id,))

    def _remove(self, path: str) -> bool:
        """Delete one file's rows (inside a transaction)."""
        row = self._conn.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()
        if row is None:
            return False
        self._delete_rows(row[0])
        self._conn.execute("DELETE FROM files WHERE id=?", (row[0],))
        return True

    def write(
        self,
        parsed: list[ParsedFile],
        touched: list[tuple[str, int, int]],
        removed: list[str],
        clock: dict[str, float] | None = None,
    ) -> None:
        """One transaction: new rows, re-stat'ed rows, removed files.

        `clock`, when given, gains this thread's CPU seconds for "write" (rows, FTS
        included) and "commit".
        """
        parsed = list({item.path: item for item in parsed}.values())  # the newest per path
        with self._lock:
            began = time.thread_time()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                added = self._store(parsed) if parsed else 0
                self._conn.executemany(
                    "UPDATE files SET mtime_ns=?, size=? WHERE path=?",
                    [(m, s, p) for p, m, s in touched],
                )
                for path in removed:
                    self._remove(path)
                written = time.thread_time()
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # a full disk may have rolled it back already
                    self._conn.execute("ROLLBACK")
                raise
            if clock is not None:
                clock["write"] = clock.get("write", 0.0) + written - began
                clock["commit"] = clock.get("commit", 0.0) + time.thread_time() - written
            if parsed or removed:
                self._changed(
                    [item.path for item in parsed] + list(removed), bool(added or removed)
                )

    def _changed(self, paths: list[str] | None, layout: bool = True) -> None:
        """After a commit: drop what the caches hold of `paths` (None: everything);
        `layout`: files were added or removed.
        """
        with self._cache_lock:
            self._generation += 1
            if layout or paths is None:
                self._layout += 1
                self._paths = None
            if paths is None or len(paths) > 64:
                self._symbols.clear()
            else:
                for path in paths:
                    self._symbols.pop(path, None)
            self._small_writes += 1
            if paths is None or len(paths) > 16 or self._small_writes > 256:
                self._frequencies.clear()
                self._small_writes = 0

    def known(self) -> dict[str, tuple[str, int, int]]:
        """Indexed path → (blob hash, mtime_ns, size)."""
        rows = self._query("SELECT path, blob, mtime_ns, size FROM files")
        return {path: (blob, mtime, size) for path, blob, mtime, size in rows}

    # -- reading ------------------------------------------------------------------------

    def _query(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self._read_lock:
            try:
                return self._reader.execute(sql, tuple(args)).fetchall()
            except sqlite3.OperationalError as error:  # e.g. an FTS syntax problem: no hits
                log.debug("index query failed: %s", error)
                return []
            except sqlite3.DatabaseError as error:  # the file went bad under us: rebuild it
                if self._corrupt == 0:
                    self._corrupt = 1
                    log.warning(
                        "index database %s is corrupt (%s): rebuilding it", self.db_path, error
                    )
                return []

    def file_count(self) -> int:
        """Files in the index."""
        rows = self._query("SELECT COUNT(*) FROM files")
        return rows[0][0] if rows else 0

    def has_file(self, path: str) -> bool:
        """True when `path` (relative) is indexed."""
        return bool(self._query("SELECT 1 FROM files WHERE path=?", (path,)))

    def paths(self) -> list[str]:
        """Every indexed path, sorted."""
        return [r[0] for r in self._query("SELECT path FROM files ORDER BY path")]

    def _paths_by_id(self) -> dict[int, str]:
        """File id → path, re-read after a file was added or removed."""
        with self._cache_lock:
            cached, layout = self._paths, self._layout
        if cached is not None:
            return cached
        table = dict(self._query("SELECT id, path FROM files"))
        with self._cache_lock:
            if layout == self._layout:
                self._paths = table
        return table

    def definitions(self, names: Iterable[str], per_name: int = 4) -> list[SymbolRecord]:
        """Symbols named any of `names` (at most `per_name` each), by path and line."""
        wanted = sorted(set(names))
        paths = self._paths_by_id()
        chosen: list[int] = []
        for start in range(0, len(wanted), 500):  # SQLite's variable limit
            part = wanted[start : start + 500]
            # Ranked from the covering index, whole rows read for the winners only: a name
            # like `__init__` has a thousand definitions in a large repository.
            rows = self._query(
                "SELECT name, file_id, start_line, id FROM symbols "
                f"WHERE name IN ({','.join('?' * len(part))})",
                part,
            )
            rows.sort(key=lambda r: (r[0], paths.get(r[1], ""), r[2]))
            for _, group in itertools.groupby(rows, key=operator.itemgetter(0)):
                chosen += [row[3] for row in itertools.islice(group, per_name)]
        out: list[SymbolRecord] = []
        for start in range(0, len(chosen), 500):
            ids = chosen[start : start + 500]
            rows = self._query(
                "SELECT f.path, s.name, s.kind, s.start_line, s.end_line, s.signature FROM symbols s "
                f"JOIN files f ON f.id = s.file_id WHERE s.id IN ({','.join('?' * len(ids))})",
                ids,
            )
            out += [SymbolRecord(*row) for row in rows]
        return sorted(out, key=lambda r: (r.name, r.path, r.start_line))

    def symbol_names(self) -> set[str]:
        """Every distinct symbol name in the index."""
        return {r[0] for r in self._query("SELECT DISTINCT name FROM symbols")}

    def symbols_in(self, path: str) -> list[SymbolRecord]:
        """Every symbol of one file, in line order (a fresh list; cached rows)."""
        with self._cache_lock:
            cached = self._symbols.get(path)
            generation = self._generation
        if cached is None:
            rows = self._query(
                "SELECT f.path, s.name, s.kind, s.start_line, s.end_line, s.signature "
                "FROM symbols s JOIN files f ON f.id = s.file_id WHERE f.path=? "
                "ORDER BY s.start_line, s.name",
                (path,),
            )
            cached = [SymbolRecord(*row) for row in rows]
            with self._cache_lock:
                if generation == self._generation:  # no commit since the read began
                    self._symbols[path] = cached
                    if len(self._symbols) > 256:
                        self._symbols.popitem(last=False)
        return list(cached)

    def lines(self, path: str, start: int, end: int) -> list[str]:
        """Lines `start`..`end` (1-based, inclusive) of an indexed file, from its chunks."""
        rows = self._query(
            "SELECT c.start_line, c.text FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.path=? AND c.end_line >= ? AND c.start_line <= ? ORDER BY c.start_line",
            (path, start, end),
        )
        out: list[str] = []
        for first, text in rows:
            for offset, line in enumerate(text.split("\n")):
                if start <= first + offset <= end:
                    out.append(line)
        return out

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many chunks hold each term (terms absent from the index are left out).

        Cached per term: the words near the cursor repeat from one keystroke to the next.
        A count may lag a few one-file updates behind; it only ranks words by rarity.
        """
        wanted = list(dict.fromkeys(terms))
        with self._cache_lock:
            found = {t: self._frequencies[t] for t in wanted if t in self._frequencies}
        missing = [t for t in wanted if t not in found]
        for start in range(0, len(missing), 500):  # SQLite's variable limit
            part = missing[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._query(f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", part)
            fresh = dict(rows)
            found.update(fresh)
            with self._cache_lock:
                if len(self._frequencies) > 50_000:
                    self._frequencies.clear()
                self._frequencies.update(fresh)
        return {t: found[t] for t in wanted if t in found}

    def search(self, terms: Iterable[str], limit: int) -> list[ChunkRecord]:
        """BM25 over chunks: the best `limit` for the rarest of `terms` (any of them).

        Only the rarest words are asked: they carry the similarity, and common words
        would make SQLite score most of the index on every keystroke.
        """
        words = [t for t in dict.fromkeys(terms) if t and '"' not in t]
        if not words or limit <= 0:
            return []
        chosen: list[str] = []
        postings = 0
        for word, count in sorted(
            self.document_frequencies(words).items(), key=lambda i: (i[1], i[0])
        ):
            if len(chosen) >= SEARCH_TERMS or (chosen and postings + count > SEARCH_POSTINGS):
                break
            chosen.append(word)
            postings += count
        if not chosen:
            return []
        match = " OR ".join(f'"{w}"' for w in chosen)
        # Rank rowids first, then join the few winners: joining every hit to its text
        # before sorting costs twice as much.
        rows = self._query(
            "SELECT f.path, c.start_line, c.end_line, c.text, -hit.score FROM "
            "(SELECT rowid AS id, bm25(chunks_fts) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY score, id LIMIT ?) AS hit "
            "JOIN chunks c ON c.id = hit.id JOIN files f ON f.id = c.file_id "
            "ORDER BY hit.score, hit.id",
            (match, limit),
        )
        return [ChunkRecord(*row) for row in rows]
