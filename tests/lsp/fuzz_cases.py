"""What the protocol fuzzer sends: odd values, the client's view of documents, the cases.

`StormCases` is mixed into `tests.lsp.fuzz.Fuzzer`, which owns the wire (`send`,
`request`, `notify`), the seeded `rng` and the `view`.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from typing import Any

NO_MODEL = {"model": {"path": "/nonexistent/cove-fuzz.gguf"}}
# Any value of a wrong type, for requests (where only the answer is checked).
WRONG = (None, True, False, 0, -1, -3, 2**31, 2**63, 1.5, "a", "", "😋", [], {}, [None], {"a": 1})
# Values LSP's schema rejects, by the kind of field they replace: for notifications that
# change documents, where the client's view must know the message is dropped.
REJECTED = {
    "uint": (None, "a", "3", 1.5, True, [], {}, -1, -3, 2**31, 2**63),
    "int": (None, "a", 1.5, True, [], {}, 2**31, 2**63),
    "str": (None, 5, 1.5, True, [], {}, [None]),
    "object": (None, 5, "a", True, [], [None]),
    "array": (None, 5, "a", True, [5], [None], ["x"]),
}
PIECES = (
    "x",
    "ab",
    "def f(",
    ")",
    ":",
    " ",
    "    ",
    "\t",
    "\n",
    "\n",
    "\r\n",
    "\r",
    "😋",
    "é",
    "中文",
    "𐐀",
    "\x0c",
    "\u2028",
    "\x85",
    "\x00",
    "'",
    '"',
    "\\",
    "{",
    "}",
)
OMIT = object()  # a request sent without a params member
BREAK = re.compile(r"\r\n|\r|\n")
COMMANDS = (
    "cove.status",
    "cove.accepted",
    "cove.explain",
    "cove.writeDocstring",
    "cove.draftCommitMessage",
    "cove.nope",
    "",
    "cove.status ",
)
# Kept right in initialize, so no odd initialize can load the model or index a directory.
KEEP_IN_INITIALIZE = ("initializationOptions", "rootUri", "rootPath", "workspaceFolders")
GOOD_TEXT = (
    "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\n"
    "def square(x):\n    return "
)


class ClientView:
    """The client's documents, edited with LSP's rules (independently of the server)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.docs: dict[str, str] = {}

    def change(self, uri: str, changes: list[dict]) -> None:
        """Apply one didChange's content changes in order."""
        key = uri
        if key not in self.docs:
            return
        text = self.docs[key]
        for change in changes:
            if "range" not in change:
                text = change["text"]
                continue
            start, end = change["range"]["start"], change["range"]["end"]
            if (start["line"], start["character"]) > (end["line"], end["character"]):
                start, end = end, start
            a, b = self.offset(text, start), self.offset(text, end)
            text = text[:a] + change["text"] + text[b:]
        self.docs[key] = text

    def offset(self, text: str, position: dict) -> int:
        """Code-point offset of a position, computed on encoded code units."""
        begin, breaks = 0, BREAK.finditer(text)
        for _ in range(position["line"]):
            found = next(breaks, None)
            if found is None:
                return len(text)
            begin = found.end()
        found = BREAK.search(text, begin)
        line = text[begin : found.start() if found else len(text)]
        return begin + self.column(line, position["character"])

    def column(self, line: str, character: int) -> int:
        """Code points before `character` units: never half a character (utf-16: after it,
        utf-8: before it, as the server's completion buffer converts positions).
        """
        if self.encoding == "utf-32":
            return min(character, len(line))
        if self.encoding == "utf-8":
            data = line.encode("utf-8", "surrogatepass")
            k = min(character, len(data))
            while 0 < k < len(data) and data[k] & 0xC0 == 0x80:
                k -= 1
            return len(data[:k].decode("utf-8", "surrogatepass"))
        data = line.encode("utf-16-le", "surrogatepass")
        units = [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]
        k = min(character, len(units))
        if 0 < k < len(units) and 0xD800 <= units[k - 1] <= 0xDBFF and 0xDC00 <= units[k] <= 0xDFFF:
            k += 1
        return len(data[: 2 * k].decode("utf-16-le", "surrogatepass"))

    def units(self, line: str) -> int:
        """Length of a line in the negotiated units."""
        if self.encoding == "utf-32":
            return len(line)
        codec = "utf-8" if self.encoding == "utf-8" else "utf-16-le"
        return len(line.encode(codec, "surrogatepass")) // (1 if codec == "utf-8" else 2)


class StormCases:
    """The storm's messages; the host class supplies rng, view, send, request and notify."""

    rng: random.Random
    view: ClientView
    client: Any
    expected: dict[str, Any]

    # -- generators ---------------------------------------------------------------------------

    def text(self, pieces: int | None = None) -> str:
        """Random text from awkward pieces (line breaks of every kind, astral characters)."""
        n = self.rng.choice((0, 1, 3, 10, 40)) if pieces is None else pieces
        out = "".join(self.rng.choice(PIECES) for _ in range(n))
        if self.rng.random() < 0.02 and self.view.encoding != "utf-8":
            out += "\ud83d"  # a lone surrogate: JSON can carry one (no UTF-8 length, though)
        return out

    def uri(self) -> str:
        """An open document most of the time, else a new or odd uri."""
        if self.view.docs and self.rng.random() < 0.85:
            return self.rng.choice(sorted(self.view.docs))
        return self.rng.choice(
            (
                "file:///tmp/cove-fuzz/a%20b.py",
                "file:///tmp/cove-fuzz/é.py",
                "untitled:Untitled-1",
                f"file:///tmp/cove-fuzz/f{self.rng.randrange(20)}.py",
                "file:///tmp/cove-fuzz/x.js",
            )
        )

    def position(self, uri: str | None = None) -> dict:
        """A position around a document's text: inside, at ends, past ends, mid-character."""
        text = self.view.docs.get(uri or "", "")
        lines = re.split(r"\r\n|\r|\n", text)
        line = self.rng.randrange(len(lines) + 2)
        width = self.view.units(lines[line]) if line < len(lines) else 0
        character = self.rng.choice((0, width, width + 1, self.rng.randrange(width + 3), 10**6))
        return {"line": line, "character": character}

    def change(self, uri: str) -> dict:
        """One content change, valid by LSP's schema but often odd."""
        if self.rng.random() < 0.05:
            return {"text": self.text()}
        a, b = self.position(uri), self.position(uri)
        change: dict[str, Any] = {"range": {"start": a, "end": b}, "text": self.text()}
        if self.rng.random() < 0.2:
            change["rangeLength"] = self.rng.randrange(100)
        return change

    # -- cases --------------------------------------------------------------------------------

    def did_open(self, uri: str | None = None, text: str | None = None) -> None:
        """Open (or re-open) a document."""
        uri = uri or self.uri()
        text = self.text(self.rng.choice((0, 5, 50, 300))) if text is None else text
        params = {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
        self.notify("textDocument/didOpen", params)
        self.view.docs[uri] = text
        self.closed.discard(uri)

    def did_change(self, large: bool = False) -> None:
        """Valid changes, in order: ranges past the end, reversed, overlapping, empty."""
        uri = self.uri()
        changes = [self.change(uri) for _ in range(self.rng.choice((1, 1, 2, 4)))]
        if large and self.view.docs:
            uri = self.rng.choice(sorted(self.view.docs))
            size = int(self.large_mb * 1024 * 1024)
            changes = [dict(self.change(uri), text=("x = 1\r\n" * (size // 7 + 1))[:size])]
        params = {
            "textDocument": {"uri": uri, "version": self.rng.randrange(1000)},
            "contentChanges": changes,
        }
        self.notify("textDocument/didChange", params)
        self.view.change(uri, changes)

    def did_close(self) -> None:
        """Close a document (or one that is not open)."""
        uri = self.uri()
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        if self.view.docs.pop(uri, None) is not None:
            self.closed.add(uri)

    def broken_sync(self) -> None:
        """A didOpen/didChange/didClose that breaks the schema: it must change nothing."""
        uri = self.uri()
        kind = self.rng.choice(("open", "change", "close"))
        if kind == "open":
            params: Any = {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": self.text(),
                }
            }
            fields = {
                ("textDocument",): "object",
                ("textDocument", "uri"): "str",
                ("textDocument", "languageId"): "str",
                ("textDocument", "version"): "int",
                ("textDocument", "text"): "str",
            }
        elif kind == "change":
            params = {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [self.change(uri) for _ in range(2)],
            }
            params["contentChanges"][-1] = {
                "range": {"start": self.position(uri), "end": self.position(uri)},
                "text": "z",
            }
            last = ("contentChanges", 1)
            fields = {
                ("textDocument",): "object",
                ("textDocument", "uri"): "str",
                ("textDocument", "version"): "int",
                ("contentChanges",): "array",
                (*last, "text"): "str",
                (*last, "range"): "object",
                (*last, "range", "start"): "object",
                (*last, "range", "end", "line"): "uint",
                (*last, "range", "start", "character"): "uint",
            }
        else:
            params = {"textDocument": {"uri": uri}}
            fields = {("textDocument",): "object", ("textDocument", "uri"): "str"}
        path, kind_of = self.rng.choice(sorted(fields.items(), key=str))
        if self.rng.random() < 0.3 and path[-1] != "range":  # no range: a whole-text change
            _delete(params, path)
        else:
            _set(params, path, _pick(self.rng, REJECTED[kind_of]))
        if self.rng.random() < 0.1:
            params = self.rng.choice((None, 5, "a", []))
        method = {
            "open": "textDocument/didOpen",
            "change": "textDocument/didChange",
            "close": "textDocument/didClose",
        }[kind]
        self.notify(method, params)

    def odd_request(self) -> None:
        """A request of a real method with up to three wrong fields."""
        uri = self.uri()
        builders: dict[str, Callable[[], Any]] = {
            "textDocument/inlineCompletion": lambda: {
                "textDocument": {"uri": uri},
                "position": self.position(uri),
                "context": {"triggerKind": self.rng.choice((1, 2))},
            },
            "textDocument/completion": lambda: {
                "textDocument": {"uri": uri},
                "position": self.position(uri),
                "context": {"triggerKind": self.rng.choice((1, 2, 3)), "triggerCharacter": "."},
            },
            "textDocument/codeAction": lambda: {
                "textDocument": {"uri": uri},
                "range": {"start": self.position(uri), "end": self.position(uri)},
                "context": {"diagnostics": [], "triggerKind": 1},
            },
            "codeAction/resolve": lambda: {"title": "Cove: explain", "data": {"uri": uri}},
            "workspace/executeCommand": lambda: {
                "command": self.rng.choice(COMMANDS),
                "arguments": [
                    _pick(
                        self.rng,
                        (
                            *WRONG,
                            {"uri": uri, "position": self.position(uri), "text": "x"},
                            uri,
                            "../../etc/passwd",
                        ),
                    )
                    for _ in range(self.rng.randrange(3))
                ],
            },
            "textDocument/hover": lambda: {
                "textDocument": {"uri": uri},
                "position": self.position(uri),
            },
            "cove/documentText": lambda: {"textDocument": {"uri": uri}},
            "cove/unknown": lambda: {},
            "workspace/symbol": lambda: {"query": "f"},
        }
        method = self.rng.choice(sorted(builders))
        params = builders[method]()
        for _ in range(self.rng.choice((0, 1, 1, 2, 3))):
            params = mutate(self.rng, params)
        if self.rng.random() < 0.04:
            params = OMIT
        self.request(method, params, code=-32601 if method == "cove/unknown" else None)

    def odd_envelope(self) -> None:
        """Requests and other messages with a strange envelope."""
        choice = self.rng.randrange(9)
        params = {"textDocument": {"uri": self.uri()}, "position": {"line": 0, "character": 0}}
        if choice == 0:  # not JSON-RPC 2.0, but with an id: InvalidRequest
            self.request(
                "textDocument/hover",
                params,
                code=-32600,
                jsonrpc=self.rng.choice(("1.0", 2, None, "")),
            )
        elif choice == 1:  # a method that is not a string
            self.request(self.rng.choice((5, None, [], {"a": 1})), params, code=-32600)
        elif choice == 2:  # an id nobody can answer: no answer
            self.send(
                {
                    "jsonrpc": "2.0",
                    "id": self.rng.choice((True, 1.5, None, [], {"a": 1})),
                    "method": "textDocument/hover",
                    "params": params,
                }
            )
        elif choice == 3:  # a notification method sent as a request
            self.request(
                self.rng.choice(("textDocument/didSave", "initialized", "$/cancelRequest")),
                {"textDocument": {"uri": self.uri()}},
                code=-32600,
            )
        elif choice == 4:  # a response to nothing
            self.send(
                {
                    "jsonrpc": "2.0",
                    "id": self.rng.choice((99_999_999, "nope", 10_001)),
                    self.rng.choice(("result", "error")): _pick(self.rng, WRONG),
                }
            )
        elif choice == 5:  # JSON that is not an object (a batch, a number)
            self.send(self.rng.choice(([], [{"jsonrpc": "2.0", "method": "x"}], 5, "x", None)))
        elif choice == 6:  # a notification nobody knows, or a request sent without an id
            self.notify(
                self.rng.choice(("cove/nothing", "$/setTrace", "textDocument/hover")),
                _pick(self.rng, WRONG),
            )
        elif choice == 7:  # a second initialize
            self.request(
                "initialize", {"capabilities": {}, "initializationOptions": NO_MODEL}, code=-32600
            )
        else:  # configuration: odd values (never the model keys, which would reload it)
            section = self.rng.choice(("features", "generation", "budget", "nothing"))
            self.notify(
                "workspace/didChangeConfiguration",
                {
                    "settings": self.rng.choice(
                        (
                            None,
                            5,
                            {section: _pick(self.rng, WRONG)},
                            {section: {"x": _pick(self.rng, WRONG)}},
                        )
                    )
                },
            )

    def cancel(self) -> None:
        """$/cancelRequest for unknown ids, recent ids and ids of a wrong type."""
        recent = [json.loads(key) for key in list(self.expected)[-3:]] or [1]
        target = self.rng.choice((123_456_789, "unknown", *recent, *WRONG[:3]))
        self.notify("$/cancelRequest", self.rng.choice(({"id": target}, {}, None)))

    def framing(self) -> None:
        """Malformed framing, each followed by what lets a reader find the next header."""
        body = json.dumps({"jsonrpc": "2.0", "method": "cove/nothing", "params": {}}).encode()
        choice = self.rng.randrange(7)
        if choice == 0:  # binary garbage without a header
            raw = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 200)))
            raw = raw.replace(b"Content-Length", b"")
        elif choice == 1:  # a Content-Length that is not a number
            raw = b"Content-Length: abc\r\n\r\n" + body
        elif choice == 2:  # truncated body, the frame filled up with garbage
            cut = self.rng.randrange(1, len(body))
            raw = (
                b"Content-Length: %d\r\n\r\n" % len(body) + body[:cut] + b"\x00" * (len(body) - cut)
            )
        elif choice == 3:  # a Content-Length shorter than the body
            raw = b"Content-Length: %d\r\n\r\n" % (len(body) // 2) + body
        elif choice == 4:  # invalid JSON, invalid UTF-8, deep nesting
            raw = self.rng.choice((b"{this is not json", b'{"a": "\xff\xfe"}', b"[" * 100_000))
            raw = b"Content-Length: %d\r\n\r\n" % len(raw) + raw
        elif choice == 5:  # Content-Length: 0 and an extra header
            raw = b"Content-Length: 0\r\n\r\nContent-Type: x\r\n"
        else:  # headers only
            raw = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        self.report.cases += 1
        self.client.proc.stdin.write(raw + b"\r\n\r\n")
        self.client.proc.stdin.flush()


# -- helpers ----------------------------------------------------------------------------


def _pick(rng: random.Random, values: tuple) -> Any:
    """A fresh copy of one value: mutations must never edit the shared tables."""
    return copy.deepcopy(rng.choice(values))


def _set(data: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value


def _delete(data: Any, path: tuple) -> None:
    for step in path[:-1]:
        data = data[step]
    del data[path[-1]]


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


def mutate(rng: random.Random, params: Any, skip: tuple = ()) -> Any:
    """One random change anywhere in `params`: a wrong value, a deleted or an extra key."""
    paths = [p for p in _paths(params) if not (p and p[0] in skip)]
    if not paths or rng.random() < 0.08:
        return _pick(rng, WRONG)
    path = rng.choice(paths)
    action = rng.randrange(3)
    if action == 0:
        _set(params, path, _pick(rng, WRONG))
    elif action == 1:
        _delete(params, path)
    else:
        target = params
        for step in path[:-1]:
            target = target[step]
        if isinstance(target, dict):
            target[rng.choice(("extra", "😋", ""))] = _pick(rng, WRONG)
        else:
            _set(params, path, _pick(rng, WRONG))
    return params
