"""Confidence, the stay-silent gate and alternatives with the real embedded model."""

from __future__ import annotations

import sys

import pytest

from context.completion import CompletionService, should_show
from engine.settings import GenerationSettings
from tests.conftest import is_circle_area
from tests.model.test_engine import CIRCLE
from tests.wire import WireClient

pytestmark = pytest.mark.model

PATIENT = GenerationSettings(deadline_ms=120_000)
DEFAULT_GATE = GenerationSettings().min_confidence
# A comment opening an empty file: nothing to go on (the model makes up a script's purpose;
# its least likely token had p = 0.13 here).
UNSURE = "# "
UNSURE_AT = (0, 2)


def test_the_default_gate_is_on():
    assert 0 < DEFAULT_GATE < 1


def test_a_sure_answer_passes_the_default_gate(backend):
    service = CompletionService(backend=backend, generation=PATIENT)
    done = service.complete(CIRCLE, "geometry.py", 5, 11)
    assert is_circle_area(done.text), done
    assert done.confidence is not None and 0 < done.confidence.score <= 1
    assert should_show(done.confidence, DEFAULT_GATE, explicit=False), done.confidence


def test_alternatives_are_distinct_and_leave_the_kv_cache_consistent(backend):
    service = CompletionService(backend=backend, generation=PATIENT)
    before = service.complete(CIRCLE, "geometry.py", 5, 11)
    asked = service.complete(CIRCLE, "geometry.py", 5, 11, alternatives=2)
    texts = [c.text for c in asked.choices()]
    assert 2 <= len(texts) <= 3 and len(set(texts)) == len(texts) and all(t.strip() for t in texts)
    assert asked.text == before.text  # the greedy answer is unchanged by asking for more
    assert asked.tokens.reused >= asked.tokens.prompt - 1  # one prompt, evaluated once
    assert all(c.confidence is not None for c in asked.alternatives)
    # After the branches the cache holds the last one; the next request still gets the
    # greedy answer, reusing the prompt.
    again = service.complete(CIRCLE, "geometry.py", 5, 11)
    assert again.text == before.text and again.tokens.reused >= again.tokens.prompt - 1


def test_an_unsure_position_is_withheld_when_automatic_and_answered_when_asked(tmp_path):
    path = tmp_path / "notes.py"
    path.write_text(UNSURE)
    client = WireClient([sys.executable, "-m", "lsp.cli", "serve"])
    try:
        options = {"generation": {"deadlineMs": 120_000}, "context": {"enabled": False}}
        assert client.initialize(options)["status"]["state"] == "ready"
        doc = {"uri": path.as_uri(), "languageId": "python", "version": 1, "text": UNSURE}
        client.notify("textDocument/didOpen", {"textDocument": doc})
        line, character = UNSURE_AT
        params = {
            "textDocument": {"uri": path.as_uri()},
            "position": {"line": line, "character": character},
        }
        auto = client.request(
            "textDocument/inlineCompletion", {**params, "context": {"triggerKind": 2}}
        )["result"]["items"]
        asked = client.request(
            "textDocument/inlineCompletion", {**params, "context": {"triggerKind": 1}}
        )["result"]["items"]
        logs = client.log_lines()
        assert auto == [], logs
        assert asked and all(i["insertText"].strip() for i in asked), logs
        assert any("withheld" in line for line in logs)
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
