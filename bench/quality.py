"""Quality benchmarks: Cove's pipeline against the naive FIM baseline, on the same model.

The naive baseline is what a plain FIM plugin does: `prefix + suffix` in the model's PSM
template, stop at newline, no context, no post-processing. Cove's pipeline is the real
`CompletionService` (keystroke-stable layout, stop rules, post-processing).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.evaluate import Position, choose_positions, edit_similarity, evaluate_position
from context.completion import CompletionService
from context.retrieval.repository import RepositoryContext
from context.window import BudgetSettings, cursor_window
from engine.backend import Backend
from engine.types import GenerationRequest, GenerationResult, StopPolicy

Progress = Callable[[int, int, str], None]


@dataclass
class Score:
    """Counts for one pipeline on one task set."""

    total: int = 0
    correct: int = 0
    similarity: float = 0.0
    ms: list[float] = field(default_factory=list)

    def add(self, item: dict) -> None:
        """Count one measured item (`ok`, `ms`, optional `similarity`)."""
        self.total += 1
        self.correct += bool(item["ok"])
        self.similarity += item.get("similarity", 0.0)
        self.ms.append(item["ms"])

    @property
    def mean_similarity(self) -> float:
        """Mean edit similarity (0-1)."""
        return self.similarity / self.total if self.total else 0.0

    @property
    def rate(self) -> float:
        """Percentage correct."""
        return 100.0 * self.correct / self.total if self.total else 0.0


def naive_generate(
    backend: Backend,
    prefix: str,
    suffix: str,
    max_tokens: int = 64,
    stop: StopPolicy | None = None,
    deadline_ms: int = 120_000,
) -> GenerationResult:
    """The baseline's generation: plain PSM prompt, stop at newline (unless `stop` says
    otherwise), raw text.
    """
    template = backend.template
    prompt = f"{template.prefix}{prefix}{template.suffix}{suffix}{template.middle}"
    request = GenerationRequest(
        prompt=prompt, max_tokens=max_tokens, deadline_ms=deadline_ms, stop=stop or StopPolicy()
    )
    return backend.submit(request).result()


def naive_completion(
    backend: Backend, prefix: str, suffix: str, max_tokens: int = 64
) -> tuple[str, float]:
    """The baseline's text and its milliseconds."""
    result = naive_generate(backend, prefix, suffix, max_tokens)
    return result.text, result.prefill_ms + result.generate_ms


def cove_completion(
    service: CompletionService, prefix: str, suffix: str, path: str = "snippet.py"
) -> tuple[str, float]:
    """Cove's pipeline at the hole between `prefix` and `suffix`."""
    lines = prefix.split("\n")
    completion = service.complete(
        prefix + suffix, path, len(lines) - 1, len(lines[-1]), use_context=False
    )
    return completion.text, completion.timings.total_ms


def load_jsonl_gz(path: Path) -> list[dict]:
    """Rows of a gzipped JSON-lines file."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sample(rows: list[dict], size: int | None, seed: int = 1234) -> list[dict]:
    """A fixed, seeded subset (all rows when `size` is None)."""
    if size is None or size >= len(rows):
        return rows
    picked = list(rows)
    random.Random(seed).shuffle(picked)
    return picked[:size]


def run_program(program: str, timeout: float = 5.0) -> bool:
    """Execute a test program in a fresh interpreter with no network; True when it passes."""
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "check.py"
        script.write_text(program)
        guard = "import socket\nsocket.socket = None\n"
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    "-I",
                    "-c",
                    guard + f"exec(compile(open({str(script)!r}).read(), 'check.py', 'exec'))",
                ],
                cwd=scratch,
                env=env,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0


def first_line(text: str) -> str:
    """The first line of a completion, as the single-line metrics read it."""
    return text.split("\n", 1)[0]


class Ledger:
    """Finished items of a run, one JSON line each in `items.jsonl`: a stopped run resumes.

    `resume=False` starts the file afresh; with `resume=True` items already measured (same
    key) are read back instead of measured again.
    """

    def __init__(self, path: Path | None = None, resume: bool = False):
        self.path = path
        self.items: dict[str, dict] = {}
        if path is None:
            return
        if resume and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a killed run
                self.items[item.get("key", "")] = item
        else:
            path.write_text("", encoding="utf-8")

    def measure(self, key: str, run: Callable[..., dict], *args: Any) -> dict:
        """The item for `key`: read back, or `run(*args)` measured now and appended."""
        if key in self.items:
            return self.items[key]
        item = {"key": key, **run(*args)}
        self.items[key] = item
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(item) + "\n")
        return item


def _row_order(name: str) -> tuple[int, int, str]:
    """Rows of one problem together, by line: consecutive prompts then share their start
    (the KV cache's prefix reuse), which halves a full run.
    """
    numbers = [int(n) for n in re.findall(r"\d+", name)]
    return (numbers[0] if numbers else 0, numbers[-1] if len(numbers) > 1 else 0, name)


def humaneval_single_line(
    data_dir: Path,
    backend: Backend,
    service: CompletionService,
    size: int | None,
    progress: Progress | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Score]:
    """pass@1 (greedy) on HumanEval single-line infilling, baseline and Cove."""
    rows = sample(load_jsonl_gz(data_dir / "HumanEval-SingleLineInfilling.jsonl.gz"), size)
    return _run_rows(
        "humaneval", rows, "task_id", _humaneval_item, _fillers(backend, service), progress, ledger
    )


def santacoder_fim(
    data_dir: Path,
    backend: Backend,
    service: CompletionService,
    size: int | None,
    progress: Progress | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Score]:
    """First-line exact match on the SantaCoder FIM task (Python rows)."""
    rows = sample(load_jsonl_gz(data_dir / "santacoder-fim-task-python.jsonl.gz"), size)
    scores = _run_rows(
        "santacoder", rows, "name", _santacoder_item, _fillers(backend, service), progress, ledger
    )
    # The published number's own harness on the same rows, for comparison with 70.3.
    harness = _run_rows(
        "santacoder",
        rows,
        "name",
        _santacoder_harness_item,
        [("harness", backend)],
        progress,
        ledger,
    )
    return {**scores, **harness}


def _run_rows(
    task: str,
    rows: list[dict],
    id_field: str,
    item: Callable[[Any, dict], dict],
    pipelines: list[tuple[str, Any]],
    progress: Progress | None,
    ledger: Ledger | None,
) -> dict[str, Score]:
    """Every row through every pipeline (`item(pipeline, row)`), rows of one problem together."""
    rows = sorted(rows, key=lambda row: _row_order(row[id_field]))
    ledger = ledger or Ledger()
    scores = {name: Score() for name, _ in pipelines}
    for index, row in enumerate(rows):
        for name, pipeline in pipelines:
            scores[name].add(ledger.measure(f"{task}/{row[id_field]}/{name}", item, pipeline, row))
        if progress:
            progress(index + 1, len(rows), task)
    return scores


def repository_next_line(
    roots: list[Path],
    backend: Backend,
    services: Callable[[RepositoryContext], dict[str, tuple[CompletionService, bool]]],
    per_repo: int,
    progress: Progress | None = None,
    ledger: Ledger | None = None,
) -> dict[str, Score]:
    """Next-line exact match and edit similarity on real repositories, at the start of
    lines that use a name defined in another file (`bench.evaluate.choose_positions`).

    `services(repo)` names Cove's pipelines for one repository, each with whether it uses
    context; the naive baseline runs beside them on the same window budgets.
    """
    ledger = ledger or Ledger()
    scores: dict[str, Score] = {"baseline": Score()}
    plan = []
    for root in roots:
        repo = RepositoryContext.open(root, tokenizer=backend)
        repo.build()
        plan.append((repo, choose_positions(repo, per_repo, seed=0)))
    total, done = sum(len(p) for _, p in plan), 0
    for repo, positions in plan:
        pipelines = services(repo)
        budgets = next(iter(pipelines.values()))[0].budgets
        for pos in positions:
            where = f"repo/{repo.root.name}/{pos.path}:{pos.line + 1}"
            scores["baseline"].add(
                ledger.measure(f"{where}/baseline", _naive_line, backend, repo, pos, budgets)
            )
            for name, (service, use_context) in pipelines.items():
                item = ledger.measure(
                    f"{where}/{name}", _cove_line, service, repo, pos, use_context
                )
                scores.setdefault(name, Score()).add(item)
            done += 1
            if progress:
                progress(done, total, "repos")
        repo.close()
    return scores


def _humaneval_item(fill: Callable[[str, str], tuple[str, float]], row: dict) -> dict:
    """One HumanEval row: fill the hole, run the row's tests on the program."""
    text, ms = fill(row["prompt"], row["suffix"])
    line = first_line(text)
    program = (
        f"{row['prompt']}{line}\n{row['suffix']}\n{row['test']}\ncheck({row['entry_point']})\n"
    )
    return {"got": line, "ok": run_program(program), "ms": round(ms, 1)}


def _santacoder_item(fill: Callable[[str, str], tuple[str, float]], row: dict) -> dict:
    """One SantaCoder row: the first line against the canonical one."""
    target = first_line(row["canonical_solution"]).strip()
    # The hole is a whole line: prompt + "\n" + middle + "\n" + suffix (the README).
    text, ms = fill(row["prompt"] + "\n", "\n" + row["suffix"])
    got = first_line(text.lstrip("\n")).strip()  # Qwen's harness: skip a leading newline
    return {
        "got": got,
        "ok": got == target,
        "similarity": round(edit_similarity(got, target), 4),
        "ms": round(ms, 1),
    }


def _santacoder_harness_item(backend: Backend, row: dict) -> dict:
    """One SantaCoder row as Qwen's published harness runs it: the raw prompt and suffix, up
    to 64 tokens, the first line of the generation (the second when it starts with a newline).
    """
    target = first_line(row["canonical_solution"]).strip()
    result = naive_generate(
        backend, row["prompt"], row["suffix"], stop=StopPolicy(multiline=True, max_lines=2)
    )
    lines = result.text.split("\n")
    got = (lines[1] if result.text.startswith("\n") and len(lines) > 1 else lines[0]).strip()
    ms = result.prefill_ms + result.generate_ms
    return {
        "got": got,
        "ok": got == target,
        "similarity": round(edit_similarity(got, target), 4),
        "ms": round(ms, 1),
    }


def _cove_line(
    service: CompletionService, repo: RepositoryContext, pos: Position, use_context: bool
) -> dict:
    """Cove at one repository position (`bench.evaluate.evaluate_position`)."""
    item = evaluate_position(service, repo, pos, use_context)
    return {
        "got": item["got"],
        "ok": item["exact"],
        "similarity": item["edit_similarity"],
        "ms": item["total_ms"],
        "context_ms": item["context_ms"],
        "chunks": item["chunks"],
    }


def _naive_line(
    backend: Backend, repo: RepositoryContext, pos: Position, budgets: BudgetSettings
) -> dict:
    """The baseline at one repository position: the same window, a plain PSM prompt."""
    lines = (repo.root / pos.path).read_text(encoding="utf-8").split("\n")
    lines[pos.line] = lines[pos.line][: pos.column]
    window = cursor_window("\n".join(lines), pos.line, pos.column, budgets, backend)
    text, ms = naive_completion(backend, window.prefix + window.line_prefix, window.suffix)
    got = first_line(text).strip()
    return {
        "got": got,
        "ok": got == pos.target,
        "similarity": round(edit_similarity(got, pos.target), 4),
        "ms": round(ms, 1),
    }


def _fillers(
    backend: Backend, service: CompletionService
) -> list[tuple[str, Callable[[str, str], tuple[str, float]]]]:
    return [
        ("baseline", lambda prefix, suffix: naive_completion(backend, prefix, suffix)),
        ("cove", lambda prefix, suffix: cove_completion(service, prefix, suffix)),
    ]
