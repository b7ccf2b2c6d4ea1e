"""Prefetch with the real embedded model: the first suggestion in a file is the same with
and without a prefetch, and after one the real request evaluates fewer new prompt tokens
(a prefetch cut short by it leaves its evaluated prefix in the KV cache; a finished one
answers from the result cache).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from context.completion import CompletionService
from context.document import Document
from context.session import CompletionSession
from engine.local.states import KeptStates
from engine.settings import GenerationSettings

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
PATIENT = GenerationSettings(deadline_ms=120_000, multiline="never")


def opened(name: str):
    """(snapshot, line, column): a real file of this project, its middle code line cut
    halfway (something for the model to finish), as an editor that just opened it holds it.
    """
    lines = (ROOT / name).read_text(encoding="utf-8").split("\n")
    i = next(k for k in range(len(lines) // 2, len(lines)) if len(lines[k].strip()) > 16)
    indent = len(lines[i]) - len(lines[i].lstrip())
    cut = indent + len(lines[i].strip()) // 2
    text = "\n".join([*lines[:i], lines[i][:cut], *lines[i + 1 :]])
    document = Document(f"file:///{name}", text, path=name, language_id="python")
    return document.snapshot(), i, cut


@pytest.fixture
def cold(backend):
    """The backend without kept states (a file's prompt comes back only through prefetch)."""
    original = backend.kept
    backend.kept = KeptStates(0)
    yield backend
    backend.kept = original


def first_suggestion(backend, document, line, column, prefetch_s: float | None, asked=None):
    """A fresh session's first answer at (line, column); with `prefetch_s`, a prefetch
    starts that long before the request (0: the request waits until the prefetch has
    finished). A request for the prefetch's own document version adopts a prefetch still
    running; one for `asked` (another version, the same text) supersedes it.
    Returns (the answer, whether the request adopted the prefetch).
    """
    session = CompletionSession(CompletionService(backend=backend, generation=PATIENT))
    try:
        if prefetch_s is not None:
            started = session.prefetch(document, line, column)
            assert started is not None
            if prefetch_s:
                time.sleep(prefetch_s)
            else:
                assert started[1].result(timeout=300).stop_reason != "cancelled"
        _, future, _ = session.request(asked or document, line, column)
        adopted = prefetch_s is not None and future is started[1]
        return future.result(timeout=300), adopted
    finally:
        session.close()


def flush(backend) -> None:
    """Put another file's prompt in the KV cache: the next prompt starts cold."""
    other, line, column = opened("engine/templates.py")
    first_suggestion(backend, other, line, column, None)


def test_a_prefetch_gives_the_same_suggestion_for_fewer_new_tokens(cold):
    document, line, column = opened("context/completion.py")
    flush(cold)
    plain, _ = first_suggestion(cold, document, line, column, None)
    assert plain.tokens.new >= 256 and plain.text  # a real, cold prompt
    flush(cold)
    # Cut short: a request for another version of the same text comes while the prefetch
    # still evaluates the prompt (about 1,000 tokens take several seconds on two cores).
    text = "\n".join(document.lines)
    again = Document(document.uri, text, path=document.path, language_id="python").snapshot()
    cut, adopted = first_suggestion(cold, document, line, column, 1.0, asked=again)
    assert not adopted
    flush(cold)
    whole, _ = first_suggestion(cold, document, line, column, 0)  # the prefetch finished
    for after in (cut, whole):
        assert after.text == plain.text
        assert after.tokens.new < plain.tokens.new, (plain.tokens, after.tokens, after.cache)
    assert whole.cache == "result" and whole.tokens.new == 0
    flush(cold)
    # The same version while the prefetch still runs (on two cores it does: see above):
    # the request takes its answer, the prompt evaluated once. A machine fast enough to
    # finish it within the second answers from the result cache instead.
    joined, adopted = first_suggestion(cold, document, line, column, 1.0)
    assert joined.text == plain.text and (adopted or joined.cache == "result")
