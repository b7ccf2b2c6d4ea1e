"""A typing storm against a real `cove serve`: keystrokes at set intervals across three
files, with undo-like reversals, cursor jumps, file switches and `$/cancelRequest`.

Every keystroke is a `didChange` followed, as editors do, by an automatic
`inlineCompletion` (now and then a menu `completion` instead); a newer request often
cancels the one before it. `run_storm` returns per block of keystrokes the server's RSS,
the latency of the requests answered in it and how many were still in flight, and checks
the invariants: every request answered exactly once, and at the end the server's text of
every document equals the client's (`cove/documentText`, both of its views).
"""

from __future__ import annotations

import json
import queue
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.wire import WireClient

CHECKOUT = Path(__file__).resolve().parents[2]
# Real modules, each longer than the cursor window, so a prompt is as long at the first
# keystroke as at the last and the blocks' latencies compare (tiny files would grow
# their prompts, and so their latency, as the storm types into them).
SOURCES = {
    name: (CHECKOUT / folder / name).read_text(encoding="utf-8")
    for folder, name in (
        ("context", "window.py"),
        ("engine", "postprocess.py"),
        ("context", "cache.py"),
    )
}
WORDS = ("total", "return ", "self.items", "value + 1", "radius", "(x, y)", "if x:", "[]", "0.5")
HUMAN_S = 0.08  # a steady typist: ~12 keystrokes a second (60-100 ms apart)
FAST_S = HUMAN_S / 4


@dataclass
class Block:
    """One block of keystrokes: what the server looked like at its end."""

    keystrokes: int
    interval_s: float
    rss_kb: int
    latencies_ms: list[float] = field(default_factory=list)
    text_latencies_ms: list[float] = field(default_factory=list)  # answered with a suggestion
    kept_bytes: int = 0  # the backend's kept prompt states when the block ended (when known)
    in_flight: int = 0  # requests sent but not answered when the block ended
    cancelled: int = 0  # $/cancelRequest sent in the block


@dataclass
class StormReport:
    """The blocks, and every broken invariant."""

    blocks: list[Block] = field(default_factory=list)
    requests: int = 0
    answered: int = 0
    empty: int = 0  # answered with no suggestion
    failures: list[str] = field(default_factory=list)


class Buffer:
    """The client's view of one ASCII document and its cursor."""

    def __init__(self, uri: str, text: str) -> None:
        self.uri, self.lines, self.version = uri, text.split("\n"), 1
        self.line = len(self.lines) // 2  # mid-file: a prefix and a suffix, as usual
        self.col = len(self.lines[self.line])

    @property
    def text(self) -> str:
        """The document text."""
        return "\n".join(self.lines)

    def edit(self, line: int, start: int, end: int, new: str) -> dict:
        """Replace columns start..end of `line` by `new` (which may break lines); the change."""
        head, tail = self.lines[line][:start], self.lines[line][end:]
        pieces = (head + new + tail).split("\n")
        self.lines[line : line + 1] = pieces
        self.version += 1
        self.line = line + len(pieces) - 1
        self.col = len(pieces[-1]) - len(tail)
        span = {
            "start": {"line": line, "character": start},
            "end": {"line": line, "character": end},
        }
        return {"range": span, "text": new}


class Storm:
    """Drives one server through a schedule of (keystrokes, interval) blocks."""

    def __init__(self, client: WireClient, root: Path, seed: int = 7) -> None:
        self.client, self.rng = client, random.Random(seed)
        self.buffers = [Buffer((root / n).as_uri(), t) for n, t in SOURCES.items()]
        self.current = self.buffers[0]
        self.pending: dict[int, float] = {}  # id -> when sent
        self.answers: Counter = Counter()
        self.report = StormReport()
        self.next_id = 1_000_000  # clear of the ids WireClient itself uses
        self.typing: tuple[Buffer, int, int] | None = None  # the run being typed: line, start

    def open_all(self) -> None:
        """Open the three files (didOpen)."""
        for buf in self.buffers:
            doc = {"uri": buf.uri, "languageId": "python", "version": 1, "text": buf.text}
            self.client.notify("textDocument/didOpen", {"textDocument": doc})

    def send(self, method: str, params: dict) -> int:
        """Send a request that must be answered; its id."""
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.client.send_bytes(json.dumps(body).encode())
        self.pending[self.next_id] = time.perf_counter()
        self.report.requests += 1
        return self.next_id

    def pump(self, until: float, block: Block) -> None:
        """Take the server's messages until `until` (perf_counter): answers and requests."""
        while True:
            try:
                message = self.client.inbox.get(timeout=max(0.0, until - time.perf_counter()))
            except queue.Empty:
                return
            if "method" in message:
                if "id" in message:  # progress creation: yes
                    answer = {"jsonrpc": "2.0", "id": message["id"], "result": None}
                    self.client.send_bytes(json.dumps(answer).encode())
                continue
            self.take(message, block)

    def take(self, message: dict, block: Block) -> None:
        """Count one answer; a second answer to an id is a failure."""
        msg_id = message.get("id")
        self.answers[msg_id] += 1
        if self.answers[msg_id] > 1:
            self.report.failures.append(f"id {msg_id} answered {self.answers[msg_id]} times")
            return
        sent = self.pending.pop(msg_id, None)
        if sent is None:
            self.report.failures.append(f"an answer nobody asked for: {str(message)[:200]}")
            return
        self.report.answered += 1
        latency = (time.perf_counter() - sent) * 1000
        block.latencies_ms.append(latency)
        result = message.get("result")
        if not (result.get("items") if isinstance(result, dict) else result):
            self.report.empty += 1  # a cancelled request's error counts here too
        else:
            block.text_latencies_ms.append(latency)

    # -- keystrokes -----------------------------------------------------------------------

    def keystroke(self, block: Block) -> None:
        """One user action: a change, then the editor's request (maybe cancelling the last)."""
        roll = self.rng.random()
        if roll < 0.05:  # a cursor jump, maybe to another file
            self.current = self.rng.choice(self.buffers)
            buf = self.current
            buf.line = self.rng.randrange(len(buf.lines))
            buf.col = len(buf.lines[buf.line])
            self.typing = None
        buf, typing = self.current, self.typing
        self.typing = None
        if roll < 0.12 and typing is not None:  # undo: the whole run just typed goes
            change = buf.edit(typing[1], typing[2], buf.col, "")
        elif roll < 0.2 and buf.col > 0:  # backspace
            change = buf.edit(buf.line, buf.col - 1, buf.col, "")
        elif roll < 0.26:  # a new line, indented
            change = buf.edit(buf.line, buf.col, buf.col, "\n    ")
        else:  # type a piece of a word, continuing the run
            word = self.rng.choice(WORDS)[: self.rng.randint(1, 3)]
            start = typing[2] if typing is not None else buf.col
            change = buf.edit(buf.line, buf.col, buf.col, word)
            self.typing = (buf, buf.line, start)
        self.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": buf.uri, "version": buf.version}, "contentChanges": [change]},
        )
        self.request_after(buf, block)

    def request_after(self, buf: Buffer, block: Block) -> None:
        """The editor's request for the new cursor, cancelling an older one now and then."""
        if self.pending and self.rng.random() < 0.4:
            newest = max(self.pending)
            self.client.notify("$/cancelRequest", {"id": newest})
            block.cancelled += 1
        position = {"line": buf.line, "character": buf.col}
        where = {"textDocument": {"uri": buf.uri}, "position": position}
        if self.rng.random() < 0.1:
            self.send("textDocument/completion", {**where, "context": {"triggerKind": 1}})
        else:
            self.send("textDocument/inlineCompletion", {**where, "context": {"triggerKind": 2}})

    # -- the run --------------------------------------------------------------------------

    def run(
        self,
        schedule: list[tuple[int, float]],
        block_size: int = 100,
        *,
        pause_every: int = 0,
        pause_s: float = 0.0,
        kept_bytes: Callable[[], int] | None = None,
    ) -> StormReport:
        """Type the schedule in blocks of `block_size`; check answers and texts at the end.

        With `pause_every`, the typist stops for `pause_s` after every that many keystrokes
        (to read the suggestion, as people do), and the first block begins by asking once in
        each file and waiting: the warm-up fills the kept prompt states. `kept_bytes` reads
        what the backend's kept states hold, sampled with the RSS.
        """
        pid = self.client.proc.pid
        for count, interval in schedule:
            for begin in range(0, count, block_size):
                block = Block(keystrokes=0, interval_s=interval, rss_kb=0)
                if pause_every and not self.report.blocks and begin == 0:
                    self.visit_every_file(block, pause_s)
                next_at = time.perf_counter()
                for _ in range(min(block_size, count - begin)):
                    self.keystroke(block)
                    block.keystrokes += 1
                    next_at += interval
                    if pause_every and block.keystrokes % pause_every == 0:
                        next_at += pause_s
                    self.pump(next_at, block)
                block.in_flight = len(self.pending)
                block.rss_kb = rss_kb(pid)
                block.kept_bytes = kept_bytes() if kept_bytes is not None else 0
                self.report.blocks.append(block)
        self.finish()
        return self.report

    def visit_every_file(self, block: Block, pause_s: float) -> None:
        """Ask once at each file's cursor and wait for the answer (the warm-up's start)."""
        for buf in self.buffers:
            self.current, self.typing = buf, None
            self.request_after(buf, block)
            deadline = time.perf_counter() + max(pause_s, 30.0)
            while self.pending and time.perf_counter() < deadline:
                self.pump(time.perf_counter() + 0.1, block)

    def finish(self, timeout: float = 120) -> None:
        """Wait for the last answers, then compare every document with the server's text."""
        last = self.report.blocks[-1]
        deadline = time.perf_counter() + timeout
        while self.pending and time.perf_counter() < deadline:
            self.pump(time.perf_counter() + 0.2, last)
        self.pump(time.perf_counter() + 0.3, last)  # late duplicates
        if self.pending:
            self.report.failures.append(f"{len(self.pending)} requests never answered")
        for buf in self.buffers:
            seen = self.client.request("cove/documentText", {"textDocument": {"uri": buf.uri}})
            view = seen.get("result") or {}
            if view.get("text") != buf.text or view.get("buffer") not in (None, buf.text):
                self.report.failures.append(f"{buf.uri}: the server's text differs")


def rss_kb(pid: int) -> int:
    """VmRSS of a process, in kB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
