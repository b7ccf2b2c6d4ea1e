"""Prefetch's pure parts: `cove/cursor` params, positions clamped to the current text, and
the session's rule that a prefetch never displaces a real request (context/session.py).
"""

from __future__ import annotations

import time

import pytest
from lsprotocol import types

from context.completion import CompletionService
from context.document import Document
from context.session import CompletionSession
from lsp.features.prefetch import clamped, parse_cursor
from tests.unit.test_session import SOURCE
from tests.unit.test_session_cancel import LateBackend


def test_good_cursor_params_parse_from_dicts_and_structured_objects():
    params = {"textDocument": {"uri": "file:///a.py"}, "position": {"line": 3, "character": 7}}
    assert parse_cursor(params) == ("file:///a.py", types.Position(line=3, character=7))


@pytest.mark.parametrize(
    "params",
    [
        None,
        [],
        "x",
        {},
        {"textDocument": {"uri": 5}, "position": {"line": 0, "character": 0}},
        {"textDocument": {}, "position": {"line": 0, "character": 0}},
        {"textDocument": {"uri": "file:///a"}, "position": {"line": -1, "character": 0}},
        {"textDocument": {"uri": "file:///a"}, "position": {"line": True, "character": 0}},
        {"textDocument": {"uri": "file:///a"}, "position": {"line": 1.5, "character": 0}},
        {"textDocument": {"uri": "file:///a"}, "position": {"line": 2**40, "character": 0}},
        {"textDocument": {"uri": "file:///a"}, "position": [0, 0]},
        {"textDocument": "file:///a", "position": {"line": 0, "character": 0}},
    ],
)
def test_bad_cursor_params_are_none(params):
    assert parse_cursor(params) is None


def test_a_cursor_reported_before_an_edit_is_clamped_to_the_text():
    lines = ["def f():", "    return 1"]
    assert clamped(lines, types.Position(line=1, character=4), "utf-16") == (1, 4)
    assert clamped(lines, types.Position(line=1, character=99), "utf-16") == (1, 12)
    assert clamped(lines, types.Position(line=9, character=0), "utf-16") == (1, 12)


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert predicate()


@pytest.fixture
def late():
    """(backend, session, document): a session over a backend that answers only when the
    test says so (`backend.pending`), so a request stays in flight; closed afterwards.
    """
    backend = LateBackend()
    session = CompletionSession(CompletionService(backend=backend))
    yield backend, session, Document("u", SOURCE, path="a.py").snapshot()
    session.close()


def test_a_prefetch_never_cancels_a_real_request_and_a_real_request_cancels_it(late):
    backend, session, doc = late
    _, real, real_cancel = session.request(doc, 1, 11)
    wait_for(lambda: len(backend.requests) == 1)
    assert session.prefetch(doc, 0, 0) is None  # a real request is in flight
    assert not real_cancel.is_set()
    backend.pending.set_result(_result())
    real.result(timeout=5)
    wait_for(lambda: not session.busy())

    started = session.prefetch(doc, 1, 4)  # elsewhere: (1, 11) is answered from the cache
    assert started is not None
    wait_for(lambda: len(backend.requests) == 2)
    prefetch_cancel = backend.requests[-1].cancel
    newer = session.prefetch(doc, 0, 9)  # a newer prefetch replaces an older one
    assert newer is not None and prefetch_cancel.is_set()
    _, _, cancel = session.request(doc, 1, 11)  # the user asks: every prefetch gives way
    assert not cancel.is_set()


def _result():
    from engine.types import GenerationResult, TokenCounts

    return GenerationResult(
        text="x", stop_reason="eos", tokens=TokenCounts(), prefill_ms=1.0, generate_ms=1.0
    )


def test_a_document_opened_while_the_model_loaded_is_prefetched_once_it_is_ready():
    import asyncio

    from lsp.features.prefetch import note_opened, note_ready
    from lsp.server import CoveServer

    async def run() -> tuple[bool, bool]:
        ls = CoveServer()
        ls.documents["file:///a.py"] = Document("file:///a.py", SOURCE, path="/a.py")
        note_opened(ls, "file:///a.py")  # the model is not loaded: its timer finds no session
        ls.prefetches.timers.pop("file:///a.py").cancel()
        note_ready(ls)
        waiting = "file:///a.py" in ls.prefetches.timers
        ls.prefetches.forget("file:///a.py")  # closed meanwhile (as didClose does)
        del ls.documents["file:///a.py"]
        note_ready(ls)
        return waiting, bool(ls.prefetches.timers)

    assert asyncio.run(run()) == (True, False)


def test_a_prefetch_is_not_cut_off_at_the_deadline_of_a_request_someone_waits_for(late):
    """A cold prompt takes about the default deadline on two cores: a prefetch, which no one
    waits for and any real request cancels, gets a longer bound; a real request keeps its own.
    """
    from context.session import PREFETCH_DEADLINE_MS

    backend, session, doc = late
    assert session.prefetch(doc, 1, 4) is not None
    wait_for(lambda: len(backend.requests) == 1)
    assert backend.requests[0].deadline_ms == PREFETCH_DEADLINE_MS
    session.request(doc, 1, 11)
    wait_for(lambda: len(backend.requests) == 2)
    assert backend.requests[1].deadline_ms == session.service.generation.deadline_ms
    assert session.service.generation.deadline_ms < PREFETCH_DEADLINE_MS


def test_a_real_request_at_the_prefetched_position_adopts_the_prefetch(late):
    """The user asks where the prefetch is working, on the same text: the request waits for
    the prefetch's answer instead of dropping it and generating the line again; anywhere
    else (or on other text) the prefetch gives way as before.
    """
    backend, session, doc = late
    _, prefetched = session.prefetch(doc, 1, 4)
    wait_for(lambda: len(backend.requests) == 1)
    _, real, cancel = session.request(doc, 1, 4)
    assert real is prefetched and not cancel.is_set()
    assert session.prefetch(doc, 0, 0) is None  # now a real request: no prefetch displaces it
    backend.pending.set_result(_result())
    assert real.result(timeout=5).text == "x" and len(backend.requests) == 1
    wait_for(lambda: not session.busy())

    edited = Document("u", SOURCE + "\n# edited", path="a.py").snapshot()
    _, prefetched = session.prefetch(edited, 0, 3)
    wait_for(lambda: len(backend.requests) == 2)
    other_text = Document("u", SOURCE + "\n# edited", path="a.py").snapshot()
    _, fresh, _ = session.request(other_text, 0, 3)  # equal text, but not this version's lines
    assert fresh is not prefetched and backend.requests[1].cancel.is_set()
