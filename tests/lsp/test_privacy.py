"""Privacy over the wire with a remote backend (a recording OpenAI-style stub, no model):
canary files are never opened, canary values never reach the server nor the log.

The server runs under tests/guard/sitecustomize.py, which records every path the process
opens (`sys.addaudithook`), so "never opened" is observed, not inferred from the index.
"""

from __future__ import annotations

import io
import threading
from http.server import ThreadingHTTPServer

import pytest

from engine.remote.scrub import PLACEHOLDER
from tests.conftest import git
from tests.privacy import (
    AWS_KEY,
    CANARY_VALUES,
    GITHUB_TOKEN,
    MAIN,
    MAIN_CURSOR,
    PRIVATE_KEY,
    guard_lines,
    guarded_server,
    make_canary_repo,
    poke_escapes,
    wait_indexed,
)
from tests.remote_stub import Stub, StubHandler
from tests.wire import WireClient

# The open buffer holds secrets too: pasted keys the user has not saved yet.
BUFFER = f'AWS_KEY = "{AWS_KEY}"\nPEM = """{PRIVATE_KEY}"""\n' + MAIN
CURSOR = {"line": MAIN_CURSOR["line"] + BUFFER.count("\n") - MAIN.count("\n"), "character": 11}
CONFIG = f'API_TOKEN = "{GITHUB_TOKEN}"\nREGION = "eu-west-1"\n\n\ndef ring_region():\n    return REGION\n'


class RecordingHandler(StubHandler):
    """The stub, keeping every body it receives, token-count requests included."""

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, raw.decode("utf-8", "replace")))  # type: ignore[attr-defined]
        stream, self.rfile = self.rfile, io.BytesIO(raw)  # the stub reads the body again
        try:
            super().do_POST()
        finally:
            self.rfile = stream  # the connection's next request comes from the socket


@pytest.fixture
def recorder():
    """A recording OpenAI-compatible server: every request body is kept."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    server.stub = Stub(pieces=("math.pi * (outer**2 - inner**2)", "\n"))  # type: ignore[attr-defined]
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield server, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def run_remote_session(client: WireClient, repo, url: str) -> dict:
    """Index, complete with context, explain + docstring actions, a commit draft, escapes."""
    options = {
        "backend": {"type": "openai", "url": url},
        "budget": {"contextTokens": 512},
        "generation": {"contextWhen": "always"},  # context on every request, not only APIs
        "context": {"indexDir": str(repo.root.parent / "index")},
        "features": {"debounceMs": 0},
    }
    assert client.initialize(options, root=repo.root)["status"]["state"] == "ready"
    wait_indexed(client, repo.root)
    uri = (repo.root / "main.py").as_uri()
    doc = {"uri": uri, "languageId": "python", "version": 1, "text": BUFFER}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    invoked = {"textDocument": {"uri": uri}, "position": CURSOR, "context": {"triggerKind": 1}}
    completion = client.request("textDocument/inlineCompletion", invoked)["result"]["items"]
    at_def = {"start": {"line": CURSOR["line"] - 1, "character": 4}}
    at_def["end"] = at_def["start"]
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": at_def, "context": {"diagnostics": []}},
    )["result"]
    draft = client.request(
        "workspace/executeCommand",
        {"command": "cove.draftCommitMessage", "arguments": [{"repo": str(repo.root)}]},
    )["result"]
    escapes = poke_escapes(client, repo)
    return {"completion": completion, "actions": actions, "draft": draft, "escapes": escapes}


def test_remote_session_never_sends_nor_logs_a_canary(recorder, tmp_path):
    server, url = recorder
    stub = server.stub
    repo = make_canary_repo(tmp_path)
    (repo.root / "config.py").write_text(CONFIG)  # indexed: a secret inside ordinary code
    (repo.root / ".env").write_text(f"AWS_ACCESS_KEY_ID={AWS_KEY}\nNEW=1\n")
    git(repo.root, "add", "config.py", ".env")  # the draft's diff holds both
    guard, log_file = tmp_path / "guard.log", tmp_path / "cove.log"
    client = WireClient(guarded_server(guard, block=False, log_file=log_file))
    try:
        session = run_remote_session(client, repo, url)
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()

    assert session["completion"] and session["completion"][0]["insertText"]
    titles = {action["title"] for action in session["actions"]}
    assert {"Cove: Explain", "Cove: Write docstring"} <= titles
    assert session["draft"]
    assert [answer["result"] for answer in session["escapes"]] == ["", "", ""]  # refused
    paths = [path for path, _, _ in stub.requests]
    assert "/v1/completions" in paths and "/v1/chat/completions" in paths
    sent = [body for _, body in server.received]  # as sent: JSON, with its escapes
    assert len(sent) > len(stub.requests)  # token counts were asked too
    # The secrets were in what the server was asked to send, and left scrubbed.
    assert any(PLACEHOLDER in body for body in sent)
    assert any("ring_region" in body for body in sent), "repository context was not sent"
    for value in CANARY_VALUES:
        assert not any(value in body for body in sent), f"{value[:8]}... reached the server"
    logged = log_file.read_text(encoding="utf-8", errors="replace")
    assert "inlineCompletion" in logged or "completion" in logged
    for value in CANARY_VALUES:
        assert value not in logged, f"{value[:8]}... is in the log"

    starts, opened, _ = guard_lines(guard)
    assert starts, "the audit guard did not run in the server"
    assert str(repo.root / "geometry.py") in opened  # the audit sees the index's reads
    assert repo.forbidden(opened) == []
