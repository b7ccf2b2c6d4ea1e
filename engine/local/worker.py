"""The model thread and llama.cpp's chatter: one worker owns the context; fd 2 silenced while loading."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level logging to fd 2 while loading (stdout stays untouched)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


P = ParamSpec("P")
R = TypeVar("R")


class ModelWorker:
    """A single thread that runs every call touching the llama.cpp context, in order."""

    def __init__(self, name: str = "cove-model") -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._queued = 0  # calls submitted and not started: prompt evaluation reads it
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Calls queued behind the running one (not started yet)."""
        return self._queued

    def submit(
        self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[R]:
        """Queue `fn(*args, **kwargs)` on the model thread."""

        def started() -> R:
            with self._lock:
                self._queued -= 1
            return fn(*args, **kwargs)

        with self._lock:
            self._queued += 1
        try:
            future = self._pool.submit(started)
        except RuntimeError:  # shut down: nothing was queued
            self._uncount()
            raise
        # A queued call dropped (future cancelled, shutdown) never starts: uncount it.
        future.add_done_callback(lambda f: self._uncount() if f.cancelled() else None)
        return future

    def _uncount(self) -> None:
        with self._lock:
            self._queued -= 1

    def shutdown(self, wait: bool = False) -> None:
        """Stop accepting work and drop queued calls; `wait` for the running one to end."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
