"""The real server over the wire with a stub completion server as its backend (no model):
debouncing answers a superseded request empty and calls the model once; shutdown + exit
end the server with status 0.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from tests.conftest import git
from tests.remote_stub import Stub, StubHandler
from tests.wire import WireClient

SERVER = [sys.executable, "-m", "lsp.cli", "serve"]
INVOKED = {"triggerKind": 1}


@pytest.fixture
def stub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.daemon_threads = True
    server.stub = Stub(pieces=("x = 1", "\n"))  # type: ignore[attr-defined]
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield server.stub, f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def send(client: WireClient, msg_id: int, method: str, params: dict) -> None:
    body = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
    client.send_bytes(json.dumps(body).encode())


def answers(client: WireClient, ids: set[int], timeout: float = 60) -> dict[int, dict]:
    found: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(ids) and time.monotonic() < deadline:
        message = client.inbox.get(timeout=deadline - time.monotonic())
        if message.get("id") in ids and "method" not in message:
            found[message["id"]] = message
    return found


def test_two_quick_requests_make_one_call_and_shutdown_exits_0(stub_url):
    stub, url = stub_url
    client = WireClient(SERVER)
    try:
        options = {"backend": {"type": "openai", "url": url}, "features": {"debounceMs": 5000}}
        assert client.initialize(options)["status"]["state"] == "ready"
        uri = "file:///tmp/cove-test/stub.py"
        doc = {"uri": uri, "languageId": "python", "version": 1, "text": "def f():\n    \n"}
        client.notify("textDocument/didOpen", {"textDocument": doc})
        edit = {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}}
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [{"range": edit, "text": "r"}],
            },
        )
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": 1, "character": 5},
            "context": {"triggerKind": 2},  # automatic: debounced
        }
        send(client, 101, "textDocument/inlineCompletion", params)
        time.sleep(0.3)  # without a debounce the first would be at the stub by now
        send(client, 102, "textDocument/inlineCompletion", params)  # well within the wait
        got = answers(client, {101, 102})
        assert got[101]["result"]["items"] == []  # superseded: answered, empty
        assert got[102]["result"]["items"][0]["insertText"] == "x = 1"
        assert [path for path, _, _ in stub.requests].count("/v1/completions") == 1
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def test_a_commit_buffer_is_drafted_and_code_is_completed(stub_url, tmp_path):
    stub, url = stub_url
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "shapes.py").write_text("def square(x):\n    return x * x\n")
    git(repo, "add", "-A")
    client = WireClient(SERVER)
    try:
        options = {"backend": {"type": "openai", "url": url}}
        assert client.initialize(options)["status"]["state"] == "ready"
        buffer = repo / ".git" / "COMMIT_EDITMSG"
        text = "\n# Please enter the commit message for your changes.\n"
        buffer.write_text(text)
        for uri, language, body in (
            (buffer.as_uri(), "git-commit", text),
            ((repo / "shapes.py").as_uri(), "python", "def cube(x):\n    return "),
        ):
            doc = {"uri": uri, "languageId": language, "version": 1, "text": body}
            client.notify("textDocument/didOpen", {"textDocument": doc})
        at_start = {"line": 0, "character": 0}
        drafted = client.request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": buffer.as_uri()}, "position": at_start, "context": INVOKED},
        )["result"]["items"]
        assert len(drafted) == 1 and drafted[0]["insertText"] and "command" not in drafted[0]
        assert [path for path, _, _ in stub.requests] == ["/v1/chat/completions"]
        code = client.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": (repo / "shapes.py").as_uri()},
                "position": {"line": 1, "character": 11},
                "context": INVOKED,
            },
        )["result"]["items"]
        assert code and code[0]["command"]["command"] == "cove.accepted"
        assert [path for path, _, _ in stub.requests][-1] == "/v1/completions"
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def indexed(client: WireClient, repo) -> list[str]:
    """Index log lines so far. Read without `drain`, which would swallow a server request
    (a progress token) that `request` must answer.
    """
    lines = [
        n["params"]["message"]
        for n in client.notifications
        if n.get("method") == "window/logMessage"
    ]
    return [line for line in lines if line.startswith(f"index {repo}")]


def test_a_backend_reload_with_context_serves_then_exits_0(stub_url, tmp_path):
    stub, url = stub_url
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "shapes.py").write_text("def square(x):\n    return x * x\n")
    client = WireClient(SERVER)
    try:
        options = {"backend": {"type": "openai", "url": url}, "budget": {"contextTokens": 64}}
        assert client.initialize(options, root=repo)["status"]["state"] == "ready"
        reloaded = {**options, "backend": {**options["backend"], "model": "other-model"}}
        client.notify("workspace/didChangeConfiguration", {"settings": reloaded})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = client.request("workspace/executeCommand", {"command": "cove.status"})
            if status["result"]["model"] == "other-model" and status["result"]["state"] == "ready":
                break
            time.sleep(0.1)
        assert status["result"]["model"] == "other-model"
        uri = (repo / "shapes.py").as_uri()
        doc = {
            "uri": uri,
            "languageId": "python",
            "version": 1,
            "text": "def cube(x):\n    return ",
        }
        client.notify("textDocument/didOpen", {"textDocument": doc})
        answer = client.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": {"line": 1, "character": 11},
                "context": INVOKED,
            },
        )
        assert "items" in answer["result"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(indexed(client, repo)) < 2:
            client.request("workspace/executeCommand", {"command": "cove.status"})
            time.sleep(0.1)
        assert len(indexed(client, repo)) == 2, client.notifications  # once per loaded backend
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
