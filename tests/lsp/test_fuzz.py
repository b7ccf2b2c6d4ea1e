"""The seeded protocol fuzzer (tests/lsp/fuzz.py) in CI: fixed seeds, a bounded storm.

Each storm runs on a server without a model; the last one then switches that same server
to the real model and asks for a completion, so it needs the model (run under the lock).
The long run is `python -m bench.reliability`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lsp.fuzz import SERVE, Report, run_fuzz

SEEDS = (1, 2)
CASES = 800


def check(report: Report, log: Path) -> None:
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    assert report.failures == [], "\n".join(report.failures[:10]) + "\n--- server log ---\n" + tail
    assert report.requests >= CASES // 5 and report.answered == report.requests
    assert report.documents >= 2  # the storm kept documents open to compare


@pytest.mark.parametrize("seed", SEEDS)
def test_a_seeded_storm_keeps_every_rule(seed, tmp_path):
    log = tmp_path / "serve.log"
    report = run_fuzz(seed, CASES, large_mb=1, command=[*SERVE, "--log-file", str(log)])
    check(report, log)


@pytest.mark.model
def test_after_a_storm_with_a_5_mb_change_a_real_completion_still_works(tmp_path):
    log = tmp_path / "serve.log"
    report = run_fuzz(
        3, CASES, large_mb=5, final_completion=True, command=[*SERVE, "--log-file", str(log)]
    )
    check(report, log)
