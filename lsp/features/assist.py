"""Explain, docstring and commit-message features: code actions, resolve, commands.

Handlers convert LSP values, run the assist service on a worker thread (model work is
cancellable through an event) and convert back. Edits carry the document version they
were computed for, so a client whose document changed meanwhile rejects them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from lsprotocol import types

from context.assist.actions import TextEdit, actions_at, docstring_edit, explain, explain_edit
from context.assist.commit import (
    CommitError,
    commit_buffer_repo,
    draft_commit_message,
    offers_commit_draft,
)
from context.window import split_lines
from engine.types import CompletionError
from lsp.convert import path_of, to_client_position
from lsp.features.index import workspace_roots

log = logging.getLogger(__name__)

KIND_EXPLAIN = "refactor.rewrite.cove.explain"
KIND_DOCSTRING = "refactor.rewrite.cove.docstring"
TITLES = {
    "explain": "Cove: Explain",
    "docstring": "Cove: Write docstring",
    "replace_docstring": "Cove: Rewrite docstring",
}


async def run_cancellable(fn, *args, **kwargs):
    """Run blocking model work in a thread; a cancelled request sets its cancel event."""
    cancel = threading.Event()
    try:
        return await asyncio.to_thread(fn, *args, cancel=cancel, **kwargs)
    except asyncio.CancelledError:
        cancel.set()
        raise


def workspace_edit(
    ls, uri: str, version: int | None, edit: TextEdit, source: str
) -> types.WorkspaceEdit:
    """A versioned edit in client units."""
    lines = split_lines(source)
    start = to_client_position(lines, edit.start_line, edit.start_character, ls.encoding)
    end = to_client_position(lines, edit.end_line, edit.end_character, ls.encoding)
    change = types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
        edits=[types.TextEdit(range=types.Range(start=start, end=end), new_text=edit.new_text)],
    )
    return types.WorkspaceEdit(document_changes=[change])


def _selection(params_range: types.Range) -> tuple[int | None, int | None]:
    start, end = params_range.start, params_range.end
    if start == end:
        return None, None
    last = end.line - 1 if end.character == 0 and end.line > start.line else end.line
    return start.line, last


def _edit_job(ls, data: dict, doc, source: str) -> Callable[..., TextEdit | None]:
    """The assist call an action stands for; it takes the cancel event as a keyword."""
    path = path_of(data["uri"])
    options = {"language_id": doc.language_id, "settings": ls.settings.assist}
    if data["action"] == "explain":
        start = data["start"] if data["start"] is not None else data["line"]
        return partial(explain_edit, ls.backend, source, path, start, data["end"], **options)
    replace = data["action"] == "replace_docstring"
    return partial(
        docstring_edit, ls.backend, source, path, data["line"], replace=replace, **options
    )


async def compute_edit(ls, data: dict) -> types.WorkspaceEdit | None:
    """The edit an action stands for, computed on the current text of its document."""
    doc = ls.workspace.text_documents.get(data["uri"])
    if doc is None or ls.backend is None:
        return None
    if data.get("version") is not None and doc.version != data["version"]:
        ls.log_to_client(
            "info", f"{data['action']}: {data['uri']} changed since the action was offered; no edit"
        )
        return None
    source = doc.source
    edit = await run_cancellable(_edit_job(ls, data, doc, source))
    if edit is None or doc.version != data.get("version", doc.version):  # typed meanwhile
        return None
    return workspace_edit(ls, data["uri"], doc.version, edit, source)


def _resolve_supported(ls) -> bool:
    caps = ls.client_capabilities.text_document if ls.client_capabilities else None
    action = caps.code_action if caps else None
    return bool(
        action and action.resolve_support and "edit" in (action.resolve_support.properties or [])
    )


async def code_action(ls, params: types.CodeActionParams):
    """Offer explain / docstring where they make sense; eglot-style clients get the edit now."""
    uri = params.text_document.uri
    doc = ls.workspace.text_documents.get(uri)
    if doc is None or ls.backend is None:
        return []
    line = params.range.start.line
    start, end = _selection(params.range)
    found = actions_at(doc.source, path_of(uri), line, start, end, language_id=doc.language_id)
    actions = []
    for name in found:
        data = {"uri": uri, "version": doc.version, "line": line, "start": start, "end": end}
        data["action"] = name
        kind = KIND_EXPLAIN if name == "explain" else KIND_DOCSTRING
        action = types.CodeAction(title=TITLES[name], kind=kind, data=data)
        if not _resolve_supported(ls):
            action.edit = await compute_edit(ls, data)
            if action.edit is None:
                continue
        actions.append(action)
    return actions


async def resolve_code_action(ls, action: types.CodeAction) -> types.CodeAction:
    """The model runs here, cancellably."""
    if isinstance(action.data, dict) and action.edit is None:
        try:
            action.edit = await compute_edit(ls, action.data)
        except CompletionError as error:
            ls.log_to_client("warning", str(error))
    return action


def _arg(args: Any) -> dict:
    first = args[0] if isinstance(args, (list, tuple)) and args else args
    return first if isinstance(first, dict) else {}


async def explain_command(ls, *args: Any) -> str:
    """cove.explain [{uri, range}] → Markdown."""
    arg = _arg(args)
    doc = ls.workspace.text_documents.get(arg.get("uri", ""))
    if doc is None or ls.backend is None:
        return ""
    rng = arg.get("range") or {}
    start = int((rng.get("start") or {}).get("line", 0))
    end = (rng.get("end") or {}).get("line")
    end = int(end) if end is not None and int(end) != start else None
    try:
        return await run_cancellable(
            explain,
            ls.backend,
            doc.source,
            path_of(arg["uri"]),
            start,
            end,
            language_id=doc.language_id,
            settings=ls.settings.assist,
        )
    except CompletionError as error:
        ls.log_to_client("warning", str(error))
        return ""


async def docstring_command(ls, *args: Any) -> dict:
    """cove.writeDocstring [{uri, position, replace?}] → applies the edit."""
    arg = _arg(args)
    doc = ls.workspace.text_documents.get(arg.get("uri", ""))
    if doc is None or ls.backend is None:
        return {"applied": False}
    line = int((arg.get("position") or {}).get("line", -1))
    data = {
        "uri": arg["uri"],
        "version": doc.version,
        "line": line,
        "start": None,
        "end": None,
        "action": "replace_docstring" if arg.get("replace") else "docstring",
    }
    edit = await compute_edit(ls, data)
    if edit is None:
        return {"applied": False}
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label="Cove: docstring")
    )
    return {"applied": bool(result and result.applied)}


def _repo_for(ls, arg: dict) -> Path:
    """The repository a command names; CommitError when it is none the editor works in
    (an argument like `root/../elsewhere` must not make Cove read another repository).
    """
    roots = workspace_roots(ls)
    if arg.get("repo"):
        repo = Path(arg["repo"])
    elif arg.get("uri"):
        path = Path(path_of(arg["uri"]))
        repo = commit_buffer_repo(str(path)) or path.parent
    else:
        return roots[0] if roots else Path.cwd()
    if roots and not _works_in(ls, roots, repo.resolve()):
        raise CommitError(f"{repo} is outside the workspace; Cove drafts messages only there.")
    return repo


def _works_in(ls, roots: list[Path], repo: Path) -> bool:
    """True for a folder inside a workspace folder, or holding one (a workspace opened on a
    subfolder of its repository) or holding a document the editor has open.
    """
    uris = list(ls.workspace.text_documents)
    opened = [Path(path_of(uri)).parent for uri in uris if path_of(uri) != uri]  # files only
    inside = any(repo.is_relative_to(root.resolve()) for root in roots)
    return inside or any(folder.resolve().is_relative_to(repo) for folder in roots + opened)


async def draft_commit_command(ls, *args: Any) -> str:
    """cove.draftCommitMessage [{repo} | {uri}] → the message ("" with a message shown when none)."""
    if ls.backend is None:
        return ""
    arg = _arg(args)
    try:
        return await run_cancellable(
            draft_commit_message,
            ls.backend,
            _repo_for(ls, arg),
            include_unstaged=bool(arg.get("all")),
            settings=ls.settings.commit,
        )
    except CommitError as error:
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=f"Cove: {error}")
        )
        return ""


def note_commit_buffer(ls, uri: str, language_id: str) -> None:
    """didOpen: remember once whether the document is a commit-message buffer (and its repo)."""
    repo = commit_buffer_repo(path_of(uri), language_id)
    if repo is not None:
        ls.commit_buffers[uri] = repo


async def commit_inline(
    ls, uri: str, repo: Path, position: types.Position
) -> types.InlineCompletionList:
    """In a commit-message buffer: the drafted message on the empty first line, else nothing."""
    doc = ls.workspace.text_documents.get(uri)
    if doc is None or ls.backend is None or not offers_commit_draft(doc.source, position.line):
        return types.InlineCompletionList(items=[])
    try:
        message = await run_cancellable(
            draft_commit_message, ls.backend, repo, settings=ls.settings.commit
        )
    except (CommitError, CompletionError) as error:
        ls.log_to_client("info", f"commit draft: {error}")
        return types.InlineCompletionList(items=[])
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(
                insert_text=message, range=types.Range(start=position, end=position)
            )
        ]
    )


def register_assist(ls) -> None:
    """Code actions (+ resolve) and the assist commands."""
    ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[KIND_EXPLAIN, KIND_DOCSTRING], resolve_provider=True
        ),
    )(code_action)
    ls.feature(types.CODE_ACTION_RESOLVE)(resolve_code_action)


def register_commands(ls) -> None:
    """Commands exist whatever the settings, so editor plugins can always call them."""
    ls.command("cove.explain")(explain_command)
    ls.command("cove.writeDocstring")(docstring_command)
    ls.command("cove.draftCommitMessage")(draft_commit_command)
