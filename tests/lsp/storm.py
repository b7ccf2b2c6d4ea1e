"""A typing storm against a real `cove serve`: keystrokes at set intervals across three
files, with undo-like reversals, cursor jumps, file switches and `$/cancelRequest`. The
typist writes real lines of code (the modules' own), indented as the line above asks.

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
# What the typist types: the modules' own lines of code, without indentation (the typist
# indents as the line above asks), long enough to be a line someone writes.
CODE_LINES = {
    name: [ln.strip() for ln in text.split("\n") if 8 <= len(ln.strip()) <= 72]
    for name, text in SOURCES.items()
}
JUMP, UNDO, BACKSPACE = 0.03, 0.04, 0.09  # chances per keystroke (cumulative for the last two)
SETTLE_S = 30.0  # the longest a pause waits for its answer (three times the default deadline)
HUMAN_S = 0.08  # a steady typist: ~12 keystrokes a second (60-100 ms apart)
FAST_S = HUMAN_S / 4


@dataclass
class Block:
    """One block of keystrokes: what the server looked like at its end."""

    keystrokes: int
    interval_s: float
    rss_kb: int
    anon_kb: int = 0  # RssAnon: the process's own memory (heap, llama.cpp's buffers)
    file_kb: int = 0  # RssFile: mapped files' pages (the GGUF is mmapped: touched, not leaked)
    latencies_ms: list[float] = field(default_factory=list)
    text_latencies_ms: list[float] = field(default_factory=list)  # answered with a suggestion
    settled_ms: list[float] = field(default_factory=list)  # the requests a pause waited for
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
        self.typing: tuple[Buffer, int, int] | None = None  # the line being typed: line, start
        self.plan: list[str] = []  # the characters of that line still to type
        self.source: tuple[str, int] | None = None  # the module and line index typed last
        self.awaited: set[int] = set()  # requests a pause waits for

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
        if msg_id in self.awaited:
            self.awaited.discard(msg_id)
            block.settled_ms.append(latency)
        result = message.get("result")
        if not (result.get("items") if isinstance(result, dict) else result):
            self.report.empty += 1  # a cancelled request's error counts here too
        else:
            block.text_latencies_ms.append(latency)

    # -- keystrokes -----------------------------------------------------------------------

    def keystroke(self, block: Block) -> None:
        """One user action: a change, then the editor's request (maybe cancelling the last).

        The typist writes real code: Enter (with the line's indentation), then a line of
        the three modules character by character, then the line after it, and so on; now
        and then a typo taken back (backspace), the whole line undone, or a jump to the
        end of another line, maybe in another file.
        """
        roll = self.rng.random()
        if roll < JUMP:  # a cursor jump, maybe to another file
            self.current = self.rng.choice(self.buffers)
            buf = self.current
            buf.line = self.rng.randrange(len(buf.lines))
            buf.col = len(buf.lines[buf.line])
            self.typing = None
        buf, typing = self.current, self.typing
        if typing is None or typing[0] is not buf or not self.plan:  # a new line below
            above = next((ln for ln in buf.lines[buf.line :: -1] if ln.strip()), "")
            indent = above[: len(above) - len(above.lstrip())]
            indent += "    " if above.rstrip().endswith(":") else ""
            change = buf.edit(buf.line, buf.col, buf.col, "\n" + indent)
            self.typing = (buf, buf.line, buf.col)
            self.plan = list(self.next_code_line())
        elif roll < UNDO and buf.col > typing[2]:  # undo: the line typed so far goes
            self.plan = list(buf.lines[buf.line][typing[2] : buf.col]) + self.plan
            change = buf.edit(buf.line, typing[2], buf.col, "")
        elif roll < BACKSPACE and buf.col > typing[2]:  # a typo taken back
            self.plan.insert(0, buf.lines[buf.line][buf.col - 1])
            change = buf.edit(buf.line, buf.col - 1, buf.col, "")
        else:
            change = buf.edit(buf.line, buf.col, buf.col, self.plan.pop(0))
        self.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": buf.uri, "version": buf.version}, "contentChanges": [change]},
        )
        self.request_after(buf, block)

    def next_code_line(self) -> str:
        """The next line of code to type: the line after the last one typed, in its module
        (a random place after a jump or at the end of a module).
        """
        if self.source is None or self.source[1] + 1 >= len(CODE_LINES[self.source[0]]):
            name = self.rng.choice(list(CODE_LINES))
            self.source = (name, self.rng.randrange(len(CODE_LINES[name])))
        else:
            self.source = (self.source[0], self.source[1] + 1)
        return CODE_LINES[self.source[0]][self.source[1]]

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
        on_block: Callable[[Block], None] | None = None,
    ) -> StormReport:
        """Type the schedule in blocks of `block_size`; check answers and texts at the end.

        With `pause_every`, the typist stops after every that many keystrokes to read the
        suggestion, as people do: at least `pause_s` and until it is there (`settle`); the
        first block begins by asking once in each file and waiting: the warm-up fills the
        kept prompt states. `kept_bytes` reads
        what the backend's kept states hold, sampled with the RSS; `on_block` is called with
        each block when it ends (a memory probe).
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
                        self.settle(block, pause_s)
                        next_at = time.perf_counter()
                    self.pump(next_at, block)
                block.in_flight = len(self.pending)
                memory = memory_kb(pid)
                block.rss_kb, block.anon_kb, block.file_kb = (
                    memory.get(key, 0) for key in ("VmRSS", "RssAnon", "RssFile")
                )
                block.kept_bytes = kept_bytes() if kept_bytes is not None else 0
                self.report.blocks.append(block)
                if on_block is not None:
                    on_block(block)
        self.finish()
        return self.report

    def settle(self, block: Block, pause_s: float, longest_s: float = SETTLE_S) -> None:
        """The typist stops to read: at least `pause_s`, and until the newest request is
        answered (at most `longest_s`); its latency is the block's settled latency.
        """
        started = time.perf_counter()
        newest = max(self.pending, default=None)
        if newest is not None:
            self.awaited.add(newest)
        while newest in self.pending and time.perf_counter() - started < longest_s:
            self.pump(time.perf_counter() + 0.05, block)
        self.pump(started + pause_s, block)

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


def memory_kb(pid: int) -> dict[str, int]:
    """A process's memory lines of /proc/PID/status in kB (VmRSS, RssAnon, RssFile, ...;
    empty when it is gone).
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = {}
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            found[name] = int(value.split()[0])
    return found
