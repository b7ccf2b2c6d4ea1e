"""Remote backends against real servers with the embedded model: llama-cpp-python's
OpenAI-compatible server (`python -m llama_cpp.server`) behind a recording proxy, and
llama.cpp's own llama-server when its binary is available.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.remote.backends import RemoteBackend, open_remote_backend
from engine.remote.http import RemoteError
from engine.remote.prompt import estimate_tokens
from engine.remote.scrub import PLACEHOLDER, scrub_text
from engine.settings import BackendSettings, GenerationSettings
from engine.templates import render_prompt
from engine.types import CompletionError, ContextChunk, FimInput, GenerationRequest, StopPolicy
from tests.remote_stub import SECRET

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
            generation = GenerationSettings(
                max_tokens=32, deadline_ms=300000, layout="psm", context_when="always"
            )
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
            fim = FimInput(prefix="", line_prefix="x", suffix="")
            assert remote_service.layout(fim) == local_service.layout(fim) == "psm"
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
