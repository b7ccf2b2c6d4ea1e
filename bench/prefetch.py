"""The first suggestion after opening a file and pausing (issue 17 §2), with prefetch and
without, through two real servers side by side in one run.

Each file is opened in both servers in turn (the order alternates file by file), its
middle code line emptied past its indentation, the editor's cursor reported there
(`cove/cursor`, as Cove's VS Code and Neovim clients send it); after the pause an
automatic inline request asks at that cursor. The latency is the request's round trip;
the server's log line says what the model evaluated for it (new / reused prompt tokens)
and whether a cache answered.

    python -m bench.prefetch [--pause 2] [--files 8] [--window 512,128] [--out DIR]

`--window PREFIX,SUFFIX` sets both servers' `budget.prefixTokens` / `budget.suffixTokens`
(default: the shipped window), to show what a smaller first prompt buys on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.arguments import window_budgets
from bench.latency import _parse_log
from bench.report import Report, Row, percentile
from tests.wire import WireClient

ROOT = Path(__file__).resolve().parents[1]
# Real files of this project, each long enough that the middle line's prompt fills the
# prefix budget (a cold prompt of ~1,400 tokens).
FILES = (
    "context/completion.py",
    "engine/templates.py",
    "context/document.py",
    "context/retrieval/repository.py",
    "engine/local/model_store.py",
    "context/syntax/languages.py",
    "lsp/protocol.py",
    "context/assist/commit.py",
)


@dataclass(frozen=True)
class FirstSuggestion:
    """One file's first request in one server."""

    path: str
    prefetch: bool
    latency_ms: float
    new_tokens: int
    reused_tokens: int
    cache: str
    stop: str  # why generation ended: "deadline" = no suggestion within generation.deadlineMs
    prefetch_log: str  # the prefetch's own log line ("" when none ran)


def opened_at(path: Path) -> tuple[str, int, int]:
    """(text, line, column): the file with its middle code line cut at its indentation."""
    lines = path.read_text(encoding="utf-8").split("\n")
    i = next(k for k in range(len(lines) // 2, len(lines)) if len(lines[k].strip()) > 8)
    indent = len(lines[i]) - len(lines[i].lstrip())
    return "\n".join([*lines[:i], lines[i][:indent], *lines[i + 1 :]]), i, indent


def start_server(prefetch: bool, budget: dict | None = None) -> WireClient:
    """A `cove serve` with the defaults but `features.prefetch` (and `budget`, when given);
    the model loaded.
    """
    client = WireClient([sys.executable, "-m", "lsp.cli", "serve"])
    options: dict = {"features": {"logLevel": "info", "prefetch": prefetch}}
    if budget:
        options["budget"] = budget
    status = client.initialize(options)["status"]
    if status["state"] != "ready":
        raise RuntimeError(f"the server did not load its model: {status}")
    return client


def first_suggestion(client: WireClient, path: Path, pause_s: float, prefetch: bool):
    """Open `path`, report the cursor, pause, ask once; what it cost."""
    text, line, column = opened_at(path)
    uri = path.resolve().as_uri()
    doc = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    position = {"line": line, "character": column}
    client.notify("cove/cursor", {"textDocument": {"uri": uri}, "position": position})
    time.sleep(pause_s)
    params = {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 2}}
    started = time.perf_counter()
    client.request("textDocument/inlineCompletion", params, timeout=300)
    latency = (time.perf_counter() - started) * 1000
    time.sleep(0.2)  # the log lines follow the answer
    name = path.name
    lines = [t for t in client.log_lines() if f" {name}:" in t]
    # The request's own line (a "withheld" line may follow it).
    real = next((t for t in reversed(lines) if t.startswith("inline ") and "cache=" in t), "")
    fields = _parse_log(real)
    return FirstSuggestion(
        path=str(path.relative_to(ROOT)),
        prefetch=prefetch,
        latency_ms=latency,
        new_tokens=int(fields.get("new", 0)),
        reused_tokens=int(fields.get("reused", 0)),
        cache=fields.get("cache", "?"),
        stop=fields.get("stop", "?"),
        prefetch_log=next((t for t in lines if t.startswith("prefetch ")), ""),
    )


def run_pairs(
    files: list[Path], pause_s: float, budget: dict | None = None
) -> list[FirstSuggestion]:
    """Both servers, each file once in each, the order alternating file by file."""
    servers = {True: start_server(True, budget), False: start_server(False, budget)}
    results = []
    try:
        for index, path in enumerate(files):
            for prefetch in (index % 2 == 0, index % 2 != 0):
                results.append(first_suggestion(servers[prefetch], path, pause_s, prefetch))
    finally:
        for client in servers.values():
            client.close()
    return results


def bench_prefetch(
    report: Report, pause_s: float = 2.0, count: int = len(FILES), budget: dict | None = None
) -> list:
    """Rows: the first suggestion's latency after open + pause (p50, max) and its new
    prompt tokens, prefetch off (baseline) → on; a section with every file.
    """
    files = [ROOT / name for name in FILES[:count]]
    results = run_pairs(files, pause_s, budget)
    off = [r for r in results if not r.prefetch]
    on = [r for r in results if r.prefetch]
    ms = lambda rs: [r.latency_ms for r in rs]  # noqa: E731
    tokens = lambda rs: [r.new_tokens for r in rs]  # noqa: E731
    label = f"first suggestion after open + {pause_s:g} s pause"
    report.rows += [
        Row(f"{label}, p50 (ms): prefetch off → on", percentile(ms(off), 50),
            percentile(ms(on), 50), lower_is_better=True),
        Row(f"{label}, max (ms): prefetch off → on", max(ms(off)), max(ms(on)),
            lower_is_better=True),
        Row(f"{label}, new prompt tokens (mean): prefetch off → on",
            statistics.mean(tokens(off)), statistics.mean(tokens(on)), lower_is_better=True),
    ]  # fmt: skip
    within = sum(r.latency_ms <= 2000 for r in on)
    rows = "\n".join(
        f"| `{a.path}` | {a.latency_ms:.0f} | {a.new_tokens} | {b.latency_ms:.0f} | "
        f"{b.new_tokens} / {b.reused_tokens} | {b.cache} | {a.stop} / {b.stop} |"
        for a, b in zip(off, on, strict=True)
    )
    report.sections.append(
        f"First suggestion after opening a file and pausing {pause_s:g} s ({len(on)} files of "
        f"this project, the middle code line emptied past its indentation, the cursor there; "
        f"two servers side by side, the order alternating; window "
        f"{json.dumps(budget) if budget else 'the default'}; load {_load()}): p50/max "
        f"{percentile(ms(off), 50):.0f}/{max(ms(off)):.0f} ms without prefetch, "
        f"{percentile(ms(on), 50):.0f}/{max(ms(on)):.0f} ms with it; {within} of {len(on)} "
        f"within 2 s with it.\n\n"
        "| file | off: ms | off: new tokens | on: ms | on: new / reused tokens | on: cache "
        "| stop off / on |\n|---|---:|---:|---:|---:|---|---|\n" + rows
    )
    return results


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    """Run the prefetch benchmark alone; print the rows and section (and write them)."""
    parser = argparse.ArgumentParser(prog="python -m bench.prefetch")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between open and ask")
    parser.add_argument("--files", type=int, default=len(FILES), help="how many of the files")
    parser.add_argument(
        "--window",
        type=window_budgets,
        help="PREFIX,SUFFIX: both servers' budget.prefixTokens, budget.suffixTokens",
    )
    parser.add_argument("--out", type=Path, help="write report.md and results.json here")
    args = parser.parse_args(argv)
    budget = None
    if args.window:
        budget = {"prefixTokens": args.window[0], "suffixTokens": args.window[1]}
    report = Report()
    results = bench_prefetch(report, args.pause, args.files, budget)
    command = "python -m bench.prefetch " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report.markdown(command)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text)
        (args.out / "results.json").write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
