"""Shared parts of the injected-fault tests (issue 16): a real `cove serve` over a stub
completion server that can misbehave on purpose, a git repository to give it context.

The stub speaks the OpenAI wire format (tests/remote_stub.py); `fault` scripts how its
completion endpoint breaks: "silent" (reads the request, never answers), "drip" (one
byte of a never-ending SSE stream at a time), "malformed" (SSE that is not JSON, events
without choices), "special" (text full of the model's control tokens), "" (well).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.conftest import git
from tests.remote_stub import Stub, StubHandler
from tests.wire import WireClient

SERVE = [sys.executable, "-m", "lsp.cli", "serve"]
INVOKED = {"triggerKind": 1}
SHAPES = "def square(x):\n    return x * x\n"
USE = "def cube(x):\n    return square(x) * "  # the cursor at the end: line 1, column 23
SPECIAL = "x<|fim_middle|><|endoftext|><|fim_prefix|>import secrets<|file_sep|>"


class FaultHandler(StubHandler):
    """The stub with scripted faults on its completion endpoints."""

    def do_POST(self):
        fault = self.server.fault  # type: ignore[attr-defined]
        if self.path == "/tokenize" or not fault:
            return super().do_POST()
        self.rfile.read(int(self.headers["Content-Length"]))
        self.stub.requests.append((self.path, {}, dict(self.headers)))
        if fault == "silent":
            self.server.gone.wait(60)  # type: ignore[attr-defined]
            self.close_connection = True
            return None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if fault == "drip":
                body = b"data: " + json.dumps({"choices": [{"text": "x" * 500}]}).encode()
                for byte in body:
                    if self.server.gone.wait(0.05):  # type: ignore[attr-defined]
                        break
                    self._chunk(bytes([byte]))
            elif fault == "malformed":
                for line in (
                    b"data: {not json\n\n",
                    b'data: {"choices": []}\n\n',
                    b"data: [1,\n\n",
                ):
                    self._chunk(line)
                self._chunk(b'data: {"object": "text_completion"}\n\ndata: [DONE]\n\n')
            else:  # special tokens in the text
                event = {"choices": [{"text": SPECIAL, "finish_reason": "stop"}]}
                self._chunk(b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        return None


class FaultServer:
    """A FaultHandler server on loopback: `url`, the `stub` (requests seen), `fault`."""

    def __init__(self, pieces=("x * x", "\n")) -> None:
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), FaultHandler)
        self.http.daemon_threads = True
        self.http.stub = self.stub = Stub(pieces=pieces)  # type: ignore[attr-defined]
        self.http.fault = ""  # type: ignore[attr-defined]
        self.http.gone = threading.Event()  # type: ignore[attr-defined]
        threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.http.server_port}"

    def script(self, fault: str = "", statuses=(), die_after=None) -> None:
        """Break the completion endpoint in one way from now on."""
        self.http.fault = fault  # type: ignore[attr-defined]
        self.stub.statuses, self.stub.die_after = list(statuses), die_after

    def prompts(self) -> list[str]:
        """Prompts of the completion requests received so far."""
        return [body.get("prompt", "") for path, body, _ in self.stub.requests if body]

    def close(self) -> None:
        self.http.gone.set()  # type: ignore[attr-defined]
        self.http.shutdown()
        self.http.server_close()


def make_repo(root: Path) -> Path:
    """A committed repository whose shapes.py defines `square` (context for use.py)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "shapes.py").write_text(SHAPES)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "shapes")
    return root


def options(url: str, index_dir: Path | None = None, **backend) -> dict:
    """Settings for a session on the stub, with repository context."""
    out: dict = {
        "backend": {"type": "openai", "url": url, **backend},
        "budget": {"contextTokens": 256},
        "generation": {"contextWhen": "always"},  # context on every request, not only APIs
    }
    if index_dir is not None:
        out["context"] = {"indexDir": str(index_dir)}
    return out


def start(opts: dict, root: Path | None = None) -> WireClient:
    """A real server, initialized and ready."""
    client = WireClient(SERVE)
    assert client.initialize(opts, root=root)["status"]["state"] == "ready"
    return client


def open_doc(client: WireClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    doc = {"uri": uri, "languageId": "python", "version": version, "text": text}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    return uri


def complete(client: WireClient, uri: str, line: int, character: int, timeout=60) -> dict:
    """An explicit inline completion: the whole response (result or error)."""
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": INVOKED,
    }
    return client.request("textDocument/inlineCompletion", params, timeout=timeout)


def texts(answer: dict) -> list[str]:
    """The suggestions of a response that must be a result, not an error."""
    assert "error" not in answer, answer
    return [item["insertText"] for item in answer["result"]["items"]]


def logs(client: WireClient) -> list[str]:
    """window/logMessage lines so far, read without `drain` (it would swallow a progress
    request that `request` must answer).
    """
    return [
        n["params"]["message"]
        for n in client.notifications
        if n.get("method") == "window/logMessage"
    ]


def wait_for_log(client: WireClient, prefix: str, count: int = 1, timeout: float = 60) -> list:
    """Poll (with cove.status) until `count` log lines start with `prefix`; those lines."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in logs(client) if line.startswith(prefix)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        client.request("workspace/executeCommand", {"command": "cove.status"})
        time.sleep(0.1)


def reload(client: WireClient, opts: dict, tag: str) -> None:
    """New backend settings (another name of the same model family): the server reopens
    the backend and re-attaches repository context, building the index again.
    """
    model = f"qwen2.5-coder-7b-{tag}"
    client.notify(
        "workspace/didChangeConfiguration",
        {"settings": {**opts, "backend": {**opts["backend"], "model": model}}},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.request("workspace/executeCommand", {"command": "cove.status"})["result"]
        if status["model"] == model and status["state"] == "ready":
            return
        time.sleep(0.1)
    raise TimeoutError(f"no reload to {model}")


def finish(client: WireClient) -> int:
    """Shutdown + exit; the exit status (the process is killed if it hangs)."""
    try:
        return client.close()
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
