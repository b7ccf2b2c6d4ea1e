"""Repository context in the server: index on start with $/progress, keep it current.

Indexing runs only when context is on (`context.enabled` and `budget.contextTokens` > 0):
an index nobody reads is work for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from context.retrieval.repository import DebouncedUpdates, Repositories, RepositoryContext

log = logging.getLogger(__name__)


def context_wanted(ls) -> bool:
    """True when prompts take repository context."""
    return ls.settings.context.enabled and ls.settings.budget.context_tokens > 0


def attach_context(ls, loop: asyncio.AbstractEventLoop) -> None:
    """Give the session a context provider over every repository the editor touches."""
    if ls.session is None or not context_wanted(ls):
        return

    def on_open(repo: RepositoryContext) -> None:
        asyncio.run_coroutine_threadsafe(index_with_progress(ls, repo), loop)

    ls.repos = Repositories(ls.settings.context, tokenizer=ls.backend, on_open=on_open)
    ls.updates = DebouncedUpdates()
    service = ls.session.service
    service.context_provider = ls.repos.provider
    service.display_path = ls.repos.display_path
    root = ls.workspace.root_path
    if root and Path(root).is_dir():
        repo, fresh = ls.repos.for_path(root)
        service.repo_name = repo.repo_name
        if fresh:
            on_open(repo)


async def index_with_progress(ls, repo: RepositoryContext) -> None:
    """Build one repository's index on a thread, reporting $/progress."""
    token = f"cove-index-{uuid.uuid4().hex[:8]}"
    progress = False
    window = ls.client_capabilities.window if ls.client_capabilities else None
    if window and window.work_done_progress:
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(
                token,
                types.WorkDoneProgressBegin(
                    title="Cove: indexing", message=repo.root.name, percentage=0
                ),
            )
            progress = True
        except Exception:  # a client that refuses progress still gets an index
            progress = False
    loop = asyncio.get_running_loop()
    last = [-1]

    def report(done: int, total: int, path: str) -> None:
        percent = int(100 * done / max(total, 1))
        if progress and percent != last[0]:
            last[0] = percent
            loop.call_soon_threadsafe(
                ls.work_done_progress.report,
                token,
                types.WorkDoneProgressReport(message=path, percentage=percent),
            )

    try:
        stats = await loop.run_in_executor(None, lambda: repo.build(report))
        message = f"{stats.files} files, {stats.parsed} parsed in {stats.seconds:.1f} s"
    except Exception as error:  # the index stays consistent; completions go on without it
        log.exception("indexing %s failed", repo.root)
        message = f"failed: {error}"
    if progress:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
    ls.log_to_client("info", f"index {repo.root}: {message}")


def _repo_of(ls, uri: str) -> tuple[RepositoryContext, str] | None:
    if getattr(ls, "repos", None) is None:
        return None
    path = to_fs_path(uri)
    if not path:
        return None
    repo, fresh = ls.repos.for_path(path)
    if fresh:
        ls.repos.on_open(repo)
    return repo, path


def note_change(ls, params: types.DidChangeTextDocumentParams) -> None:
    """Typing: remember the edited line, re-index the buffer once typing pauses."""
    found = _repo_of(ls, params.text_document.uri)
    if found is None:
        return
    repo, path = found
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            repo.note_edit(path, change.range.start.line)
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    ls.updates.schedule(repo, path, doc.source if doc else None)


def note_open(ls, params: types.DidOpenTextDocumentParams) -> None:
    """Opening a file counts as viewing it."""
    found = _repo_of(ls, params.text_document.uri)
    if found is not None:
        found[0].note_view(found[1], 0)


def note_save(ls, params: types.DidSaveTextDocumentParams) -> None:
    """Saved: re-index that file from disk (debounced)."""
    found = _repo_of(ls, params.text_document.uri)
    if found is not None:
        ls.updates.schedule(found[0], found[1])


def note_watched(ls, params: types.DidChangeWatchedFilesParams) -> None:
    """Files changed outside the editor: update or drop each, no rescan."""
    for event in params.changes:
        found = _repo_of(ls, event.uri)
        if found is None:
            continue
        repo, path = found
        try:
            if event.type == types.FileChangeType.Deleted:
                repo.remove_file(path)
            else:
                ls.updates.schedule(repo, path)
        except Exception:  # one bad file never stops the server
            log.exception("watched-file update failed for %s", path)
