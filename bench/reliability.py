"""`python -m bench.reliability [--seeds N] [--first S] [--cases M]`: the protocol fuzzer, long.

Runs the seeded storm of tests/lsp/fuzz.py on N seeds (a fresh `cove serve` per seed, no
model) and prints cases run and failures found; `--final-completion` also switches each
server to the real model after its storm, `--with-model` runs the storm itself on the real
model (both need the model: run under the lock). The
figures feed the reliability section of the bench report (`run_reliability`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.lsp.fuzz import run_fuzz


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
    args = parser.parse_args(argv)
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
