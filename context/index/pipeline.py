"""A build's files in order, read and parsed a bounded distance ahead of the one writer.

Two ways, the same outcomes: on threads in this process (small builds, or
`context.indexWorkers = 0`), or read here and parsed in worker processes
(`context.index.pool`) for a build of many files. Either way the writer takes outcomes in
the order of the files and commits them in batches.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from context.index.chunking import ParsedFile
from context.index.files import FileEntry
from context.index.pool import JOB_BYTES, JOB_FILES, Answer, Job, ParsePool

LOOKAHEAD_FILES = 128  # files read and parsed ahead of the writer

Todo = Iterable[tuple[FileEntry, tuple | None]]  # a file to read, with its indexed row


@dataclass(frozen=True)
class Outcome:
    """What became of one file: rows to write, a re-stat, or why it was skipped."""

    path: str
    parsed: ParsedFile | None = None
    touched: tuple[str, int, int] | None = None
    skipped: str = ""
    remove: bool = False  # skipped now, but indexed before: its rows go


class Clocks:
    """Per-thread CPU seconds per step, summed at the end of a build."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[dict[str, float]] = []
        self._lock = threading.Lock()
        self.unpaused_until = 0.0  # perf_counter time: `pause()` is not asked before it

    def mine(self) -> dict[str, float]:
        """The calling thread's own clock."""
        clock = getattr(self._local, "clock", None)
        if clock is None:
            clock = self._local.clock = {}
            with self._lock:
                self._all.append(clock)
        return clock

    def add(self, step: str, seconds: float) -> None:
        """Count `seconds` of CPU for `step` on the calling thread."""
        clock = self.mine()
        clock[step] = clock.get(step, 0.0) + seconds

    def total(self) -> dict[str, float]:
        """Every thread's (and worker's) seconds per step, summed."""
        out: dict[str, float] = {}
        with self._lock:
            for clock in self._all:
                for step, seconds in clock.items():
                    out[step] = out.get(step, 0.0) + seconds
        return {step: round(seconds, 4) for step, seconds in out.items()}


def on_threads(
    todo: Todo, threads: int, examine: Callable[[FileEntry, tuple | None], Outcome]
) -> Generator[Outcome, None, None]:
    """`examine` every file on `threads` worker threads, LOOKAHEAD_FILES ahead."""
    items = iter(todo)
    window: deque[Future[Outcome]] = deque()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="cove-index")
    try:

        def fill() -> None:
            for entry, old in itertools.islice(items, LOOKAHEAD_FILES - len(window)):
                window.append(pool.submit(examine, entry, old))

        fill()
        while window:
            outcome = window.popleft().result()
            fill()
            yield outcome
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# A place in the writer's queue: a file settled when read, or a job in a worker (with,
# per file, whether it was indexed before: a file skipped now leaves the index).
_Slot = Outcome | tuple[Future[Answer] | None, list[Job], list[bool]]


def in_workers(
    todo: Todo,
    pool: ParsePool,
    read: Callable[[FileEntry, tuple | None], Outcome | Job],
    clocks: Clocks,
) -> Generator[Outcome, None, None]:
    """Read each file here (`read`: an outcome, or a job to parse), parse in `pool`'s
    workers JOB_FILES at a time, LOOKAHEAD_FILES ahead; outcomes in file order.
    """
    items = iter(todo)
    window: deque[_Slot] = deque()
    ahead = 0  # files in the window
    try:
        while True:
            if ahead <= LOOKAHEAD_FILES - JOB_FILES:  # refill a job's worth at a time
                ahead += _read_ahead(items, window, pool, read, LOOKAHEAD_FILES - ahead)
            if not window:
                return
            slot = window.popleft()
            if isinstance(slot, Outcome):
                ahead -= 1
                yield slot
                continue
            future, jobs, indexed = slot
            ahead -= len(jobs)
            rows, spent = pool.answer(future, jobs)
            for step, seconds in spent.items():
                clocks.add(step, seconds)
            for job, row, known in zip(jobs, rows, indexed, strict=True):
                if isinstance(row, str):
                    yield Outcome(job[0], skipped=row, remove=known)
                else:
                    yield Outcome(job[0], parsed=row)
    finally:
        pool.close()


def _read_ahead(
    items: Iterator[tuple[FileEntry, tuple | None]],
    window: deque[_Slot],
    pool: ParsePool,
    read: Callable[[FileEntry, tuple | None], Outcome | Job],
    room: int,
) -> int:
    """Read up to `room` files into `window`, sending jobs to the pool; files read."""
    jobs: list[Job] = []
    indexed: list[bool] = []
    size = count = 0
    for entry, old in itertools.islice(items, room):
        count += 1
        found = read(entry, old)
        if isinstance(found, Outcome):
            # Before the files of the job being filled: each path comes once, so the
            # writer's order matters only for file ids.
            window.append(found)
            continue
        jobs.append(found)
        indexed.append(old is not None)
        size += len(found[1])
        if len(jobs) >= JOB_FILES or size >= JOB_BYTES:
            window.append((pool.submit(jobs), jobs, indexed))
            jobs, indexed, size = [], [], 0
    if jobs:
        window.append((pool.submit(jobs), jobs, indexed))
    return count
