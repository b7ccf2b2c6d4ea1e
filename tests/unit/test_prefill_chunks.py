"""Prompt evaluation in chunks (engine.local.prefill) and the model thread's queue count,
with a fake evaluator (no model): chunk sizes, and what a cancel or deadline stops.
"""

from __future__ import annotations

import itertools
import threading
import time

from engine.local.prefill import ChunkPolicy, evaluate_prompt
from engine.local.worker import ModelWorker

POLICY = ChunkPolicy(small=64, big=512)


def test_big_chunks_when_nothing_waits_small_when_something_does():
    assert POLICY.next_chunk(1400, waiting=False, seconds_left=10, rate=0) == 512
    assert POLICY.next_chunk(1400, waiting=True, seconds_left=10, rate=0) == 64
    assert POLICY.next_chunk(300, waiting=False, seconds_left=10, rate=0) == 300  # the rest
    assert POLICY.next_chunk(25, waiting=True, seconds_left=10, rate=0) == 25  # a keystroke


def test_a_big_chunk_is_cut_to_what_fits_before_the_deadline():
    # 1 s left at 200 tokens/s: 200 fit, cut down to whole small chunks (192).
    assert POLICY.next_chunk(1400, waiting=False, seconds_left=1.0, rate=200) == 192
    assert POLICY.next_chunk(1400, waiting=False, seconds_left=0.01, rate=200) == 64
    assert POLICY.next_chunk(1400, waiting=False, seconds_left=60, rate=200) == 512
    assert ChunkPolicy(64, 64).next_chunk(1400, waiting=False, seconds_left=9, rate=1) == 64


class FakeModel:
    """Records each chunk; `on_chunk` runs inside an evaluation (as a cancel would arrive)."""

    def __init__(self, on_chunk=None) -> None:
        self.chunks: list[int] = []
        self.on_chunk = on_chunk

    def eval(self, chunk) -> None:
        self.chunks.append(len(chunk))
        if self.on_chunk:
            self.on_chunk(len(self.chunks))


def run(model: FakeModel, cancel: threading.Event, tokens: int = 1400, waiting=lambda: False):
    return evaluate_prompt(
        model.eval,
        list(range(tokens)),
        0,
        policy=POLICY,
        stopped=lambda: "cancelled" if cancel.is_set() else "",
        waiting=waiting,
        deadline=time.perf_counter() + 600,
    )


def test_a_cold_prompt_goes_in_big_chunks_and_is_evaluated_whole():
    model = FakeModel()
    stop, rate = run(model, threading.Event())
    assert stop == "" and model.chunks == [512, 512, 376] and rate > 0


def test_a_cancel_during_a_big_chunk_stops_after_that_chunk():
    cancel = threading.Event()
    model = FakeModel(on_chunk=lambda n: cancel.set() if n == 2 else None)
    stop, _ = run(model, cancel)
    # The bound: at most one chunk (<= big tokens) is evaluated after the cancel is set.
    assert stop == "cancelled" and model.chunks == [512, 512]


def test_a_newer_call_waiting_turns_the_rest_into_small_chunks():
    model = FakeModel()
    waits = itertools.chain([False], itertools.repeat(True))  # one arrives after chunk 1
    stop, _ = run(model, threading.Event(), waiting=lambda: next(waits))
    assert stop == "" and model.chunks[0] == 512 and set(model.chunks[1:-1]) == {64}
    assert sum(model.chunks) == 1400


def test_the_worker_counts_calls_queued_behind_the_running_one():
    worker = ModelWorker("test-queue")
    release, running = threading.Event(), threading.Event()

    def block() -> int:
        running.set()
        release.wait(5)
        return worker.waiting

    first = worker.submit(block)
    running.wait(5)
    assert worker.waiting == 0  # the running call is not counted
    second, third = worker.submit(lambda: worker.waiting), worker.submit(lambda: 0)
    assert worker.waiting == 2
    third.cancel()  # dropped before it started: not waiting any more
    assert worker.waiting == 1
    release.set()
    assert first.result(5) == 1 and second.result(5) == 0
    worker.shutdown(wait=True)
    assert worker.waiting == 0
