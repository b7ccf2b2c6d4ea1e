"""Remote backends (openai, llama-server) against servers on loopback.

Tier 1: pure pieces (SSE parsing, breaker, templates, prompt parsing, stop scan).
Tier 2: a stub server in this file that speaks the OpenAI and /infill wire formats,
with scripted failures. Tier 3 (marked `model`): llama-cpp-python's real server
(`python -m llama_cpp.server`) with the embedded GGUF, behind a recording proxy, and
llama.cpp's own llama-server when its binary is available.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.remote.backends import (
    RemoteBackend,
    check_remote_allowed,
    open_remote_backend,
)
from engine.remote.http import CircuitBreaker, Endpoint, RemoteError, backoff_delays, iter_sse
from engine.remote.prompt import (
    estimate_tokens,
    infill_template,
    parse_prompt,
    scan_stop,
    template_for_model,
)
from engine.remote.scrub import PLACEHOLDER, scrub_text
from engine.settings import BackendSettings, GenerationSettings, check_backend_settings
from engine.stops import check_stop
from engine.templates import PLAIN, QWEN, STARCODER, TEMPLATES, render_prompt, split_cursor_line
from engine.types import CompletionError, ContextChunk, FimInput, GenerationRequest, StopPolicy

SECRET = "ghp_" + "R2d2C3po" * 4 + "Bb8x"  # assembled so no literal looks like a real token

# -- tier 1: pure pieces ----------------------------------------------------------------------


def test_iter_sse_reads_events_comments_and_done():
    lines = [
        b": ping\n",
        b'data: {"a": 1}\n',
        b"\n",
        b"event: x\n",
        b"data: one\n",
        b"data: two\n",
        b"\n",
        b"data: [DONE]\n",
        b"\n",
        b"data: never\n",
        b"\n",
    ]
    assert list(iter_sse(iter(lines))) == [("message", '{"a": 1}'), ("x", "one\ntwo"), ("done", "")]
    assert list(iter_sse(iter([b'error: {"message": "boom"}\n']))) == [
        ("error", '{"message": "boom"}')
    ]


def test_circuit_breaker_opens_probes_and_closes():
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, cooldown_s=2.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 2.5
    assert breaker.allow()  # one probe after the cooldown
    assert not breaker.allow()  # and only one
    breaker.record_failure()  # the probe failed: open again, longer
    now[0] = 5.0
    assert not breaker.allow() and breaker.retry_in() == pytest.approx(1.5)
    now[0] = 7.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_backoff_is_exponential_with_jitter_and_capped():
    assert backoff_delays(4, base_s=0.1, cap_s=0.3, rng=lambda: 1.0) == [0.1, 0.2, 0.3, 0.3]
    assert backoff_delays(3, rng=lambda: 0.0) == [0.0, 0.0, 0.0]


def test_endpoint_parsing_hides_credentials_and_knows_loopback():
    endpoint = Endpoint.parse("https://user:pw@gpu-box:8443/v1/")
    assert (endpoint.host, endpoint.port, endpoint.base_path) == ("gpu-box", 8443, "")
    assert "pw" not in endpoint.display and not endpoint.is_loopback
    assert Endpoint.parse("http://127.0.0.1:8012").is_loopback
    assert Endpoint.parse("http://[::1]:8012/api").base_path == "/api"
    with pytest.raises(ValueError):
        Endpoint.parse("gpu-box:8012")


def test_another_machine_needs_the_workspace_opt_in():
    with pytest.raises(CompletionError, match="allowRemote"):
        check_remote_allowed(BackendSettings(type="openai", url="https://gpu-box:8012"))
    assert (
        check_remote_allowed(
            BackendSettings(type="openai", url="https://gpu-box:8012", allow_remote=True)
        ).host
        == "gpu-box"
    )
    assert check_remote_allowed(
        BackendSettings(type="openai", url="http://localhost:8012")
    ).is_loopback


def test_settings_check_resets_each_broken_key():
    fixed, problems = check_backend_settings(
        BackendSettings(
            type="vllm",
            url="http://x:1",
            family="gpt",
            fallback="cloud",
            max_concurrency=0,
            model="m",
        )
    )
    assert len(problems) == 4
    assert fixed == BackendSettings(url="http://x:1", model="m")
    fixed, problems = check_backend_settings(BackendSettings(type="openai"))
    assert fixed.type == "local" and "backend.url" in problems[0]
    assert check_backend_settings(
        BackendSettings(type="llama-server", url="http://127.0.0.1:8012")
    ) == (BackendSettings(type="llama-server", url="http://127.0.0.1:8012"), [])


@pytest.mark.parametrize(
    ("family", "name", "expected"),
    [
        ("", "Qwen/Qwen2.5-Coder-7B", "qwen2.5-coder"),
        ("", "qwen2.5-coder:7b-base", "qwen2.5-coder"),
        ("", "/models/starcoder2-3b-Q8_0.gguf", "starcoder"),
        ("", "deepseek-ai/deepseek-coder-6.7b-base", "deepseek-coder"),
        ("", "codellama/CodeLlama-7b-hf", "codellama"),
        ("", "google/codegemma-2b", "codegemma"),
        ("", "mistral-7b-instruct", "prefix-only"),
        ("starcoder", "Qwen/Qwen2.5-Coder-7B", "starcoder"),
    ],
)
def test_template_from_family_or_model_name(family, name, expected):
    assert template_for_model(family, name)[0].name == expected


FIM = FimInput(
    prefix="import os\n\ndef load(path):\n",
    line_prefix="    with open(",
    suffix=") as f:\n        return f.read()\n",
    path="src/app/io.py",
    repo_name="demo",
    chunks=(
        ContextChunk(path="src/app/util.py", text="def helper():\n    return 1\n"),
        ContextChunk(path="README.md", text="# Demo"),
    ),
)


@pytest.mark.parametrize("template", [*TEMPLATES, infill_template(QWEN)], ids=lambda t: t.name)
def test_parse_prompt_inverts_render_prompt(template):
    prompt = render_prompt(template, FIM)
    parsed = parse_prompt(template, prompt)
    assert parsed is not None
    # The line's last word is healed: the prompt (and so its parse) leaves it out.
    assert (parsed.line_prefix, parsed.suffix) == (
        split_cursor_line(FIM.line_prefix)[0],
        FIM.suffix,
    )
    if template.file_sep:
        assert render_prompt(template, parsed) == prompt
        assert parsed.prefix == FIM.prefix
        assert [(c.path, c.text) for c in parsed.chunks] == [
            ("src/app/util.py", "def helper():\n    return 1"),
            ("README.md", "# Demo"),
        ]
    else:  # comment-style context stays as text ahead of the file
        assert parsed.prefix == prompt[: prompt.index(template.prefix)] + FIM.prefix
    if template.repo_name:
        assert (parsed.path, parsed.repo_name) == ("src/app/io.py", "demo")
    assert parse_prompt(PLAIN, render_prompt(PLAIN, FIM)) is None


def _local_stop(text: str, policy: StopPolicy, specials: tuple[str, ...]) -> tuple[str, str]:
    """What the local backend does: one character per token, markers end the text."""
    out = ""
    for char in text:
        out += char
        for token in specials:
            if token and out.endswith(token):
                kept = out[: -len(token)]
                return kept, "eos"
        decision = check_stop(out, policy)
        if decision.reason:
            return out[: decision.keep], decision.reason
    return out, ""


@pytest.mark.parametrize("seed", range(40))
def test_scan_stop_over_chunks_cuts_where_token_by_token_does(seed):
    rng = random.Random(seed)
    lines = [
        "    x = 1",
        "",
        "    return x",
        "def other():",
        "        y()",
        "  # note",
        "STOP here",
        "<|fim_pad|>tail",
    ]
    text = "\n".join(rng.choice(lines) for _ in range(rng.randint(1, 7))) + rng.choice(
        ["", "\n", "\n\n"]
    )
    policy = StopPolicy(
        multiline=rng.random() < 0.7,
        max_lines=rng.randint(2, 5),
        indent=rng.choice([0, 4]),
        stop_strings=rng.choice([(), ("STOP",)]),
    )
    specials = ("<|fim_pad|>", "<|endoftext|>")
    expected = _local_stop(text, policy, specials)
    streamed, got = "", ("", "")
    position = 0
    while position < len(text):
        size = rng.randint(1, 12)
        start = len(streamed)
        streamed += text[position : position + size]
        position += size
        decision = scan_stop(streamed, start, policy, specials)
        if decision is not None:
            got = (streamed[: decision.keep], decision.reason)
            break
    else:
        got = (streamed, "")
    assert got == expected


def test_estimate_is_bytes_over_three_rounded_up():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("é") == 1 and estimate_tokens("日本語") == 3


# -- tier 2: a stub server that speaks both wire formats ----------------------------------------


class Stub:
    """Scripted server state: what to answer, what was received, whether the client left."""

    def __init__(
        self,
        pieces=("hello", " world", "\n", "more"),
        *,
        delay=0.0,
        statuses=(),
        die_after=None,
        tokenize=True,
        error="bad request",
        tokenize_delay=0.0,
    ):
        self.pieces = list(pieces)
        self.delay = delay
        self.statuses = list(statuses)
        self.die_after = die_after
        self.tokenize = tokenize
        self.tokenize_delay = tokenize_delay
        self.error = error
        self.requests: list[tuple[str, dict, dict]] = []
        self.sent = 0
        self.client_left = threading.Event()
        self.tokenize_calls = 0


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small SSE chunks go out at once, as real servers send them

    def log_message(self, *args):  # keep test output clean
        pass

    @property
    def stub(self) -> Stub:
        return self.server.stub  # type: ignore[attr-defined]

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"data": [{"id": "qwen2.5-coder-7b"}]})
        elif self.path == "/props":
            self._json(
                200,
                {
                    "total_slots": 4,
                    "default_generation_settings": {"n_ctx": 8192},
                    "model_path": "/m/qwen2.5-coder-7b-q8_0.gguf",
                },
            )
        else:
            self._json(404, {"error": {"message": "File Not Found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        stub = self.stub
        if self.path == "/tokenize":
            stub.tokenize_calls += 1
            time.sleep(stub.tokenize_delay)
            if not stub.tokenize:
                return self._json(404, {"error": {"message": "File Not Found"}})
            return self._json(200, {"tokens": list(range(len(body["content"].split())))})
        stub.requests.append((self.path, body, dict(self.headers)))
        status = stub.statuses.pop(0) if stub.statuses else 200
        if status != 200:
            return self._json(status, {"error": {"code": status, "message": stub.error}})
        self._stream(self.path)

    def _event(self, path: str, text: str, final: bool) -> dict:
        if path == "/infill":
            return {
                "content": text,
                "stop": final,
                **(
                    {
                        "stop_type": "eos",
                        "tokens_evaluated": 30,
                        "tokens_cached": 20,
                        "tokens_predicted": 4,
                    }
                    if final
                    else {}
                ),
            }
        if path == "/v1/chat/completions":
            return {
                "choices": [
                    {"delta": {"content": text}, "finish_reason": "stop" if final else None}
                ]
            }
        return {"choices": [{"text": text, "finish_reason": "stop" if final else None}]}

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, path: str) -> None:
        stub = self.stub
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for index, piece in enumerate([*stub.pieces, None]):
                if stub.die_after is not None and index == stub.die_after:
                    self.connection.shutdown(socket.SHUT_RDWR)  # the server "dies": no final chunk
                    self.close_connection = True
                    return
                time.sleep(stub.delay)
                event = self._event(path, piece or "", piece is None)
                self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
                stub.sent += 1
            if path != "/infill":
                self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            stub.client_left.set()
            self.close_connection = True


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


def _request(
    backend: RemoteBackend,
    *,
    multiline=False,
    deadline_ms=10000,
    max_tokens=32,
    fim=FIM,
    cancel=None,
) -> GenerationRequest:
    return GenerationRequest(
        prompt=render_prompt(backend.template, fim),
        max_tokens=max_tokens,
        deadline_ms=deadline_ms,
        stop=StopPolicy(multiline=multiline, indent=4),
        cancel=cancel or threading.Event(),
    )


def _open(url: str, kind: str = "openai", **fields) -> RemoteBackend:
    return open_remote_backend(
        BackendSettings(type=kind, url=url, **fields), scrub=scrub_text, session_id="editor-1"
    )


def test_openai_stream_gets_the_local_stop_rules_and_a_clean_body(stub_server):
    stub, url = stub_server()
    backend = _open(url)
    try:
        secret_fim = FimInput(
            prefix=f"TOKEN = '{SECRET}'\n",
            line_prefix="x = ",
            suffix="\n",
            chunks=(ContextChunk(path="a.py", text=f"KEY='{SECRET}'"),),
        )
        result = backend.generate(_request(backend, fim=secret_fim))
        assert (result.text, result.stop_reason) == ("hello world", "newline")
        path, body, _ = stub.requests[0]
        assert path == "/v1/completions"
        assert (
            body["model"] == "qwen2.5-coder-7b"
            and body["stream"] is True
            and body["max_tokens"] == 32
        )
        assert "<|fim_pad|>" in body["stop"] and body["repeat_penalty"] == 1.0
        assert SECRET not in json.dumps(body) and PLACEHOLDER in body["prompt"]
        assert (
            backend.template.name == "qwen2.5-coder"
            and backend.describe()["tokenizer"] == "server /tokenize"
        )
        multi = backend.generate(_request(backend, multiline=True))
        assert (multi.text, multi.stop_reason) == (
            "hello world",
            "dedent",
        )  # "more" falls below the block
    finally:
        backend.close()
    assert stub.client_left.wait(5)  # the single-line answer closed its stream at the newline


def test_open_backend_opens_each_remote_kind(stub_server):
    from engine.backends import open_backend
    from engine.settings import ModelSettings

    _, url = stub_server()
    for kind in ("openai", "llama-server"):
        settings = BackendSettings(type=kind, url=url, model="qwen2.5-coder-7b")
        backend = open_backend(ModelSettings(), settings, session_id="vscode-1")
        try:
            assert (backend.kind, backend.model_name, backend.session_id) == (
                kind,
                "qwen2.5-coder-7b",
                "vscode-1",
            )
        finally:
            backend.close()


def test_infill_wire_format(stub_server):
    stub, url = stub_server(pieces=("a", "b", "\n", "    c"))
    first, second = _open(url, "llama-server"), _open(url, "llama-server")
    try:
        chunks = (ContextChunk(path="src/util.py", text=f"API_KEY = '{SECRET}'\n"),)
        fim = FimInput(
            prefix="def f():\n",
            line_prefix="    return ",
            suffix="\n\nprint(f())\n",
            path="src/main.py",
            chunks=chunks,
        )
        result = first.generate(_request(first, fim=fim, multiline=True))
        first.generate(_request(first, fim=fim))
        second.generate(_request(second, fim=fim))
        assert (
            result.text == "ab\n    c" and result.tokens.prompt == 30 and result.tokens.reused == 20
        )
        bodies = [body for path, body, _ in stub.requests if path == "/infill"]
        body = bodies[0]
        # The line's trailing blank is left for the model to write (token healing).
        assert (body["input_prefix"], body["prompt"], body["input_suffix"]) == (
            "def f():\n",
            "    return",
            "\n\nprint(f())\n",
        )
        assert body["input_extra"] == [
            {"filename": "src/util.py", "text": f"API_KEY = '{PLACEHOLDER}'"}
        ]
        assert (
            body["cache_prompt"] is True and body["n_indent"] == 4 and body["t_max_predict_ms"] > 0
        )
        assert bodies[1]["n_indent"] == 0
        assert body["id_slot"] == bodies[1]["id_slot"] and 0 <= body["id_slot"] < 4
        assert first.template.name == "llama-server infill (qwen2.5-coder)"
        assert first.describe()["context_size"] == 8192
    finally:
        first.close()
        second.close()


def test_5xx_and_connection_errors_are_retried(stub_server):
    stub, url = stub_server(statuses=(503, 500))
    backend = _open(url, retries=2)
    try:
        assert backend.generate(_request(backend)).text == "hello world"
        assert backend.stats["retries"] == 2 and len(stub.requests) == 3
    finally:
        backend.close()


def test_4xx_is_one_clear_sentence_logged_once(stub_server, caplog):
    stub, url = stub_server(
        statuses=(501, 501), error="Infill is not supported by this model: prefix token is missing."
    )
    backend = _open(url, "llama-server")
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                with pytest.raises(RemoteError, match="no FIM support; set backend.family"):
                    backend.generate(_request(backend))
        assert len(stub.requests) == 2  # not retried
        assert sum("no FIM support" in r.getMessage() for r in caplog.records) == 1
    finally:
        backend.close()


def test_api_key_is_sent_but_never_shown(stub_server, caplog, monkeypatch):
    monkeypatch.setenv("COVE_TEST_KEY", "key-" + "s3cr3t" * 3)
    stub, url = stub_server(statuses=(401,), error="invalid api key")
    with caplog.at_level(logging.DEBUG):
        backend = _open(url, api_key_env="COVE_TEST_KEY")
        try:
            with pytest.raises(RemoteError, match="apiKeyEnv"):
                backend.generate(_request(backend))
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
        strict = _open(url)
        try:
            with pytest.raises(
                RemoteError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"
            ):
                strict.generate(_request(strict))
        finally:
            strict.close()
        lenient = _open(url, verify_tls=False)
        try:
            assert lenient.generate(_request(lenient)).text == "hello world"
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
    backend = _open(_dead_url(), retries=1)
    try:
        assert backend.describe()["reachable"] is False
        with pytest.raises(RemoteError, match="Cannot reach"):
            backend.generate(_request(backend))
        for _ in range(3):  # three failures in a row open the breaker
            with pytest.raises(RemoteError) as failure:
                backend.generate(_request(backend))
            if "not answering" in str(failure.value):
                break
        assert backend.breaker.state == "open"
        attempts = backend._http.connects
        for _ in range(5):
            with pytest.raises(RemoteError, match="not answering"):
                backend.generate(_request(backend))
        assert backend._http.connects == attempts  # no connection attempt while open
        assert backend.stats["refused_by_breaker"] >= 5 and backend.breaker.state == "open"
        assert backend.count_tokens("one two three") == estimate_tokens("one two three")
    finally:
        backend.close()


def test_cancel_closes_the_stream_within_a_chunk(stub_server):
    stub, url = stub_server(pieces=["x"] * 400, delay=0.02)
    backend = _open(url)
    try:
        cancel = threading.Event()
        future = backend.submit(_request(backend, multiline=True, cancel=cancel, max_tokens=500))
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
    backend = _open(url)
    future = backend.submit(_request(backend, multiline=True, max_tokens=500))
    while stub.sent < 2:
        time.sleep(0.01)
    backend.close()
    assert future.result(timeout=10).stop_reason == "cancelled"
    assert stub.client_left.wait(10) and stub.sent < 400


def test_deadline_ends_a_slow_stream(stub_server):
    stub, url = stub_server(pieces=["y"] * 400, delay=0.02)
    backend = _open(url)
    try:
        result = backend.generate(
            _request(backend, multiline=True, deadline_ms=300, max_tokens=500)
        )
        assert result.stop_reason == "deadline" and result.text.startswith("y")
        assert stub.client_left.wait(10) and stub.sent < 400
    finally:
        backend.close()


def test_a_silent_server_times_out_with_the_setting_named(stub_server):
    _, url = stub_server(pieces=["slow"], delay=1.5)
    backend = _open(url, timeout_ms=400, retries=0)
    try:
        with pytest.raises(RemoteError, match="backend.timeoutMs"):
            backend.generate(_request(backend, deadline_ms=30000))
    finally:
        backend.close()


def test_newest_request_wins_beyond_max_concurrency(stub_server):
    stub, url = stub_server(pieces=["z"] * 60, delay=0.02)
    backend = _open(url, max_concurrency=1)
    try:
        old = backend.submit(_request(backend, multiline=True, max_tokens=500))
        while stub.sent < 2:
            time.sleep(0.01)
        new = backend.submit(_request(backend, multiline=True, max_tokens=500))
        assert old.result(timeout=10).stop_reason == "cancelled"
        assert stub.client_left.wait(10)
        assert new.result(timeout=30).stop_reason == "eos"
        assert backend.stats["preempted"] == 1
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
        future = backend.submit(_request(backend, multiline=True, max_tokens=100))
        if fallback is None:
            with pytest.raises(RemoteError, match="stopped in the middle of an answer"):
                future.result(timeout=20)
        else:
            assert future.result(timeout=20).text == "local answer"
            # The fallback got the same pieces in its own family's template.
            assert local.requests[0].prompt == render_prompt(
                STARCODER, parse_prompt(QWEN, _request(backend).prompt)
            )
    finally:
        backend.close()
    assert local is None or local.closed


def test_token_counts_use_the_server_and_are_cached(stub_server):
    stub, url = stub_server()
    backend = _open(url)
    try:
        calls = stub.tokenize_calls
        assert backend.count_tokens("a b c d") == 4
        assert backend.count_tokens("a b c d") == 4
        assert stub.tokenize_calls == calls + 1
    finally:
        backend.close()
    stub, url = stub_server(tokenize=False)
    backend = _open(url)
    try:
        assert backend.count_tokens("a b c d") == estimate_tokens("a b c d")
    finally:
        backend.close()


def test_a_busy_tokenizer_falls_back_to_estimates_without_opening_the_breaker(stub_server):
    stub, url = stub_server()
    backend = _open(url)
    try:
        stub.tokenize_delay = 1.5  # longer than the 1 s tokenize timeout
        calls = stub.tokenize_calls
        assert backend.count_tokens("one two three") == estimate_tokens("one two three")
        assert backend.count_tokens("four five") == estimate_tokens("four five")
        assert stub.tokenize_calls == calls + 1  # after one slow call, no more for a while
        assert backend.breaker.state == "closed"
        assert backend.generate(_request(backend)).text == "hello world"
    finally:
        backend.close()


def test_chat_streams_the_reply_with_scrubbed_messages(stub_server):
    stub, url = stub_server(pieces=("Hello", "\n", "there"))
    backend = _open(url)
    try:
        reply = backend.chat(
            [{"role": "user", "content": f"explain TOKEN={SECRET}"}],
            max_tokens=20,
            deadline_ms=5000,
        ).result(timeout=10)
        assert reply == "Hello\nthere"
        path, body, _ = stub.requests[0]
        assert path == "/v1/chat/completions" and SECRET not in json.dumps(body)
    finally:
        backend.close()


# -- tier 3: real servers with the embedded model ------------------------------------------------

# Real servers on a shared 2-core machine can be silent for a long time while they evaluate a
# prompt or serve another editor; these tests bound time with deadlines, not read timeouts.
LONG_MS = 600_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingProxy:
    """A reverse proxy that records request bodies and sees clients leave mid-stream."""

    def __init__(self, upstream_port: int):
        self.upstream = upstream_port
        self.bodies: list[bytes] = []
        self.client_left = threading.Event()
        self.relayed = 0  # streamed chunks passed on
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _forward(self, body):
                if body is not None:
                    proxy.bodies.append(body)
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=300)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() in ("content-type", "authorization")
                    }
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    if "text/event-stream" not in response.getheader("Content-Type", ""):
                        data = response.read()
                        self.send_response(response.status)
                        self.send_header(
                            "Content-Type", response.getheader("Content-Type", "application/json")
                        )
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                    self.send_response(response.status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self._relay(response)
                except OSError:
                    self.close_connection = True
                finally:
                    upstream.close()

            def _relay(self, response):
                while True:
                    try:
                        data = response.read1(65536)
                    except (OSError, http.client.HTTPException):  # upstream died: no last chunk
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    try:
                        if not data:
                            self.wfile.write(b"0\r\n\r\n")
                            return
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                        proxy.relayed += 1
                    except OSError:
                        proxy.client_left.set()
                        self.close_connection = True
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def received(self) -> str:
        """Everything the server was sent, as text."""
        return b"\n".join(self.bodies).decode("utf-8", errors="replace")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait_ready(port: int, proc: subprocess.Popen, path: str, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError("server did not start")


def _start_llama_cpp_python(model_path: Path) -> tuple[subprocess.Popen, int]:
    pytest.importorskip("uvicorn", reason="needs llama-cpp-python[server]")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--n_threads",
            "2",
            "--interrupt_requests",
            "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(port, proc, "/v1/models")
    except RuntimeError:
        proc.kill()
        raise
    return proc, port


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def openai_server(model_path):
    """llama-cpp-python's OpenAI-compatible server with the embedded model, behind a recording proxy."""
    proc, port = _start_llama_cpp_python(model_path)
    proxy = RecordingProxy(port)
    yield proxy
    proxy.close()
    _stop(proc)


class Shared:
    """The session's local backend as a fallback that must not be closed by the remote one."""

    def __init__(self, backend):
        self._backend = backend
        self.template = backend.template
        self.model_name = backend.model_name

    def submit(self, request):
        return self._backend.submit(request)

    def close(self):
        pass


SOURCE = '''import math


def circle_area(radius):
    """Area of a circle."""
    return math.pi * radius ** 2


def fibonacci(n):
    if n < 2:
        return n
    
'''


@pytest.mark.model
def test_remote_completion_matches_local_and_hides_secrets(backend, openai_server):
    from context.completion import CompletionService
    from context.window import BudgetSettings

    secret_chunk = ContextChunk(
        path="config/settings.py", text=f"GITHUB_TOKEN = '{SECRET}'\n", source="test"
    )

    def provider(text, path, window, budget):
        return [secret_chunk]

    clean_chunk = dataclasses.replace(secret_chunk, text=scrub_text(secret_chunk.text))

    def scrubbed(text, path, window, budget):
        return [clean_chunk]

    remote = open_remote_backend(
        BackendSettings(type="openai", url=openai_server.url, timeout_ms=LONG_MS), scrub=scrub_text
    )
    try:
        assert remote.template.name == backend.template.name == "qwen2.5-coder"
        lines = SOURCE.split("\n")
        for line, character in ((11, 4), (7, 0)):
            # A generous deadline: on a busy machine a deadline cut would differ between the two.
            # The psm layout on both sides: a remote server cannot force a healed word, so it
            # always gets that layout; the local backend is asked for the same prompt.
            generation = GenerationSettings(max_tokens=32, deadline_ms=300000, layout="psm")
            budgets = BudgetSettings(context_tokens=256)  # the provider's chunk goes in the prompt
            # The local side sees the chunk as the server will (scrubbed): the same prompt.
            local_service = CompletionService(
                backend=backend, budgets=budgets, generation=generation, context_provider=scrubbed
            )
            remote_service = CompletionService(
                backend=remote, budgets=budgets, generation=generation, context_provider=provider
            )
            ours = local_service.complete(
                SOURCE, "geometry.py", line, min(character, len(lines[line]))
            )
            theirs = remote_service.complete(
                SOURCE, "geometry.py", line, min(character, len(lines[line]))
            )
            assert (theirs.text, theirs.stop_reason) == (ours.text, ours.stop_reason)
            assert ours.stop_reason != "deadline"
            assert remote_service.layout == local_service.layout == "psm"
            assert ours.text  # a real suggestion, not two empty answers
        received = openai_server.received()
        assert "config/settings.py" in received  # the chunk went out...
        assert SECRET not in received  # ...without its secret
        assert PLACEHOLDER in received
        # The conservative estimate never undercounts this code (it is used when /tokenize is missing).
        for text in (SOURCE, Path(__file__).read_text()[:4000]):
            assert estimate_tokens(text) >= backend.count_tokens(text)
    finally:
        remote.close()


@pytest.mark.model
def test_remote_cancel_closes_the_stream(openai_server):
    remote = open_remote_backend(
        BackendSettings(type="openai", url=openai_server.url, timeout_ms=LONG_MS)
    )
    try:
        openai_server.client_left.clear()
        cancel = threading.Event()
        fim = FimInput(
            prefix="# A long list of numbers\nnumbers = [\n", line_prefix="    1,", suffix="\n]\n"
        )
        future = remote.submit(
            GenerationRequest(
                prompt=render_prompt(remote.template, fim),
                max_tokens=400,
                deadline_ms=120000,
                stop=StopPolicy(multiline=True, max_lines=400),
                cancel=cancel,
            )
        )
        relayed = openai_server.relayed
        while openai_server.relayed < relayed + 3 and not future.done():
            time.sleep(0.02)
        cancel.set()
        result = future.result(timeout=60)
        assert result.stop_reason == "cancelled"
        assert openai_server.client_left.wait(60)
    finally:
        remote.close()


@pytest.mark.model
def test_eight_editors_all_answered(openai_server):
    editors = [
        open_remote_backend(
            BackendSettings(type="openai", url=openai_server.url, timeout_ms=LONG_MS),
            session_id=f"editor-{i}",
        )
        for i in range(8)
    ]
    answers: list[object] = []

    def edit(index: int, backend: RemoteBackend) -> None:
        for step in range(2):
            fim = FimInput(
                prefix=f"def function_{index}_{step}(x):\n",
                line_prefix="    return x * ",
                suffix="\n",
            )
            request = GenerationRequest(
                prompt=render_prompt(backend.template, fim), max_tokens=16, deadline_ms=180000
            )
            try:
                answers.append(backend.generate(request))
            except CompletionError as error:  # recorded, the assertion below names it
                answers.append(error)

    threads = [threading.Thread(target=edit, args=(i, b)) for i, b in enumerate(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for backend in editors:
        backend.close()
    assert len(answers) == 16
    assert all(
        getattr(a, "stop_reason", None) in ("eos", "newline", "max_tokens") for a in answers
    ), answers


@pytest.mark.model
@pytest.mark.parametrize("fallback", [False, True], ids=["no-fallback", "fallback-local"])
def test_server_killed_mid_stream(backend, model_path, fallback):
    proc, port = _start_llama_cpp_python(model_path)
    proxy = RecordingProxy(port)
    remote = open_remote_backend(
        BackendSettings(
            type="openai",
            url=proxy.url,
            retries=1,
            fallback="local" if fallback else "",
            timeout_ms=LONG_MS,
        ),
        fallback=(lambda: Shared(backend)) if fallback else None,
    )
    try:
        fim = FimInput(
            prefix="# A long list of numbers\nnumbers = [\n", line_prefix="    1,", suffix="\n]\n"
        )
        request = GenerationRequest(
            prompt=render_prompt(remote.template, fim),
            max_tokens=24,
            deadline_ms=600000,
            stop=StopPolicy(multiline=True, max_lines=400),
        )
        future = remote.submit(request)
        while proxy.relayed < 2 and not future.done():
            time.sleep(0.02)
        _stop(proc)
        if not fallback:
            with pytest.raises(RemoteError, match="middle of an answer|Cannot reach"):
                future.result(timeout=60)
        else:
            local = backend.generate(
                GenerationRequest(
                    prompt=request.prompt, max_tokens=24, deadline_ms=600000, stop=request.stop
                )
            )
            assert future.result(timeout=600).text == local.text
            assert remote.stats["fallbacks"] == 1
    finally:
        remote.close()
        proxy.close()
        if proc.poll() is None:
            _stop(proc)


def _llama_server_binary() -> str | None:
    candidates = [
        os.environ.get("COVE_LLAMA_SERVER", ""),
        shutil.which("llama-server") or "",
        str(Path.home() / ".cache/cove/bin/llama-server"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.mark.model
def test_real_llama_server_infill(model_path):
    binary = _llama_server_binary()
    if binary is None:
        pytest.skip(
            "no llama-server binary (set COVE_LLAMA_SERVER); the stub tests cover the /infill wire format"
        )
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "-m",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            "4096",
            "-np",
            "2",
            "-t",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proxy = None
    try:
        _wait_ready(port, proc, "/health")
        proxy = RecordingProxy(port)
        remote = open_remote_backend(
            BackendSettings(type="llama-server", url=proxy.url, timeout_ms=LONG_MS),
            scrub=scrub_text,
            session_id="nvim-1",
        )
        try:
            assert (
                remote.describe()["tokenizer"] == "server /tokenize"
                and remote.server.facts["total_slots"] == 2
            )
            chunks = (ContextChunk(path="src/geometry.py", text=f"TOKEN = '{SECRET}'\n" + SOURCE),)
            fim = FimInput(
                prefix="from geometry import circle_area\n\n",
                line_prefix="print(circle_area(",
                suffix="\n",
                chunks=chunks,
            )
            result = remote.generate(
                GenerationRequest(
                    prompt=render_prompt(remote.template, fim), max_tokens=24, deadline_ms=120000
                )
            )
            assert result.text and "\n" not in result.text and result.tokens.prompt > 0
            assert (
                SECRET not in proxy.received()
                and '"filename": "src/geometry.py"' in proxy.received()
            )
            assert remote.count_tokens("def hello():\n    return 1\n") > 0
        finally:
            remote.close()
    finally:
        if proxy is not None:
            proxy.close()
        _stop(proc)
