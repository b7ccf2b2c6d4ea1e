"""Injected faults under a running server (issue 16, part 3): the remote backend and the
index database. Each test names the fault and the behaviour expected of it; bench/faults.md
holds the table. A stub completion server stands in for the model (no model time).

Remote: a server that never answers, drips bytes, drops the stream, answers 500 or
malformed SSE, or returns control tokens: every request is answered, without an error or
a control token reaching the editor; the breaker opens and closes again.
Index: its database locked by another process, corrupt, read-only, or out of space:
completions go on (without that context), a log line says why, the index is rebuilt
once it can be.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from context.index.store import database_path
from context.settings import ContextSettings
from tests.conftest import git
from tests.lsp.faults import (
    USE,
    FaultServer,
    complete,
    finish,
    logs,
    make_repo,
    open_doc,
    options,
    reload,
    start,
    texts,
    wait_for_log,
)


@pytest.fixture
def stub():
    server = FaultServer()
    yield server
    server.close()


# -- remote backend -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    ["silent", "drip", "drop", "500", "malformed", "special"],
)
def test_a_misbehaving_server_is_answered_within_the_deadline_with_nothing_leaked(
    stub, tmp_path, fault
):
    opts = options(stub.url, timeoutMs=1500, retries=0)
    opts["generation"] = {"deadlineMs": 2000}
    client = start(opts)
    try:
        uri = open_doc(client, tmp_path / "use.py", USE)
        stub.script(
            fault if fault not in ("drop", "500") else "",
            statuses=(500,) * 5 if fault == "500" else (),
            die_after=1 if fault == "drop" else None,
        )
        # Answered at all (drip and silent would otherwise last a minute or forever).
        got = texts(complete(client, uri, 1, 23, timeout=30))
        assert stub.stub.requests, "the fault was never reached"
        assert not any("<|" in text or "secrets" in text for text in got), got
        if fault == "special":
            assert got == ["x"]  # the text before the first control token, and only that
        else:
            assert got == []
        assert not any("Traceback" in line for line in logs(client))
        stub.script("")  # the server recovers: so does the session
        assert texts(complete(client, uri, 1, 23)) == ["x * x"] or fault == "special"
        assert finish(client) == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def test_the_breaker_opens_on_failures_and_closes_when_the_server_is_back(stub, tmp_path):
    client = start(options(stub.url, retries=0))
    try:
        uri = open_doc(client, tmp_path / "use.py", USE)
        stub.script("", statuses=(500,) * 100)
        for _ in range(3):  # three failures in a row open the breaker
            assert texts(complete(client, uri, 1, 23)) == []
        seen = len(stub.stub.requests)
        for _ in range(3):  # open: refused at once, the server is not asked
            assert texts(complete(client, uri, 1, 23)) == []
        assert len(stub.stub.requests) == seen
        stub.script("")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the cooldown passes; one probe closes it
            if texts(complete(client, uri, 1, 23)):
                break
            time.sleep(0.2)
        assert texts(complete(client, uri, 1, 23)) == ["x * x"]
        assert finish(client) == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


# -- the index database -------------------------------------------------------------------


def context_seen(stub: FaultServer) -> bool:
    """The last prompt carried shapes.py's `square` as repository context."""
    return "shapes.py" in stub.prompts()[-1]


def index_lines(client, repo) -> list[str]:
    return [line for line in logs(client) if line.startswith(f"index {repo}")]


def session(stub, tmp_path, index_dir):
    """A server on `repo` with its index in `index_dir`; (client, repo, uri, opts)."""
    repo = make_repo(tmp_path / "repo")
    opts = options(stub.url, index_dir)
    client = start(opts, root=repo)
    uri = open_doc(client, repo / "use.py", USE)
    return client, repo, uri, opts


def make_read_only(folder) -> str:
    """Make `folder` unwritable for this process: chattr +i as root, chmod otherwise."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("root ignores file modes and chattr is missing")
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i failed here: {done.stderr.decode().strip()}")
        return "chattr"
    folder.chmod(0o555)
    return "chmod"


def make_writable(folder, how: str) -> None:
    if how == "chattr":
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o755)


def test_a_read_only_index_folder_costs_the_context_only_until_it_is_writable(stub, tmp_path):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    how = make_read_only(index_dir)
    try:
        client, repo, uri, opts = session(stub, tmp_path, index_dir)
        try:
            assert texts(complete(client, uri, 1, 23)) == ["x * x"]
            (line,) = wait_for_log(client, f"index {repo}")
            assert "stopped: unable to open database file" in line
            assert not context_seen(stub)
            make_writable(index_dir, how)
            reload(client, opts, "after-chmod")
            wait_for_log(client, f"index {repo}", 2)
            assert "1 files, 1 parsed" in index_lines(client, repo)[1]
            again = open_doc(client, repo / "use2.py", USE)  # a new prompt
            assert texts(complete(client, again, 1, 23)) and context_seen(stub), logs(client)
            assert finish(client) == 0
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
    finally:
        make_writable(index_dir, how)


def hold_write_lock(db) -> subprocess.Popen:
    """Another process that takes the database's write lock and keeps it until killed."""
    code = (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(600)\n"
    )
    locker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert locker.stdout.readline().strip() == "locked"
    return locker


def test_an_index_locked_by_another_process_is_kept_and_updated_after(stub, tmp_path):
    """Before: a build that found the database locked deleted it (another process's file)."""
    from context.index.index import RepositoryIndex

    index_dir = tmp_path / "index"
    repo = make_repo(tmp_path / "repo")
    settings = ContextSettings(index_dir=str(index_dir))
    RepositoryIndex(repo, settings).build()  # shapes.py indexed earlier
    (repo / "more.py").write_text("def more():\n    return 2\n")  # the next build must write
    db = database_path(repo, settings)
    locker = hold_write_lock(db)
    try:
        opts = options(stub.url, index_dir)
        client = start(opts, root=repo)
        try:
            uri = open_doc(client, repo / "use.py", USE)
            (line,) = wait_for_log(client, f"index {repo}")
            assert "stopped: database is locked" in line
            assert texts(complete(client, uri, 1, 23)) and context_seen(stub)  # what it held
            locker.kill()
            locker.wait()
            reload(client, opts, "after-unlock")
            assert "2 files, 1 parsed" in wait_for_log(client, f"index {repo}", 2)[1]
            assert finish(client) == 0
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
    finally:
        locker.kill()
        locker.wait()
    with sqlite3.connect(db) as conn:  # the same file, never deleted: both files in it
        assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 2


def test_an_index_corrupted_under_the_server_is_rebuilt_at_the_next_open(stub, tmp_path):
    index_dir = tmp_path / "index"
    client, repo, uri, opts = session(stub, tmp_path, index_dir)
    try:
        wait_for_log(client, f"index {repo}")
        db = database_path(repo, ContextSettings(index_dir=str(index_dir)))
        for name in (db, f"{db}-wal"):  # garbage over every page but the header
            with open(name, "r+b") as handle:
                size = handle.seek(0, 2)
                handle.seek(100)
                handle.write(os.urandom(max(size - 100, 0)))
        assert texts(complete(client, uri, 1, 23)) == ["x * x"]  # the running session
        reload(client, opts, "after-corruption")
        assert "1 files, 1 parsed" in wait_for_log(client, f"index {repo}", 2)[1]
        again = open_doc(client, repo / "use2.py", USE)  # a new prompt
        assert texts(complete(client, again, 1, 23)) and context_seen(stub)
        assert finish(client) == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def mount_tmpfs(folder, size: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mount failed here: {done.stderr.decode().strip()}")


def test_an_index_out_of_space_keeps_completing_and_is_built_once_there_is_room(stub, tmp_path):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    repo = make_repo(tmp_path / "repo")
    for n in range(150):  # about 1 MB of distinct text: far more than 256 KB of index
        body = "".join(f"    word{n}_{k} = {k}\n" for k in range(300))
        (repo / f"m{n:03}.py").write_text(f"def f{n}():\n{body}")
    git(repo, "add", "-A")
    mount_tmpfs(index_dir, "256k")
    try:
        opts = options(stub.url, index_dir)
        client = start(opts, root=repo)
        try:
            uri = open_doc(client, repo / "use.py", USE)
            (line,) = wait_for_log(client, f"index {repo}")
            assert "stopped: database or disk is full" in line
            assert texts(complete(client, uri, 1, 23)) == ["x * x"]
            subprocess.run(["mount", "-o", "remount,size=64m", str(index_dir)], check=True)
            reload(client, opts, "after-room")
            assert "151 files" in wait_for_log(client, f"index {repo}", 2)[1]
            assert finish(client) == 0
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
    finally:
        subprocess.run(["umount", "-l", str(index_dir)], check=False)


def test_the_fault_table_names_tests_that_exist():
    from bench.reliability import fault_table

    table = fault_table()
    assert table["tried"] >= 20 and table["survived"] >= table["tried"] - 1  # one open
    for _, _, observed, test in table["rows"]:
        assert observed.startswith(("as expected", "fixed", "FAILS (open)")), observed
        if observed.startswith("FAILS"):
            continue
        module, _, name = test.partition("::")
        folder = "model" if module.endswith("_model.py") else "lsp"
        source = (Path(__file__).parent.parent / folder / module).read_text()
        assert name.startswith("…") or f"def {name.split('[')[0]}(" in source, test
