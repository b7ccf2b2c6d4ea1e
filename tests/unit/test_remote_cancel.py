"""Remote backends let go of a stream (a stub on loopback): cancel, close, deadline, and
the newest request beyond the concurrency limit.
"""

from __future__ import annotations

import threading
import time

from tests.remote_stub import make_request, open_remote


def test_cancel_closes_the_stream_within_a_chunk(stub_server):
    stub, url = stub_server(pieces=["x"] * 400, delay=0.02)
    backend = open_remote(url)
    try:
        cancel = threading.Event()
        future = backend.submit(
            make_request(backend, multiline=True, cancel=cancel, max_tokens=500)
        )
        while stub.sent < 3:
            time.sleep(0.01)
        cancel.set()
        result = future.result(timeout=10)
        assert result.stop_reason == "cancelled" and result.text.startswith("xxx")
        assert stub.client_left.wait(10) and stub.sent < 400
    finally:
        backend.close()


def test_close_cancels_what_is_in_flight(stub_server):
    stub, url = stub_server(pieces=["w"] * 400, delay=0.02)
    backend = open_remote(url)
    future = backend.submit(make_request(backend, multiline=True, max_tokens=500))
    while stub.sent < 2:
        time.sleep(0.01)
    backend.close()
    assert future.result(timeout=10).stop_reason == "cancelled"
    assert stub.client_left.wait(10) and stub.sent < 400


def test_deadline_ends_a_slow_stream(stub_server):
    stub, url = stub_server(pieces=["y"] * 400, delay=0.02)
    backend = open_remote(url)
    try:
        result = backend.generate(
            make_request(backend, multiline=True, deadline_ms=300, max_tokens=500)
        )
        assert result.stop_reason == "deadline" and result.text.startswith("y")
        assert stub.client_left.wait(10) and stub.sent < 400
    finally:
        backend.close()


def test_newest_request_wins_beyond_max_concurrency(stub_server):
    stub, url = stub_server(pieces=["z"] * 60, delay=0.02)
    backend = open_remote(url, max_concurrency=1)
    try:
        old = backend.submit(make_request(backend, multiline=True, max_tokens=500))
        while stub.sent < 2:
            time.sleep(0.01)
        new = backend.submit(make_request(backend, multiline=True, max_tokens=500))
        assert old.result(timeout=10).stop_reason == "cancelled"
        assert stub.client_left.wait(10)
        assert new.result(timeout=30).stop_reason == "eos"
        assert backend.stats["preempted"] == 1
    finally:
        backend.close()
