"""The latency and memory benchmarks: typing a line through the real server, and the naive
plugin typing the same line; the server's peak memory with the model and an index open.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Report, Row, percentile
from tests.wire import WireClient


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


def simulate_typing(
    command: list[str], path: Path, line_no: int, root: Path | None = None, options=None
) -> TypingRun:
    """Open `path` with line `line_no` emptied past its indentation, then type it back.
    With `root`, that workspace is indexed first (its context then goes into the prompts
    as `options` say).
    """
    lines = path.read_text().split("\n")
    target = lines[line_no]
    indent = target[: len(target) - len(target.lstrip())]
    lines[line_no] = indent
    uri = path.resolve().as_uri()
    client = WireClient(command)
    run = TypingRun()
    try:
        client.initialize({"features": {"logLevel": "info"}, **(options or {})}, root=root)
        deadline = time.monotonic() + 300
        while root and time.monotonic() < deadline:
            if any(t.startswith("index ") for t in client.log_lines()):
                break
            time.sleep(0.2)
        client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": "\n".join(lines),
                }
            },
        )
        column = len(indent)
        for step, char in enumerate([""] + list(target[len(indent) :])):
            if char:
                client.notify(
                    "textDocument/didChange",
                    {
                        "textDocument": {"uri": uri, "version": step + 1},
                        "contentChanges": [
                            {
                                "range": {
                                    "start": {"line": line_no, "character": column},
                                    "end": {"line": line_no, "character": column},
                                },
                                "text": char,
                            }
                        ],
                    },
                )
                column += 1
            started = time.perf_counter()
            client.request(
                "textDocument/inlineCompletion",
                {
                    "textDocument": {"uri": uri},
                    "position": {"line": line_no, "character": column},
                    "context": {"triggerKind": 2},
                },
            )
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
    return [
        int(c["new"]) * per_prefill + int(c["generated"]) * per_gen
        for c in calls
        if c.get("cache") == "miss"
    ]


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
    from bench.quality import naive_generate
    from context.window import BudgetSettings, cursor_window

    lines = path.read_text().split("\n")
    target = lines[line_no]
    indent = target[: len(target) - len(target.lstrip())]
    latencies, new_tokens = [], []
    for end in range(len(indent), len(target) + 1):
        # The same prefix/suffix budgets as Cove, in the classic PSM order.
        edited = lines[:line_no] + [target[:end]] + lines[line_no + 1 :]
        window = cursor_window("\n".join(edited), line_no, end, BudgetSettings(), backend)
        result = naive_generate(backend, window.prefix + window.line_prefix, window.suffix)
        latencies.append(result.prefill_ms + result.generate_ms)
        new_tokens.append(result.tokens.new)
    return latencies, new_tokens


def bench_latency(report: Report, backend, quick: bool) -> None:
    """Typing a line character by character: Cove's server against the naive plugin."""
    path, line_no = _typing_target()
    serve = [sys.executable, "-m", "lsp.cli", "serve"]
    run = simulate_typing(serve, path, line_no, options={"budget": {"contextTokens": 0}})
    # The same line with repository context (the defaults, this checkout indexed first).
    with_context = simulate_typing(serve, path, line_no, root=path.parents[1])
    base_ms, base_tokens = naive_typing(backend, path, line_no)
    warm = run.latencies[1:]
    hits = sum(kind != "miss" for kind in run.cache_kinds[1:])
    report.rows += [
        Row(
            "keystroke latency p50 (ms)",
            percentile(base_ms[1:], 50),
            percentile(warm, 50),
            lower_is_better=True,
        ),
        Row(
            "keystroke latency p95 (ms)",
            percentile(base_ms[1:], 95),
            percentile(warm, 95),
            lower_is_better=True,
        ),
        Row(
            "tokens re-evaluated per keystroke (mean)",
            statistics.mean(base_tokens[1:] or [0]),
            statistics.mean(run.new_tokens[1:] or [0]),
            lower_is_better=True,
        ),
        Row(
            "tokens re-evaluated per keystroke, repository context on (mean)",
            statistics.mean(base_tokens[1:] or [0]),
            statistics.mean(with_context.new_tokens[1:] or [0]),
            lower_is_better=True,
        ),
        Row(
            "keystroke latency p50, repository context on (ms)",
            percentile(base_ms[1:], 50),
            percentile(with_context.latencies[1:], 50),
            lower_is_better=True,
        ),
        Row("cold first suggestion (ms)", base_ms[0], run.cold_ms, lower_is_better=True),
        Row(
            "keystrokes answered without the model (%)",
            0.0,
            100 * hits / max(len(run.cache_kinds) - 1, 1),
        ),
        Row("peak server RSS, typing (MB)", None, run.peak_rss_mb, lower_is_better=True),
    ]
    floor = statistics.mean(run.floor_ms) if run.floor_ms else 0.0
    # not strict: a request whose log line never came has a latency but no cache kind
    misses = [
        lat for lat, kind in zip(run.latencies, run.cache_kinds, strict=False) if kind == "miss"
    ]
    overhead = (statistics.mean(misses) / floor) if floor and misses else 0.0
    report.rows.append(
        Row("model-call latency ÷ floor (measured rates × tokens needed)", None, overhead)
    )
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
    for number, line in enumerate(lines):  # an assignment from a call, long enough to type
        code = line.strip()
        long_call = " = " in code and "(" in code and "." in code and len(code) >= 40
        if long_call and number > 100 and not code.startswith(("#", '"')):
            return path, number
    raise LookupError(f"no line to type found in {path}")


def line_typist(backend):
    """`complete(n)`: Cove's suggestion, in process, after typing the first `n` characters of
    the typing target's code (n = 0: the line's indentation only, the cold request).
    """
    from context.completion import CompletionService
    from engine.settings import GenerationSettings

    path, line_no = _typing_target()
    lines = path.read_text().split("\n")
    target = lines[line_no]
    indent = len(target) - len(target.lstrip())
    service = CompletionService(backend=backend, generation=GenerationSettings(deadline_ms=120_000))

    def complete(n: int):
        typed = target[indent : indent + n]
        edited = lines[:line_no] + [target[:indent] + typed] + lines[line_no + 1 :]
        return service.complete("\n".join(edited), path.name, line_no, indent + len(typed))

    return complete


def bench_memory(report: Report, root: Path, timeout: float = 900) -> None:
    """Peak RSS of the real server with the model loaded and `root`'s index built and open."""
    client = WireClient([sys.executable, "-m", "lsp.cli", "serve"])
    try:
        client.initialize(
            {"budget": {"contextTokens": 256}, "features": {"logLevel": "info"}}, root=root
        )
        deadline = time.monotonic() + timeout
        indexed = ""
        while not indexed and time.monotonic() < deadline:
            indexed = next((t for t in client.log_lines() if t.startswith("index ")), "")
            time.sleep(0.2)
        path = max(root.rglob("*.py"), key=lambda p: p.stat().st_size)  # the largest file open
        text = path.read_text(encoding="utf-8", errors="replace")
        uri = path.resolve().as_uri()
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        line = text.count("\n") // 2
        client.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": {"line": line, "character": 0},
                "context": {"triggerKind": 2},
            },
        )
        peak = _peak_rss_mb(client.proc.pid)
    finally:
        client.close()
    report.rows.append(
        Row("peak server RSS, model + index open (MB)", None, peak, lower_is_better=True)
    )
    report.sections.append(
        f"Memory: the server on `{root.name}` ({indexed or 'index not finished'}), "
        f"largest file `{path.name}` open, one completion: peak RSS {peak:.0f} MB."
    )
