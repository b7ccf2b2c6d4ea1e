"""File switches: a session cycling through three of Cove's own files (A → B → C → A ...),
typing a character on each visit, with kept prompt states (model.keptPrompts=4) and without
(0), side by side on the same loaded backend in one run; the process's memory (VmRSS and
RssAnon) sampled after every request of the session.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.batches import memory_kb
from bench.report import Report, Row, percentile
from context.completion import CompletionService
from engine.local.states import KeptStates, save_sequence
from engine.settings import GenerationSettings
from engine.types import GenerationRequest

SOURCES = ("context/completion.py", "engine/templates.py", "lsp/convert.py")


def middle(root: Path, name: str) -> tuple[list[str], int, int, str]:
    """(lines, line, indent, the line's code): the first code line past the file's middle."""
    lines = (root / name).read_text(encoding="utf-8").split("\n")
    i = next(k for k in range(len(lines) // 2, len(lines)) if len(lines[k].strip()) > 8)
    indent = len(lines[i]) - len(lines[i].lstrip())
    return lines, i, indent, lines[i][indent:]


def typed(position: tuple[list[str], int, int, str], count: int) -> tuple[str, int, int]:
    """(text, line, column) with the first `count` characters of the line's code typed back."""
    lines, i, indent, code = position
    line = lines[i][:indent] + code[:count]
    return "\n".join([*lines[:i], line, *lines[i + 1 :]]), i, len(line)


def run_session(
    service: CompletionService, root: Path, switches: int, memory: list[dict] | None = None
) -> tuple[list[float], list[float], list[float]]:
    """Visit the files in turn; on each, a request after the switch and one keystroke later.
    The first visit to each file (cold in both modes) is not counted. Returns the switch
    latencies, the keystroke latencies (ms) and the reused share of each switch's prompt;
    `memory` gets the process's memory (`memory_kb`) after every request.
    """
    positions = [middle(root, name) for name in SOURCES]
    counts = [0] * len(positions)
    switch_ms, keystroke_ms, reused = [], [], []
    for visit in range(len(positions) + switches):
        i = visit % len(positions)
        for step in range(2):  # the switch, then a keystroke in the same file
            counts[i] += 1
            text, line, column = typed(positions[i], counts[i])
            started = time.perf_counter()
            done = service.complete(text, SOURCES[i], line, column)
            elapsed = (time.perf_counter() - started) * 1000
            if memory is not None:
                memory.append(memory_kb())
            if visit < len(positions):
                continue
            if step == 0:
                switch_ms.append(elapsed)
                reused.append(done.tokens.reused / max(1, done.tokens.prompt))
            else:
                keystroke_ms.append(elapsed)
    return switch_ms, keystroke_ms, reused


def state_bytes_per_token(backend) -> tuple[float, int]:
    """Bytes a kept state holds per token, measured on a ~600-token prompt; its tokens."""
    prompt = (Path(__file__).resolve().parents[1] / SOURCES[0]).read_text()[:2400]
    request = GenerationRequest(prompt=prompt, max_tokens=1, deadline_ms=120_000)
    result = backend.generate(request)
    state = backend.worker.submit(save_sequence, backend._llama_cpp, backend.llm).result()
    tokens = max(1, len(state.tokens)) if state else result.tokens.prompt
    return (state.nbytes / tokens if state else 0.0), tokens


def bench_switches(report: Report, backend, root: Path, switches: int = 12) -> None:
    """Rows: latency of the request after a file switch without and with kept states (p50,
    p95), and the switch over a warm keystroke; a section with the counts.
    """
    service = CompletionService(
        backend=backend, generation=GenerationSettings(deadline_ms=120_000, multiline="never")
    )
    original = backend.kept
    results, memory = {}, {}
    try:
        for limit in (0, original.limit or 4):
            backend.kept = KeptStates(limit)
            memory[limit] = [memory_kb()]
            results[limit] = (*run_session(service, root, switches, memory[limit]), backend.kept)
    finally:
        backend.kept = original
    (off_s, off_k, off_r, _), (on_s, on_k, on_r, kept) = results.values()
    limit = kept.limit
    per_token, measured = state_bytes_per_token(backend)
    p = percentile
    report.rows += [
        Row(
            f"request after a file switch, p50 (ms): keptPrompts 0 → {limit}",
            p(off_s, 50),
            p(on_s, 50),
            lower_is_better=True,
        ),
        Row(
            f"request after a file switch, p95 (ms): keptPrompts 0 → {limit}",
            p(off_s, 95),
            p(on_s, 95),
            lower_is_better=True,
        ),
        Row(
            "file switch with kept states ÷ warm keystroke without them, p50",
            1.0,
            p(on_s, 50) / max(1e-6, p(off_k, 50)),
            lower_is_better=True,
        ),
    ]
    mean = lambda xs: sum(xs) / max(1, len(xs))  # noqa: E731
    report.sections.append(
        f"File switches ({len(on_s)} per mode, cycling {', '.join(SOURCES)}, a character typed "
        f"on each visit, one run on the same backend): after a switch p50/p95 "
        f"{p(off_s, 50):.0f}/{p(off_s, 95):.0f} ms with keptPrompts=0, "
        f"{p(on_s, 50):.0f}/{p(on_s, 95):.0f} ms with {limit} "
        f"(ratio {p(on_s, 50) / max(1e-6, p(off_s, 50)):.2f} at p50); warm keystroke p50 "
        f"{p(off_k, 50):.0f} / {p(on_k, 50):.0f} ms; prompt reused on a switch "
        f"{mean(off_r):.0%} / {mean(on_r):.0%}; {kept.restores} restores, {kept.saves} saves, "
        f"{len(kept)} states kept, {kept.nbytes / 2**20:.0f} MiB; a kept state holds "
        f"{per_token / 1024:.1f} KiB per token ({measured} tokens measured)."
    )
    report_memory(report, memory, kept.nbytes)


def report_memory(report: Report, memory: dict[int, list[dict]], kept_bytes: int) -> None:
    """Rows and a section: the process's VmRSS and RssAnon over each mode's session (the
    first sample before its first request), and the kept states' own bytes.
    """
    mib = lambda kb: kb / 1024  # noqa: E731
    parts = []
    for limit, samples in memory.items():
        rss = [mib(m.get("VmRSS", 0)) for m in samples]
        anon = [mib(m.get("RssAnon", 0)) for m in samples]
        report.rows.append(
            Row(
                f"RSS over the file-switch session, keptPrompts {limit} (MiB): start → max",
                rss[0],
                max(rss),
                lower_is_better=True,
            )
        )
        parts.append(
            f"keptPrompts {limit}: VmRSS {rss[0]:.0f} → max {max(rss):.0f}, last {rss[-1]:.0f} "
            f"MiB; RssAnon {anon[0]:.0f} → max {max(anon):.0f}, last {anon[-1]:.0f} MiB "
            f"({len(samples) - 1} requests)"
        )
    report.sections.append(
        "Memory over the file-switch session (this process: model, KV cache, kept states; "
        "sampled after every request, the keptPrompts 0 session first): "
        + "; ".join(parts)
        + f"; the kept states hold {kept_bytes / 2**20:.0f} MiB at the end."
    )


__all__ = ["bench_switches", "report_memory", "state_bytes_per_token"]
