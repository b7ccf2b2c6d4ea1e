"""Repository context in the server: index on start with $/progress, keep it current.

Indexing runs only when context is on (`context.enabled` and `budget.contextTokens` > 0):
an index nobody reads is work for nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

from context.retrieval.repository import DebouncedUpdates, Repositories, RepositoryContext
from lsp.convert import path_of
from lsp.progress import Progress

log = logging.getLogger(__name__)


def context_wanted(ls) -> bool:
    """True when prompts take repository context."""
    return ls.settings.context.enabled and ls.settings.budget.context_tokens > 0


def completion_waiting(ls) -> bool:
    """True while the session has a completion in flight (index work waits for it)."""
    session = ls.session
    return session is not None and session.busy()


@dataclass
class Indexing:
    """The index builds of one attached context: a stop signal and the builds running."""

    cancel: threading.Event = field(default_factory=threading.Event)
    jobs: set[concurrent.futures.Future] = field(default_factory=set)


def attach_context(ls, loop: asyncio.AbstractEventLoop) -> None:
    """Give the session a context provider over every repository the editor touches."""
    if ls.session is None or not context_wanted(ls):
        return
    indexing = Indexing()

    def on_open(repo: RepositoryContext) -> None:  # from any thread
        job = asyncio.run_coroutine_threadsafe(index_with_progress(ls, repo, indexing.cancel), loop)
        indexing.jobs.add(job)
        job.add_done_callback(indexing.jobs.discard)

    ls.repos = Repositories(ls.settings.context, tokenizer=ls.backend, on_open=on_open)
    ls.updates, ls.indexing = DebouncedUpdates(), indexing
    service = ls.session.service
    service.context_provider = provider_outside_symlinks(ls, ls.repos)
    service.display_path = ls.repos.display_path
    root = ls.workspace.root_path
    if root and Path(root).is_dir():
        repo, fresh = ls.repos.for_path(root)
        service.repo_name = repo.repo_name
        if fresh:
            on_open(repo)


async def detach_context(ls) -> None:
    """Close what `attach_context` opened (model reload, shutdown): pending updates stop,
    builds stop at their next batch and are awaited (closing the database under a build
    would make it throw the index away), then the indexes close.
    """
    repos, updates, indexing = ls.repos, ls.updates, ls.indexing
    ls.repos = ls.updates = ls.indexing = None
    if updates is not None:
        updates.cancel_all()
    if indexing is not None:
        indexing.cancel.set()
        running = [asyncio.wrap_future(job) for job in list(indexing.jobs)]
        await asyncio.gather(*running, return_exceptions=True)
    if repos is not None:
        repos.close()


async def index_with_progress(
    ls, repo: RepositoryContext, cancel: threading.Event | None = None
) -> None:
    """Build one repository's index on a thread, reporting $/progress."""
    progress = await Progress.begin(ls, "index", "Cove: indexing", repo.root.name, percentage=0)
    loop = asyncio.get_running_loop()
    last = [-1]

    def report(done: int, total: int, path: str) -> None:  # on the build's thread
        percent = int(100 * done / max(total, 1))
        if progress.token is not None and percent != last[0]:
            last[0] = percent
            loop.call_soon_threadsafe(progress.report, path, percent)

    try:
        # On a thread, and yielding to completions: a build's parsing would otherwise take
        # a core and the GIL from the request being answered.
        stats = await loop.run_in_executor(
            None, lambda: repo.build(report, cancel, pause=lambda: completion_waiting(ls))
        )
        message = f"{stats.files} files, {stats.parsed} parsed in {stats.seconds:.1f} s"
        if stats.error:  # the database is locked, read-only or full: one line, no traceback
            message += f"; stopped: {stats.error} (completions go on; the next build retries)"
    except Exception as error:  # the index stays consistent; completions go on without it
        log.exception("indexing %s failed", repo.root)
        message = f"failed: {error}"
    progress.end(message)
    ls.log_to_client("info", f"index {repo.root}: {message}")


def workspace_roots(ls) -> list[Path]:
    """The workspace's folders as the client names them (root and workspace folders)."""
    found = [ls.workspace.root_path] + [path_of(f.uri) for f in ls.workspace.folders.values()]
    return [Path(os.path.abspath(p)) for p in dict.fromkeys(found) if p]


def through_symlink(ls, path: str) -> bool:
    """True when `path` is a symlink or lies under one inside a workspace folder (or, outside
    every folder, resolves elsewhere): reading it would read a file outside the repository.
    """
    target = Path(os.path.abspath(path))
    for root in workspace_roots(ls):
        if target.is_relative_to(root):
            step = root
            for part in target.relative_to(root).parts:
                step = step / part
                if step.is_symlink():
                    return True
            return False
    return os.path.realpath(target) != str(target)


def provider_outside_symlinks(ls, repos: Repositories):
    """`repos.provider`, except for a document reached through a symlink: no context.

    `Repositories.for_path` resolves the path, so a file opened through a symlink would
    open (and index from disk) the folder or repository its target lies in, outside the
    workspace; such a document completes on its own text only.
    """

    def provider(text: str, path: str, window, budget_tokens: int):
        if through_symlink(ls, path):
            return []
        return repos.provider(text, path, window, budget_tokens)

    return provider


def _repo_of(ls, uri: str, *, from_disk: bool = False) -> tuple[RepositoryContext, str] | None:
    """The repository of a document and its path; None without context, and None for a
    document reached through a symlink: its target's folder is not the workspace, and even
    the buffer's text (the editor's, not read by Cove) is not indexed as context for others.
    `from_disk`: the event would make Cove read the file itself (save, watched change).
    """
    path = path_of(uri)
    if ls.repos is None or path == uri:  # no context, or not a file on disk
        return None
    if through_symlink(ls, path):
        if from_disk:
            log.info("not reading %s: it is reached through a symlink", path)
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
    found = _repo_of(ls, params.text_document.uri, from_disk=True)
    if found is not None:
        ls.updates.schedule(found[0], found[1])


def note_watched(ls, params: types.DidChangeWatchedFilesParams) -> None:
    """Files changed outside the editor: update or drop each, no rescan."""
    for event in params.changes:
        found = _repo_of(ls, event.uri, from_disk=True)
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
