"""Remote backends when the server fails (a stub on loopback): retries, one clear sentence
for 4xx, keys never shown, TLS, a dead server and the breaker, a silent or dying server,
a busy tokenizer.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import ThreadingHTTPServer

import pytest

from engine.remote.backends import open_remote_backend
from engine.remote.http import RemoteError
from engine.remote.prompt import estimate_tokens, parse_prompt
from engine.remote.scrub import scrub_text
from engine.settings import BackendSettings
from engine.templates import QWEN, STARCODER, render_prompt
from engine.types import GenerationRequest
from tests.remote_stub import Stub, StubHandler, make_request, open_remote


def test_5xx_and_connection_errors_are_retried(stub_server):
    stub, url = stub_server(statuses=(503, 500))
    backend = open_remote(url, retries=2)
    try:
        assert backend.generate(make_request(backend)).text == "hello world"
        assert backend.stats["retries"] == 2 and len(stub.requests) == 3
    finally:
        backend.close()


def test_4xx_is_one_clear_sentence_logged_once(stub_server, caplog):
    stub, url = stub_server(
        statuses=(501, 501), error="Infill is not supported by this model: prefix token is missing."
    )
    backend = open_remote(url, "llama-server")
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                with pytest.raises(RemoteError, match="no FIM support; set backend.family"):
                    backend.generate(make_request(backend))
        assert len(stub.requests) == 2  # not retried
        assert sum("no FIM support" in r.getMessage() for r in caplog.records) == 1
    finally:
        backend.close()


def test_api_key_is_sent_but_never_shown(stub_server, caplog, monkeypatch):
    monkeypatch.setenv("COVE_TEST_KEY", "key-" + "s3cr3t" * 3)
    stub, url = stub_server(statuses=(401,), error="invalid api key")
    with caplog.at_level(logging.DEBUG):
        backend = open_remote(url, api_key_env="COVE_TEST_KEY")
        try:
            with pytest.raises(RemoteError, match="apiKeyEnv"):
                backend.generate(make_request(backend))
            facts = json.dumps(backend.describe())
        finally:
            backend.close()
    assert stub.requests[0][2]["Authorization"] == "Bearer key-" + "s3cr3t" * 3
    assert "s3cr3t" not in facts and "s3cr3t" not in caplog.text and "$COVE_TEST_KEY" in facts


def test_tls_is_verified_by_default(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.daemon_threads = True
    server.stub = Stub()  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    url = f"https://localhost:{server.server_port}"
    try:
        strict = open_remote(url)
        try:
            with pytest.raises(
                RemoteError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"
            ):
                strict.generate(make_request(strict))
        finally:
            strict.close()
        lenient = open_remote(url, verify_tls=False)
        try:
            assert lenient.generate(make_request(lenient)).text == "hello world"
        finally:
            lenient.close()
    finally:
        server.shutdown()
        server.server_close()


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_dead_server_opens_the_breaker_and_stops_connecting():
    backend = open_remote(_dead_url(), retries=1)
    try:
        assert backend.describe()["reachable"] is False
        with pytest.raises(RemoteError, match="Cannot reach"):
            backend.generate(make_request(backend))
        for _ in range(3):  # three failures in a row open the breaker
            with pytest.raises(RemoteError) as failure:
                backend.generate(make_request(backend))
            if "not answering" in str(failure.value):
                break
        assert backend.breaker.state == "open"
        attempts = backend._http.connects
        for _ in range(5):
            with pytest.raises(RemoteError, match="not answering"):
                backend.generate(make_request(backend))
        assert backend._http.connects == attempts  # no connection attempt while open
        assert backend.stats["refused_by_breaker"] >= 5 and backend.breaker.state == "open"
        assert backend.count_tokens("one two three") == estimate_tokens("one two three")
    finally:
        backend.close()


def test_a_silent_server_times_out_with_the_setting_named(stub_server):
    _, url = stub_server(pieces=["slow"], delay=1.5)
    backend = open_remote(url, timeout_ms=400, retries=0)
    try:
        with pytest.raises(RemoteError, match="backend.timeoutMs"):
            backend.generate(make_request(backend, deadline_ms=30000))
    finally:
        backend.close()


class FakeLocal:
    """A fallback that records what it was asked."""

    def __init__(self, template=QWEN):
        self.template = template
        self.requests: list[GenerationRequest] = []
        self.closed = False

    def submit(self, request):
        from concurrent.futures import Future

        from engine.types import GenerationResult, TokenCounts

        self.requests.append(request)
        done: Future = Future()
        done.set_result(
            GenerationResult(
                text="local answer",
                stop_reason="eos",
                tokens=TokenCounts(),
                prefill_ms=0,
                generate_ms=0,
            )
        )
        return done

    def close(self):
        self.closed = True


@pytest.mark.parametrize("fallback", [None, STARCODER])
def test_server_dying_mid_stream_errors_or_falls_back(stub_server, fallback):
    _, url = stub_server(pieces=["a"] * 50, die_after=3)
    local = FakeLocal(fallback) if fallback else None
    backend = open_remote_backend(
        BackendSettings(type="openai", url=url, retries=0),
        fallback=(lambda: local) if local else None,
        scrub=scrub_text,
    )
    try:
        future = backend.submit(make_request(backend, multiline=True, max_tokens=100))
        if fallback is None:
            with pytest.raises(RemoteError, match="stopped in the middle of an answer"):
                future.result(timeout=20)
        else:
            assert future.result(timeout=20).text == "local answer"
            # The fallback got the same pieces in its own family's template.
            assert local.requests[0].prompt == render_prompt(
                STARCODER, parse_prompt(QWEN, make_request(backend).prompt)
            )
    finally:
        backend.close()
    assert local is None or local.closed


def test_a_busy_tokenizer_falls_back_to_estimates_without_opening_the_breaker(stub_server):
    stub, url = stub_server()
    backend = open_remote(url)
    try:
        stub.tokenize_delay = 1.5  # longer than the 1 s tokenize timeout
        calls = stub.tokenize_calls
        assert backend.count_tokens("one two three") == estimate_tokens("one two three")
        assert backend.count_tokens("four five") == estimate_tokens("four five")
        assert stub.tokenize_calls == calls + 1  # after one slow call, no more for a while
        assert backend.breaker.state == "closed"
        assert backend.generate(make_request(backend)).text == "hello world"
    finally:
        backend.close()
