"""The completion session: requests prepared off the caller's thread, on one version of a
document, with the document's language and kept tree.
"""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from context.completion import CompletionService
from context.document import Document
from context.session import CompletionSession
from engine.templates import QWEN
from engine.types import GenerationResult, TokenCounts


class FakeBackend:
    """Answers `reply` and records which thread counted tokens and what it was asked."""

    model_name = "fake"
    template = QWEN
    heals = False

    def __init__(self, reply: str = "x + 1") -> None:
        self.reply = reply
        self.count_threads: set[str] = set()
        self.requests = []
        self.gate = threading.Event()
        self.gate.set()

    def count_tokens(self, text: str) -> int:
        self.count_threads.add(threading.current_thread().name)
        self.gate.wait(5)
        return len(text) // 4 + 1

    def submit(self, request) -> concurrent.futures.Future[GenerationResult]:
        self.requests.append(request)
        future: concurrent.futures.Future[GenerationResult] = concurrent.futures.Future()
        future.set_result(
            GenerationResult(
                text=self.reply,
                stop_reason="eos",
                tokens=TokenCounts(),
                prefill_ms=1.0,
                generate_ms=1.0,
            )
        )
        return future


SOURCE = "def f(x):\n    return \n"


def test_request_returns_at_once_and_prepares_on_the_session_thread():
    backend = FakeBackend()
    session = CompletionSession(CompletionService(backend=backend))
    doc = Document("file:///a.py", SOURCE, path="/a.py", language_id="python")
    backend.gate.clear()  # token counting blocks (a remote tokenizer over HTTP, say)
    request_id, future, _ = session.request(doc.snapshot(), 1, 11)
    assert not future.done()  # the caller (the event loop) did not wait for it
    backend.gate.set()
    completion = future.result(timeout=5)
    assert completion.text == "x + 1" and request_id.startswith("c")
    assert backend.count_threads == {"cove-prepare_0"}
    session.close()


def test_bad_position_comes_back_through_the_future():
    session = CompletionSession(CompletionService(backend=FakeBackend()))
    doc = Document("u", SOURCE, path="a.py")
    _, future, _ = session.request(doc.snapshot(), 9, 0)
    with pytest.raises(ValueError, match="outside the file"):
        future.result(timeout=5)


def test_a_newer_request_answers_the_queued_older_one_empty():
    backend = FakeBackend()
    session = CompletionSession(CompletionService(backend=backend))
    doc = Document("u", SOURCE, path="a.py")
    backend.gate.clear()
    _, first, _ = session.request(doc.snapshot(), 1, 11)  # preparing, blocked
    _, second, _ = session.request(doc.snapshot(), 1, 11)  # queued: cancels the first
    _, third, _ = session.request(doc.snapshot(), 1, 11)  # cancels the second before it starts
    backend.gate.set()
    assert second.result(timeout=5).stop_reason == "cancelled"
    assert second.result().text == ""
    assert third.result(timeout=5).text in ("x + 1", "")
    first.result(timeout=5)
    assert len(backend.requests) <= 2  # the second never reached the model


def test_a_request_in_another_file_cancels_the_one_left_behind():
    backend = FakeBackend()
    session = CompletionSession(CompletionService(backend=backend))
    a = Document("file:///a.py", SOURCE, path="/a.py")
    b = Document("file:///b.py", SOURCE, path="/b.py")
    backend.gate.clear()
    _, first, _ = session.request(a.snapshot(), 1, 11)  # preparing, blocked
    _, left, cancel_left = session.request(a.snapshot(), 1, 11)  # queued behind it
    _, jumped, _ = session.request(b.snapshot(), 1, 11)  # the user moved to b.py
    assert cancel_left.is_set()
    backend.gate.set()
    assert left.result(timeout=5).stop_reason == "cancelled"
    assert jumped.result(timeout=5).text in ("x + 1", "")
    first.result(timeout=5)
    session.close()


def test_language_id_and_kept_tree_decide_multiline():
    # A .txt path, but the client says Python: the tree-sitter verdict (an empty body) holds.
    backend = FakeBackend("return 1")
    service = CompletionService(backend=backend)
    doc = Document("u", "def f(x):\n    \n", path="notes.txt", language_id="python")
    prepared = service.prepare(doc.snapshot(), 1, 4)
    assert prepared.request.stop.multiline is True
    doc.apply_change((1, 4), (1, 4), "y = g(a,")  # now inside a call's arguments: one line
    doc.apply_change((1, 12), (1, 12), "\n        \n    )")
    assert doc.lines[1:4] == ["    y = g(a,", "        ", "    )"]
    prepared = service.prepare(doc.snapshot(), 2, 8)
    assert doc.snapshot().tree is not None
    assert prepared.request.stop.multiline is False
    plain = service.submit("def f(x):\n    \n", "notes.txt", 1, 4).result(timeout=5)
    assert plain.multiline is True  # the CLI path: the heuristic (a line after `:`)
    by_id = service.submit("x = [\n    \n]\n", "notes.txt", 1, 4, language="python")
    assert by_id.result(timeout=5).multiline is False  # tree-sitter: inside a list


class HealingBackend(FakeBackend):
    """A backend that heals (the local model's kind) and prefers the hybrid layout."""

    heals = True
    layout = "hybrid"


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = threading.Event()
    for _ in range(int(seconds * 100)):
        if condition():
            return
        deadline.wait(0.01)
    raise AssertionError("condition not met in time")


def test_a_line_start_answered_in_psm_warms_the_stable_prompt_the_first_keystroke_needs():
    backend = HealingBackend(reply="return x")
    service = CompletionService(backend=backend)
    session = CompletionSession(service)
    doc = Document("file:///a.py", "def f(x):\n    \n\nprint(f(1))\n", path="/a.py")
    try:
        _, future, _ = session.request(doc.snapshot(), 1, 4)
        assert future.result(5).text == "return x"
        _wait_for(lambda: len(backend.requests) == 2)
        answered, warm = backend.requests
        assert answered.prompt.endswith("<|fim_middle|>")  # psm: the indentation ends the prefix
        assert "def f(x):\n    <|fim_suffix|>" in answered.prompt
        assert warm.max_tokens == 1
        # The next keystroke's prompt (the line has text: stable) is the one warmed.
        doc.apply_change((1, 4), (1, 4), "z")  # not the suggestion: the model runs
        typed = service.prepare(doc.snapshot(), 1, 5).request.prompt
        assert typed == warm.prompt
        _wait_for(lambda: not session.busy())
        # A line with text is stable already: nothing more to warm.
        _, future, _ = session.request(doc.snapshot(), 1, 5)
        future.result(5)
        _wait_for(lambda: not session.busy())
        assert len(backend.requests) == 3
    finally:
        session.close()


def test_no_warm_up_when_the_layout_does_not_change_on_typing():
    backend = HealingBackend(reply="return x")
    backend.layout = "stable"
    session = CompletionSession(CompletionService(backend=backend))
    doc = Document("file:///a.py", "def f(x):\n    \n", path="/a.py")
    try:
        _, future, _ = session.request(doc.snapshot(), 1, 4)
        future.result(5)
        _wait_for(lambda: not session.busy())
        assert len(backend.requests) == 1
    finally:
        session.close()
