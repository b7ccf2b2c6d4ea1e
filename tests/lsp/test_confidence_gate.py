"""The stay-silent gate over the wire: the real server, a stub completion server that
reports log-probabilities (no model). An unsure automatic suggestion answers empty, the
same position asked explicitly answers it; a server that reports none is never filtered.
"""

from __future__ import annotations

import math
import time

import pytest

from tests.lsp.test_stub_backend import SERVER, answers, send
from tests.wire import WireClient

URI = "file:///tmp/cove-test/gate.py"
AUTOMATIC, INVOKED = {"triggerKind": 2}, {"triggerKind": 1}


@pytest.fixture
def stub(stub_server):
    """Set the stub's script (answering `x = 1`); returns its url."""
    return lambda **script: stub_server(pieces=("x = 1", "\n"), **script)[1]


def start(url: str, min_confidence: float) -> WireClient:
    client = WireClient(SERVER)
    options = {
        "backend": {"type": "openai", "url": url},
        "generation": {"minConfidence": min_confidence},
        "features": {"debounceMs": 0},
    }
    assert client.initialize(options)["status"]["state"] == "ready"
    doc = {"uri": URI, "languageId": "python", "version": 1, "text": "def f():\n    \n"}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    return client


def ask(client: WireClient, context: dict) -> list[dict]:
    params = {
        "textDocument": {"uri": URI},
        "position": {"line": 1, "character": 4},
        "context": context,
    }
    return client.request("textDocument/inlineCompletion", params)["result"]["items"]


def test_an_unsure_automatic_suggestion_is_withheld_and_an_explicit_one_is_not(stub):
    client = start(stub(logprob=math.log(0.2)), min_confidence=0.5)
    try:
        assert ask(client, AUTOMATIC) == []
        assert [i["insertText"] for i in ask(client, INVOKED)] == ["x = 1"]
        logs = [
            n["params"]["message"]
            for n in client.notifications
            if n.get("method") == "window/logMessage"
        ]
        assert any("withheld" in line for line in logs)
        assert any("confidence=0.200" in line for line in logs)
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def test_a_sure_suggestion_and_an_unknown_confidence_pass_the_gate(stub):
    for url in (stub(logprob=math.log(0.9)), stub()):  # sure; no log-probabilities at all
        client = start(url, min_confidence=0.5)
        try:
            assert [i["insertText"] for i in ask(client, AUTOMATIC)] == ["x = 1"]
            assert client.close() == 0
        finally:
            if client.proc.poll() is None:
                client.proc.kill()


def test_an_explicit_request_during_an_automatic_one_wins_and_both_are_answered(stub):
    client = start(stub(logprob=math.log(0.9), delay=0.3), min_confidence=0.5)
    try:
        params = {"textDocument": {"uri": URI}, "position": {"line": 1, "character": 4}}
        send(client, 201, "textDocument/inlineCompletion", {**params, "context": AUTOMATIC})
        time.sleep(0.1)  # the automatic request is at the server, streaming slowly
        send(client, 202, "textDocument/inlineCompletion", {**params, "context": INVOKED})
        got = answers(client, {201, 202})
        assert set(got) == {201, 202}
        assert got[201]["result"]["items"] == []  # superseded: answered, empty
        assert [i["insertText"] for i in got[202]["result"]["items"]] == ["x = 1"]
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
