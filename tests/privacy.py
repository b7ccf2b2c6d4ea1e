"""What the privacy tests share: a repository full of canary secrets, a `cove serve`
started under the audit guard (tests/guard/sitecustomize.py), and reading what it recorded.

The canaries are files Cove must never open (`.env`, `id_rsa`, `key.pem`,
`credentials.json`, a `.coveignore`d file, files outside the workspace reached through
symlinks or `../`) and values that must never leave the machine nor reach a log (an
AWS-key-shaped string, a private-key block, a GitHub-token-shaped string).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import git
from tests.wire import WireClient

GUARD = Path(__file__).parent / "guard"
# Assembled so that no literal in this repository looks like a real credential.
AWS_KEY = "AKIA" + "Q7ZC4N2X" + "WJ5T3KEY"
GITHUB_TOKEN = "ghp_" + "Cove7Canary" * 3 + "Xy9"
KEY_BODY = "MIIEow" + "CanaryKeyBody" * 4 + "Zm9v"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"
CANARY_VALUES = (AWS_KEY, GITHUB_TOKEN, KEY_BODY)
SECRET_FILES = (".env", "id_rsa", "key.pem", "credentials.json", "private_notes.py")
GEOMETRY = "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n"
MAIN = "from geometry import circle_area\n\n\ndef ring_area(outer, inner):\n    return "
MAIN_CURSOR = {"line": 4, "character": 11}


@dataclass
class CanaryRepo:
    """A git work tree with canaries inside and a folder beside it that is not the workspace."""

    root: Path
    outside: Path

    def forbidden(self, opened: list[str]) -> list[str]:
        """The opened paths that are canaries (inside by name, or anything outside)."""
        secret = {str(self.root / name) for name in SECRET_FILES}
        secret |= {str(self.root / "link.py")}
        bad = []
        for path in opened:
            real = os.path.realpath(path)
            if (
                path in secret
                or path.startswith(str(self.root / "vendor") + "/")
                or real.startswith(str(self.outside) + os.sep)
                or real == str(self.outside)
            ):
                bad.append(path)
        return bad


def make_canary_repo(base: Path) -> CanaryRepo:
    """The repository (committed, with a staged change to draft a message for) and outside."""
    base = base.resolve()
    outside, root = base / "outside", base / "repo"
    (outside / "outdir").mkdir(parents=True)
    (outside / "outside_secret.py").write_text(f'TOKEN = "{GITHUB_TOKEN}"\n')
    (outside / "outdir" / "mod.py").write_text(f'KEY = "{AWS_KEY}"\n')
    git(outside, "init", "-q")
    git(outside, "add", "-A")  # staged: a commit draft for it would read the token
    root.mkdir()
    git(root, "init", "-q")
    files = {
        "geometry.py": GEOMETRY,
        "main.py": MAIN + "\n",
        ".env": f"AWS_ACCESS_KEY_ID={AWS_KEY}\nGITHUB_TOKEN={GITHUB_TOKEN}\n",
        "id_rsa": PRIVATE_KEY,
        "key.pem": PRIVATE_KEY,
        "credentials.json": f'{{"aws_access_key_id": "{AWS_KEY}"}}\n',
        "private_notes.py": f'AWS = "{AWS_KEY}"\n',
        ".coveignore": "private_notes.py\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "link.py").symlink_to(outside / "outside_secret.py")
    (root / "vendor").symlink_to(outside / "outdir")
    git(root, "add", "-A")  # the worst case: secrets committed by mistake
    git(root, "commit", "-q", "-m", "Add geometry")
    (root / "geometry.py").write_text(GEOMETRY + "\n\ndef square_area(side):\n    return side**2\n")
    git(root, "add", "geometry.py")
    return CanaryRepo(root, outside)


def guarded_server(
    guard_log: Path, *, block: bool, netns: bool = False, log_file: Path | None = None
) -> list[str]:
    """The `cove serve` command line under the audit guard (and in a namespace with no network)."""
    env = [
        "env",
        f"PYTHONPATH={GUARD}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        f"COVE_GUARD_LOG={guard_log}",
        f"COVE_GUARD_BLOCK_NET={int(block)}",
    ]
    serve = [sys.executable, "-m", "lsp.cli", "serve"]
    if log_file is not None:
        serve += ["-vv", "--log-file", str(log_file)]
    return (["unshare", "-n"] if netns else []) + env + serve


def guard_lines(guard_log: Path) -> tuple[list[str], list[str], list[str]]:
    """(guard start lines, opened paths, network attempts) the guard recorded."""
    lines = guard_log.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [ln for ln in lines if ln.startswith("guard ")]
    opened = [ln[5:] for ln in lines if ln.startswith("open ")]
    net = [ln for ln in lines if ln.startswith("net ")]
    return starts, opened, net


def wait_indexed(client: WireClient, root: Path, timeout: float = 120) -> str:
    """The index log line for `root` (polled with cove.status, which answers the
    server's progress-token requests on the way).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in client.notifications:
            message = note.get("params", {}).get("message", "")
            if note.get("method") == "window/logMessage" and message.startswith(f"index {root}"):
                return message
        client.request("workspace/executeCommand", {"command": "cove.status"})
        time.sleep(0.2)
    raise AssertionError(f"{root} was not indexed within {timeout} s")


def poke_escapes(client: WireClient, repo: CanaryRepo) -> list[dict]:
    """Everything that might make the server open a canary: saves and watched-file changes
    of secret and symlinked paths, commands whose arguments climb out with `../`.
    """
    root = repo.root
    paths = [root / n for n in SECRET_FILES] + [root / "link.py", root / "vendor" / "mod.py"]
    for path in paths:
        client.notify("textDocument/didSave", {"textDocument": {"uri": path.as_uri()}})
    changes = [{"uri": path.as_uri(), "type": 2} for path in paths]
    client.notify("workspace/didChangeWatchedFiles", {"changes": changes})
    climb = f"{root}/../outside"
    answers = [
        client.request(
            "workspace/executeCommand",
            {"command": "cove.draftCommitMessage", "arguments": [{"repo": climb}]},
        ),
        client.request(
            "workspace/executeCommand",
            {
                "command": "cove.draftCommitMessage",
                "arguments": [{"uri": f"file://{climb}/outside_secret.py"}],
            },
        ),
        client.request(
            "workspace/executeCommand",
            {
                "command": "cove.explain",
                "arguments": [{"uri": f"file://{climb}/outside_secret.py", "range": {}}],
            },
        ),
    ]
    time.sleep(1.5)  # index updates of saved files are debounced by 0.75 s
    client.request("workspace/executeCommand", {"command": "cove.status"})
    return answers
