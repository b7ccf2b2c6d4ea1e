"""Bad input over the wire: raw JSON-RPC to a real `cove serve` subprocess.

Each bad message must be answered (empty result or a JSON-RPC error) or ignored, and the
server must go on serving; shutdown + exit ends it with status 0.
"""

from __future__ import annotations

import sys

import pytest

from tests.wire import WireClient

pytestmark = pytest.mark.model


def inline_params(uri: str, line: int, character: int) -> dict:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2},
    }


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
