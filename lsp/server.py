"""`cove serve`: the language server. Handlers convert, call a service, convert back."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from context.completion import CompletionService
from context.debounce import TypingRhythm
from context.document import Document, Snapshot
from context.session import CompletionSession
from engine.types import CompletionError
from lsp.convert import path_of, to_server_position
from lsp.features.assist import note_commit_buffer, register_assist, register_commands
from lsp.features.completion import (
    note_keystroke,
    register_completion,
    register_completion_commands,
)
from lsp.features.index import (
    attach_context,
    detach_context,
    note_change,
    note_open,
    note_save,
    note_watched,
)
from lsp.features.prefetch import (
    Prefetches,
    note_edited,
    note_opened,
    note_ready,
    register_prefetch,
)
from lsp.progress import Progress
from lsp.protocol import CoveProtocol
from lsp.settings import CoveSettings, parse_settings

log = logging.getLogger(__name__)
VERSION = "0.1.0"
LEVELS = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
    "debug": types.MessageType.Log,
}


class CoveServer(LanguageServer):
    """The server's state: settings, the model (loaded in the background), the session."""

    def __init__(self) -> None:
        super().__init__(
            "cove",
            VERSION,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=CoveProtocol,  # every request answered, even with bad params
        )
        self.base_settings = CoveSettings()  # from CLI flags; initializationOptions go on top
        self.settings = self.base_settings
        self.pending_problems: list[str] = []
        self.state = "starting"  # "loading", "ready", "error"
        self.status_message = ""
        self.backend = None
        self.session: CompletionSession | None = None
        self.documents: dict[str, Document] = {}  # uri -> open buffer: lines, tree (completion)
        self.ready = threading.Event()
        self.session_id = uuid.uuid4().hex  # one llama-server slot per editor session
        self.repos = None  # repository contexts, when context is on (lsp.features.index)
        self.updates = None
        self.indexing = None
        self.commit_buffers: dict[str, Path] = {}  # uri -> repository, decided at didOpen
        self.rhythm = TypingRhythm()  # the user's keystroke intervals (debounce)
        self.newest_request: dict[str, object] = {}  # uri -> the request debouncing last
        self.completions_open = 0  # completion requests not yet answered (no prefetch then)
        self.prefetches = Prefetches()  # where each document's next request is likely
        self.closed = False

    # -- logging to the client ----------------------------------------------------------------

    def log_to_client(self, level: str, message: str) -> None:
        """window/logMessage at or above the configured level, and the Python log."""
        getattr(log, "warning" if level == "warning" else level if level != "debug" else "debug")(
            message
        )
        order = list(LEVELS)
        if order.index(level) <= order.index(self.settings.features.log_level):
            self.window_log_message(types.LogMessageParams(type=LEVELS[level], message=message))

    def report_problems(self, problems: list[str]) -> None:
        """Bad settings: one showMessage (defaults kept), each problem in the log."""
        if not problems:
            return
        for problem in problems:
            self.log_to_client("warning", problem)
        summary = (
            problems[0]
            if len(problems) == 1
            else f"{problems[0]} (and {len(problems) - 1} more; see the log)"
        )
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=f"Cove: {summary}")
        )

    # -- model ----------------------------------------------------------------------------------

    def load_model(self) -> None:
        """Load the backend (runs in a thread); the state says how it went."""
        from engine.backends import open_backend

        self.state = "loading"
        try:
            backend = open_backend(
                self.settings.model, self.settings.backend, session_id=self.session_id
            )
        except CompletionError as error:
            self.state, self.status_message = "error", str(error)
            return
        except Exception as error:  # a broken model must not take the server down
            log.exception("model load failed")
            self.state, self.status_message = "error", f"The model failed to load: {error}"
            return
        if self.closed:  # shut down while the model loaded
            backend.close()
            return
        old, self.backend = self.backend, backend
        self.session = CompletionSession(
            CompletionService(
                backend=backend, budgets=self.settings.budget, generation=self.settings.generation
            )
        )
        self.state, self.status_message = "ready", f"{backend.model_name} ({backend.template.name})"
        if self.settings.backend.type != "local":
            self.status_message = backend.describe().get("privacy", self.status_message)
        self.ready.set()
        if old is not None:
            old.close()

    async def close(self) -> None:
        """Shutdown: stop the work in flight, close the indexes and the backend (once)."""
        if self.closed:
            return
        self.closed = True
        if self.session is not None:
            for uri in self._open_uris():
                self.session.cancel_document(uri)
        await detach_context(self)
        backend, self.backend, self.session = self.backend, None, None
        if backend is not None:
            await asyncio.to_thread(backend.close)  # waits for the model thread to stop

    def _open_uris(self) -> list[str]:
        try:
            return list(self.workspace.text_documents)
        except RuntimeError:  # never initialized: no documents
            return []

    def apply_settings(self) -> None:
        """New settings reach the running session without a reload when the model is unchanged."""
        if self.session is not None:
            service = self.session.service
            service.budgets = self.settings.budget
            service.generation = self.settings.generation

    def document(self, uri: str) -> Snapshot | None:
        """The current version of an open document; None when the client never opened it."""
        doc = self.documents.get(uri)
        return doc.snapshot() if doc is not None else None

    @property
    def encoding(self) -> str:
        """The negotiated position encoding."""
        return str(self.workspace.position_encoding or "utf-16")


server = CoveServer()
register_commands(server)
register_completion_commands(server)
register_prefetch(server)


def register_features(ls: CoveServer) -> None:
    """Register what the settings enable, so handlers carry no `if enabled` checks."""
    register_completion(ls)
    if ls.settings.features.code_actions:
        register_assist(ls)


@server.feature(types.INITIALIZE)
def initialize(ls: CoveServer, params: types.InitializeParams) -> None:
    """Read initializationOptions, report bad keys, register enabled features."""
    ls.settings, ls.pending_problems = parse_settings(
        params.initialization_options or {}, ls.base_settings
    )
    register_features(ls)


@server.feature(types.INITIALIZED)
async def initialized(ls: CoveServer, params: types.InitializedParams) -> None:
    """Report settings problems, then load the model in the background with $/progress."""
    ls.report_problems(ls.pending_problems)
    await _load_with_progress(ls)


async def _load_with_progress(ls: CoveServer) -> None:
    remote = ls.settings.backend.type != "local"
    title = f"Cove: remote mode, {ls.settings.backend.url}" if remote else "Cove: loading model"
    progress = await Progress.begin(ls, "load", title, ls.settings.model.path or "embedded model")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ls.load_model)
    if ls.state == "ready":
        await detach_context(ls)  # a reload: the old session's repositories
        attach_context(ls, loop)
        note_ready(ls)
    message = ls.status_message if ls.state == "ready" else f"failed: {ls.status_message}"
    progress.end(message)
    if ls.state == "error":
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error, message=f"Cove: {ls.status_message}"
            )
        )
    ls.log_to_client("info" if ls.state == "ready" else "error", f"model {message}")


@server.feature(types.SHUTDOWN)
async def shutdown(ls: CoveServer, *args: Any) -> None:
    """Close what the server opened; pygls then answers, and `exit` ends with status 0."""
    await ls.close()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(
    ls: CoveServer, params: types.DidChangeConfigurationParams
) -> None:
    """New settings: report bad keys, keep the rest; reload the model if its settings changed."""
    if params.settings is None:
        return
    old = ls.settings
    ls.settings, problems = parse_settings(params.settings, old)
    ls.report_problems(problems)
    if (
        ls.settings.model != old.model or ls.settings.backend != old.backend
    ) and ls.state != "loading":
        await _load_with_progress(ls)
    else:
        ls.apply_settings()


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: CoveServer, params: types.DidChangeTextDocumentParams) -> None:
    """The user typed: edit the document (and its tree); a speculative warm-up is unwanted."""
    doc = ls.documents.get(params.text_document.uri)
    if doc is not None:
        _apply_changes(doc, params, ls.encoding)
    if ls.session is not None:
        ls.session.cancel_document(params.text_document.uri, speculative_only=True)
    note_keystroke(ls)
    note_change(ls, params)
    note_edited(ls, params)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CoveServer, params: types.DidCloseTextDocumentParams) -> None:
    """Drop the document, its caches and work."""
    ls.documents.pop(params.text_document.uri, None)
    if ls.session is not None:
        ls.session.forget(params.text_document.uri)
    ls.commit_buffers.pop(params.text_document.uri, None)
    ls.newest_request.pop(params.text_document.uri, None)
    ls.prefetches.forget(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CoveServer, params: types.DidOpenTextDocumentParams) -> None:
    """Keep the document (lines, language, tree); opening a file counts as viewing it."""
    item = params.text_document
    ls.documents[item.uri] = Document(
        item.uri,
        item.text,
        path=path_of(item.uri),
        language_id=item.language_id,
        version=item.version,
    )
    note_commit_buffer(ls, params.text_document.uri, params.text_document.language_id)
    note_open(ls, params)
    note_opened(ls, item.uri)


def _apply_changes(doc: Document, params: types.DidChangeTextDocumentParams, encoding: str):
    """The client's changes, in order, with positions converted to code points."""
    version = params.text_document.version
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            start = _edit_position(doc.lines, change.range.start, encoding)
            end = _edit_position(doc.lines, change.range.end, encoding)
            doc.apply_change(start, end, change.text, version)
        else:
            doc.replace(change.text, version)


def _edit_position(lines: list[str], position: types.Position, encoding: str) -> tuple[int, int]:
    """(line, code-point column); past the end as the LSP says: the document's or line's end."""
    if position.line >= len(lines):
        return position.line, 0  # the document clamps it to its end
    try:
        return to_server_position(lines, position, encoding)
    except ValueError:
        return position.line, len(lines[position.line])


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: CoveServer, params: types.DidSaveTextDocumentParams) -> None:
    """Re-index the saved file."""
    note_save(ls, params)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: CoveServer, params: types.DidChangeWatchedFilesParams) -> None:
    """Files changed on disk: update or drop them in the index."""
    note_watched(ls, params)


@server.command("cove.status")
def status(ls: CoveServer, *args: Any) -> dict:
    """Where the server stands, for editor status bars and tests."""
    backend = ls.backend
    return {
        "state": ls.state,
        "message": ls.status_message,
        "model": backend.model_name if backend else "",
        "template": backend.template.name if backend else "",
    }


def run_server(settings: CoveSettings, *, tcp: str | None = None) -> int:
    """Start on stdio (default) or TCP `host:port`; never print to stdout but protocol."""
    server.base_settings = server.settings = settings
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        # The protocol gets a private copy of stdout, and fd 1 points at stderr: whatever a
        # library prints (llama.cpp, a stray print) can never corrupt the transport.
        transport = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        server.start_io(sys.stdin.buffer, transport)
    return 0
