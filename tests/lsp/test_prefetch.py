"""Prefetch over the wire: the real server with a stub completion server as its backend.

`cove/cursor` with bad params is dropped (no answer, no crash); a didOpen with the editor's
cursor makes one prefetch when nothing else is open and none while a real request is;
a real request supersedes a running prefetch; `features.prefetch: false` turns it off.
"""

from __future__ import annotations

import json
import queue
import time

import pytest

from tests.lsp.test_stub_backend import SERVER, send
from tests.wire import WireClient

URI = "file:///tmp/cove-test/prefetch.py"
TEXT = "import os\n\ndef load(path):\n    with open(path) as f:\n        return \n"
INVOKED = {"triggerKind": 1}


def start(url: str, backend: str = "llama-server", **features) -> WireClient:
    client = WireClient(SERVER)
    options = {
        "backend": {"type": backend, "url": url},
        "features": {"logLevel": "debug", **features},
        "generation": {"minConfidence": 0},
    }
    assert client.initialize(options)["status"]["state"] == "ready"
    return client


def open_at(client: WireClient, line: int, character: int) -> None:
    doc = {"uri": URI, "languageId": "python", "version": 1, "text": TEXT}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    client.notify(
        "cove/cursor",
        {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}},
    )


def completions(stub) -> list[dict]:
    return [body for path, body, _ in stub.requests if path in ("/infill", "/v1/completions")]


def prefetch_lines(client: WireClient) -> list[str]:
    return [t for t in client.log_lines() if t.startswith("prefetch c")]


def wait_until(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def ask(client: WireClient, line: int, character: int, kind: int = 1) -> list[dict]:
    """Items of an inline completion request (1: invoked, 2: automatic)."""
    params = _params(line, character)
    params["context"] = {"triggerKind": kind}
    return client.request("textDocument/inlineCompletion", params)["result"]["items"]


def answer(client: WireClient, msg_id: int, timeout: float = 60) -> dict:
    """The response to `msg_id`; notifications meanwhile are kept (the log is read later)."""
    deadline = time.monotonic() + timeout
    while True:
        message = client.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        if not client._take(message) and message.get("id") == msg_id:
            return message


def finish(client: WireClient) -> None:
    try:
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def test_bad_cursor_params_get_no_answer_and_the_server_stays_up(stub_server):
    _, url = stub_server(pieces=("x = 1", "\n"))
    client = start(url)
    try:
        bad = [
            None,
            [],
            "here",
            {"textDocument": {"uri": 7}, "position": {"line": 0, "character": 0}},
            {"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}},
            {"textDocument": {"uri": URI}, "position": {"line": True, "character": "0"}},
            {"textDocument": {"uri": URI}},
        ]
        for params in bad:
            client.notify("cove/cursor", params)
        client.send_bytes(json.dumps({"jsonrpc": "2.0", "method": "cove/cursor"}).encode())
        status = client.request("workspace/executeCommand", {"command": "cove.status"})
        assert status["result"]["state"] == "ready"
        time.sleep(0.5)  # past the prefetch pause: a bad cursor must not have started one
        unanswered = []
        while True:
            try:
                unanswered.append(client.inbox.get_nowait())
            except queue.Empty:
                break
        assert not [m for m in unanswered if "method" not in m]  # no response to a notification
        client.notifications.extend(m for m in unanswered if "method" in m)
        shown = [n for n in client.notifications if n.get("method") == "window/showMessage"]
        assert shown == [] and prefetch_lines(client) == []
    finally:
        finish(client)


def test_open_and_cursor_make_one_prefetch_whose_answer_serves_the_real_request(stub_server):
    stub, url = stub_server(pieces=("f.read()", "\n"))
    client = start(url)
    try:
        open_at(client, 4, 15)
        wait_until(lambda: prefetch_lines(client))
        time.sleep(0.5)  # a second prefetch (didOpen's own 0:0) would have started by now
        done = prefetch_lines(client)
        assert len(done) == 1 and "prefetch.py:5:16" in done[0] and "stop=cancelled" not in done[0]
        assert len(completions(stub)) == 1
        items = ask(client, 4, 15, kind=2)  # automatic (an invoked one wants alternatives)
        assert items and items[0]["insertText"] == "f.read()"
        assert len(completions(stub)) == 1  # the prefetch's answer, from the cache
    finally:
        finish(client)


def test_typing_then_pausing_prefetches_at_the_end_of_the_edit(stub_server):
    stub, url = stub_server(pieces=("f.read()", "\n"))
    client = start(url)
    try:
        open_at(client, 0, 0)
        wait_until(lambda: prefetch_lines(client))
        edit = {"start": {"line": 4, "character": 15}, "end": {"line": 4, "character": 15}}
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": URI, "version": 2},
                "contentChanges": [{"range": edit, "text": "o"}],
            },
        )
        wait_until(lambda: len(prefetch_lines(client)) == 2)
        first, second = prefetch_lines(client)
        assert "prefetch.py:1:1" in first and "prefetch.py:5:17" in second
        assert len(completions(stub)) == 2
    finally:
        finish(client)


def test_no_prefetch_while_a_real_request_is_open(stub_server):
    stub, url = stub_server(pieces=("f", ".read", "()", "\n"), delay=0.4)
    client = start(url)
    try:
        open_at(client, 4, 15)
        send(client, 101, "textDocument/inlineCompletion", _params(4, 15))  # before the pause
        assert answer(client, 101)["result"]["items"][0]["insertText"] == "f.read()"
        time.sleep(0.6)  # the pause timer fired while 101 was open: nothing starts later
        assert prefetch_lines(client) == []
        assert any("a request is open; none" in t for t in client.log_lines()), client.log_lines()
        assert len(completions(stub)) == 1
    finally:
        finish(client)


def test_a_real_request_supersedes_a_running_prefetch(stub_server):
    stub, url = stub_server(pieces=("f", ".read", "()", "\n"), delay=0.5)
    client = start(url)
    try:
        open_at(client, 4, 15)
        wait_until(lambda: len(completions(stub)) == 1)  # the prefetch reached the model
        items = ask(client, 2, 0)  # the user asks elsewhere, at once
        assert items and items[0]["insertText"] == "f.read()"
        wait_until(lambda: prefetch_lines(client))
        assert "stop=cancelled" in prefetch_lines(client)[0]
        assert len(completions(stub)) == 2
    finally:
        finish(client)


@pytest.mark.parametrize(
    "backend, features",
    [("llama-server", {"prefetch": False}), ("openai", {})],
    ids=["prefetch-off", "openai-server"],
)
def test_prefetch_off_or_an_openai_server_starts_none(stub_server, backend, features):
    """Off when asked; and never with an OpenAI-style server, where every prefetch would be
    a whole (maybe billed) completion request of its own.
    """
    stub, url = stub_server(pieces=("x", "\n"))
    client = start(url, backend, **features)
    try:
        open_at(client, 4, 15)
        time.sleep(1.0)  # well past the pause
        assert completions(stub) == [] and prefetch_lines(client) == []
    finally:
        finish(client)


def _params(line: int, character: int) -> dict:
    return {
        "textDocument": {"uri": URI},
        "position": {"line": line, "character": character},
        "context": INVOKED,
    }
