"""Measuring repository context: next-line exact match with and without it, and index speed.

`next_line_eval` blanks lines that use a name defined in another file of the repository
(keeping their indentation), puts the cursor there, asks the completion service for one
line, and compares it with the line really there. Positions are chosen by a seeded
generator, so runs with and without context see the same positions.
"""

from __future__ import annotations

import logging
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import percentile
from context.index.index import BuildStats
from context.retrieval.imports import parse_imports, resolve_import
from context.retrieval.repository import RepositoryContext
from context.settings import ContextSettings
from context.syntax.languages import parse
from context.window import BudgetSettings, cursor_window
from engine.types import Tokenizer

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
STRINGS = re.compile(r"""[rbfuRBFU]*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|#.*$""")
QUALIFIED = re.compile(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
SKIP_LINE = re.compile(
    r"^\s*(#|import\s|from\s|@|\"\"\"|'''|\)|\]|\}|else:|try:|finally:|pass$|return$)"
)


@dataclass(frozen=True)
class Position:
    """A line to predict: path (relative), 0-based line, column after its indentation."""

    path: str
    line: int
    column: int
    target: str
    names: tuple[str, ...]  # the cross-file names the line uses
    kind: str = "line"  # "line", "api" or "control" (`bench.positions.KINDS`)
    language: str = "python"


def edit_similarity(a: str, b: str) -> float:
    """1 − Levenshtein distance / length of the longer string (1.0 for two empty strings)."""
    if a == b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def string_lines(text: str) -> set[int]:
    """0-based lines inside a multi-line string (a docstring) or import: not code to predict."""
    tree = parse(text, "python")
    inside: set[int] = set()
    stack = [tree.root_node] if tree is not None else []
    while stack:
        node = stack.pop()
        if node.type == "string":
            inside.update(range(node.start_point[0] + 1, node.end_point[0] + 1))
        elif node.type in ("import_statement", "import_from_statement"):
            inside.update(range(node.start_point[0], node.end_point[0] + 1))
        else:
            stack.extend(node.children)
    return inside


def imported_names(
    repo: RepositoryContext, path: str, text: str, defined: set[str]
) -> tuple[set[str], set[str]]:
    """Names this file imports from repository files, and its aliases of repository modules."""
    table = repo.path_table()
    names, modules = set(), set()
    for imp in parse_imports("python", text):
        files = resolve_import("python", path, imp, table)
        if not files:
            continue  # a third-party or standard-library import
        names.update(local for original, local in imp.names if original in defined)
        if imp.alias:
            modules.add(imp.alias)
    return names, modules


def _line_positions(
    repo: RepositoryContext, path: str, text: str, defined: set[str]
) -> list[Position]:
    """Lines of code (not strings, comments or imports) using a name imported from the repo."""
    local = {s.name for s in repo.index.symbols_in(path)}
    names, modules = imported_names(repo, path, text, defined)
    skip = string_lines(text)
    out = []
    for number, line in enumerate(text.split("\n")):
        stripped = line.strip()
        if number in skip or len(stripped) < 8 or len(stripped) > 120 or SKIP_LINE.match(line):
            continue
        code = STRINGS.sub('""', stripped)
        used = [n for n in IDENTIFIER.findall(code) if n in names and n not in local]
        used += [f"{q}.{a}" for q, a in QUALIFIED.findall(code) if q in modules and a in defined]
        if used:
            out.append(
                Position(
                    path,
                    number,
                    len(line) - len(line.lstrip()),
                    stripped,
                    tuple(dict.fromkeys(used)),
                )
            )
    return out


def choose_positions(
    repo: RepositoryContext, n_positions: int, seed: int = 0, per_file: int = 2, suffix: str = ".py"
) -> list[Position]:
    """Up to `n_positions` lines (at most `per_file` per file) that use a cross-file name."""
    index = repo.index
    defined_names = index.symbol_names()
    rng = random.Random(seed)
    pool: list[Position] = []
    for path in index.paths():
        if not path.endswith(suffix):
            continue
        try:
            text = (repo.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found = _line_positions(repo, path, text, defined_names)
        pool.extend(rng.sample(found, min(per_file, len(found))))
    rng.shuffle(pool)
    return sorted(pool[:n_positions], key=lambda p: (p.path, p.line))


def evaluate_position(
    service: Any, repo: RepositoryContext, pos: Position, use_context: bool
) -> dict:
    """Complete one blanked line and compare: one item of `next_line_eval`."""
    lines = (repo.root / pos.path).read_text(encoding="utf-8").split("\n")
    # The line to predict is blanked (its indentation stays): the suffix must not show it.
    lines[pos.line] = lines[pos.line][: pos.column]
    completion = service.complete(
        "\n".join(lines), pos.path, pos.line, pos.column, use_context=use_context, multiline="never"
    )
    got = completion.text.split("\n")[0].strip()
    log.info(
        "%s:%d exact=%s got=%r want=%r chunks=%d %s %.0f ms",
        pos.path,
        pos.line + 1,
        got == pos.target,
        got,
        pos.target,
        len(completion.chunks),
        completion.stop_reason,
        completion.timings.total_ms,
    )
    return {
        "path": pos.path,
        "line": pos.line + 1,
        "target": pos.target,
        "got": got,
        "exact": got == pos.target,
        "edit_similarity": round(edit_similarity(got, pos.target), 4),
        "stop_reason": completion.stop_reason,
        "context_ms": round(completion.timings.context_ms, 2),
        "total_ms": round(completion.timings.total_ms, 1),
        "prompt_tokens": completion.tokens.prompt,
        "chunks": len(completion.chunks),
        "context_tokens": sum(c.tokens for c in completion.chunks),
        "sources": sorted({c.source for c in completion.chunks}),
    }


def next_line_eval(
    repo_root: str | Path,
    service: Any,
    n_positions: int,
    use_context: bool,
    *,
    seed: int = 0,
    repo: RepositoryContext | None = None,
) -> dict:
    """Exact match and edit similarity of one-line completions at cross-file lines.

    `service` is a `CompletionService` (its context provider is used when `use_context`).
    Returns the summary plus one item per position.
    """
    repo = repo or RepositoryContext.open(repo_root)
    if repo.index.file_count() == 0:
        repo.build()
    positions = choose_positions(repo, n_positions, seed)
    items = [evaluate_position(service, repo, pos, use_context) for pos in positions]
    return summarize(items, use_context)


def summarize(items: list[dict], use_context: bool) -> dict:
    """The summary of `next_line_eval` items."""
    n = len(items)
    context_ms = [i["context_ms"] for i in items]
    return {
        "use_context": use_context,
        "positions": n,
        "exact": sum(i["exact"] for i in items),
        "exact_match": round(sum(i["exact"] for i in items) / n, 4) if n else 0.0,
        "edit_similarity": round(statistics.fmean(i["edit_similarity"] for i in items), 4)
        if n
        else 0.0,
        "context_ms_p50": round(percentile(context_ms, 50), 2),
        "context_ms_p95": round(percentile(context_ms, 95), 2),
        "context_tokens_mean": round(statistics.fmean(i["context_tokens"] for i in items), 1)
        if n
        else 0.0,
        "prompt_tokens_mean": round(statistics.fmean(i["prompt_tokens"] for i in items), 1)
        if n
        else 0.0,
        "items": items,
    }


@dataclass
class IndexTimings:
    """What building and using one repository's index cost, on a throwaway index."""

    build: BuildStats  # cold build, default settings (parsing in worker processes)
    rebuild: BuildStats  # again, nothing changed
    update_ms: list[float]  # one changed file re-indexed, per file
    context_ms: list[float]  # context chunks for a cursor mid-file, per file
    serial: BuildStats | None = None  # a cold build in-process on one thread, for the ratio


def index_timings(
    repo_root: str | Path,
    tokenizer: Tokenizer | None = None,
    files: int = 40,
    progress: Callable[[int, int, str], None] | None = None,
) -> IndexTimings:
    """Cold build (in-process on one thread, then with the default settings: worker
    processes), unchanged rebuild, then for up to `files` Python files a one-file update and
    a context build, on throwaway indexes (not the user's).
    """
    with tempfile.TemporaryDirectory(prefix="cove-index-") as folder:
        here = ContextSettings(index_dir=folder, index_workers=0)
        one = RepositoryContext.open(repo_root, here)
        serial = one.index.build(threads=1)
        one.close()
    with tempfile.TemporaryDirectory(prefix="cove-index-") as folder:
        repo = RepositoryContext.open(
            repo_root, ContextSettings(index_dir=folder), tokenizer=tokenizer
        )
        build = repo.build(progress)
        rebuild = repo.build()
        updates, contexts = [], []
        for path in [repo.root / p for p in repo.index.paths() if p.endswith(".py")][:files]:
            text = path.read_text(encoding="utf-8", errors="replace")
            started = time.perf_counter()
            repo.update_file(path, text + "\n# edited\n")  # changed content: a real re-parse
            updates.append((time.perf_counter() - started) * 1000)
            window = cursor_window(text, text.count("\n") // 2, 0, BudgetSettings(), repo.tokenizer)
            started = time.perf_counter()
            repo.provider(text, str(path), window, 256)
            contexts.append((time.perf_counter() - started) * 1000)
        repo.close()
    return IndexTimings(
        build=build, rebuild=rebuild, update_ms=updates, context_ms=contexts, serial=serial
    )
