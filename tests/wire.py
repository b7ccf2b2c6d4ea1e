"""A minimal LSP client over a subprocess's pipes, for the benchmark and robustness tests.

It frames JSON-RPC by hand, so it sees exactly what an editor would, and it answers the
server's own requests (progress creation) the way editors do.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


class WireClient:
    """Start `command` (a `cove serve`), send requests, collect notifications."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.inbox: queue.Queue = queue.Queue()
        self.notifications: list[dict] = []
        self._ids = iter(range(1, 1 << 30))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = stream.read(1)
                if not byte:
                    return
                header += byte
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            self.inbox.put(json.loads(stream.read(length)))

    def send_bytes(self, body: bytes) -> None:
        """Send one framed message body as is (even a malformed one)."""
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        """Send a notification."""
        self.send_bytes(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode())

    def request(self, method: str, params: Any = None, timeout: float = 300) -> dict:
        """Send a request and wait for its response (the whole message)."""
        msg_id = next(self._ids)
        self.send_bytes(
            json.dumps(
                {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}}
            ).encode()
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if self._take(message):
                continue
            if message.get("id") == msg_id:
                return message
        raise TimeoutError(f"no answer to {method} within {timeout}s")

    def initialize(
        self, options: dict | None = None, timeout: float = 300, root: Path | None = None
    ) -> dict:
        """Initialize + initialized (with `root` as the workspace), then wait until the model is ready."""
        params = {
            "capabilities": {"window": {"workDoneProgress": True}},
            "processId": None,
            "initializationOptions": options or {},
        }
        if root is not None:
            params["rootUri"] = root.resolve().as_uri()
        result = self.request("initialize", params)
        self.notify("initialized", {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.request("workspace/executeCommand", {"command": "cove.status"})["result"]
            if status["state"] in ("ready", "error"):
                return {"initialize": result, "status": status}
            time.sleep(0.1)
        raise TimeoutError("the model did not load")

    def log_lines(self) -> list[str]:
        """window/logMessage texts received so far."""
        self.drain()
        return [
            n["params"]["message"]
            for n in self.notifications
            if n.get("method") == "window/logMessage"
        ]

    def drain(self) -> None:
        """Move queued notifications into `notifications`."""
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            self._take(message)

    def _take(self, message: dict) -> bool:
        """Keep a notification, answer a server request (progress create: yes); False for a response."""
        if "method" not in message:
            return False
        if "id" in message:
            self.send_bytes(
                json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": None}).encode()
            )
        else:
            self.notifications.append(message)
        return True

    def close(self) -> int:
        """Shutdown + exit; the server's exit status."""
        try:
            self.request("shutdown", timeout=30)
            self.notify("exit", None)
            return self.proc.wait(timeout=30)
        except (TimeoutError, OSError, ValueError):
            self.proc.kill()
            return self.proc.wait()
