"""Notifications leave nothing behind in pygls' table of running handlers (lsp/protocol.py).

pygls 2.1.1 keeps the future of every generator- or coroutine-run notification (didOpen,
didChange, ...) in `_request_futures` for ever: the typing storm saw the server grow by
about 1.3 kB a keystroke. Run in process, no I/O.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace import Workspace

from lsp.server import CoveServer


def test_a_thousand_keystrokes_keep_no_future(tmp_path):
    ls = CoveServer()
    ls.protocol._workspace = Workspace(tmp_path.as_uri())
    ls.protocol.client_capabilities = types.ClientCapabilities()
    uri = (tmp_path / "a.py").as_uri()
    doc = {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}
    ls.protocol.handle_message(
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": doc}}
    )
    for version in range(2, 1002):
        at = {"line": 0, "character": 5}
        change = {"range": {"start": at, "end": at}, "text": "0" if version % 2 else ""}
        params = {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        ls.protocol.handle_message(
            {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": params}
        )
    assert ls.workspace.text_documents[uri].version == 1001  # the changes were handled
    assert len(ls.protocol._request_futures) == 0
