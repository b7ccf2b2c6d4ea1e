"""`cove bench` runs end to end on a tiny subset and writes its report (real model, real server)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import EVAL_DIRS

pytestmark = pytest.mark.model

HAS_EVAL = any(d.is_dir() for d in EVAL_DIRS)


def tiny_repo(root: Path) -> Path:
    """A git repository where one module uses names defined in another."""
    pkg = root / "shapes"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "geometry.py").write_text(
        "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\n"
        "def square_area(side):\n    return side * side\n"
    )
    (pkg / "report.py").write_text(
        "from shapes.geometry import circle_area, square_area\n\n\n"
        "def total_area(circles, squares):\n"
        "    total = sum(circle_area(r) for r in circles)\n"
        "    total += sum(square_area(s) for s in squares)\n"
        "    return total\n"
    )
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    listing = root.parent / "repos.toml"
    listing.write_text(f'[[repo]]\nname = "shapes"\npath = "{root}"\n')
    return listing


def run_cove_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lsp.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.skipif(not HAS_EVAL, reason="../shared/eval is not beside this checkout")
def test_bench_quality_smoke(tmp_path: Path):
    listing = tiny_repo(tmp_path / "shapes")
    out = tmp_path / "report"
    done = run_cove_bench(
        "quality", "--size", "2", "--positions", "2", "--repos", str(listing), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = (out / "report.md").read_text()
    assert report.splitlines()[4] == "| metric | baseline | Cove | ratio |"
    for metric in (
        "HumanEval single-line pass@1",
        "SantaCoder FIM",
        "repos next-line EM, Cove no context",
        "with context",
    ):
        assert metric in report, metric
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    pipelines = {item["key"].rsplit("/", 1)[1] for item in items if item["key"].startswith("repo/")}
    assert pipelines == {"baseline", "cove", "cove+context"}
    assert len([i for i in items if i["key"].startswith("humaneval/")]) == 4  # 2 rows × 2 pipelines
    if importlib.util.find_spec("matplotlib"):
        assert (out / "quality.png").stat().st_size > 1000
    # --resume measures nothing again: the items file is unchanged and the scores the same.
    before = (out / "items.jsonl").read_text()
    again = run_cove_bench(
        "quality",
        "--size",
        "2",
        "--positions",
        "2",
        "--repos",
        str(listing),
        "--out",
        str(out),
        "--resume",
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "items.jsonl").read_text() == before
    assert (out / "report.md").read_text().split("\n", 4)[4] == report.split("\n", 4)[4]


def test_bench_index_and_memory_smoke(tmp_path: Path):
    listing = tiny_repo(tmp_path / "shapes")
    out = tmp_path / "report"
    done = run_cove_bench("index", "memory", "--quick", "--repos", str(listing), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {row["metric"]: row for row in json.loads((out / "report.json").read_text())}
    assert rows["index build, shapes (files/s)"]["cove"] > 0
    assert rows["peak server RSS, model + index open (MB)"]["cove"] > 300  # the model is in it
    assert "3 files" in (out / "report.md").read_text()


def test_bench_bad_repository_list_is_one_clear_line(tmp_path: Path):
    listing = tmp_path / "repos.toml"
    listing.write_text('[[repo]]\nname = "x"\n')
    done = run_cove_bench("index", "--repos", str(listing), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "needs `name` and `version`" in done.stderr and "Traceback" not in done.stderr
