"""Inline completion (ghost text), the completion-menu fallback, and `cove.accepted`.

Handlers convert, call the session, convert back. An automatic request first waits for
the user's typing to pause (`features.debounceMs`, adapted to their rhythm by
`context.debounce`); a newer request for the same document during that wait answers the
older one at once, empty. A commit-message buffer (decided when it opened) gets the
drafted message instead (`lsp.features.assist.commit_inline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from lsprotocol import types

from context.completion import Completion, should_show
from context.document import Snapshot
from engine.types import CompletionError
from lsp.convert import (
    completion_items,
    inline_items,
    to_client_position,
    to_server_position,
)
from lsp.features.assist import commit_inline

log = logging.getLogger(__name__)


def note_keystroke(ls) -> None:
    """A didChange: one more interval of the user's typing rhythm."""
    ls.rhythm.note_edit(time.monotonic())


async def wait_for_pause(ls, uri: str, explicit: bool) -> bool:
    """Debounce an automatic request; False when a newer one for `uri` came meanwhile."""
    ticket = object()
    ls.newest_request[uri] = ticket
    delay_ms = 0.0
    if not explicit:
        delay_ms = ls.rhythm.delay_ms(time.monotonic(), ls.settings.features.debounce_ms)
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)
    if ls.newest_request.get(uri) is not ticket:
        ls.log_to_client("debug", f"{uri.rsplit('/', 1)[-1]}: superseded while debouncing")
        return False
    return True


def log_line(kind: str, request_id: str, uri: str, line: int, character: int, c: Completion):
    """The one log line of a completion: id, place, cache, tokens, milliseconds, stop."""
    t, n = c.timings, c.tokens
    return (
        f"{kind} {request_id} {uri.rsplit('/', 1)[-1]}:{line + 1}:{character + 1} "
        f"cache={c.cache or 'miss'} tokens new={n.new} reused={n.reused} generated={n.generated} "
        f"ms context={t.context_ms:.0f} prefill={t.prefill_ms:.0f} generate={t.generate_ms:.0f} "
        f"total={t.total_ms:.0f} stop={c.stop_reason} "
        f"confidence={f'{c.confidence.score:.3f}' if c.confidence else 'unknown'}"
        + (
            f" alternatives={len(c.alternatives)} ({c.alternatives_ms:.0f} ms)"
            if c.alternatives
            else ""
        )
    )


def language_enabled(ls, uri: str) -> bool:
    """False for a document in one of `features.disabledLanguages`."""
    doc = ls.documents.get(uri)
    language = doc.language_id if doc is not None else None
    return not (language and language in ls.settings.features.disabled_languages)


async def _complete(ls, uri: str, position: types.Position, kind: str, explicit: bool):
    """Shared body of inline and menu completion: (completion, client position) or None.

    An automatic request below `generation.minConfidence` answers empty (stays silent); an
    explicit one is never filtered and gets the alternatives too.
    """
    if ls.session is None or not language_enabled(ls, uri):
        return None
    document = ls.document(uri)  # this version: its lines, language and kept tree
    if document is None:
        ls.log_to_client("info", f"{kind}: unknown document {uri}; empty answer")
        return None
    try:
        line, character = to_server_position(document.lines, position, ls.encoding)
    except ValueError as error:
        ls.log_to_client("info", f"{kind}: {error}; empty answer")
        return None
    # Prepared on the session's thread: the loop only converts and awaits.
    request_id, future, cancel = ls.session.request(document, line, character, explicit=explicit)
    where = f"{uri.rsplit('/', 1)[-1]}:{line + 1}:{character + 1}"
    try:
        completion = await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        cancel.set()  # $/cancelRequest: the model stops within one token
        ls.log_to_client("info", f"{kind} {request_id} {where} cancelled by the client")
        raise
    except ValueError as error:
        ls.log_to_client("info", f"{kind}: {error}; empty answer")
        return None
    except CompletionError as error:  # the server is down, slow, or answers garbage
        ls.log_to_client("warning", f"{kind} {request_id} {where}: {error}; empty answer")
        return None
    ls.log_to_client("info", log_line(kind, request_id, uri, line, character, completion))
    threshold = ls.settings.generation.min_confidence
    if completion.text and not should_show(completion.confidence, threshold, explicit):
        ls.log_to_client("info", f"{kind} {request_id} {where} withheld: below {threshold}")
        return None
    return completion, to_client_position(document.lines, line, character, ls.encoding)


@contextlib.contextmanager
def request_open(ls) -> Iterator[None]:
    """Count a completion request from its arrival to its answer (debounce included): no
    prefetch starts meanwhile (`lsp.features.prefetch`).
    """
    ls.completions_open += 1
    try:
        yield
    finally:
        ls.completions_open -= 1


async def inline_completion(ls, params: types.InlineCompletionParams):
    """textDocument/inlineCompletion: ghost text (a commit buffer: the drafted message)."""
    with request_open(ls):
        return await _inline_completion(ls, params)


async def _inline_completion(ls, params: types.InlineCompletionParams):
    uri = params.text_document.uri
    repo = ls.commit_buffers.get(uri)
    if repo is not None:
        return await commit_inline(ls, uri, repo, params.position)
    explicit = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    if not await wait_for_pause(ls, uri, explicit):
        return types.InlineCompletionList(items=[])
    done = await _complete(ls, uri, params.position, "inline", explicit)
    if done is None:
        return types.InlineCompletionList(items=[])
    completion, position = done
    accept = {
        "uri": uri,
        "position": {"line": position.line, "character": position.character},
        "text": completion.text,
    }
    return inline_items(completion, position, accept)


async def completion(ls, params: types.CompletionParams):
    """textDocument/completion: the suggestion as one menu item."""
    with request_open(ls):
        return await _menu_completion(ls, params)


async def _menu_completion(ls, params: types.CompletionParams):
    uri = params.text_document.uri
    context = params.context
    explicit = context is None or context.trigger_kind == types.CompletionTriggerKind.Invoked
    if not await wait_for_pause(ls, uri, explicit):
        return types.CompletionList(is_incomplete=True, items=[])
    done = await _complete(ls, uri, params.position, "completion", explicit)
    if done is None:
        return types.CompletionList(is_incomplete=True, items=[])
    return completion_items(*done)


def _accepted_end(ls, payload: Any) -> tuple[Snapshot, int, int] | None:
    """(document, line, column) where an accepted suggestion ends; None when it can't be said."""
    uri, text = payload.get("uri"), payload.get("text") or ""
    document = ls.document(uri) if isinstance(uri, str) else None
    position = payload.get("position") or {}
    if document is None or not isinstance(position, dict):
        return None
    lines = document.lines
    try:
        at = types.Position(
            line=int(position.get("line", -1)), character=int(position.get("character", -1))
        )
        line, character = to_server_position(lines, at, ls.encoding)
    except (ValueError, TypeError):
        return None
    inserted = text.split("\n")
    end_line = line + len(inserted) - 1
    end_char = (character if len(inserted) == 1 else 0) + len(inserted[-1])
    if end_line >= len(lines) or len(lines[end_line]) < end_char:
        return None
    return document, end_line, end_char


def accepted(ls, *args: Any) -> dict:
    """cove.accepted: a suggestion was accepted; optionally warm the next position."""
    payload = args[0] if args else None
    if not (ls.settings.features.speculative and ls.session and isinstance(payload, dict)):
        return {"speculating": False}
    end = _accepted_end(ls, payload)
    if end is None:
        return {"speculating": False}
    document, line, character = end
    future = ls.session.speculate(document, line, character)
    return {"speculating": future is not None}


def register_completion(ls) -> None:
    """Register what the settings enable, so handlers carry no `if enabled` checks."""
    if ls.settings.features.inline_completion:
        ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(
            inline_completion
        )
    if ls.settings.features.completion:
        ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[]))(
            completion
        )


def register_completion_commands(ls) -> None:
    """`cove.accepted` exists whatever the settings (a client may send it late)."""
    ls.command("cove.accepted")(accepted)
