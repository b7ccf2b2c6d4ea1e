"""Commit-buffer routing, reload and shutdown through the real server (real model).

Debouncing over the wire is tested with a stub backend (tests/lsp/test_stub_backend.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from tests.conftest import git
from tests.lsp.test_server import PATIENT, inline, open_doc, wait_ready
from tests.wire import WireClient

pytestmark = pytest.mark.model

SERVER = [sys.executable, "-m", "lsp.cli", "serve"]


async def start(options: dict, spec: str = "visual-studio-code"):
    client = await ClientServerConfig(server_command=SERVER).start()
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(spec), initialization_options=options
        )
    )
    assert (await wait_ready(client))["state"] == "ready"
    return client


def staged_repo(root: Path) -> Path:
    root.mkdir()
    git(root, "init", "-q")
    (root / "shapes.py").write_text("def square(x):\n    return x * x\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Add square")
    (root / "shapes.py").write_text(
        "def square(x):\n    return x * x\n\n\ndef cube(x):\n    return x * x * x\n"
    )
    git(root, "add", "-A")
    return root


async def test_a_commit_buffer_gets_the_drafted_message_and_code_gets_code(tmp_path: Path):
    repo = staged_repo(tmp_path / "repo")
    client = await start(PATIENT)
    try:
        buffer = repo / ".git" / "COMMIT_EDITMSG"
        text = "\n# Please enter the commit message for your changes.\n"
        buffer.write_text(text)
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=buffer.as_uri(), language_id="git-commit", version=1, text=text
                )
            )
        )
        start_of_buffer = types.Position(line=0, character=0)
        drafted = await inline(client, start_of_buffer, uri=buffer.as_uri())
        assert len(drafted.items) == 1
        subject = drafted.items[0].insert_text.split("\n", 1)[0]
        assert 0 < len(subject) <= 72 and not subject.startswith(("+", "-", "@@"))
        assert drafted.items[0].command is None  # not a code completion
        # A code file of the same repository gets a code completion.
        code = (repo / "shapes.py").as_uri()
        open_doc(client, text="def cube(x):\n    return ", uri=code)
        completed = await inline(client, types.Position(line=1, character=11), uri=code)
        assert completed.items and completed.items[0].command.command == "cove.accepted"
        await client.shutdown_session()
    finally:
        await client.stop()


def loaded(client: WireClient) -> int:
    """How many model loads were logged. Read without `drain`, which would swallow a
    server request (a progress token) that `request` must answer.
    """
    logged = [n for n in client.notifications if n.get("method") == "window/logMessage"]
    return sum(n["params"]["message"].startswith("model ") for n in logged)


def test_a_reload_with_context_then_shutdown_exits_0(tmp_path: Path):
    repo = staged_repo(tmp_path / "repo")
    client = WireClient(SERVER)
    try:
        options = {**PATIENT, "budget": {"contextTokens": 128}}
        ready = client.initialize(options, root=repo)
        assert ready["status"]["state"] == "ready"
        reloaded = {**options, "model": {"contextSize": 2048}}  # a model setting: reload
        client.notify("workspace/didChangeConfiguration", {"settings": reloaded})
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and loaded(client) < 2:
            client.request("workspace/executeCommand", {"command": "cove.status"})
            time.sleep(0.2)
        assert loaded(client) == 2
        uri = (repo / "shapes.py").as_uri()
        text = "def cube(x):\n    return "
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        answer = client.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": {"line": 1, "character": 11},
                "context": {"triggerKind": 2},
            },
        )
        assert answer["result"]["items"]
        assert client.close() == 0  # shutdown closes backend and indexes, then exit: status 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
