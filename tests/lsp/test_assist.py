"""Explain, docstring and commit message through the real server (pytest-lsp, real model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from tests.lsp.test_server import PATIENT, open_doc, wait_ready

pytestmark = pytest.mark.model

SERVER = [sys.executable, "-m", "lsp.cli", "serve"]
SOURCE = """import math


def circle_area(radius):
    return math.pi * radius ** 2
"""


async def start(spec: str):
    client = await ClientServerConfig(server_command=SERVER).start()
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(spec), initialization_options=PATIENT
        )
    )
    assert (await wait_ready(client))["state"] == "ready"
    return client


def at_cursor(uri: str, line: int, character: int) -> types.CodeActionParams:
    """A code-action request for an empty selection at (line, character), as editors send."""
    cursor = types.Position(line=line, character=character)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=cursor, end=cursor),
        context=types.CodeActionContext(diagnostics=[]),
    )


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


async def test_docstring_action_resolves_to_an_edit_below_the_signature(tmp_path: Path):
    client = await start("visual-studio-code")
    try:
        uri = (tmp_path / "geometry.py").as_uri()
        open_doc(client, SOURCE, uri)
        actions = await client.text_document_code_action_async(at_cursor(uri, 3, 4))
        titles = [a.title for a in actions]
        assert "Cove: Write docstring" in titles and "Cove: Explain" in titles
        docstring = next(a for a in actions if a.title == "Cove: Write docstring")
        assert docstring.edit is None  # VS Code resolves: the model runs in resolve
        resolved = await client.code_action_resolve_async(docstring)
        change = resolved.edit.document_changes[0]
        assert change.text_document.version == 1
        edit = change.edits[0]
        assert edit.range.start.line == 4 and '"""' in edit.new_text

        # No action on a blank line outside any definition.
        blank = await client.text_document_code_action_async(at_cursor(uri, 1, 0))
        assert not any(a.title == "Cove: Write docstring" for a in blank or [])

        markdown = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="cove.explain",
                arguments=[
                    {
                        "uri": uri,
                        "range": {
                            "start": {"line": 3, "character": 0},
                            "end": {"line": 4, "character": 0},
                        },
                    }
                ],
            )
        )
        assert isinstance(markdown, str) and len(markdown.split()) >= 3
        await client.shutdown_session()
    finally:
        await client.stop()


async def test_emacs_gets_a_populated_edit_and_commit_message_command(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "T")
    (repo / "shapes.py").write_text("def square(x):\n    return x * x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Add square")
    (repo / "shapes.py").write_text(
        "def square(x):\n    return x * x\n\n\ndef cube(x):\n    return x * x * x\n"
    )
    git(repo, "add", "-A")

    client = await start("emacs")
    try:
        uri = (repo / "shapes.py").as_uri()
        open_doc(client, (repo / "shapes.py").read_text(), uri)
        actions = await client.text_document_code_action_async(at_cursor(uri, 4, 0))
        docstring = next(a for a in actions if a.title == "Cove: Write docstring")
        assert docstring.edit is not None  # eglot has no resolveSupport: the edit comes at once
        assert docstring.edit.document_changes[0].edits[0].range.start.line == 5

        message = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="cove.draftCommitMessage", arguments=[{"repo": str(repo)}]
            )
        )
        subject = message.split("\n", 1)[0]
        assert (
            0 < len(subject) <= 72
            and "```" not in message
            and not subject.startswith(("+", "-", "@@"))
        )
        await client.shutdown_session()
    finally:
        await client.stop()
