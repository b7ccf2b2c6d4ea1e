"""A request the client cancelled while the model worked ends quietly (context/session.py)."""

from __future__ import annotations

import concurrent.futures
import time

from context.completion import CompletionService
from context.document import Document
from context.session import CompletionSession
from engine.types import GenerationResult, TokenCounts
from tests.unit.test_session import SOURCE, FakeBackend


class LateBackend(FakeBackend):
    """Answers only when the test says so."""

    def submit(self, request):
        self.requests.append(request)
        self.pending: concurrent.futures.Future = concurrent.futures.Future()
        return self.pending


def test_the_model_answering_a_cancelled_request_logs_no_error(caplog):
    backend = LateBackend()
    session = CompletionSession(CompletionService(backend=backend))
    doc = Document("u", SOURCE, path="a.py")
    _, future, _ = session.request(doc.snapshot(), 1, 11)
    deadline = time.monotonic() + 5
    while not backend.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.cancel()  # the client's $/cancelRequest reached the handler first
    backend.pending.set_result(
        GenerationResult(
            text="x", stop_reason="eos", tokens=TokenCounts(), prefill_ms=1.0, generate_ms=1.0
        )
    )
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert not session.busy()
    session.close()
