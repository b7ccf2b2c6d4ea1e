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
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from context.completion import CompletionService
from engine.backend import Backend
from engine.types import GenerationRequest, StopPolicy

Progress = Callable[[int, int, str], None]


@dataclass
class Score:
    """Counts for one pipeline on one task set."""

    total: int = 0
    correct: int = 0
    similarity: float = 0.0
    ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Percentage correct."""
        return 100.0 * self.correct / self.total if self.total else 0.0


def naive_completion(backend: Backend, prefix: str, suffix: str, max_tokens: int = 64) -> tuple[str, float]:
    """The baseline: plain PSM prompt, stop at newline, raw text."""
    template = backend.template
    prompt = f"{template.prefix}{prefix}{template.suffix}{suffix}{template.middle}"
    result = backend.submit(GenerationRequest(prompt=prompt, max_tokens=max_tokens, deadline_ms=120_000, stop=StopPolicy())).result()
    return result.text, result.prefill_ms + result.generate_ms


def cove_completion(service: CompletionService, prefix: str, suffix: str, path: str = "snippet.py") -> tuple[str, float]:
    """Cove's pipeline at the hole between `prefix` and `suffix`."""
    lines = prefix.split("\n")
    completion = service.complete(prefix + suffix, path, len(lines) - 1, len(lines[-1]), use_context=False)
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
                [sys.executable, "-I", "-c", guard + f"exec(compile(open({str(script)!r}).read(), 'check.py', 'exec'))"],
                cwd=scratch, env=env, capture_output=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0


def first_line(text: str) -> str:
    """The first line of a completion, as the single-line metrics read it."""
    return text.split("\n", 1)[0]


def humaneval_single_line(
    data_dir: Path, backend: Backend, service: CompletionService, size: int | None, progress: Progress | None = None
) -> dict[str, Score]:
    """pass@1 (greedy) on HumanEval single-line infilling, baseline and Cove."""
    rows = sample(load_jsonl_gz(data_dir / "HumanEval-SingleLineInfilling.jsonl.gz"), size)
    scores = {"baseline": Score(), "cove": Score()}
    for index, row in enumerate(rows):
        for name, fill in _fillers(backend, service):
            text, ms = fill(row["prompt"], row["suffix"])
            line = first_line(text)
            program = f"{row['prompt']}{line}\n{row['suffix']}\n{row['test']}\ncheck({row['entry_point']})\n"
            score = scores[name]
            score.total += 1
            score.correct += run_program(program)
            score.ms.append(ms)
        if progress:
            progress(index + 1, len(rows), "humaneval")
    return scores


def santacoder_fim(
    data_dir: Path, backend: Backend, service: CompletionService, size: int | None, progress: Progress | None = None
) -> dict[str, Score]:
    """First-line exact match on the SantaCoder FIM task (Python rows)."""
    rows = sample(load_jsonl_gz(data_dir / "santacoder-fim-task-python.jsonl.gz"), size)
    scores = {"baseline": Score(), "cove": Score()}
    for index, row in enumerate(rows):
        target = first_line(row["canonical_solution"]).strip()
        for name, fill in _fillers(backend, service):
            # The hole is a whole line: prompt + "\n" + middle + "\n" + suffix (the task's README).
            text, ms = fill(row["prompt"] + "\n", "\n" + row["suffix"])
            text = text.lstrip("\n")  # Qwen's harness: a leading newline means the second line
            score = scores[name]
            score.total += 1
            score.correct += first_line(text).strip() == target
            score.similarity += edit_similarity(first_line(text).strip(), target)
            score.ms.append(ms)
        if progress:
            progress(index + 1, len(rows), "santacoder")
    return scores


def _fillers(backend: Backend, service: CompletionService) -> Iterator[tuple[str, Callable[[str, str], tuple[str, float]]]]:
    yield "baseline", lambda prefix, suffix: naive_completion(backend, prefix, suffix)
    yield "cove", lambda prefix, suffix: cove_completion(service, prefix, suffix)


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / longer length (1.0 for identical strings)."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))
