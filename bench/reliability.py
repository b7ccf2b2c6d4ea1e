"""`python -m bench.reliability [--seeds N] [--first S] [--cases M]`: the protocol fuzzer, long.

Runs the seeded storm of tests/lsp/fuzz.py on N seeds (a fresh `cove serve` per seed, no
model) and prints cases run and failures found; `--final-completion` also switches each
server to the real model after its storm, `--with-model` runs the storm itself on the real
model (both need the model: run under the lock). The
figures feed the reliability section of the bench report (`run_reliability`).

`--storm` runs the typing storm of tests/lsp/storm.py on the real model instead (under the
lock; bench/storm.py: the verdict, the per-block table and the plot). `--kept-prompts 0`
runs it with no kept prompt states, `--probe` with a memory probe per block.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.storm import print_storm, run_typing_storm, write_storm_plot
from tests.lsp.fuzz import run_fuzz

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
            f"block {b['block']} RSS {b['rss_mb']} MB (anonymous {b['anon_mb']}, kept prompt "
            f"states {b['kept_mb']}, net {b['net_rss_mb']}) p50 {b['p50_ms']} ms p95 "
            f"{b['p95_ms']} ms"
            for b in blocks
        )
        + f"; net growth {storm['rss_growth_mb']} MB (gross {storm['gross_rss_growth_mb']}); "
        f"passed {storm['passed']}. Faults: {faults['survived']} of {faults['tried']} survived "
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
    parser.add_argument("--probe", action="store_true", help="the storm with memory probes")
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
            log_file=args.out / "storm-serve.log",
            kept_prompts=args.kept_prompts,
            probe_dir=args.out / "probes" if args.probe else None,
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
