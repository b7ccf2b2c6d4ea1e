"""`cove bench quality` runs end to end on a tiny subset and writes its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lsp.bench import EVAL_DIRS

pytestmark = pytest.mark.model


@pytest.mark.skipif(not any(d.is_dir() for d in EVAL_DIRS), reason="../shared/eval is not beside this checkout")
def test_bench_quality_smoke(tmp_path: Path):
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "lsp.cli", "bench", "quality", "--size", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = (out / "report.md").read_text()
    assert "| metric | baseline | Cove | ratio |" in report
    assert "HumanEval single-line pass@1" in report and "SantaCoder FIM" in report
