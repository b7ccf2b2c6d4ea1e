"""Index builds parsed in worker processes (`context.index.pool`), against the same
build in-process, on git repositories in tmp_path.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import sys
import types
from pathlib import Path

import pytest

from context.index import pool as pool_module
from context.index.index import RepositoryIndex
from context.settings import ContextSettings
from lsp.settings import parse_settings
from tests.conftest import git, opened_paths

FILES = 90  # over POOL_MIN_FILES: a cold build of this repository uses the pool


def module_text(i: int) -> str:
    """A Python module with a class, a method, a function and a constant."""
    return (
        f'"""Module {i}."""\n\nLIMIT_{i} = {i}\n\n\nclass Shape{i}:\n    """A shape."""\n\n'
        f"    def area_{i}(self, scale: float) -> float:\n        return scale * {i}\n\n\n"
        f"def helper_{i}(a, b):\n    if a:\n        return b\n" + "    b += 1\n" * (i % 40)
    )


@pytest.fixture
def repo(tmp_path):
    """A committed repository: FILES Python modules, JavaScript, text, minified, binary."""
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    git(root, "init", "-q")
    for i in range(FILES):
        (root / "pkg" / f"mod{i:03}.py").write_text(module_text(i))
    (root / "web.js").write_text("export function render(x) {\n  return x + 1;\n}\n")
    (root / "NOTES.txt").write_text("render helper notes\n" * 20)
    (root / "bundle.py").write_text("x=1;" * 1500)  # one long line: minified, never indexed
    (root / "blob.raw").write_bytes(b"\x00\x01binary")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def settings_for(tmp_path: Path, name: str, workers: int) -> ContextSettings:
    """Settings with an index of its own under tmp_path."""
    return ContextSettings(index_dir=str(tmp_path / name), index_workers=workers)


def content(index: RepositoryIndex) -> dict[str, list[tuple]]:
    """Every row of the index by path (ids left out: they depend on the write order)."""
    return {
        "files": index._query(
            "SELECT path, blob, mtime_ns, size, language, lines FROM files ORDER BY path"
        ),
        "symbols": index._query(
            "SELECT f.path, s.name, s.kind, s.start_line, s.end_line, s.signature FROM symbols s "
            "JOIN files f ON f.id = s.file_id ORDER BY 1, 4, 2"
        ),
        "chunks": index._query(
            "SELECT f.path, c.start_line, c.end_line, c.text FROM chunks c "
            "JOIN files f ON f.id = c.file_id ORDER BY 1, 2"
        ),
    }


def built(repo: Path, settings: ContextSettings):
    """Build a fresh index: (stats, content, search hits for one word)."""
    index = RepositoryIndex(repo, settings)
    stats = index.build()
    found = content(index), [(c.path, c.start_line) for c in index.search(["area_7"], 5)]
    index.close()
    return stats, found


def raise_in_worker(jobs):
    """A worker job that fails (as a parser error would)."""
    raise ValueError("parser exploded")


def die_in_worker(jobs):
    """A worker that crashes (as a segfault in a grammar would)."""
    os._exit(3)


def niceness(jobs):
    """A worker job that reports the worker's priority."""
    return [], {"nice": float(os.nice(0))}


def main_modules(jobs):
    """A worker job that reports whether the worker ran the parent's main script."""
    return [], {"main": float(hasattr(sys.modules["__main__"], "RAN"))}


def test_pool_build_gives_the_index_an_in_process_build_gives(repo, tmp_path):
    here, here_found = built(repo, settings_for(tmp_path, "here", 0))
    pooled, pooled_found = built(repo, settings_for(tmp_path, "pool", 2))
    assert (here.workers, pooled.workers) == (0, 2)
    assert pooled_found == here_found
    rows = pooled_found[0]
    assert len(rows["files"]) == FILES + 2  # .py modules, web.js, NOTES.txt
    assert ("pkg/mod007.py", "Shape7", "class") in [r[:3] for r in rows["symbols"]]
    assert ("web.js", "render", "function") in [r[:3] for r in rows["symbols"]]
    assert pooled.skipped == here.skipped and pooled.skipped["minified"] == 1
    assert pooled.skipped["binary"] == 1
    assert {"parse", "symbols", "chunk", "read", "write"} <= set(pooled.phases)
    assert multiprocessing.active_children() == []  # the pool ends with its build


def test_pool_build_reads_every_file_in_this_process(repo, tmp_path):
    with opened_paths() as opened:
        stats, (rows, _) = built(repo, settings_for(tmp_path, "pool", 2))
    assert stats.workers == 2
    # Workers get bytes, never a path to open: the privacy audit of this process sees all.
    indexed = {repo / row[0] for row in rows["files"]}
    assert indexed <= {Path(p) for p in opened}


def test_a_failing_worker_job_is_parsed_in_process(repo, tmp_path, monkeypatch, caplog):
    expected = built(repo, settings_for(tmp_path, "here", 0))[1]
    monkeypatch.setattr(pool_module, "WORK", raise_in_worker)
    with caplog.at_level(logging.WARNING, logger="context.index.pool"):
        stats, found = built(repo, settings_for(tmp_path, "pool", 2))
    assert stats.workers == 2 and stats.parsed == FILES + 2
    assert found == expected
    failed = [r for r in caplog.records if "parser exploded" in r.getMessage()]
    assert len(failed) == -(-(FILES + 3) // pool_module.JOB_FILES)  # one line per batch


def test_a_crashed_worker_leaves_the_build_to_this_process(repo, tmp_path, monkeypatch, caplog):
    expected = built(repo, settings_for(tmp_path, "here", 0))[1]
    monkeypatch.setattr(pool_module, "WORK", die_in_worker)
    with caplog.at_level(logging.WARNING, logger="context.index.pool"):
        stats, found = built(repo, settings_for(tmp_path, "pool", 2))
    assert stats.parsed == FILES + 2 and found == expected
    stopped = [r for r in caplog.records if "stopped" in r.getMessage()]
    assert len(stopped) == 1
    assert multiprocessing.active_children() == []


def test_workers_zero_and_small_builds_start_no_process(repo, tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a process pool was started")

    monkeypatch.setattr(pool_module, "ProcessPoolExecutor", no_pool)
    stats, (rows, _) = built(repo, settings_for(tmp_path, "here", 0))
    assert stats.workers == 0 and len(rows["files"]) == FILES + 2
    index = RepositoryIndex(repo, settings_for(tmp_path, "here", 2))
    for i in range(3):
        (repo / "pkg" / f"mod{i:03}.py").write_text(module_text(i) + "\nEDITED = 1\n")
    again = index.build()  # three changed files: in-process, whatever the setting
    assert (again.parsed, again.workers) == (3, 0)
    assert [s.name for s in index.definitions(["EDITED"])] == ["EDITED"] * 3


def test_workers_run_below_the_server_priority(monkeypatch):
    monkeypatch.setattr(pool_module, "WORK", niceness)
    pool = pool_module.ParsePool(1)
    try:
        _, clock = pool.answer(pool.submit([]), [])
    finally:
        pool.close()
    assert clock["nice"] == min(os.nice(0) + pool_module.WORKER_NICE, 19)


def test_workers_do_not_import_the_main_module(tmp_path, monkeypatch):
    # As under the `cove` script: spawn would run the script (and import lsp.cli) first.
    script = tmp_path / "cove_main.py"
    script.write_text("RAN = True\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(pool_module, "WORK", main_modules)
    pool = pool_module.ParsePool(1)
    try:
        _, clock = pool.answer(pool.submit([]), [])
    finally:
        pool.close()
    assert sys.modules["__main__"] is main
    assert clock == {"main": 0.0}


def test_workers_setting_is_checked_and_capped_by_cores():
    settings, problems = parse_settings({"context": {"indexWorkers": -1}})
    assert settings.context.index_workers == ContextSettings().index_workers
    assert problems and "context.indexWorkers" in problems[0]
    assert pool_module.pool_workers(0) == 0
    cores = len(os.sched_getaffinity(0))
    assert pool_module.pool_workers(64) == min(cores, pool_module.MAX_WORKERS)
    assert dataclasses.replace(ContextSettings(), index_workers=0).index_workers == 0
