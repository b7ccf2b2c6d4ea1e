"""Bad input over the wire: raw JSON-RPC to a real `cove serve` subprocess.

Each bad message must be answered (empty result or a JSON-RPC error) or ignored, and the
server must go on serving; shutdown + exit ends it with status 0. Every request with a
usable id gets exactly one answer (issue 16); the cases below the first test were each
found by hand or by the seeded fuzzer (tests/lsp/fuzz.py) and run on a server whose model
path does not exist, so they cost no model time.
"""

from __future__ import annotations

import json
import queue
import sys
import time

import pytest

from tests.lsp.fuzz import NO_MODEL, SERVE
from tests.wire import WireClient


def inline_params(uri: str, line: int, character: int) -> dict:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2},
    }


@pytest.mark.model
def test_bad_input_is_answered_and_the_server_stays_up():
    client = WireClient([sys.executable, "-m", "lsp.cli", "serve"])
    try:
        early = client.request("textDocument/inlineCompletion", inline_params("file:///x.py", 0, 0))
        assert "error" in early or early.get("result") in (None, {"items": []}, [])
        client.send_bytes(b"{this is not json")
        ready = client.initialize({"generation": {"deadlineMs": 120000}})
        assert (
            ready["status"]["state"] == "ready" and "capabilities" in ready["initialize"]["result"]
        )

        # Unknown document, out-of-range position: empty answers.
        unknown = client.request(
            "textDocument/inlineCompletion", inline_params("file:///never-opened.py", 0, 0)
        )
        assert unknown["result"]["items"] == []
        big_uri = "file:///tmp/huge.min.js"
        huge_line = "var a=" + "1+" * 5_000_000 + "1;"
        client.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": big_uri,
                    "languageId": "javascript",
                    "version": 1,
                    "text": huge_line,
                }
            },
        )
        outside = client.request("textDocument/inlineCompletion", inline_params(big_uri, 3, 0))
        assert outside["result"]["items"] == []

        # A 10 MB single-line file: answered (whatever the model says), server alive.
        big = client.request(
            "textDocument/inlineCompletion", inline_params(big_uri, 0, len(huge_line) - 1)
        )
        assert "result" in big

        # Invalid UTF-8 in a message body: that message is dropped, nothing else is.
        client.send_bytes(
            b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": '
            b'{"uri": "file:///bad.py", "languageId": "python", "version": 1, "text": "\xff\xfe bad"}}}'
        )

        # The next request is served correctly.
        good_uri = "file:///tmp/good.py"
        text = "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius ** 2\n\n\ndef square(x):\n    return "
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": good_uri, "languageId": "python", "version": 1, "text": text}},
        )
        good = client.request("textDocument/inlineCompletion", inline_params(good_uri, 8, 11))
        assert good["result"]["items"] and "x" in good["result"]["items"][0]["insertText"]
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


# -- every request gets exactly one answer (issue 16) ---------------------------------------

URI = "file:///tmp/cove-robust/a.py"


def start_server() -> WireClient:
    """A `cove serve` without a model (the path does not exist), initialized, with one buffer."""
    client = WireClient(SERVE)
    client.initialize(NO_MODEL, timeout=60)
    open_document(client, URI, "def f(x):\n    return x\n")
    return client


def stop_server(client: WireClient) -> None:
    if client.proc.poll() is None:
        client.proc.kill()
        client.proc.wait()


@pytest.fixture(scope="module")
def server():
    """One server for the cases that leave it running (each uses its own buffers)."""
    client = start_server()
    yield client
    stop_server(client)


@pytest.fixture
def own_server():
    """A server of its own, for a test that shuts it down."""
    client = start_server()
    yield client
    stop_server(client)


def open_document(client: WireClient, uri: str, text: str, language: object = "python") -> None:
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}},
    )


def exchange(client: WireClient, message: dict, timeout: float = 30) -> tuple[dict | None, list]:
    """Send `message`, then a ping; (the answer to `message` or None, every other answer)."""
    client.send_bytes(json.dumps(message).encode())
    ping = {
        "jsonrpc": "2.0",
        "id": "ping",
        "method": "workspace/executeCommand",
        "params": {"command": "cove.status"},
    }
    client.send_bytes(json.dumps(ping).encode())
    answer, others = None, []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = client.inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        if "method" in got:
            if "id" in got:
                client.send_bytes(
                    json.dumps({"jsonrpc": "2.0", "id": got["id"], "result": None}).encode()
                )
            continue
        if got.get("id") == "ping":
            return answer, others
        if "id" in message and got.get("id") == message["id"] and answer is None:
            answer = got
        else:
            others.append(got)
    raise TimeoutError("the server stopped answering")


def document_text(client: WireClient, uri: str) -> str | None:
    """The server's text of a buffer; its two views (pygls' copy, the completion buffer) agree."""
    result = client.request("cove/documentText", {"textDocument": {"uri": uri}})["result"]
    if result is None:
        return None
    assert result["buffer"] == result["text"], result
    return result["text"]


def change(client: WireClient, uri: str, *changes: dict) -> None:
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": list(changes)},
    )


def edit(start: tuple[int, int], end: tuple[int, int], text: str) -> dict:
    return {
        "range": {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        },
        "text": text,
    }


POSITION = {"line": 0, "character": 0}
BAD_PARAMS = {
    "inline line -3": (
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": URI},
            "position": {"line": -3, "character": 0},
            "context": {"triggerKind": 2},
        },
    ),
    "inline line 'a'": (
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": URI},
            "position": {"line": "a", "character": 0},
            "context": {"triggerKind": 2},
        },
    ),
    "inline triggerKind 9": (
        "textDocument/inlineCompletion",
        {"textDocument": {"uri": URI}, "position": POSITION, "context": {"triggerKind": 9}},
    ),
    "hover without position": ("textDocument/hover", {"textDocument": {"uri": URI}}),
    "codeAction diagnostics null": (
        "textDocument/codeAction",
        {
            "textDocument": {"uri": URI},
            "range": {"start": POSITION, "end": POSITION},
            "context": {"diagnostics": None},
        },
    ),
    "completion without textDocument": ("textDocument/completion", {"position": POSITION}),
    "executeCommand command 5": ("workspace/executeCommand", {"command": 5}),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_params_that_do_not_structure_answer_invalid_params_with_the_id(server, case):
    method, params = BAD_PARAMS[case]
    request = {"jsonrpc": "2.0", "id": f"bad-{case}", "method": method, "params": params}
    answer, others = exchange(server, request)
    assert answer is not None and answer["error"]["code"] == -32602, answer
    assert method in answer["error"]["message"] and others == []


def test_envelopes_are_answered_by_the_json_rpc_rules(server):
    def code(message: dict) -> int | None:
        answer, others = exchange(server, message)
        assert others == []
        return None if answer is None else answer["error"]["code"]

    hover = {"textDocument": {"uri": URI}, "position": POSITION}
    # Unknown methods: -32601, with params or without them (found by the fuzzer).
    assert code({"jsonrpc": "2.0", "id": 1, "method": "cove/nothing", "params": {}}) == -32601
    assert code({"jsonrpc": "2.0", "id": 2, "method": "cove/nothing"}) == -32601
    # Not JSON-RPC 2.0, a method that is not a string, a notification sent as a request,
    # and a second initialize (which would have dropped every open buffer): -32600.
    assert (
        code({"jsonrpc": "1.0", "id": 3, "method": "textDocument/hover", "params": hover}) == -32600
    )
    assert code({"jsonrpc": "2.0", "id": 4, "method": 5, "params": {}}) == -32600
    assert code({"jsonrpc": "2.0", "id": 5, "method": "initialized", "params": {}}) == -32600
    initialize = {"capabilities": {}, "initializationOptions": NO_MODEL}
    assert code({"jsonrpc": "2.0", "id": 6, "method": "initialize", "params": initialize}) == -32600
    assert document_text(server, URI) == "def f(x):\n    return x\n"
    # Ids nobody can answer, notifications with bad params, cancels of unknown ids,
    # responses to nothing: no answer at all.
    for odd_id in (True, 1.5, None, [1], {"a": 1}):
        assert (
            code({"jsonrpc": "2.0", "id": odd_id, "method": "textDocument/hover", "params": hover})
            is None
        )
    assert code({"jsonrpc": "2.0", "method": "textDocument/hover", "params": hover}) is None
    assert code({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 424242}}) is None
    assert code({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": [1]}}) is None
    assert code({"jsonrpc": "2.0", "id": 777, "result": {"x": 1}}) is None


def test_malformed_framing_never_stops_the_server(server):
    body = json.dumps({"jsonrpc": "2.0", "method": "cove/nothing", "params": {}}).encode()
    garbage = [
        b"Content-Length: abc\r\n\r\n" + body,  # not a number
        b"Content-Length: %d\r\n\r\n" % len(body)
        + body[:10]
        + b" " * (len(body) - 10),  # truncated
        b"Content-Length: %d\r\n\r\n" % (len(body) // 2) + body,  # shorter than the body
        bytes(range(256)) * 4,  # binary garbage
        b"Content-Length: 9\r\n\r\n{not json",  # invalid JSON
        b'Content-Length: 13\r\n\r\n{"a": "\xff\xfe"}',  # invalid UTF-8
        b"Content-Length: 50000\r\n\r\n" + b"[" * 50000,  # nested past the recursion limit
    ]
    for raw in garbage:
        server.proc.stdin.write(raw + b"\r\n\r\n")
        server.proc.stdin.flush()
        answer = server.request("workspace/executeCommand", {"command": "cove.status"}, timeout=30)
        assert answer["result"]["state"] == "error"  # answered: the model path does not exist
    assert server.proc.poll() is None


def test_requests_after_shutdown_are_refused_and_exit_ends_with_status_0(own_server):
    server = own_server
    assert server.request("shutdown", None, timeout=30)["result"] is None
    for method in ("textDocument/inlineCompletion", "shutdown", "cove/documentText"):
        params = {"textDocument": {"uri": URI}, "position": POSITION}
        answer = server.request(method, params, timeout=30)
        assert answer["error"]["code"] == -32600, answer
    server.notify("exit", None)
    assert server.proc.wait(timeout=30) == 0


SYNC_CASES = {
    # name: (text, changes, expected text); LSP's rules, as vscode-languageserver-textdocument
    "form feed and U+2028 are not line breaks": (
        "a\x0cb\u2028c\nd\n",
        [edit((1, 0), (1, 1), "D")],
        "a\x0cb\u2028c\nD\n",
    ),
    "\\r alone is a line break": ("a\rb\rc", [edit((2, 0), (2, 1), "C")], "a\rb\rC"),
    "a character past the end of the last line is its end": (
        "abc",
        [edit((0, 10), (0, 10), "!")],
        "abc!",
    ),
    "a character past the end of a line stops before its break": (
        "abc\r\ndef",
        [edit((0, 4), (0, 99), "!")],
        "abc!\r\ndef",
    ),
    "a line past the end is the end of the text": ("a\nb", [edit((7, 3), (9, 0), "!")], "a\nb!"),
    "the line after the final newline": ("a\n", [edit((1, 0), (1, 0), "b")], "a\nb"),
    "a reversed range is swapped": ("abcdef", [edit((0, 4), (0, 1), "-")], "a-ef"),
    "a reversed range across lines": ("ab\ncd", [edit((1, 1), (0, 1), "-")], "a-d"),
    "half a surrogate pair is the end of the character": (
        "x😋y",
        [edit((0, 2), (0, 2), "|")],
        "x😋|y",
    ),
    "utf-16 columns count astral characters twice": (
        "😋😋ab",
        [edit((0, 4), (0, 5), "A")],
        "😋😋Ab",
    ),
    "changes apply in order, each to the result of the last": (
        "hello",
        [edit((0, 0), (0, 5), "abc"), edit((0, 1), (0, 2), "B")],
        "aBc",
    ),
    "an empty change changes nothing": ("abc", [edit((0, 1), (0, 1), "")], "abc"),
    "a change without a range replaces the text": ("abc", [{"text": "new\n"}], "new\n"),
}


@pytest.mark.parametrize("case", sorted(SYNC_CASES))
def test_incremental_changes_follow_the_lsp_rules(server, case):
    text, changes, expected = SYNC_CASES[case]
    uri = "file:///tmp/cove-robust/sync.py"
    open_document(server, uri, text)
    change(server, uri, *changes)
    assert document_text(server, uri) == expected


BROKEN_SYNC = {
    "text null would have inserted 'None'": (
        "change",
        [{**edit((0, 0), (0, 0), "x"), "text": None}],
    ),
    "text 5 would have inserted '5'": ("change", [{**edit((0, 0), (0, 0), "x"), "text": 5}]),
    "a negative line": ("change", [edit((-1, 0), (0, 0), "x")]),
    "line true would have been line 1": ("change", [edit((True, 0), (0, 0), "x")]),
    "a range that is not an object": ("change", [{"range": 5, "text": "x"}]),
    "languageId 5 would have opened the buffer": ("open", 5),
    "languageId null": ("open", None),
    "text null in didOpen": ("open-text", None),
}


@pytest.mark.parametrize("case", sorted(BROKEN_SYNC))
def test_sync_notifications_that_break_the_schema_change_nothing(server, case):
    kind, value = BROKEN_SYNC[case]
    if kind == "change":
        change(
            server, URI, edit((0, 0), (0, 0), "ok "), *value
        )  # the whole notification is dropped
        assert document_text(server, URI) == "def f(x):\n    return x\n"
    else:
        uri = "file:///tmp/cove-robust/new.py"
        if kind == "open":
            open_document(server, uri, "text", language=value)
        else:
            server.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": value}},
            )
        assert document_text(server, uri) is None
    assert server.request("workspace/executeCommand", {"command": "cove.status"})["result"]


def test_a_utf8_column_inside_a_character_means_the_same_in_both_views():
    """Found by the fuzzer (seed 101): the completion buffer rounded such a column down to
    the character's start, pygls' copy up to its end; now both take the start.
    """
    client = WireClient(SERVE)
    try:
        params = {
            "processId": None,
            "capabilities": {"general": {"positionEncodings": ["utf-8"]}},
            "initializationOptions": NO_MODEL,
        }
        result = client.request("initialize", params, timeout=60)["result"]
        assert result["capabilities"]["positionEncoding"] == "utf-8"
        client.notify("initialized", {})
        uri = "file:///tmp/cove-robust/utf8.py"
        open_document(client, uri, "é😋x\n")
        change(client, uri, edit((0, 3), (0, 3), "|"))  # é is bytes 0-1, 😋 bytes 2-5
        assert document_text(client, uri) == "é|😋x\n"
    finally:
        stop_server(client)
