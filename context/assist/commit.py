"""Commit messages drafted from the staged diff, in the repository's own style.

Reading git (gitpython) and talking to the model live here; the text work — summarising
a diff to a budget and cleaning the model's reply — is pure and lives in
`context/diffsummary.py`, where it is tested without a model.
"""

from __future__ import annotations

import logging
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from context.assist.diffsummary import (
    FileChange,
    RepoStyle,
    clean_message,
    detect_style,
    fallback_message,
    is_trivial,
    parse_diff,
    summarize_diff,
)
from engine.backend import Backend
from engine.prompts import render_messages

if TYPE_CHECKING:
    import git

log = logging.getLogger(__name__)

HOOK_MARKER = "# cove: prepare-commit-msg"


class CommitError(Exception):
    """A commit-message problem the user can act on, with the CLI's exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, kw_only=True)
class CommitSettings:
    """Budgets of a commit message draft."""

    summary_tokens: int = 1000  # diff summary shown to the model
    history: int = 20  # recent subjects read for the repository's style
    max_tokens: int = 120  # the reply: a subject and a short body
    deadline_ms: int = 30000


@dataclass(frozen=True, kw_only=True)
class StagedChange:
    """What a commit would record, read from git."""

    changes: tuple[FileChange, ...]
    subjects: tuple[str, ...]
    merge_subject: str = ""  # the first line of MERGE_MSG while a merge is in progress
    first_commit: bool = False
    unmerged: tuple[str, ...] = ()


def open_repo(repo_dir: str | Path) -> git.Repo:
    """The git repository at or above `repo_dir`; CommitError (exit 2) when there is none."""
    import git

    try:
        repo = git.Repo(Path(repo_dir), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise CommitError(f"{repo_dir} is not inside a git repository.", exit_code=2) from None
    if repo.bare:
        raise CommitError(
            f"{repo_dir} is a bare repository: there is nothing staged to describe.", exit_code=2
        )
    return repo


def _git_text(repo: git.Repo, *args: str) -> str:
    """A git command's stdout as text; bytes that are not UTF-8 are replaced, not fatal."""
    out = repo.git.execute(
        ["git", "-c", "core.quotePath=false", *args],
        stdout_as_string=False,
        strip_newline_in_stdout=False,
    )
    return out.decode("utf-8", errors="replace")


def read_staged(
    repo: git.Repo, *, include_unstaged: bool = False, history: int = 20
) -> StagedChange:
    """The diff a commit would record (staged; with `include_unstaged`, tracked changes too),
    the recent subjects, and the merge state. Works on a repository with no commits yet.
    """
    diff_args = ["diff", "--no-color", "--no-ext-diff", "-M", "--unified=3"]
    first_commit = not repo.head.is_valid()
    if include_unstaged and not first_commit:
        text = _git_text(repo, *diff_args, "HEAD")
    else:  # with no commits yet, `diff --cached` compares with the empty tree
        text = _git_text(repo, *diff_args, "--cached")
        if include_unstaged:
            text += _git_text(repo, *diff_args)
    subjects: tuple[str, ...] = ()
    if not first_commit:
        log_text = _git_text(repo, "log", f"-{history}", "--no-merges", "--format=%s")
        subjects = tuple(s for s in log_text.splitlines() if s.strip())
    merge_subject = ""
    merge_head = Path(repo.git_dir) / "MERGE_HEAD"
    if merge_head.exists():
        message = Path(repo.git_dir) / "MERGE_MSG"
        lines = message.read_text(errors="replace").splitlines() if message.exists() else []
        merge_subject = next(
            (ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")), "Merge"
        )
    unmerged = tuple(
        ln.split("Unmerged path ", 1)[1]
        for ln in text.splitlines()
        if ln.startswith("* Unmerged path ")
    )
    return StagedChange(
        changes=tuple(_merge_same_paths(parse_diff(text))),
        subjects=subjects,
        merge_subject=merge_subject,
        first_commit=first_commit,
        unmerged=unmerged,
    )


def _merge_same_paths(changes: list[FileChange]) -> list[FileChange]:
    """One entry per path (staged and unstaged diffs of a new repo may both name a file)."""
    seen: dict[str, FileChange] = {}
    for change in changes:
        if change.path in seen:
            old = seen[change.path]
            change = FileChange(
                path=change.path,
                old_path=old.old_path,
                status=old.status,
                added=old.added + change.added,
                deleted=old.deleted + change.deleted,
                binary=old.binary or change.binary,
                kind=old.kind,
                hunks=old.hunks + change.hunks,
            )
        seen[change.path] = change
    return list(seen.values())


def _notes(staged: StagedChange) -> str:
    notes = []
    if staged.merge_subject:
        notes.append(f"This commit concludes a merge ({staged.merge_subject}).")
    if staged.unmerged:
        notes.append(f"Conflicts are not resolved yet in: {', '.join(staged.unmerged[:5])}.")
    if staged.first_commit:
        notes.append("This is the first commit of the repository.")
    if staged.changes and all(c.binary for c in staged.changes):
        notes.append("Only binary files changed; name them.")
    return "\n".join(notes) + ("\n" if notes else "")


def build_messages(staged: StagedChange, style: RepoStyle, summary: str) -> list[dict[str, str]]:
    """The chat messages for the `commit` template."""
    if style.conventional:
        scope = "(scope)" if style.scopes else ""
        subject_rule = (
            f'"type{scope}: summary" where type is one of feat, fix, docs, refactor, test, chore'
        )
    else:
        subject_rule = "a short summary" + (
            " in lower case" if style.lowercase else " starting with a capital letter"
        )
    form = "SUBJECT: <subject line>"
    if not is_trivial(staged.changes):
        form += "\nBODY: <one or two short sentences on what changed and why>"
    return render_messages(
        "commit", summary=summary, notes=_notes(staged), subject_rule=subject_rule, form=form
    )


def fit_summary(backend: Backend, changes: tuple[FileChange, ...], tokens: int) -> str:
    """The diff summary cut until it fits `tokens` of the model's tokenizer."""
    chars = tokens * 3
    for _ in range(4):
        summary = summarize_diff(changes, max_chars=chars)
        count = backend.count_tokens(summary)
        if count <= tokens:
            break
        chars = int(chars * tokens / count * 0.95)  # dense text (JSON, minified) costs more
    return summary


def prepare_commit(
    repo_dir: str | Path, *, include_unstaged: bool = False, history: int = 20
) -> StagedChange:
    """Read what a commit would record, before any model is loaded. CommitError for no
    repository (exit 2) and for nothing to commit (exit 1; a merge with no changes is fine).
    """
    staged = read_staged(open_repo(repo_dir), include_unstaged=include_unstaged, history=history)
    if not staged.changes and not staged.merge_subject:
        what = "No tracked changes to commit" if include_unstaged else "Nothing staged to commit"
        hint = "" if include_unstaged else "; stage changes with `git add`, or pass --all"
        raise CommitError(f"{what}{hint}.", exit_code=1)
    return staged


def needs_model(staged: StagedChange) -> bool:
    """False when the message follows from git alone (a bare merge, binary files only)."""
    return any(not c.binary for c in staged.changes)


def write_commit_message(
    backend: Backend | None,
    staged: StagedChange,
    *,
    cancel: threading.Event | None = None,
    settings: CommitSettings = CommitSettings(),
) -> str:
    """The message for `staged` (`backend` may be None when `needs_model` is False); ""
    when cancelled. A reply that is unusable or cut short still gives a message.
    """
    style = detect_style(staged.subjects)
    if not needs_model(staged) or backend is None:  # nothing for the model to read
        return fallback_message(staged.changes, style, merge_subject=staged.merge_subject)
    messages = build_messages(
        staged, style, fit_summary(backend, staged.changes, settings.summary_tokens)
    )
    if cancel is not None and cancel.is_set():
        return ""
    try:
        reply = backend.chat(
            messages,
            max_tokens=settings.max_tokens,
            deadline_ms=settings.deadline_ms,
            cancel=cancel,
        ).result()
    except ValueError:  # the prompt did not fit the context: the files alone still make a message
        log.warning("commit prompt did not fit the model's context", exc_info=True)
        reply = ""
    if cancel is not None and cancel.is_set():
        return ""
    return clean_message(reply, style, staged.changes, merge_subject=staged.merge_subject)


def draft_commit_message(
    backend: Backend | None,
    repo_dir: str | Path,
    *,
    include_unstaged: bool = False,
    cancel: threading.Event | None = None,
    settings: CommitSettings = CommitSettings(),
) -> str:
    """A commit message for the staged diff (with `include_unstaged`, tracked changes too):
    subject ≤ 72 characters in the imperative and the repository's style (Conventional
    Commits only where it uses them), then a blank line and a short body for non-trivial
    changes. CommitError for nothing staged (exit 1) or no repository (exit 2).
    """
    staged = prepare_commit(repo_dir, include_unstaged=include_unstaged, history=settings.history)
    return write_commit_message(backend, staged, cancel=cancel, settings=settings)


COMMIT_BUFFERS = {"COMMIT_EDITMSG", "MERGE_MSG"}
SCISSORS = "# ------------------------ >8 ------------------------"


def commit_buffer_repo(path: str, language_id: str = "") -> Path | None:
    """Where to draft from for an editor buffer: the git dir holding COMMIT_EDITMSG (a
    linked worktree's too; `open_repo` accepts it), or None when it is no commit buffer.
    """
    file = Path(path)
    if file.name not in COMMIT_BUFFERS and language_id not in ("git-commit", "gitcommit"):
        return None
    return file.parent


def offers_commit_draft(text: str, line: int) -> bool:
    """Inline completion drafts a message only on the empty first line of a buffer that
    holds no message yet (only comments, and the diff below the scissors line of -v).
    """
    body = text.split(SCISSORS, 1)[0].split("\n")
    if line != 0 or body[0].strip():
        return False
    return not any(ln.strip() and not ln.startswith("#") for ln in body[1:])


HOOK_TEMPLATE = """#!/bin/sh
{marker} (installed by `cove install-hook`)
# Fills an empty commit message with a drafted one. Never touches a message given with
# -m/-F, a template, a merge, a squash or an amend (git passes a source for those).
MSG_FILE="$1"
SOURCE="$2"
[ -n "$SOURCE" ] && exit 0
# Only when the file holds nothing but comments and blank lines.
if grep -v '^#' "$MSG_FILE" | grep -q '[^[:space:]]'; then exit 0; fi
DRAFT=$({command} </dev/null 2>/dev/null) || exit 0
[ -n "$DRAFT" ] || exit 0
TMP="$MSG_FILE.cove.$$"
{{ printf '%s\\n' "$DRAFT"; cat "$MSG_FILE"; }} > "$TMP" && mv "$TMP" "$MSG_FILE"
exit 0
"""


def install_hook(repo_dir: str | Path, command: str) -> Path:
    """Write a `prepare-commit-msg` hook running `command` (a shell command printing a
    message) when the user commits with an empty message. Replaces only Cove's own hook;
    another hook there is a CommitError. Returns the hook's path.
    """
    repo = open_repo(repo_dir)
    hooks = Path(repo.git.rev_parse("--git-path", "hooks"))
    root = repo.working_tree_dir  # None only for a bare repository, which open_repo refuses
    if not hooks.is_absolute() and root is not None:
        hooks = Path(root) / hooks
    path = hooks / "prepare-commit-msg"
    if path.exists() and HOOK_MARKER not in path.read_text(errors="replace"):
        raise CommitError(
            f"{path} already exists and is not Cove's; add `{command}` to it yourself or remove it.",
            exit_code=1,
        )
    hooks.mkdir(parents=True, exist_ok=True)
    path.write_text(HOOK_TEMPLATE.format(marker=HOOK_MARKER, command=command), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path
