"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

import builtins
import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.remote_stub import Stub, StubHandler

# The tests run on the embedded 0.5B: `auto` would measure the 1.5B on a fresh machine and
# might choose it. Servers the tests start inherit this; a COVE_MODEL of your own still wins.
os.environ.setdefault("COVE_MODEL", "qwen2.5-coder-0.5b")


def git(root: Path, *args: str) -> str:
    """Run git in `root` with a fixed identity; its stdout."""
    out = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


@contextlib.contextmanager
def opened_paths() -> Iterator[list[str]]:
    """Every path this process passes to `open` inside the block, in order: what a privacy
    test checks the index never read (a secret) or read only when it had to.
    """
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    builtins.open = spy
    try:
        yield opened
    finally:
        builtins.open = real_open


@pytest.fixture(scope="session")
def backend():
    """The embedded Qwen2.5-Coder-0.5B (named, never `auto`) through llama.cpp (loaded once)."""
    from engine.local.loading import open_local_backend
    from engine.settings import ModelSettings

    loaded = open_local_backend(ModelSettings(name=os.environ["COVE_MODEL"]))
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def model_path(backend):
    """Path of the assembled, verified embedded GGUF."""
    return backend.model_path


def is_circle_area(text: str) -> bool:
    """Pi (math.pi, pi) or its value, times radius squared.

    The keystroke-stable layout (hole from the line start) makes this model write
    3.14159 where the classic PSM prompt writes math.pi; both are the area formula.
    """
    compact = text.replace(" ", "")
    return ("pi" in compact or "3.14" in compact) and "radius" in compact


@pytest.fixture
def stub_server():
    """A stub completion server on loopback (tests.remote_stub); yields a function that sets its script and returns (stub, url)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.daemon_threads = True
    server.stub = Stub()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()

    def configure(**script) -> tuple[Stub, str]:
        server.stub = Stub(**script)  # type: ignore[attr-defined]
        return server.stub, f"http://127.0.0.1:{server.server_port}"

    yield configure
    server.shutdown()
    server.server_close()
