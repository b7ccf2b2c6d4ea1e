"""The language server end to end: pytest-lsp drives `cove serve` as a real subprocess,
with the real embedded model.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.conftest import is_circle_area

pytestmark = pytest.mark.model

SERVER = [sys.executable, "-m", "lsp.cli", "serve"]
URI = "file:///tmp/cove-test/geometry.py"
SOURCE = '''import math


def circle_area(radius: float) -> float:
    """Return the area of a circle."""
    return 
'''
CURSOR = types.Position(line=5, character=11)
# Tests check behaviour, not speed: a loaded machine must not turn them into deadline tests.
PATIENT = {
    "generation": {"deadlineMs": 120000},
    "assist": {"deadlineMs": 300000},
    "commit": {"deadlineMs": 300000},
}


async def wait_ready(client: LanguageClient, timeout: float = 120) -> dict:
    """Poll cove.status until the model is loaded (or failed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="cove.status")
        )
        if status["state"] in ("ready", "error"):
            return status
        await asyncio.sleep(0.2)
    raise AssertionError("the model did not load in time")


def open_doc(client: LanguageClient, text: str = SOURCE, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )


def type_text(
    client: LanguageClient, text: str, at: types.Position, version: int, uri: str = URI
) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=at, end=at), text=text
                )
            ],
        )
    )


async def inline(
    client: LanguageClient, position: types.Position, uri: str = URI, explicit: bool = False
):
    kind = types.InlineCompletionTriggerKind
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(
                trigger_kind=kind.Invoked if explicit else kind.Automatic
            ),
        )
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), initialization_options=PATIENT
        )
    )
    status = await wait_ready(lsp_client)
    assert status["state"] == "ready", status
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio(loop_scope="module")
async def test_inline_completion_then_typed_ahead(client: LanguageClient):
    open_doc(client)
    result = await inline(client, CURSOR)
    assert result is not None and len(result.items) == 1
    item = result.items[0]
    suggestion = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    assert is_circle_area(suggestion), suggestion
    assert item.range.start == CURSOR and item.command.command == "cove.accepted"

    # The user types the first two characters of the suggestion: the rest comes from the
    # typed-ahead cache, no model call.
    typed = suggestion[:2]
    type_text(client, typed, CURSOR, version=2)
    after = types.Position(line=CURSOR.line, character=CURSOR.character + len(typed))
    again = await inline(client, after)
    rest = again.items[0].insert_text
    assert rest == suggestion[2:]
    await asyncio.sleep(0.1)
    hits = [m.message for m in client.log_messages if "cache=typed-ahead" in m.message]
    assert hits, [m.message for m in client.log_messages]


@pytest.mark.asyncio(loop_scope="module")
async def test_completion_menu_lists_the_suggestion_then_its_alternatives(client: LanguageClient):
    uri = "file:///tmp/cove-test/fallback.py"
    open_doc(client, uri=uri)
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=CURSOR)
    )  # no context: asked by hand, so the alternatives come too
    assert isinstance(result, types.CompletionList) and 1 <= len(result.items) <= 3
    texts = [i.text_edit.new_text for i in result.items]
    assert len(set(texts)) == len(texts)
    assert [i.sort_text for i in result.items] == [str(k) for k in range(len(texts))]
    item = result.items[0]
    assert item.text_edit.new_text.startswith(item.label.split()[0])
    assert is_circle_area(item.text_edit.new_text)


@pytest.mark.asyncio(loop_scope="module")
async def test_cancellation_returns_promptly_and_next_request_works(client: LanguageClient):
    uri = "file:///tmp/cove-test/cancel.py"
    open_doc(client, text="def fibonacci(n):\n    \n\n", uri=uri)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=1, character=4),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="cancel-me"
        )
    )
    await asyncio.sleep(0.3)  # generating by now (a quiet machine writes the body in ~0.9 s)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(pending, 60)
    await asyncio.sleep(0.2)
    logged = [m.message for m in client.log_messages if "cancel.py" in m.message]
    assert logged and "cancelled" in logged[-1], logged
    # The server still answers, correctly, right after.
    result = await inline(client, CURSOR, explicit=True)  # by hand: the gate cannot hide it
    assert result.items and is_circle_area(result.items[0].insert_text)


@pytest.mark.asyncio(loop_scope="module")
async def test_newer_request_supersedes_older(client: LanguageClient):
    uri = "file:///tmp/cove-test/supersede.py"
    open_doc(client, text="def parse_args(argv):\n    \n", uri=uri)
    older = asyncio.ensure_future(inline(client, types.Position(line=1, character=4), uri=uri))
    await asyncio.sleep(0.2)
    # Asked by hand, so the confidence gate cannot hide the answer this test is about.
    newer = await inline(client, types.Position(line=1, character=4), uri=uri, explicit=True)
    old_result = await older
    assert not old_result.items  # superseded: answered at once, empty
    assert newer.items and newer.items[0].insert_text.strip()
    logged = [m.message for m in client.log_messages if "supersede.py" in m.message]
    assert any("stop=cancelled" in line for line in logged), logged


@pytest.mark.asyncio(loop_scope="module")
async def test_unknown_document_and_bad_position_get_empty_answers(client: LanguageClient):
    result = await inline(client, CURSOR, uri="file:///tmp/cove-test/never-opened.py")
    assert not result.items
    result = await inline(client, types.Position(line=999, character=0))
    assert not result.items
    result = await inline(client, types.Position(line=0, character=500))
    assert not result.items


@pytest.mark.parametrize("spec", ["neovim", "emacs"])
async def test_other_client_capability_sets(spec: str):
    """Neovim and Emacs declare no inlineCompletion capability; both still get answers."""
    client = await ClientServerConfig(server_command=SERVER).start()
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(spec), initialization_options=PATIENT
            )
        )
        assert (await wait_ready(client))["state"] == "ready"
        open_doc(client)
        menu = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI), position=CURSOR
            )
        )
        items = menu.items if isinstance(menu, types.CompletionList) else menu
        assert items and is_circle_area(items[0].text_edit.new_text)
        ghost = await inline(client, CURSOR)
        assert ghost.items and ghost.items[0].insert_text == items[0].text_edit.new_text
        await client.shutdown_session()
    finally:
        await client.stop()


async def test_bad_configuration_falls_back_with_one_message():
    client = await ClientServerConfig(server_command=SERVER).start()
    try:
        options = {
            "generation": {"maxTokens": "lots", "multiline": "sometimes"},
            "bogus": 1,
            "features": {"completion": False},
        }
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("neovim"), initialization_options=options
            )
        )
        # features.completion=false is honoured: only inline completion is registered.
        assert result.capabilities.completion_provider is None
        assert result.capabilities.inline_completion_provider is not None
        assert (await wait_ready(client))["state"] == "ready"
        assert len(client.messages) == 1 and "Cove:" in client.messages[0].message
        logged = " ".join(m.message for m in client.log_messages)
        assert "maxTokens" in logged and "bogus" in logged and "multiline" in logged
        await client.shutdown_session()
    finally:
        await client.stop()
