"""Local mode needs no network and opens no canary (the real 0.5B model, `cove serve`).

One module-scoped fixture runs the same full session — index build, a completion with
repository context, the explain and docstring code actions, a drafted commit message, and
every trick that might open a canary — twice: recorded only, and isolated: internet
sockets blocked inside the server (tests/guard/sitecustomize.py) and, where permitted, the
server inside `unshare -n` (a network namespace without interfaces). The answers must be
the same shape both times, and the audit must show no network attempt and no canary opened.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.privacy import (
    MAIN,
    MAIN_CURSOR,
    guard_lines,
    guarded_server,
    make_canary_repo,
    poke_escapes,
    wait_indexed,
)
from tests.wire import WireClient

pytestmark = pytest.mark.model

OPTIONS = {
    "model": {"path": "", "name": "qwen2.5-coder-0.5b"},
    # Context on every request (the default adds it after `name.` / `name(` only).
    "generation": {"deadlineMs": 120000, "maxTokens": 24, "contextWhen": "always"},
    "budget": {"contextTokens": 256},
    "features": {"debounceMs": 0},
    "assist": {
        "deadlineMs": 300000,
        "explainMaxTokens": 32,
        "commentMaxTokens": 32,
        "docstringMaxTokens": 40,
    },
    "commit": {"deadlineMs": 300000, "maxTokens": 32},
}


def netns_available() -> bool:
    """`unshare -n` works here (root, or user namespaces allowed)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def local_session(client: WireClient, repo, index_dir) -> dict:
    """The whole session; what each step answered (non-empty or not) and the answers."""
    options = {**OPTIONS, "context": {"indexDir": str(index_dir)}}
    assert client.initialize(options, root=repo.root)["status"]["state"] == "ready"
    indexed = wait_indexed(client, repo.root)
    uri = (repo.root / "main.py").as_uri()
    doc = {"uri": uri, "languageId": "python", "version": 1, "text": MAIN}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    invoked = {"textDocument": {"uri": uri}, "position": MAIN_CURSOR, "context": {"triggerKind": 1}}
    items = client.request("textDocument/inlineCompletion", invoked)["result"]["items"]
    at_def = {"line": 3, "character": 4}
    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": at_def, "end": at_def},
            "context": {"diagnostics": []},
        },
    )["result"]
    draft = client.request(
        "workspace/executeCommand",
        {"command": "cove.draftCommitMessage", "arguments": [{"repo": str(repo.root)}]},
    )["result"]
    escapes = poke_escapes(client, repo)
    namespace = os.readlink(f"/proc/{client.proc.pid}/ns/net")
    edits = {a["title"]: a["edit"]["documentChanges"][0]["edits"][0]["newText"] for a in actions}
    return {
        "indexed": indexed,
        "shape": {
            "completion": bool(items and items[0]["insertText"].strip()),
            **{title: bool(text.strip()) for title, text in edits.items()},
            "commit message": bool(draft.strip()),
            "escapes refused": [e["result"] for e in escapes] == ["", "", ""],
        },
        "namespace": namespace,
        "exit": client.close(),
    }


NETNS = netns_available()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """The session recorded, and isolated from the network (blocked, and in a namespace)."""
    modes = {"recorded": {"block": False}, "isolated": {"block": True, "netns": NETNS}}
    found = {}
    for name, mode in modes.items():
        base = tmp_path_factory.mktemp(name)
        repo = make_canary_repo(base)
        guard = base / "guard.log"
        client = WireClient(guarded_server(guard, **mode))
        try:
            found[name] = {**local_session(client, repo, base / "index"), "repo": repo}
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
        found[name]["guard"] = guard_lines(guard)
    return found


def test_the_session_answers_the_same_without_a_network(sessions):
    recorded = sessions["recorded"]["shape"]
    assert recorded == {
        "completion": True,
        "Cove: Explain": True,
        "Cove: Write docstring": True,
        "commit message": True,
        "escapes refused": True,
    }
    for name, session in sessions.items():
        assert session["shape"] == recorded, name
        assert session["exit"] == 0, name
        assert "files" in session["indexed"] and "failed" not in session["indexed"], name


def test_local_mode_never_tries_the_network(sessions):
    for name, session in sessions.items():
        starts, _, net = session["guard"]
        assert starts and starts[0].endswith(f"block={int(name != 'recorded')}"), name
        assert net == [], f"{name}: {net[:3]}"


def test_no_canary_is_opened_while_indexing_and_completing(sessions):
    for name, session in sessions.items():
        repo, (_, opened, _) = session["repo"], session["guard"]
        assert str(repo.root / "geometry.py") in opened, name  # the audit sees index reads
        assert repo.forbidden(opened) == [], name


@pytest.mark.skipif(not NETNS, reason="unshare -n is not permitted here")
def test_the_isolated_server_ran_in_its_own_network_namespace(sessions):
    assert sessions["isolated"]["namespace"] != os.readlink("/proc/self/ns/net")
    assert sessions["recorded"]["namespace"] == os.readlink("/proc/self/ns/net")
