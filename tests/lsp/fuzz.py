r"""A seeded protocol fuzzer: odd but well-framed JSON-RPC against a real `cove serve`.

`run_fuzz(seed, cases)` starts the server (with a model path that does not exist, so the
storm costs no model time), sends a storm of messages, and checks the invariants:

- the process stays up until `exit`, and then exits with status 0;
- every request with a usable id (a string or an integer) gets exactly one answer, and no
  other message is answered; after `shutdown` a request answers -32600, an unknown method
  -32601;
- after the storm the server's text of every document (`cove/documentText`) equals the
  client's view of it.

The client's view follows LSP's rules for content changes (those of
vscode-languageserver-textdocument): lines break at \n, \r\n and \r; a reversed range is
swapped; a line past the end is the end of the text; a character past the end of a line is
the end of that line; half a surrogate pair is the end of that character, a column inside a
UTF-8 sequence its start. A notification that breaks LSP's schema (a
negative line, `text: null`, a missing uri) changes nothing.

`final_completion=True` then switches the running server to the real model and asks for a
completion (that part needs the model: run it under `flock /work/model.lock`).
"""

from __future__ import annotations

import json
import queue
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.lsp.fuzz_cases import (
    GOOD_TEXT,
    KEEP_IN_INITIALIZE,
    NO_MODEL,
    OMIT,
    ClientView,
    StormCases,
    mutate,
)
from tests.wire import WireClient

SERVE = [sys.executable, "-m", "lsp.cli", "serve"]
REAL_MODEL = {
    "model": {"path": "", "name": "qwen2.5-coder-0.5b"},
    "generation": {"deadlineMs": 120000, "maxTokens": 64},
    "features": {"disabledLanguages": [], "logLevel": "info", "debounceMs": 0},
}
STORM_MODEL = {  # the real model, with short completions, for a storm on it
    **REAL_MODEL,
    "generation": {"deadlineMs": 3000, "maxTokens": 16},
}
__all__ = ["NO_MODEL", "SERVE", "Report", "run_fuzz"]


@dataclass
class Report:
    """What one seeded run sent and found."""

    seed: int
    cases: int = 0  # messages and framing cases sent
    requests: int = 0  # requests that had to be answered
    answered: int = 0
    documents: int = 0  # documents compared after the storm
    failures: list[str] = field(default_factory=list)


class Fuzzer(StormCases):
    """One seeded storm against one server process."""

    def __init__(self, seed: int, command: list[str] | None = None, large_mb: float = 5) -> None:
        self.rng = random.Random(seed)
        self.report = Report(seed)
        self.large_mb = large_mb
        self.options: dict = NO_MODEL  # initializationOptions
        self.client = WireClient(command or SERVE)
        self.view = ClientView("utf-16")
        self.next_id = 10_000
        self.expected: dict[Any, str] = {}  # id -> method, for every request to be answered
        self.codes: dict[Any, int] = {}  # id -> the error code it must answer with
        self.answers: Counter = Counter()
        self.responses: dict[Any, dict] = {}
        self.closed: set[str] = set()
        self.reported: set[str] = set()  # unanswered requests already reported
        self.trace: list[str] | None = None  # what was sent, when asked for

    # -- wire ---------------------------------------------------------------------------------

    def fail(self, message: str) -> None:
        """Record one broken invariant."""
        self.report.failures.append(f"seed {self.report.seed}: {message}")

    def send(self, message: Any) -> None:
        """Send one framed message (any JSON value)."""
        self.report.cases += 1
        body = json.dumps(message)
        if self.trace is not None:
            self.trace.append(body[:500])
        self.client.send_bytes(body.encode())
        self.pump(0)

    def request(self, method: str, params: Any, *, code: int | None = None, **envelope) -> Any:
        """Send a request that must be answered; its id."""
        self.next_id += 1
        n, roll = self.next_id, self.rng.random()
        msg_id: Any = (
            n
            if roll < 0.6
            else f"s-{n}"
            if roll < 0.85
            else self.rng.choice((-n, 2**63 + n, f"é😋{n}", f" {n}"))
        )
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
        if params is OMIT:
            del message["params"]
        message.update(envelope)
        self.expected[_key(msg_id)] = method
        if code is not None:
            self.codes[_key(msg_id)] = code
        self.report.requests += 1
        self.send(message)
        return msg_id

    def notify(self, method: str, params: Any) -> None:
        """Send a notification (never answered)."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def pump(self, timeout: float) -> None:
        """Take the server's messages: answer its requests, count its answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.client.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if "method" in message:
                if "id" in message:  # progress creation and the like: say yes
                    answer = {"jsonrpc": "2.0", "id": message["id"], "result": None}
                    if self.rng.random() < 0.1:  # or answer nonsense, once in a while
                        answer = self.rng.choice(
                            [
                                {"jsonrpc": "2.0", "id": message["id"], "result": 5},
                                {"jsonrpc": "2.0", "id": message["id"], "error": "x"},
                            ]
                        )
                    self.client.send_bytes(json.dumps(answer).encode())
                continue
            self.take_answer(message)

    def take_answer(self, message: dict) -> None:
        """Check one response against what was asked."""
        key = _key(message.get("id"))
        self.answers[key] += 1
        self.responses[key] = message
        if key not in self.expected:
            self.fail(f"an answer nobody asked for: {json.dumps(message)[:200]}")
            return
        method = self.expected[key]
        if self.answers[key] > 1:
            self.fail(f"{method} id {key} answered twice")
        if ("result" in message) == ("error" in message):
            self.fail(f"{method} id {key}: not one of result/error: {json.dumps(message)[:200]}")
        want = self.codes.get(key)
        if want is not None and (message.get("error") or {}).get("code") != want:
            self.fail(f"{method} id {key}: wanted error {want}, got {json.dumps(message)[:300]}")

    def wait_answers(self, timeout: float = 60) -> None:
        """Wait until every request is answered (or report those that were not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.answers[key] for key in self.expected):
                break
            self.pump(0.2)
        self.pump(0.3)  # late duplicates
        missing = [f"{m} {key}" for key, m in self.expected.items() if not self.answers[key]]
        missing = [m for m in missing if m not in self.reported]
        self.reported.update(missing)
        if missing:
            self.fail(f"{len(missing)} requests never answered, e.g. {missing[:5]}")
        self.report.answered = sum(1 for key in self.expected if self.answers[key])

    def call(self, method: str, params: Any, timeout: float = 60) -> dict:
        """A request whose answer the fuzzer needs now."""
        msg_id = self.request(method, params)
        deadline = time.monotonic() + timeout
        while not self.answers[_key(msg_id)] and time.monotonic() < deadline:
            self.pump(0.1)
        return self.responses.get(_key(msg_id), {})

    # -- phases -------------------------------------------------------------------------------

    def start(self) -> None:
        """Requests before initialize, odd initializes, then one that works."""
        for method in (
            "textDocument/inlineCompletion",
            "workspace/executeCommand",
            "cove/documentText",
            "textDocument/completion",
        ):
            self.request(
                method,
                {
                    "textDocument": {"uri": "file:///x.py"},
                    "position": {"line": 0, "character": 0},
                    "command": "cove.status",
                },
            )
        encodings = self.rng.choice((None, ["utf-16"], ["utf-8", "utf-16"], ["utf-32"], ["utf-8"]))
        params: dict[str, Any] = {
            "processId": None,
            "rootUri": None,
            "initializationOptions": self.options,
            "capabilities": {
                "window": {"workDoneProgress": True},
                "general": {"positionEncodings": encodings},
            },
        }
        first: dict = {}
        for _ in range(4):  # odd initializes (no workspace, no model): refused or accepted
            odd = mutate(self.rng, json.loads(json.dumps(params)), skip=KEEP_IN_INITIALIZE)
            first = self.call("initialize", odd)
            if "result" in first:
                break
        if "result" not in first:
            first = self.call("initialize", params)
        if "result" not in first:
            self.fail(f"initialize failed: {first}")
            return
        self.view.encoding = first["result"]["capabilities"].get("positionEncoding", "utf-16")
        for _ in range(3):  # once initialized, every later initialize is refused
            odd = mutate(self.rng, json.loads(json.dumps(params)))
            self.request("initialize", odd, code=-32600)
        self.notify("initialized", {})

    def storm(self, cases: int) -> None:
        """`cases` mixed messages, a large change among them."""
        self.did_open("file:///tmp/cove-fuzz/good.py", GOOD_TEXT)
        large_at = self.rng.randrange(cases) if self.large_mb else -1
        weighted = (
            (self.did_open, 2),
            (self.did_change, 8),
            (self.did_close, 1),
            (self.broken_sync, 4),
            (self.odd_request, 8),
            (self.odd_envelope, 3),
            (self.cancel, 2),
            (self.framing, 2),
        )
        actions = [a for a, w in weighted for _ in range(w)]
        for index in range(cases):
            if index == large_at:
                self.did_change(large=True)
            else:
                self.rng.choice(actions)()
            if self.client.proc.poll() is not None:
                self.fail(f"the server exited ({self.client.proc.returncode}) at case {index}")
                return
        self.wait_answers()

    def compare_documents(self) -> None:
        """The server's text of every document equals the client's."""
        for key in sorted(self.view.docs) + sorted(self.closed)[:5]:
            answer = self.call("cove/documentText", {"textDocument": {"uri": key}})
            self.report.documents += 1
            result = answer.get("result")
            if key not in self.view.docs:
                if result is not None:
                    self.fail(f"{key}: closed, but the server still has it: {str(result)[:200]}")
                continue
            for view in ("text", "buffer"):  # pygls' workspace copy, the completion buffer
                got = result.get(view) if isinstance(result, dict) else None
                if got != self.view.docs[key]:
                    self.fail(
                        f"{key}: the server's {view} differs: {_diff(self.view.docs[key], got)}"
                    )

    def complete_for_real(self) -> None:
        """Switch the running server to the real model; a completion must come back."""
        self.notify("workspace/didChangeConfiguration", {"settings": REAL_MODEL})
        deadline = time.monotonic() + 300
        state, status = "", {}
        while time.monotonic() < deadline and state != "ready":
            status = self.call("workspace/executeCommand", {"command": "cove.status"})
            result = status.get("result") or {}
            state = result.get("state", "")
            if state == "error" and "nonexistent" not in result.get("message", ""):
                break  # the real model failed (not the storm's missing path)
            time.sleep(0.2)
        if state != "ready":
            self.fail(f"the model did not load after the storm: {status}")
            return
        uri = "file:///tmp/cove-fuzz/final.py"
        self.did_open(uri, GOOD_TEXT)
        answer = self.call(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": {"line": 8, "character": 11},
                "context": {"triggerKind": 1},
            },
            timeout=180,
        )
        items = (answer.get("result") or {}).get("items") or []
        if not items or "x" not in items[0].get("insertText", ""):
            self.fail(f"no real completion after the storm: {answer}")

    def finish(self) -> None:
        """Shutdown; later requests answer -32600; exit ends the process with status 0."""
        reply = self.call("shutdown", None)
        if "result" not in reply:
            self.fail(f"shutdown: {reply}")
        for method in (
            "textDocument/inlineCompletion",
            "cove/documentText",
            "shutdown",
            "workspace/executeCommand",
        ):
            self.request(
                method,
                {"textDocument": {"uri": "file:///x.py"}, "position": {"line": 0, "character": 0}},
                code=-32600,
            )
        self.did_change()  # dropped: nothing is compared after shutdown
        self.wait_answers(timeout=30)
        self.notify("exit", None)
        try:
            status = self.client.proc.wait(timeout=30)
        except Exception:
            self.client.proc.kill()
            status = None
        if status != 0:
            self.fail(f"exit after shutdown: status {status}")


def run_fuzz(
    seed: int,
    cases: int = 600,
    *,
    final_completion: bool = False,
    with_model: bool = False,
    large_mb: float = 5,
    command: list[str] | None = None,
    trace: list[str] | None = None,
) -> Report:
    """One seeded run: start, storm, compare documents, (real completion), shutdown.

    `with_model` runs the storm on the real model (completions generate, cancels stop real
    work; run it under the lock); `trace`, when given, receives every message sent (cut at
    500 characters).
    """
    fuzzer = Fuzzer(seed, command, large_mb)
    fuzzer.trace = trace
    if with_model:
        fuzzer.options = STORM_MODEL
    try:
        fuzzer.start()
        if not fuzzer.report.failures:
            fuzzer.storm(cases)
            if fuzzer.client.proc.poll() is None:
                fuzzer.compare_documents()
                if final_completion:
                    fuzzer.complete_for_real()
                fuzzer.finish()
    except (BrokenPipeError, OSError) as error:
        fuzzer.fail(f"the connection broke: {error!r} (server status {fuzzer.client.proc.poll()})")
    finally:
        if fuzzer.client.proc.poll() is None:
            fuzzer.client.proc.kill()
            fuzzer.client.proc.wait()
    return fuzzer.report


# -- helpers ----------------------------------------------------------------------------


def _key(msg_id: Any) -> str:
    return json.dumps(msg_id)


def _diff(want: str, got: Any) -> str:
    if not isinstance(got, str):
        return f"got {got!r}"
    at = next(
        (i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
        min(len(want), len(got)),
    )
    return f"first difference at {at}: want {want[at : at + 30]!r}, got {got[at : at + 30]!r} (lengths {len(want)}/{len(got)})"
