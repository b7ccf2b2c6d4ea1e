"""A stub server that speaks the OpenAI and llama-server /infill wire formats, with
scripted failures, and the FIM input and secret the remote backend tests share.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

from engine.remote.backends import RemoteBackend, open_remote_backend
from engine.remote.scrub import scrub_text
from engine.settings import BackendSettings
from engine.templates import render_prompt
from engine.types import ContextChunk, FimInput, GenerationRequest, StopPolicy

SECRET = "ghp_" + "R2d2C3po" * 4 + "Bb8x"  # assembled so no literal looks like a real token


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
        logprob=None,
        reject_logprobs=False,
    ):
        self.pieces = list(pieces)
        self.delay = delay
        self.statuses = list(statuses)
        self.die_after = die_after
        self.tokenize = tokenize
        self.tokenize_delay = tokenize_delay
        self.error = error
        self.logprob = logprob  # each piece's log-probability, sent when asked (None: never)
        self.reject_logprobs = reject_logprobs  # answer 400 to a body with "logprobs"
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
        if stub.reject_logprobs and "logprobs" in body:
            return self._json(400, {"error": {"code": 400, "message": "logprobs not supported"}})
        status = stub.statuses.pop(0) if stub.statuses else 200
        if status != 200:
            return self._json(status, {"error": {"code": status, "message": stub.error}})
        self.asked_probs = bool(body.get("logprobs") or body.get("n_probs"))
        self._stream(self.path)

    def _event(self, path: str, text: str, final: bool) -> dict:
        probs = self.stub.logprob is not None and self.asked_probs and bool(text)
        if path == "/infill":
            return {
                "content": text,
                **(
                    {"completion_probabilities": [{"token": text, "logprob": self.stub.logprob}]}
                    if probs
                    else {}
                ),
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
        logprobs = {"tokens": [text], "token_logprobs": [self.stub.logprob]} if probs else None
        return {
            "choices": [
                {
                    "text": text,
                    "finish_reason": "stop" if final else None,
                    **({"logprobs": logprobs} if logprobs else {}),
                }
            ]
        }

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


def make_request(
    backend: RemoteBackend,
    *,
    multiline=False,
    deadline_ms=10000,
    max_tokens=32,
    fim=FIM,
    cancel=None,
) -> GenerationRequest:
    """A request for `fim` in the backend's own template, with a patient deadline."""
    return GenerationRequest(
        prompt=render_prompt(backend.template, fim),
        max_tokens=max_tokens,
        deadline_ms=deadline_ms,
        stop=StopPolicy(multiline=multiline, indent=4),
        cancel=cancel or threading.Event(),
    )


def open_remote(url: str, kind: str = "openai", **fields) -> RemoteBackend:
    """A remote backend of `kind` at `url` that scrubs secrets, as editor-1."""
    return open_remote_backend(
        BackendSettings(type=kind, url=url, **fields), scrub=scrub_text, session_id="editor-1"
    )
