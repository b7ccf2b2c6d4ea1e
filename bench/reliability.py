"""`python -m bench.reliability [--seeds N] [--first S] [--cases M]`: the protocol fuzzer, long.

Runs the seeded storm of tests/lsp/fuzz.py on N seeds (a fresh `cove serve` per seed, no
model) and prints cases run and failures found; `--final-completion` also switches each
server to the real model after its storm, `--with-model` runs the storm itself on the real
model (both need the model: run under the lock). The
figures feed the reliability section of the bench report (`run_reliability`).

`--storm` runs the typing storm of tests/lsp/storm.py on the real model instead (under the
lock): per block of 100 keystrokes the server's RSS, the latency p50/p95 of the requests
answered and those in flight, a plot, and the verdict (`run_typing_storm`): RSS growth
after the warm-up block <= 20 MB net of the kept prompt states (engine/local/states.py:
bounded by design, read from the server's log and reported apart), the last block's p50
of the requests answered with a suggestion <= 1.2x the first measured block's (both at
human speed), no answer missing. The typist pauses after every 10 keystrokes, so there are
suggestions to time: without pauses, at 20-80 ms a keystroke, every answer was an empty one
for a superseded request and the p50 timed cancellation. `--kept-prompts 0` runs the storm
with no kept states (the gross RSS is then the whole story).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import percentile
from tests.conftest import git
from tests.lsp.fuzz import SERVE, run_fuzz
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
FAULTS = Path(__file__).with_name("faults.md")  # the injected-fault table, kept by hand


def fault_table() -> dict:
    """bench/faults.md's rows (fault, expected, observed, test): tried, and survived now
    (a "fixed" row broke Cove before its fix and regression test).
    """
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in FAULTS.read_text().splitlines()[2:]
        if line.startswith("| ") and not line.startswith(("| fault", "|---"))
    ]
    fixed = sum(row[2].startswith("fixed") for row in rows)
    survived = sum(row[2].startswith(("fixed", "as expected")) for row in rows)
    return {"tried": len(rows), "survived": survived, "fixed": fixed, "rows": rows}


def run_reliability(
    seeds: int,
    first: int = 1,
    cases: int = 2000,
    *,
    large_mb: float = 5,
    final_completion: bool = False,
    with_model: bool = False,
    log=print,
) -> dict:
    """Fuzz `seeds` seeds from `first`; the totals and every failure found."""
    totals = {"seeds": 0, "cases": 0, "requests": 0, "answered": 0, "documents": 0}
    failures: list[str] = []
    started = time.monotonic()
    for seed in range(first, first + seeds):
        report = run_fuzz(
            seed, cases, large_mb=large_mb, final_completion=final_completion, with_model=with_model
        )
        totals["seeds"] += 1
        for key in ("cases", "requests", "answered", "documents"):
            totals[key] += getattr(report, key)
        failures += report.failures
        log(
            f"seed {seed}: {report.cases} cases, {report.requests} requests, "
            f"{report.answered} answered, {report.documents} documents compared, "
            f"{len(report.failures)} failures"
        )
    totals["seconds"] = round(time.monotonic() - started, 1)
    return {**totals, "failures": failures}


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
) -> dict:
    """The storm on a fresh server over a small git repository; blocks, verdicts, failures."""
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
        client = WireClient(SERVE + (["--log-file", str(log_file)] if log_file else []))
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
            )
            code = client.close()
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
    return judge_storm(report, exit_code=code)


def judge_storm(report: StormReport, exit_code: int = 0) -> dict:
    """Per-block figures and the three pass criteria (block 0 is the warm-up): RSS net of
    the kept prompt states, latency of the requests answered with a suggestion.
    """
    blocks = [
        {
            "block": i,
            "keystrokes": b.keystrokes,
            "interval_ms": round(b.interval_s * 1000),
            "rss_mb": round(b.rss_kb / 1024, 1),
            "kept_mb": round(b.kept_bytes / 2**20, 1),
            "net_rss_mb": round((b.rss_kb * 1024 - b.kept_bytes) / 2**20, 1),
            "answered": len(b.latencies_ms),
            "with_text": len(b.text_latencies_ms),
            "p50_ms": round(percentile(b.text_latencies_ms, 50), 1),
            "p95_ms": round(percentile(b.text_latencies_ms, 95), 1),
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
    rss.set_ylabel("MB")
    rss.set_title("Typing storm (blocks of 100 keystrokes; block 0 warms up)")
    rss.legend()
    for key in ("p50_ms", "p95_ms"):
        lat.plot(x, [b[key] for b in blocks], marker=".", label=key.split("_")[0])
    lat.set_ylabel("with a suggestion, ms")
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
    print(
        "block  ms/key  RSS MB  kept MB  net MB  answered  w/ text  p50 ms  p95 ms  "
        "p50 all  in flight  cancelled"
    )
    for b in result["blocks"]:
        print(
            f"{b['block']:>5}  {b['interval_ms']:>6}  {b['rss_mb']:>6}  {b['kept_mb']:>7}  "
            f"{b['net_rss_mb']:>6}  {b['answered']:>8}  {b['with_text']:>7}  {b['p50_ms']:>6}  "
            f"{b['p95_ms']:>6}  {b['p50_all_ms']:>7}  {b['in_flight']:>9}  {b['cancelled']:>9}"
        )
    passed = result["passed"]
    print(
        f"storm: {result['requests']} requests, {result['answered']} answered "
        f"({result['empty']} empty); RSS growth after warm-up net of the kept prompt states "
        f"{result['rss_growth_mb']} MB ({'pass' if passed['rss'] else 'FAIL'} <= {RSS_LIMIT_MB}; "
        f"gross {result['gross_rss_growth_mb']} MB, kept states up to {result['kept_mb']} MB); "
        "last/first p50 with a suggestion "
        f"{result['latency_ratio']} ({'pass' if passed['latency'] else 'FAIL'} <= "
        f"{LATENCY_RATIO}); answers {'pass' if passed['answers'] else 'FAIL'}"
    )
    for failure in result["failures"][:20]:
        print(f"  {failure}")


PRIVACY_TESTS = ("tests/lsp/test_privacy.py", "tests/model/test_privacy_local.py")


def run_privacy_checks() -> dict:
    """The privacy suite (pytest, in a checkout): checks passed of run."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PRIVACY_TESTS],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", tail)}
    return {"passed": counts.get("passed", 0), "run": sum(counts.values()), "summary": tail}


def bench_reliability(report, out: Path, quick: bool) -> None:
    """The reliability section of `python -m bench reliability`: fuzzing, the typing storm on
    the real model, the injected faults, the privacy checks.
    """
    from bench.report import Row

    fuzz = run_reliability(3 if quick else 20, log=lambda _line: None)
    storm = run_typing_storm(log_file=out / "storm-serve.log")
    write_storm_plot(storm, out)
    faults = fault_table()
    privacy = run_privacy_checks()
    blocks = storm["blocks"]
    report.rows += [
        Row("fuzz cases run", None, fuzz["cases"]),
        Row("fuzz failures", None, len(fuzz["failures"]), lower_is_better=True),
        Row(
            "typing storm: RSS growth after warm-up (MB)",
            None,
            storm["rss_growth_mb"],
            lower_is_better=True,
        ),
        Row(
            "typing storm: last ÷ first block p50 latency",
            None,
            storm["latency_ratio"],
            lower_is_better=True,
        ),
        Row("injected faults survived", faults["tried"], faults["survived"]),
        Row("privacy checks passed", privacy["run"], privacy["passed"]),
    ]
    report.sections.append(
        f"Reliability: fuzzing {fuzz['seeds']} seeds, {fuzz['cases']} cases, {fuzz['requests']} "
        f"requests, {len(fuzz['failures'])} failures. Typing storm ({storm['requests']} requests, "
        f"{storm['answered']} answered): "
        + ", ".join(
            f"block {b['block']} RSS {b['rss_mb']} MB p50 {b['p50_ms']} ms p95 {b['p95_ms']} ms"
            for b in blocks
        )
        + f"; passed {storm['passed']}. Faults: {faults['survived']} of {faults['tried']} survived "
        f"({faults['fixed']} fixed; bench/faults.md). Privacy: {privacy['summary']}."
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: run, print the totals, optionally write them as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.reliability")
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20)")
    parser.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--cases", type=int, default=2000, help="messages per seed")
    parser.add_argument("--large-mb", type=float, default=5, help="the one large change, MB")
    parser.add_argument("--final-completion", action="store_true", help="then the real model")
    parser.add_argument("--with-model", action="store_true", help="the storm on the real model")
    parser.add_argument("--json", type=Path, help="write the totals and failures here")
    parser.add_argument("--storm", action="store_true", help="the typing storm (real model)")
    parser.add_argument("--kept-prompts", type=int, help="the storm with model.keptPrompts N")
    parser.add_argument("--out", type=Path, default=Path("."), help="where storm.png goes")
    parser.add_argument("--faults", action="store_true", help="the injected-fault table")
    args = parser.parse_args(argv)
    if args.faults:
        table = fault_table()
        print(f"faults: {table['survived']} of {table['tried']} survived ({table['fixed']} fixed)")
        return 0
    if args.storm:
        args.out.mkdir(parents=True, exist_ok=True)
        result = run_typing_storm(
            log_file=args.out / "storm-serve.log", kept_prompts=args.kept_prompts
        )
        print_storm(result)
        plot = write_storm_plot(result, args.out)
        if plot is not None:
            print(f"plot: {plot}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0 if all(result["passed"].values()) else 1
    result = run_reliability(
        args.seeds,
        args.first,
        args.cases,
        large_mb=args.large_mb,
        final_completion=args.final_completion,
        with_model=args.with_model,
    )
    print(
        f"fuzz: {result['seeds']} seeds, {result['cases']} cases, {result['requests']} requests, "
        f"{result['answered']} answered, {len(result['failures'])} failures "
        f"in {result['seconds']} s"
    )
    for failure in result["failures"][:20]:
        print(f"  {failure}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
