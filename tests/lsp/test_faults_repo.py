"""Injected faults in the workspace under a running server (issue 16, part 3): git
operations (branch switch, rebase, gc, a long history, a shallow clone, a worktree, a
submodule) and odd files (100 MB, 200k lines, a 1 MB line, a file that changes encoding).

One server (a stub completion server stands in for the model) serves every repository
here: it opens each one's index the first time a file of it is completed, as it does for
an editor that wanders between repositories. Expected: completions with context still
answer; the index follows a branch switch without the editor reporting a file; odd files
are answered and skipped by the index, and the server stays up.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

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
    start,
    texts,
    wait_for_log,
)

HEXAGON = "def hexagon_area(side):\n    return 2.598 * side * side\n"
USE_HEXAGON = "def tile(s):\n    return square(s) + hexagon_area(s) + "
PROBES = iter(range(1 << 30))  # every probe buffer differs: no cache answers it


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, stub, home): one session on its own workspace repository."""
    stub = FaultServer()
    home = make_repo(tmp_path_factory.mktemp("home") / "repo")
    client = start(options(stub.url, home.parent / "index"), root=home)
    wait_for_log(client, f"index {home}")
    yield client, stub, home
    assert finish(client) == 0
    stub.close()


def ask(client, stub, path: Path, text: str) -> str:
    """Open `path` with `text` (a fresh buffer each time), complete at its end; the prompt."""
    before = len(stub.prompts())
    uri = open_doc(client, path, text)
    line, character = text.count("\n"), len(text) - text.rfind("\n") - 1
    assert texts(complete(client, uri, line, character)) == ["x * x"]
    prompts = stub.prompts()
    assert len(prompts) > before, "answered from a cache: nothing reached the model"
    return prompts[-1]


def until_context(client, stub, repo: Path, wanted: str, present: bool = True) -> str:
    """Complete fresh buffers in `repo` until `wanted` is (or is not) in the prompt's
    context: the index catches up in the background. The last prompt.
    """
    deadline = time.monotonic() + 30
    while True:
        n = next(PROBES)
        prompt = ask(client, stub, repo / f"probe{n}.py", f"# {repo.name} {n}\n{USE_HEXAGON}")
        if (wanted in prompt) == present or time.monotonic() > deadline:
            return prompt
        time.sleep(0.3)


def test_the_index_follows_a_branch_switch_and_a_rebase(served, tmp_path):
    client, stub, _ = served
    repo = make_repo(tmp_path / "branches")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "shapes.py").write_text((repo / "shapes.py").read_text() + "\n\n" + HEXAGON)
    git(repo, "commit", "-qam", "hexagon")
    git(repo, "checkout", "-q", "main")
    assert "def hexagon_area" not in until_context(client, stub, repo, "shapes.py")
    git(repo, "checkout", "-q", "feature")  # no didChangeWatchedFiles: HEAD moved
    assert "def hexagon_area(side)" in until_context(client, stub, repo, "def hexagon_area")
    git(repo, "checkout", "-q", "main")
    (repo / "other.py").write_text("def other():\n    return 0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "other")
    assert "def hexagon_area" not in until_context(client, stub, repo, "def hexagon", False)
    git(repo, "checkout", "-q", "feature")
    git(repo, "rebase", "-q", "main")
    assert "def hexagon_area(side)" in until_context(client, stub, repo, "def hexagon_area")
    assert "index" in " ".join(logs(client)) and client.proc.poll() is None


def test_gc_a_long_history_and_a_shallow_clone_keep_context(served, tmp_path):
    client, stub, _ = served
    repo = make_repo(tmp_path / "history")
    (repo / "shapes.py").write_text(HEXAGON)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hexagon")
    commits = 100_000
    stream = [f"reset refs/heads/main\nfrom {git(repo, 'rev-parse', 'HEAD').strip()}\n"]
    for n in range(commits):  # one line of notes.txt per commit, written by fast-import
        stream.append(
            f"commit refs/heads/main\ncommitter t <t@example.com> {1700000000 + n} +0000\n"
            f"data 2\nc\nM 644 inline notes.txt\ndata {len(str(n)) + 1}\n{n}\n\n"
        )
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, input="".join(stream).encode(), check=True
    )
    git(repo, "reset", "-q", "--hard", "main")
    assert int(git(repo, "rev-list", "--count", "HEAD")) == commits + 2
    assert "def hexagon_area(side)" in until_context(client, stub, repo, "def hexagon_area")
    git(repo, "gc", "-q", "--prune=now")
    assert "def hexagon_area(side)" in ask(client, stub, repo / "gc.py", f"# gc\n{USE_HEXAGON}")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", repo.as_uri(), str(shallow)],
        check=True,
        capture_output=True,
    )
    assert git(shallow, "rev-parse", "--is-shallow-repository").strip() == "true"
    assert "def hexagon_area(side)" in until_context(client, stub, shallow, "def hexagon_area")


def test_a_worktree_and_a_submodule_get_their_own_context(served, tmp_path):
    client, stub, _ = served
    repo = make_repo(tmp_path / "main")
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "wt", str(worktree))
    (worktree / "shapes.py").write_text(HEXAGON)  # only in the worktree, uncommitted
    assert "def hexagon_area(side)" in until_context(client, stub, worktree, "def hexagon_area")
    assert "def hexagon_area" not in until_context(client, stub, repo, "shapes.py")
    library = make_repo(tmp_path / "library")
    (library / "shapes.py").write_text(HEXAGON)
    git(library, "commit", "-qam", "hexagon")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    git(repo, "commit", "-qm", "lib")
    sub = repo / "lib"
    assert (sub / ".git").is_file()  # a gitfile, as in every submodule
    assert "def hexagon_area(side)" in until_context(client, stub, sub, "def hexagon_area")


def test_odd_files_are_answered_and_skipped_by_the_index(served):
    client, stub, home = served
    body = "def g(a):\n    return a + 1\n\n"
    cases = {
        "huge.py": body * 3_500_000 + USE,  # about 100 MB
        "long.py": "x = 1\n" * 200_000 + USE,
        "wide.py": "x = [" + "1, " * 350_000 + "]\n" + USE,  # a 1 MB line
    }
    for name, text in cases.items():
        (home / name).write_text(text)
        ask(client, stub, home / name, text)
        client.notify("textDocument/didSave", {"textDocument": {"uri": (home / name).as_uri()}})
    # A file that changes encoding on disk: UTF-8, then UTF-16 (NUL bytes: binary now).
    moved = home / "moved.py"
    moved.write_text("def moved_name(caf\u00e9):\n    return caf\u00e9\n", encoding="utf-8")
    ask(client, stub, moved, moved.read_text() + USE)
    client.notify("textDocument/didSave", {"textDocument": {"uri": moved.as_uri()}})
    moved.write_text(moved.read_text(encoding="utf-8"), encoding="utf-16")
    client.notify("textDocument/didSave", {"textDocument": {"uri": moved.as_uri()}})
    time.sleep(1.5)  # past the re-index debounce (0.75 s)
    status = client.request("workspace/executeCommand", {"command": "cove.status"})["result"]
    assert status["state"] == "ready" and client.proc.poll() is None
    from context.index.index import RepositoryIndex
    from context.settings import ContextSettings

    index = RepositoryIndex(home, ContextSettings(index_dir=str(home.parent / "index")))
    try:
        assert set(index.paths()) == {"shapes.py"}  # too large, minified, now binary: out
    finally:
        index.close()
    assert not any("Traceback" in line for line in logs(client))
