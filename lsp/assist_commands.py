"""`cove explain`, `cove commit-message` and `cove install-hook`: the assist commands.

The same actions the server offers as code actions, from the command line (parsing and
printing only; the work is `context.assist`).
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import sys
import time
from pathlib import Path

from engine.backends import open_backend
from lsp.command_line import UsageError, load_cli_settings, read_source

log = logging.getLogger("cove")


def parse_line_range(spec: str) -> tuple[Path, int, int | None]:
    """`FILE:START[-END]` (1-based lines) → path, start, end (None: the definition at START)."""
    match = re.fullmatch(r"(.+):(\d+)(?:-(\d+))?", spec)
    if not match:
        raise UsageError(f"{spec!r} is not FILE:START[-END] (1-based line numbers).")
    start, end = int(match[2]), int(match[3]) if match[3] else None
    if end is not None and end < start:
        raise UsageError(f"{spec!r}: the range ends before it starts.")
    return Path(match[1]), start, end


def cmd_explain(args: argparse.Namespace) -> int:
    """Print a Markdown explanation of FILE:START[-END] (START alone: the definition there)."""
    from context.assist.actions import explain

    path, start, end = parse_line_range(args.location)
    text = read_source(path)
    count = len(text.split("\n"))
    if start < 1 or start > count or (end is not None and end > count):
        raise UsageError(
            f"lines {start}-{end or start} are out of range: the file has {count} lines."
        )
    settings = load_cli_settings(args)
    backend = open_backend(settings.model, settings.backend)
    started = time.perf_counter()
    try:
        markdown = explain(
            backend,
            text,
            str(path),
            start - 1,
            None if end is None else end - 1,
            settings=settings.assist,
        )
    finally:
        backend.close()
    log.info("explain %s ms=%.0f", args.location, (time.perf_counter() - started) * 1000)
    if not markdown:
        print(
            f"cove: nothing to explain at {args.location} (a blank line outside any definition?).",
            file=sys.stderr,
        )
        return 1
    print(markdown)
    return 0


def cmd_commit_message(args: argparse.Namespace) -> int:
    """Print a commit message for the staged diff (--all: staged and unstaged)."""
    from context.assist.commit import CommitError, needs_model, prepare_commit, write_commit_message

    try:  # git first: "nothing staged" must not wait for the model to load
        staged = prepare_commit(args.repo, include_unstaged=args.all)
    except CommitError as error:
        print(f"cove: {error}", file=sys.stderr)
        return error.exit_code
    settings = load_cli_settings(args)
    backend = open_backend(settings.model, settings.backend) if needs_model(staged) else None
    started = time.perf_counter()
    try:
        message = write_commit_message(backend, staged, settings=settings.commit)
    finally:
        if backend is not None:
            backend.close()
    log.info("commit-message %s ms=%.0f", args.repo, (time.perf_counter() - started) * 1000)
    print(message)
    return 0


def cmd_install_hook(args: argparse.Namespace) -> int:
    """Install a prepare-commit-msg hook that drafts the message when it is left empty."""
    from context.assist.commit import CommitError, install_hook

    command = f"{shlex.quote(sys.executable)} -m lsp.cli commit-message"
    try:
        path = install_hook(args.repo, command)
    except CommitError as error:
        print(f"cove: {error}", file=sys.stderr)
        return error.exit_code
    print(path)
    return 0
