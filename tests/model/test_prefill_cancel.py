"""A cancel during a big-chunk prompt evaluation, with the real embedded model: the cold
prompt goes in big chunks, and after the cancel at most one more chunk is evaluated.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from engine.local.prefill import BIG, ChunkPolicy
from engine.local.states import KeptStates
from engine.types import GenerationRequest

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cold(backend):
    """The backend with big chunks, no kept states and an empty KV cache; restored after."""
    kept, chunks = backend.kept, backend.chunks
    backend.kept, backend.chunks = KeptStates(0), ChunkPolicy(small=64, big=BIG)

    def forget() -> None:
        backend.llm.n_tokens = 0

    backend.worker.submit(forget).result()
    yield backend
    backend.kept, backend.chunks = kept, chunks


def test_a_cancel_during_a_big_chunk_stops_after_that_chunk(cold):
    text = (ROOT / "context" / "completion.py").read_text(encoding="utf-8")[:6000]
    request = GenerationRequest(prompt=text, max_tokens=1, deadline_ms=120_000)
    assert len(cold.tokenize(text)) > 3 * BIG
    seen: list[int] = []  # the evaluated token counts the watcher saw, in order
    done = threading.Event()

    def watch() -> None:  # cancel once the first chunk is in: the second is then running
        while not done.is_set():
            n = cold.llm.n_tokens
            if n and (not seen or seen[-1] != n):
                seen.append(n)
                if not request.cancel.is_set():
                    request.cancel.set()
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    future = cold.submit(request)
    watcher.start()
    result = future.result(timeout=120)
    done.set()
    watcher.join(5)
    evaluated = cold.worker.submit(lambda: cold.llm.n_tokens).result()
    assert result.stop_reason == "cancelled" and result.text == ""
    assert seen[0] == BIG  # a cold prompt with nothing waiting: one big chunk first
    assert evaluated - seen[0] <= BIG  # at most the chunk in flight when the cancel came
