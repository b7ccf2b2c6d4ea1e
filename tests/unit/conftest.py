"""Fixtures for the unit tier: a stub HTTP server on loopback (milliseconds to start)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.remote_stub import Stub, StubHandler


@pytest.fixture
def stub_server():
    """Start a stub; yields a function that sets its script and returns (stub, url)."""
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
