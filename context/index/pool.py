"""Worker processes for a full build: parsing, symbols and chunks off the server's GIL.

py-tree-sitter holds the GIL while it parses, so parser threads in one process take turns
(8 parses: 0.112 s serial, 0.156 s on two threads) and a build on threads was no faster
than on one. Separate processes do add up, and they leave the server's own GIL free for
the completions answered meanwhile.

The parent still opens every file itself, after the path, ignore and secret checks of
`context.index.files`, and sends the bytes: a worker never opens a repository file, so
the privacy audit of the server's opens (tests/lsp/test_privacy.py) sees every read.
Workers get plain data (path, bytes, stat) and send plain data back (`ParsedFile`s); the
parent alone writes SQLite.

The pool is started with `spawn` (never `fork`: the server runs llama.cpp threads, and a
forked child inherits their locks in whatever state they were), lazily, only for a build
of many files; it is shut down when that build ends, so a long-running server keeps no
idle processes (a start costs about 0.1 s a worker, once per full build). Workers run at
a lower priority (`os.nice`), so a completion answered during a build gets the cores.

A spawned child normally imports the parent's main module first; in the server that is
the `cove` script, which imports `lsp.cli` and with it pygls, the backends and numpy
(0.26 s a worker, on the cores the build needs). `_WorkerProcess` starts its child with
no main module to import: a worker needs only this module and what it imports.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import time
import types
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from context.index.chunking import ParsedFile, parse_file
from context.index.files import text_of

log = logging.getLogger(__name__)

POOL_MIN_FILES = 64  # fewer files to parse than this: in-process (a pool's start costs more)
MAX_WORKERS = 4  # more processes than this gain little: the one writer becomes the limit
JOB_FILES = 16  # files per task: a round trip per file would cost more than small files do
JOB_BYTES = 1 << 20  # ...or this much text, whichever comes first
WORKER_NICE = 10  # below the server (and its model thread): index work yields to completions

# One file for a worker: relative path, raw bytes, mtime_ns, size, target chunk lines.
Job = tuple[str, bytes, int, int, int]
# A worker's answer for one job: per file its rows or why it was skipped ("minified"),
# and the worker's CPU seconds per step.
Answer = tuple[list[ParsedFile | str], dict[str, float]]


def pool_workers(setting: int) -> int:
    """Worker processes for `context.indexWorkers`: at most one per usable core (0: none)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(0, min(setting, cores, MAX_WORKERS))


_NO_MAIN = types.ModuleType("__main__")  # no __spec__, no __file__: nothing to import


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that does not import the parent's main module."""

    def start(self) -> None:
        """Start the child while `__main__` reads as empty (spawn sends its name or path).

        For the few milliseconds of the start, another thread looking up `__main__` sees
        the empty stand-in; nothing in the server does.
        """
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _NO_MAIN
        try:
            super().start()
        finally:
            sys.modules["__main__"] = main


class _WorkerContext(multiprocessing.context.SpawnContext):
    """`spawn` (never `fork`, see above), with `_WorkerProcess` for the processes."""

    Process = _WorkerProcess


def _start_worker() -> None:
    """In each new worker: yield the cores to the server's own threads."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)


def parse_jobs(jobs: list[Job], safe: bool = False) -> Answer:
    """The rows of each file, as `RepositoryIndex` would make them in-process.

    In a worker a file that raises fails the job (the parent parses it again); `safe`
    (the parent's second try): such a file is logged and skipped as "error".
    """
    clock: dict[str, float] = {}
    out: list[ParsedFile | str] = []
    for path, data, mtime_ns, size, chunk_lines in jobs:
        began = time.thread_time()
        text, reason = text_of(data)
        clock["read"] = clock.get("read", 0.0) + time.thread_time() - began
        if text is None:
            out.append(reason)
            continue
        try:
            out.append(parse_file(path, text, data, mtime_ns, size, chunk_lines, clock))
        except Exception:
            if not safe:
                raise
            log.exception("cannot index %s", path)
            out.append("error")
    return out, clock


WORK = parse_jobs  # what a worker runs (a test swaps in one that fails)


class ParsePool:
    """Worker processes of one build, started at the first job; `close()` ends them.

    A job whose worker fails (an exception, a crash, a result that cannot travel) is
    parsed in-process instead, with one log line; after a crash the pool is not used again
    in this build.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self.broken = False

    def submit(self, jobs: list[Job]) -> Future[Answer] | None:
        """Send one job to a worker; None when the pool cannot take it (parse it here)."""
        if self.broken:
            return None
        try:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=_WorkerContext(),
                    initializer=_start_worker,
                )
            return self._executor.submit(WORK, jobs)
        except (BrokenProcessPool, OSError, RuntimeError) as error:
            self._break(error)
            return None

    def answer(self, future: Future[Answer] | None, jobs: list[Job]) -> Answer:
        """The worker's answer to `jobs`, or the same computed here when the worker failed."""
        if future is None:
            return parse_jobs(jobs, safe=True)
        try:
            return future.result()
        except BrokenProcessPool as error:
            self._break(error)
        except Exception as error:  # one odd batch must not stop the build
            log.warning(
                "index worker failed on %d files from %s (%s: %s); parsing them in-process",
                len(jobs),
                jobs[0][0],
                type(error).__name__,
                error,
            )
        return parse_jobs(jobs, safe=True)

    def _break(self, error: BaseException) -> None:
        if not self.broken:
            log.warning(
                "index worker processes stopped (%s: %s); this build goes on in-process",
                type(error).__name__,
                error,
            )
        self.broken = True

    def close(self) -> None:
        """End the workers (they finish the job at hand); nothing stays running."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
