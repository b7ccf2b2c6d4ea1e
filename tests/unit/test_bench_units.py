"""The benchmark's plumbing without the model: the repository list, fetching, the ledger."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from bench import repos as benchrepos
from bench.quality import Ledger, Score, _row_order
from bench.repos import RepoFetchError, RepoSpec, check_archive, fetch_repo, load_repo_specs


def make_sdist(folder: Path, name: str = "demo-1.0", members: dict[str, str] | None = None) -> Path:
    """A small .tar.gz shaped like an sdist (one top folder)."""
    members = members or {
        f"{name}/demo/__init__.py": "VALUE = 1\n",
        f"{name}/demo/use.py": "from demo import VALUE\n",
    }
    archive = folder / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    return archive


def test_shipped_list_pins_every_repository():
    specs = load_repo_specs()
    assert len(specs) >= 2
    for spec in specs:
        assert spec.version and len(spec.sha256) == 64, spec


def test_bad_list_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "repos.toml"
    bad.write_text('[[repo]]\nname = "click"\n')
    with pytest.raises(RepoFetchError, match="needs `name` and `version`"):
        load_repo_specs(bad)
    bad.write_text('[[repo]]\nname = "click"\nversion = "1"\nbranch = "x"\n')
    with pytest.raises(RepoFetchError, match="unknown keys"):
        load_repo_specs(bad)
    bad.write_text("[[repo]\n")
    with pytest.raises(RepoFetchError, match="cannot read"):
        load_repo_specs(bad)


def test_local_path_entries_are_used_as_they_are(tmp_path: Path):
    listing = tmp_path / "repos.toml"
    listing.write_text(f'[[repo]]\nname = "mine"\npath = "{tmp_path}"\n')
    (spec,) = load_repo_specs(listing)
    assert fetch_repo(spec) == tmp_path
    with pytest.raises(RepoFetchError, match="not a folder"):
        fetch_repo(RepoSpec(name="gone", path=str(tmp_path / "gone")))


def test_fetch_unpacks_commits_and_reuses(tmp_path: Path, monkeypatch):
    archive = make_sdist(tmp_path)
    calls = []

    def download(spec, folder):
        calls.append(spec)
        copy = folder / archive.name
        copy.write_bytes(archive.read_bytes())
        check_archive(copy, spec.sha256)
        return copy

    monkeypatch.setattr(benchrepos, "_download", download)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    spec = RepoSpec(name="demo", version="1.0", sha256=digest)
    root = fetch_repo(spec, tmp_path / "cache")
    assert (root / "demo" / "use.py").read_text() == "from demo import VALUE\n"
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=root, capture_output=True, text=True, check=True
    )
    assert log.stdout.strip() == "demo-1.0 sdist"
    assert (
        fetch_repo(spec, tmp_path / "cache") == root and len(calls) == 1
    )  # reused, not fetched again
    with pytest.raises(RepoFetchError, match="is not the pinned"):
        fetch_repo(RepoSpec(name="demo", version="2.0", sha256="0" * 64), tmp_path / "cache")
    assert not (tmp_path / "cache" / "demo-2.0").exists()


def test_unsafe_archive_is_refused(tmp_path: Path, monkeypatch):
    archive = make_sdist(tmp_path, members={"../escape.py": "x = 1\n"})
    monkeypatch.setattr(benchrepos, "_download", lambda spec, folder: archive)
    with pytest.raises(RepoFetchError, match="escape.py"):
        fetch_repo(RepoSpec(name="demo", version="1.0"), tmp_path / "cache")
    assert not (tmp_path / "escape.py").exists()


def test_ledger_resumes_and_skips_a_cut_line(tmp_path: Path):
    path = tmp_path / "items.jsonl"
    ledger = Ledger(path)
    ran = []

    def run(value):
        ran.append(value)
        return {"ok": value > 1, "ms": 5.0}

    assert ledger.measure("a", run, 1)["ok"] is False
    ledger.measure("b", run, 2)
    with path.open("a") as handle:
        handle.write('{"key": "c", "ok"')  # a run killed mid-write
    again = Ledger(path, resume=True)
    assert again.measure("a", run, 9)["ok"] is False and again.measure("c", run, 3)["ok"] is True
    assert ran == [1, 2, 3]
    assert Ledger(path).items == {} and path.read_text() == ""  # without resume: afresh
    score = Score()
    for item in [
        {"ok": True, "ms": 1.0, "similarity": 1.0},
        {"ok": False, "ms": 3.0, "similarity": 0.5},
    ]:
        score.add(item)
    assert (score.rate, score.mean_similarity, score.ms) == (50.0, 0.75, [1.0, 3.0])
    assert json.loads(path.read_text() or "{}") == {}


def test_rows_of_one_problem_run_together():
    names = [
        "SingleLineInfilling/HumanEval/10/L3",
        "SingleLineInfilling/HumanEval/2/L7",
        "SingleLineInfilling/HumanEval/10/L1",
    ]
    assert sorted(names, key=_row_order) == [names[1], names[2], names[0]]
    assert _row_order("humaneval-HumanEval_75_is_multiply_prime.json-L24")[:2] == (75, 24)


def test_gate_rows_precision_and_coverage():
    from bench.gate import gate_rows, gate_tables

    def item(got, exact, score):
        confidence = (
            None if score is None else {"score": score, "first_prob": score, "min_prob": score}
        )
        return {"pipeline": "cove", "got": got, "exact": exact, "confidence": confidence}

    items = [
        item("a", True, 0.9),
        item("b", False, 0.2),
        item("c", True, 0.6),
        item("", False, 0.95),  # empty: never shown
        item("d", False, None),  # unknown: shown at every threshold
    ]
    rows = {r["threshold"]: r for r in gate_rows(items, "cove")}
    assert (rows[0.0]["shown"], rows[0.0]["precision"]) == (4, 0.5)
    assert rows[0.5]["shown"] == 3 and rows[0.5]["precision"] == 2 / 3
    assert rows[0.7]["shown"] == 2 and rows[0.7]["kept_right"] == 0.5
    assert rows[0.0]["coverage"] == 4 / 5 and rows[0.7]["em_all"] == 1 / 5
    assert "Confidence gate: cove, min_prob (n = 5)" in gate_tables(items, ["cove"])


def test_side_by_side_runs_each_model_with_its_own_flags_and_tables_them(tmp_path: Path):
    from bench.models import _strip, models_markdown

    argv = ["quality", "--model", "a", "--size=3", "--model=b", "--out", "X", "--resume"]
    assert _strip(argv, ("--model", "--out")) == ["quality", "--size=3", "--resume"]
    reports = {
        "a": [{"metric": "HumanEval pass@1 (%)", "baseline": 50.0, "cove": 60.0, "unit": ""}],
        "b": [
            {"metric": "HumanEval pass@1 (%)", "baseline": 55.0, "cove": 70.5, "unit": ""},
            {"metric": "only b (ms)", "baseline": None, "cove": 3.0, "unit": ""},
        ],
    }
    latency = {
        "a@0": {
            "model": "a",
            "threads": 2,
            "cold_ms": 900,
            "rates": {"prefill_tps": 1, "generate_tps": 2},
        }
    }
    text = models_markdown(["a", "b"], reports, latency, "python -m bench quality")
    assert "| HumanEval pass@1 (%) | 50.0 | 60.0 | 55.0 | 70.5 |" in text
    assert "| only b (ms) | – | – | – | 3.0 |" in text
    assert "| a | 2 | – | – | 900 |" in text


def test_the_typed_line_is_long_enough_for_every_keystroke():
    # A line shorter than the keystrokes typed repeats the same request (a cache-like hit),
    # which once made the keystroke figures of `bench.models` meaningless.
    from bench.latency import _typing_target
    from bench.models import KEYSTROKES

    path, number = _typing_target()
    line = path.read_text().split("\n")[number].strip()
    assert len(line) >= KEYSTROKES and "(" in line
