"""A fast first suggestion: while the model is idle, evaluate the prompt the next request
will most likely need, and let any real request drop that work.

Where: the last of three events for a document says where the user is. A document
opened (at the cursor the editor last reported for it, else 0:0), the editor's cursor
resting (`cove/cursor`, sent on cursor hold by Cove's VS Code extension and Neovim plugin;
optional for other clients), and typing (the end of the last edit). When: `PAUSE_S` after
the last of them for that document, and only if no completion request is open (being
debounced, prepared or generated): a prefetch never delays what the user asked for.

What it costs a real request: nothing. A real request supersedes the prefetch like any
newer request (`CompletionSession._supersede`); the prefill stops within one batch, and
the tokens it evaluated stay in the KV cache, where the real prompt (the same window, so
the same prefix) reuses them. A prefetch that finishes fills the result and typed-ahead
caches: the real request at that spot is answered without the model.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from lsp.convert import to_server_position
from lsp.features.completion import language_enabled, log_line

log = logging.getLogger(__name__)

CURSOR = "cove/cursor"  # params: {textDocument: {uri}, position: {line, character}}
PAUSE_S = 0.3  # the events of one pause (didOpen, then the editor's cursor) make one prefetch


@dataclass
class Prefetches:
    """Per document: where the next request is likely (client coordinates), the timer."""

    positions: dict[str, types.Position] = field(default_factory=dict)
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    started: int = 0  # prefetches handed to the session (for tests and the log)
    last: str = ""  # the document of the newest event: where the user is

    def forget(self, uri: str) -> None:
        """A document closed: no prefetch for it, no cursor kept."""
        self.positions.pop(uri, None)
        timer = self.timers.pop(uri, None)
        if timer is not None:
            timer.cancel()


def _field(value: Any, name: str) -> Any:
    """`value.name` of structured params (pygls' namedtuples) or a plain mapping."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None) if isinstance(value, tuple) else None


def _count(value: Any) -> int | None:
    """A position number: a non-negative JSON integer (never a boolean), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def parse_cursor(params: Any) -> tuple[str, types.Position] | None:
    """(uri, position) from `cove/cursor` params; None when they are malformed."""
    uri = _field(_field(params, "textDocument"), "uri")
    position = _field(params, "position")
    line, character = _count(_field(position, "line")), _count(_field(position, "character"))
    if not isinstance(uri, str) or line is None or character is None:
        return None
    return uri, types.Position(line=line, character=character)


def note_cursor(ls, params: Any) -> None:
    """`cove/cursor`: the editor's cursor rests here; prefetch once the pause holds.

    A notification: never answered; bad params are logged and dropped.
    """
    found = parse_cursor(params)
    if found is None:
        log.warning(
            "dropped %s: params must be {textDocument: {uri}, position: "
            "{line, character}}, got %.200r",
            CURSOR,
            params,
        )
        return
    uri, position = found
    ls.prefetches.positions[uri] = position
    if uri in ls.documents:
        schedule(ls, uri)
        ls.prefetches.last = uri


def note_opened(ls, uri: str) -> None:
    """didOpen: prefetch at the cursor the editor last reported for this document, or 0:0."""
    ls.prefetches.positions.setdefault(uri, types.Position(line=0, character=0))
    ls.prefetches.last = uri
    schedule(ls, uri)


def note_edited(ls, params: types.DidChangeTextDocumentParams) -> None:
    """didChange: the end of the last edit is where the user is; prefetch once typing pauses."""
    uri = params.text_document.uri
    for change in reversed(params.content_changes):
        if isinstance(change, types.TextDocumentContentChangePartial):
            pieces = change.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            start = change.range.start
            ls.prefetches.positions[uri] = types.Position(
                line=start.line + len(pieces) - 1,
                character=(start.character if len(pieces) == 1 else 0) + len(pieces[-1]),
            )
            break
    ls.prefetches.last = uri
    schedule(ls, uri)


def note_ready(ls) -> None:
    """The model is loaded: files the editor opened meanwhile got no prefetch; the one the
    user was last in gets it now.
    """
    if ls.prefetches.last in ls.documents:
        schedule(ls, ls.prefetches.last)


def schedule(ls, uri: str) -> None:
    """(Re)start the document's pause timer; nothing when `features.prefetch` is off."""
    if not ls.settings.features.prefetch:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a handler called outside the server's loop (unit tests)
        return
    timer = ls.prefetches.timers.pop(uri, None)
    if timer is not None:
        timer.cancel()
    ls.prefetches.timers[uri] = loop.call_later(PAUSE_S, start_prefetch, ls, uri, loop)


def idle(ls) -> bool:
    """True when no completion request is open: none debouncing, preparing or generating."""
    return ls.session is not None and not ls.completions_open and not ls.session.busy()


def start_prefetch(ls, uri: str, loop: asyncio.AbstractEventLoop) -> bool:
    """The pause held: prefetch at the document's likely position if the model is idle."""
    ls.prefetches.timers.pop(uri, None)
    if ls.session is None or ls.closed:  # the model still loading, or shut down
        return False
    document = ls.document(uri)
    position = ls.prefetches.positions.get(uri)
    if (
        document is None
        or position is None
        or not ls.settings.features.prefetch
        or uri in ls.commit_buffers
        or not language_enabled(ls, uri)
        or ls.settings.backend.type == "openai"  # each call a full, maybe billed, completion
    ):
        return False
    if not idle(ls):
        ls.log_to_client("debug", f"prefetch {uri.rsplit('/', 1)[-1]}: a request is open; none")
        return False
    line, character = clamped(document.lines, position, ls.encoding)
    started = ls.session.prefetch(document, line, character)
    if started is None:
        return False
    ls.prefetches.started += 1
    request_id, future = started

    def report(done) -> None:  # on the model thread: the log goes out from the loop
        try:
            completion = done.result()
        except Exception as error:  # a broken backend: a real request will say so
            message = f"prefetch {request_id} {uri.rsplit('/', 1)[-1]}: {error}"
        else:
            message = log_line("prefetch", request_id, uri, line, character, completion)
        if not loop.is_closed():
            loop.call_soon_threadsafe(ls.log_to_client, "info", message)

    future.add_done_callback(report)
    return True


def clamped(lines: list[str], position: types.Position, encoding: str) -> tuple[int, int]:
    """(line, code-point column) of a client position; past the end: the line's or file's end.

    The cursor was reported earlier: the document may have changed since.
    """
    line = min(position.line, len(lines) - 1)
    if line < position.line:
        return line, len(lines[line])
    try:
        return to_server_position(lines, position, encoding)
    except ValueError:
        return line, len(lines[line])


def register_prefetch(ls) -> None:
    """`cove/cursor` exists whatever the settings (a client sends it regardless)."""
    ls.feature(CURSOR)(note_cursor)
