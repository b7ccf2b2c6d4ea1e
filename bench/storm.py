"""The typing storm on the real model (`python -m bench.reliability --storm`), its verdict,
table and plot.

Per block of 100 keystrokes: the server's RSS (anonymous and file-backed apart), the
latency p50/p95 of the requests the typist paused for and those in flight, a plot, and the
verdict (`run_typing_storm`): RSS growth after the warm-up block <= 20 MB net of the kept
prompt states (engine/local/states.py: bounded by design, read from the server's log and
reported apart), the last block's p50 <= 1.2x the first measured block's (both at human
speed), no answer missing. The typist writes real lines of code and stops after every 10
keystrokes until the suggestion is there (at most 30 s): without the wait, every answer
was an empty one for a request the next keystroke superseded (on a busy machine no prompt
finished in a 1 s pause) and the p50 timed cancellation. `--kept-prompts 0` runs the storm
with no kept states (the gross RSS is then the whole story); `--probe` runs the server
under tracemalloc with a memory probe per block (tests/lsp/memprobe.py; slower: for the
question where memory goes, not for the verdict's latency).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.report import percentile
from tests.conftest import git
from tests.lsp.fuzz import SERVE
from tests.lsp.storm import FAST_S, HUMAN_S, SOURCES, Storm, StormReport
from tests.wire import WireClient

# Warm-up (not judged), human speed, four times faster, human again: the first and last
# judged blocks type at the same speed, so their latencies compare.
STORM_SCHEDULE = [(100, HUMAN_S), (300, HUMAN_S), (600, FAST_S), (200, HUMAN_S)]
PAUSE_EVERY, PAUSE_S = 10, 1.0  # the typist stops to read the suggestion
STORM_OPTIONS: dict = {
    "model": {"path": "", "name": "qwen2.5-coder-0.5b"},
    "budget": {"contextTokens": 256},
    "features": {"logLevel": "info"},
}
RSS_LIMIT_MB, LATENCY_RATIO = 20.0, 1.2
KEPT_LINE = re.compile(r"kept states \d+, (\d+) bytes in all")


def kept_bytes_from(log_file: Path | None):
    """A reader of the kept prompt states' bytes: the last total the server logged."""

    def read() -> int:
        if log_file is None or not log_file.exists():
            return 0
        found = KEPT_LINE.findall(log_file.read_text(errors="replace"))
        return int(found[-1]) if found else 0

    return read


def run_typing_storm(
    schedule=STORM_SCHEDULE,
    options=STORM_OPTIONS,
    seed: int = 7,
    log_file: Path | None = None,
    kept_prompts: int | None = None,
    probe_dir: Path | None = None,
) -> dict:
    """The storm on a fresh server over a small git repository; blocks, verdicts, failures.

    With `probe_dir`, the server runs under tracemalloc and writes a memory probe there at
    the end of every block (tests/lsp/memprobe.py; slower: not for the verdict's latency).
    """
    if kept_prompts is not None:
        options = {**options, "model": {**options["model"], "keptPrompts": kept_prompts}}
    if log_file is not None:
        log_file.unlink(missing_ok=True)  # the server appends; the kept totals are this run's
    with tempfile.TemporaryDirectory(prefix="cove-storm-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        git(root, "init", "-q")
        for name, text in SOURCES.items():
            (root / name).write_text(text)
        options = {**options, "context": {"indexDir": str(Path(tmp) / "index")}}
        command = SERVE if probe_dir is None else probe_command(probe_dir)
        client = WireClient(command + (["--log-file", str(log_file)] if log_file else []))
        try:
            status = client.initialize(options, root=root)["status"]
            if status["state"] != "ready":
                raise RuntimeError(f"the model did not load: {status}")
            storm = Storm(client, root, seed)
            storm.open_all()
            report = storm.run(
                schedule,
                pause_every=PAUSE_EVERY,
                pause_s=PAUSE_S,
                kept_bytes=kept_bytes_from(log_file),
                on_block=None if probe_dir is None else probe_each_block(client, probe_dir),
            )
            code = client.close()
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
    return judge_storm(report, exit_code=code)


def probe_command(folder: Path) -> list[str]:
    """`cove serve` under tracemalloc, writing a memory probe into `folder` on SIGUSR1."""
    return [sys.executable, "-X", "tracemalloc=8", "-m", "tests.lsp.memprobe", str(folder), "serve"]


def probe_each_block(client: WireClient, folder: Path):
    """A block callback: ask the server for a probe and wait until it is written."""
    count = 0

    def probe(_block) -> None:
        nonlocal count
        count += 1
        os.kill(client.proc.pid, signal.SIGUSR1)
        path = folder / f"probe-{count}.pickle"
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    return probe


def judge_storm(report: StormReport, exit_code: int = 0) -> dict:
    """Per-block figures and the three pass criteria (block 0 is the warm-up): RSS net of
    the kept prompt states, latency of the requests the typist paused for (settled).
    """
    blocks = [
        {
            "block": i,
            "keystrokes": b.keystrokes,
            "interval_ms": round(b.interval_s * 1000),
            "rss_mb": round(b.rss_kb / 1024, 1),
            "kept_mb": round(b.kept_bytes / 2**20, 1),
            "net_rss_mb": round((b.rss_kb * 1024 - b.kept_bytes) / 2**20, 1),
            "anon_mb": round(b.anon_kb / 1024, 1),
            "file_mb": round(b.file_kb / 1024, 1),
            "net_anon_mb": round((b.anon_kb * 1024 - b.kept_bytes) / 2**20, 1),
            "answered": len(b.latencies_ms),
            "with_text": len(b.text_latencies_ms),
            "settled": len(b.settled_ms),
            "p50_ms": round(percentile(b.settled_ms, 50), 1),
            "p95_ms": round(percentile(b.settled_ms, 95), 1),
            "p50_text_ms": round(percentile(b.text_latencies_ms, 50), 1),
            "p50_all_ms": round(percentile(b.latencies_ms, 50), 1),
            "in_flight": b.in_flight,
            "cancelled": b.cancelled,
        }
        for i, b in enumerate(report.blocks)
    ]
    warm, judged = blocks[0], blocks[1:]
    growth = max(b["net_rss_mb"] for b in judged) - warm["net_rss_mb"]
    gross = max(b["rss_mb"] for b in judged) - warm["rss_mb"]
    first, last = judged[0], judged[-1]
    ratio = last["p50_ms"] / first["p50_ms"] if first["p50_ms"] else float("inf")
    missing = report.requests - report.answered
    return {
        "blocks": blocks,
        "requests": report.requests,
        "answered": report.answered,
        "empty": report.empty,
        "rss_growth_mb": round(growth, 1),
        "gross_rss_growth_mb": round(gross, 1),
        "kept_mb": max(b["kept_mb"] for b in blocks),
        "latency_ratio": round(ratio, 2),
        "passed": {
            "rss": growth <= RSS_LIMIT_MB,
            "latency": ratio <= LATENCY_RATIO,
            "answers": missing == 0 and not report.failures and exit_code == 0,
        },
        "failures": report.failures,
    }


def write_storm_plot(result: dict, out: Path) -> Path | None:
    """storm.png: RSS and latency p50/p95 per block of 100 keystrokes (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    blocks = result["blocks"]
    x = [b["block"] for b in blocks]
    fig, (rss, lat) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    rss.plot(x, [b["rss_mb"] for b in blocks], marker=".", label="server RSS")
    rss.plot(x, [b["net_rss_mb"] for b in blocks], marker=".", label="RSS less kept prompts")
    rss.plot(x, [b["anon_mb"] for b in blocks], marker=".", label="anonymous RSS")
    rss.set_ylabel("MB")
    rss.set_title("Typing storm (blocks of 100 keystrokes; block 0 warms up)")
    rss.legend()
    for key in ("p50_ms", "p95_ms"):
        lat.plot(x, [b[key] for b in blocks], marker=".", label=key.split("_")[0])
    lat.set_ylabel("paused for, ms")
    lat.set_xlabel("block")
    lat.legend(loc="upper left")
    flight = lat.twinx()  # a count, on its own scale
    flight.plot(x, [b["in_flight"] for b in blocks], "g:x", label="in flight")
    flight.set_ylabel("requests in flight")
    flight.legend(loc="upper right")
    fig.tight_layout()
    path = out / "storm.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def print_storm(result: dict) -> None:
    """The per-block table and the verdicts."""
    columns = (
        ("block", "block"),
        ("ms/key", "interval_ms"),
        ("RSS MB", "rss_mb"),
        ("anon MB", "anon_mb"),
        ("file MB", "file_mb"),
        ("kept MB", "kept_mb"),
        ("net MB", "net_rss_mb"),
        ("answered", "answered"),
        ("w/ text", "with_text"),
        ("settled", "settled"),
        ("p50 ms", "p50_ms"),
        ("p95 ms", "p95_ms"),
        ("p50 text", "p50_text_ms"),
        ("p50 all", "p50_all_ms"),
        ("in flight", "in_flight"),
        ("cancelled", "cancelled"),
    )
    print("  ".join(title for title, _ in columns))
    for b in result["blocks"]:
        print("  ".join(f"{b[key]:>{len(title)}}" for title, key in columns))
    passed = result["passed"]
    print(
        f"storm: {result['requests']} requests, {result['answered']} answered "
        f"({result['empty']} empty); RSS growth after warm-up net of the kept prompt states "
        f"{result['rss_growth_mb']} MB ({'pass' if passed['rss'] else 'FAIL'} <= {RSS_LIMIT_MB}; "
        f"gross {result['gross_rss_growth_mb']} MB, kept states up to {result['kept_mb']} MB); "
        "last/first p50 of the answers paused for "
        f"{result['latency_ratio']} ({'pass' if passed['latency'] else 'FAIL'} <= "
        f"{LATENCY_RATIO}); answers {'pass' if passed['answers'] else 'FAIL'}"
    )
    for failure in result["failures"][:20]:
        print(f"  {failure}")
