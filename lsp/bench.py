"""`cove bench quality|latency|index|memory|all`: Cove against the naive baseline, one run.

Writes `report.md` (first table: metric, baseline, Cove, ratio) and, when matplotlib is
installed (`pip install '.[bench]'`), PNG plots into `--out`.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lsp.wire import WireClient

EVAL_DIRS = (Path(__file__).resolve().parents[1] / ".." / "shared" / "eval", Path.cwd() / ".." / "shared" / "eval")


@dataclass
class Row:
    """One line of the headline table."""

    metric: str
    baseline: float | None
    cove: float | None
    unit: str = ""
    lower_is_better: bool = False

    def ratio(self) -> str:
        if not self.baseline or self.cove is None:
            return "–"
        return f"{self.cove / self.baseline:.2f}×"


@dataclass
class Report:
    """Rows, extra sections and plot series collected by the benchmarks."""

    rows: list[Row] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    series: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def markdown(self, command: str) -> str:
        lines = ["# Cove benchmark report", "", f"Command: `{command}`", "", "| metric | baseline | Cove | ratio |", "|---|---:|---:|---:|"]
        for row in self.rows:
            fmt = lambda v: "–" if v is None else f"{v:.1f}{row.unit}"  # noqa: E731
            lines.append(f"| {row.metric} | {fmt(row.baseline)} | {fmt(row.cove)} | {row.ratio()} |")
        return "\n".join(lines + [""] + self.sections) + "\n"


def progress_bar(done: int, total: int, label: str) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label:<12} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def find_eval_dir() -> Path:
    """The shared evaluation data beside the checkout."""
    for candidate in EVAL_DIRS:
        if candidate.is_dir():
            return candidate.resolve()
    raise FileNotFoundError("the evaluation data (../shared/eval) was not found; run from the checkout")


def bench_quality(report: Report, service, backend, quick: bool, size: int | None = None) -> None:
    """HumanEval single-line pass@1 and SantaCoder FIM exact match, baseline vs Cove."""
    from context.benchmarks import humaneval_single_line, santacoder_fim

    data = find_eval_dir()
    size = size or (40 if quick else None)
    human = humaneval_single_line(data / "humaneval-infilling", backend, service, size, progress_bar)
    report.rows.append(Row("HumanEval single-line pass@1 (%)", human["baseline"].rate, human["cove"].rate))
    santa = santacoder_fim(data / "humaneval-fim-santacoder", backend, service, size, progress_bar)
    report.rows.append(Row("SantaCoder FIM Python first-line EM (%)", santa["baseline"].rate, santa["cove"].rate))
    report.sections.append(
        f"Quality sample: {human['cove'].total} HumanEval rows, {santa['cove'].total} SantaCoder rows "
        f"({'seeded subset' if quick or size else 'full'}). Published SantaCoder Python EM for Qwen2.5-Coder-0.5B "
        "base: 70.3 (ours is the instruct model at Q4_K_M)."
    )
    report.series["quality ms per example"] = {k: v.ms for k, v in human.items()}


@dataclass
class TypingRun:
    """What typing one line through the server cost, keystroke by keystroke."""

    latencies: list[float] = field(default_factory=list)
    new_tokens: list[int] = field(default_factory=list)
    cache_kinds: list[str] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    cold_ms: float = 0.0
    peak_rss_mb: float = 0.0


def _parse_log(line: str) -> dict:
    fields = {}
    for part in line.split():
        if "=" in part:
            key, _, value = part.partition("=")
            fields[key] = value
    return fields


def simulate_typing(command: list[str], path: Path, line_no: int) -> TypingRun:
    """Open `path` with line `line_no` emptied past its indentation, then type it back."""
    lines = path.read_text().split("\n")
    target = lines[line_no]
    indent = target[: len(target) - len(target.lstrip())]
    lines[line_no] = indent
    uri = path.resolve().as_uri()
    client = WireClient(command)
    run = TypingRun()
    try:
        client.initialize()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "\n".join(lines)}})
        column = len(indent)
        for step, char in enumerate([""] + list(target[len(indent):])):
            if char:
                client.notify("textDocument/didChange", {
                    "textDocument": {"uri": uri, "version": step + 1},
                    "contentChanges": [{"range": {"start": {"line": line_no, "character": column}, "end": {"line": line_no, "character": column}}, "text": char}],
                })
                column += 1
            started = time.perf_counter()
            client.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": {"line": line_no, "character": column}, "context": {"triggerKind": 2}})
            elapsed = (time.perf_counter() - started) * 1000
            if step == 0:
                run.cold_ms = elapsed
            run.latencies.append(elapsed)
        for text in client.log_lines():
            fields = _parse_log(text)
            if "cache" in fields:
                run.cache_kinds.append(fields["cache"])
                run.new_tokens.append(int(fields.get("new", 0)))
        run.floor_ms = _floors(client.log_lines())
        run.peak_rss_mb = _peak_rss_mb(client.proc.pid)
    finally:
        client.close()
    return run


def _floors(log_lines: list[str]) -> list[float]:
    """Per model call: the tokens it needed at the rates measured in this same run."""
    calls = [_parse_log(t) for t in log_lines if "prefill=" in t]
    prefill_tokens = sum(int(c["new"]) for c in calls)
    prefill_ms = sum(float(c["prefill"]) for c in calls)
    gen_tokens = sum(int(c["generated"]) for c in calls)
    gen_ms = sum(float(c["generate"]) for c in calls)
    if not prefill_tokens or not gen_tokens:
        return []
    per_prefill, per_gen = prefill_ms / prefill_tokens, gen_ms / gen_tokens
    return [int(c["new"]) * per_prefill + int(c["generated"]) * per_gen for c in calls if c.get("cache") == "miss"]


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def naive_typing(backend, path: Path, line_no: int) -> tuple[list[float], list[int]]:
    """The baseline plugin typing the same line: a plain PSM prompt on every keystroke."""
    from engine.types import GenerationRequest, StopPolicy

    from context.window import BudgetSettings, cursor_window

    lines = path.read_text().split("\n")
    target = lines[line_no]
    indent = target[: len(target) - len(target.lstrip())]
    template, latencies, new_tokens = backend.template, [], []
    for end in range(len(indent), len(target) + 1):
        # The same prefix/suffix budgets as Cove, in the classic PSM order.
        edited = lines[:line_no] + [target[:end]] + lines[line_no + 1 :]
        window = cursor_window("\n".join(edited), line_no, end, BudgetSettings(), backend)
        prompt = f"{template.prefix}{window.prefix}{window.line_prefix}{template.suffix}{window.suffix}{template.middle}"
        result = backend.submit(GenerationRequest(prompt=prompt, max_tokens=64, deadline_ms=120_000, stop=StopPolicy())).result()
        latencies.append(result.prefill_ms + result.generate_ms)
        new_tokens.append(result.tokens.new)
    return latencies, new_tokens


def bench_latency(report: Report, backend, quick: bool) -> None:
    """Typing a line character by character: Cove's server against the naive plugin."""
    path, line_no = _typing_target()
    run = simulate_typing([sys.executable, "-m", "lsp.cli", "serve"], path, line_no)
    base_ms, base_tokens = naive_typing(backend, path, line_no)
    warm = run.latencies[1:]
    hits = sum(kind != "miss" for kind in run.cache_kinds[1:])
    report.rows += [
        Row("keystroke latency p50 (ms)", percentile(base_ms[1:], 50), percentile(warm, 50), lower_is_better=True),
        Row("keystroke latency p95 (ms)", percentile(base_ms[1:], 95), percentile(warm, 95), lower_is_better=True),
        Row("tokens re-evaluated per keystroke (mean)", statistics.mean(base_tokens[1:] or [0]), statistics.mean(run.new_tokens[1:] or [0]), lower_is_better=True),
        Row("cold first suggestion (ms)", base_ms[0], run.cold_ms, lower_is_better=True),
        Row("peak server RSS (MB)", None, run.peak_rss_mb),
    ]
    floor = statistics.mean(run.floor_ms) if run.floor_ms else 0.0
    misses = [lat for lat, kind in zip(run.latencies, run.cache_kinds) if kind == "miss"]
    overhead = (statistics.mean(misses) / floor) if floor and misses else 0.0
    report.sections.append(
        f"Typing `{path.name}` line {line_no + 1} ({len(run.latencies) - 1} keystrokes): typed-ahead/result cache hits "
        f"{hits}/{len(run.cache_kinds) - 1}; model-call latency vs the floor (measured prefill and generation rates × tokens "
        f"needed): {overhead:.2f}× (mean floor {floor:.0f} ms)."
    )
    report.series["keystroke latency (ms)"] = {"baseline": base_ms[1:], "cove": warm}


def _typing_target() -> tuple[Path, int]:
    """A real file of this project and a line in it that uses names from elsewhere."""
    path = Path(__file__).resolve().parents[1] / "context" / "completion.py"
    lines = path.read_text().split("\n")
    for number, line in enumerate(lines):
        if "postprocess(" in line and "=" in line:
            return path, number
    return path, len(lines) // 2


def write_plots(report: Report, out: Path) -> list[str]:
    """PNG plots when matplotlib is available; names written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    for title, series in report.series.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, values in series.items():
            ax.plot(values, label=name, marker=".")
        ax.set_title(title)
        ax.legend()
        name = title.split(" (")[0].replace(" ", "_") + ".png"
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(name)
    return written


def run_bench(what: str, out: Path, quick: bool, settings, size: int | None = None) -> Path:
    """Run the named benchmarks and write the report; returns its path."""
    from context.completion import CompletionService
    from engine.local_backend import open_local_backend

    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    backend = open_local_backend(settings.model)
    # Quality is measured without a deadline in the way (the baseline has none either);
    # speed is the latency benchmark's job.
    patient = dataclasses.replace(settings.generation, deadline_ms=max(settings.generation.deadline_ms, 120_000))
    service = CompletionService(backend=backend, budgets=settings.budget, generation=patient)
    wanted = {"quality", "latency"} if what == "all" else {what}
    command = " ".join(["cove", "bench", what, "--out", str(out)] + (["--quick"] if quick else []))
    if "quality" in wanted:
        bench_quality(report, service, backend, quick, size)
        _write(report, out, command)  # a long run leaves what it has measured so far
    if "latency" in wanted or "memory" in wanted:
        bench_latency(report, backend, quick)
        _write(report, out, command)
    if "index" in wanted or what == "all":
        _bench_index(report, quick)
    backend.close()
    return _write(report, out, command, plots=True)


def _write(report: Report, out: Path, command: str, plots: bool = False) -> Path:
    """Write report.md and report.json (and the plots at the end)."""
    names = write_plots(report, out) if plots else []
    text = report.markdown(command) + "".join(f"\n![{p}]({p})\n" for p in names)
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps([row.__dict__ for row in report.rows], indent=2))
    return out / "report.md"


def _bench_index(report: Report, quick: bool, root: Path | None = None) -> None:
    """Index build (files/s), a no-change rebuild, one-file update and context-build times."""
    import os
    import tempfile

    from context.repository import RepositoryContext
    from context.window import BudgetSettings, cursor_window

    root = root or Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as cache:
        saved = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = cache  # a cold index, not the user's
        try:
            repo = RepositoryContext.open(root)
            first = repo.build()
            again = repo.build()
            files = sorted(p for p in root.rglob("*.py") if ".venv" not in p.parts and "node_modules" not in p.parts)[:20]
            updates, contexts = [], []
            for path in files:
                text = path.read_text(errors="replace")
                started = time.perf_counter()
                repo.update_file(path, text + "\n# edited\n")  # changed content: a real re-parse
                updates.append((time.perf_counter() - started) * 1000)
                lines = text.split("\n")
                line = len(lines) // 2
                window = cursor_window(text, line, 0, BudgetSettings(), repo.tokenizer)
                started = time.perf_counter()
                repo.provider(text, str(path), window, 256)
                contexts.append((time.perf_counter() - started) * 1000)
            repo.close()
        finally:
            if saved is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = saved
    rate = first.files / first.seconds if first.seconds else 0.0
    report.sections.append(
        f"Index of `{root.name}`: {first.files} files in {first.seconds:.2f} s ({rate:.0f} files/s); "
        f"unchanged rebuild {again.seconds * 1000:.0f} ms, {again.parsed} parsed; one-file update p50 "
        f"{percentile(updates, 50):.0f} ms; context build p50 {percentile(contexts, 50):.1f} ms, p95 {percentile(contexts, 95):.1f} ms."
    )
