"""The JSON-RPC layer under pygls, made to answer every request exactly once.

pygls 2.1.1 structures each message inside `json.loads`' object hook. When the params of
a request fail to structure (`line: -3`, a `hover` without `position`, `diagnostics: null`)
the hook raises, the read loop logs the error and drops the message, and the client waits
for an answer forever. Here the hook leaves the JSON as it is and `handle_message`
structures it, so a failure can still be answered with the request's id: `-32602
InvalidParams` (the fix microsoft/typescript-go made after its fuzzer found the same bug).

The rules, per message:
- a request (usable id + method): exactly one answer. Bad params: -32602; not a JSON-RPC
  2.0 request, or a notification method sent with an id, or anything after `shutdown`:
  -32600 InvalidRequest, and so is a second `initialize`; unknown method: -32601 (pygls).
- a notification: never answered; bad params are logged and the notification dropped.
- a message without a usable id (no id, or an id that is not a string or an integer)
  cannot be answered: logged and dropped.
- a response whose result does not structure still settles the server's own request
  (with an error), so nothing on our side waits forever.

Strings, integers and booleans structure strictly: pygls' converter turns `text: null`
into the text "None" and `line: true` into 1, which would silently corrupt a buffer.
Incremental changes are applied with LSP's own rules (see `apply_change`), not with
pygls' `str.splitlines`, which also breaks lines at form feeds and U+2028.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Union
from urllib.parse import unquote

import attrs
import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCProtocol
from pygls.protocol.language_server import lsp_method

log = logging.getLogger(__name__)

DOCUMENT_TEXT = "cove/documentText"  # the server's view of a buffer, for tests and the fuzzer
_BREAK = re.compile(r"\r\n|\r|\n")


class CoveProtocol(LanguageServerProtocol):
    """pygls' LanguageServerProtocol that answers every request it can address."""

    def __init__(self, server: Any, converter: cattrs.Converter) -> None:
        strict_primitives(converter)
        super().__init__(server, converter)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """json.loads' object hook: keep plain JSON; `handle_message` structures the whole."""
        return data

    def handle_message(self, message: Any) -> None:
        """Classify one parsed message, structure it, and answer what cannot be handled."""
        if not isinstance(message, dict):
            log.warning("dropped a message that is not a JSON object: %.200r", message)
            return
        if "method" in message:
            if "id" in message:
                self._take_request(message)
            else:
                self._take_notification(message)
        elif "id" in message:
            self._take_response(message)
        else:
            log.warning("dropped a message with neither method nor id: %.200r", message)

    # -- the three kinds of message ----------------------------------------------------------

    def _take_request(self, message: dict[str, Any]) -> None:
        msg_id, method = message["id"], message.get("method")
        if not is_usable_id(msg_id):
            log.warning("dropped a request whose id cannot be answered: %.200r", msg_id)
            return
        refusal = self._refusal(message)
        if refusal is not None:
            self._answer_error(msg_id, types.ErrorCodes.InvalidRequest, refusal)
            return
        message_type = self.get_message_type(method)
        if message_type is None and "params" not in message:  # params may be omitted
            message = {**message, "params": None}
        try:
            request = self._converter.structure(message, message_type or JsonRPCRequestMessage)
        except Exception as error:
            problem = describe_error(error)
            log.warning("request %r %s: invalid params (%s)", msg_id, method, problem)
            self._answer_error(
                msg_id, types.ErrorCodes.InvalidParams, f"{method}: invalid params: {problem}"
            )
            return
        super().handle_message(request)

    def _refusal(self, message: dict[str, Any]) -> str | None:
        """Why a request is invalid whatever its params (answered -32600), or None."""
        method = message.get("method")
        if message.get("jsonrpc") != self.VERSION or not isinstance(method, str):
            return "not a JSON-RPC 2.0 request"
        if self._shutdown:
            return f"{method}: the server is shutting down"
        if method == types.INITIALIZE and self._workspace is not None:
            # A second initialize would replace the workspace and lose every open buffer.
            return "initialize may only be sent once"
        message_type = self.get_message_type(method)
        if message_type is not None and "id" not in attrs.fields_dict(message_type):
            return f"{method} is a notification, not a request"
        return None

    def _take_notification(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if message.get("jsonrpc") != self.VERSION or not isinstance(method, str):
            log.warning("dropped a notification that is not JSON-RPC 2.0: %.200r", method)
            return
        if self._shutdown and method != types.EXIT:
            log.info("dropped %s: the server is shutting down", method)
            return
        message_type = self.get_message_type(method)
        if message_type is not None and "id" in attrs.fields_dict(message_type):
            log.warning("dropped %s: a request sent without an id cannot be answered", method)
            return
        if message_type is None and "params" not in message:
            message = {**message, "params": None}
        try:
            notification = self._converter.structure(message, message_type or JsonRPCNotification)
        except Exception as error:
            log.warning("dropped %s: invalid params (%s)", method, describe_error(error))
            return
        super().handle_message(notification)

    def _take_response(self, message: dict[str, Any]) -> None:
        msg_id = message["id"]
        if not is_usable_id(msg_id) or msg_id not in self._result_types:
            # Only our own requests expect answers; an id of one of the client's requests
            # must not settle that request's future.
            log.warning("dropped a response to an unknown request id %.200r", msg_id)
            return
        try:
            response = JsonRPCProtocol.structure_message(self, message)
        except Exception as error:
            log.warning("response %r does not structure: %s", msg_id, error)
            future = self._request_futures.pop(msg_id, None)
            if future is not None and not future.done():
                future.set_exception(JsonRpcInvalidParams(f"malformed response: {error}"))
            return
        super().handle_message(response)

    def _answer_error(self, msg_id: int | str, code: int, message: str) -> None:
        self._send_response(msg_id, error=types.ResponseError(code=code, message=message))

    def _execute_handler(self, msg_id, handler, callback, args=None, kwargs=None) -> None:
        """Run a handler as pygls does; a notification's future is dropped once it is done.

        pygls 2.1.1 files the future of a notification run by a generator or coroutine
        handler (didOpen, didChange, didSave...) under a fresh uuid in `_request_futures`
        and never removes it: about 1.3 kB a keystroke, for as long as the editor runs (the
        typing storm found it). A request's entry is removed when it is answered.
        """
        if callback == self._check_handler_result:  # pygls' callback for notifications
            done = callback

            def callback(future, msg_id=msg_id):
                self._request_futures.pop(msg_id, None)
                done(future)

        super()._execute_handler(msg_id, handler, callback, args, kwargs)

    # -- document sync with LSP's rules --------------------------------------------------

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        """Apply the changes in order with LSP's line and clamping rules, then the handler."""
        document = self.workspace.text_documents.get(unquote(params.text_document.uri))
        if document is None:
            log.warning("didChange for a document that is not open: %s", params.text_document.uri)
            return
        text = document.source
        encoding = str(self.workspace.position_encoding or "utf-16")
        for change in params.content_changes:
            text = apply_change(text, change, encoding)
        document.apply_change(types.TextDocumentContentChangeWholeDocument(text=text))
        document.version = params.text_document.version
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(DOCUMENT_TEXT)
    def cove_document_text(self, params: Any) -> dict[str, Any] | None:
        """`cove/documentText {textDocument: {uri}}`: the server's views of an open buffer.

        `text` is pygls' workspace copy (code actions, the index); `buffer` the server's own
        document that completions read (`CoveServer.documents`), when it keeps one. Both
        must equal the client's text; None when neither view has the uri.
        """
        uri = getattr(getattr(params, "textDocument", None), "uri", None)
        if not isinstance(uri, str):
            raise JsonRpcInvalidParams(f"{DOCUMENT_TEXT}: params.textDocument.uri must be a string")
        document = self.workspace.text_documents.get(unquote(uri))
        buffer = (getattr(self._server, "documents", None) or {}).get(uri)
        if document is None and buffer is None:
            return None
        return {
            "uri": uri,
            "version": document.version if document is not None else None,
            "text": document.source if document is not None else None,
            "buffer": buffer.source if buffer is not None else None,
        }


def is_usable_id(msg_id: Any) -> bool:
    """A JSON-RPC id we can echo: a string or an integer (not a boolean, not a float)."""
    return isinstance(msg_id, str) or (isinstance(msg_id, int) and not isinstance(msg_id, bool))


def describe_error(error: Exception) -> str:
    """A short sentence for a structuring failure, e.g. `invalid value @ $.params.position.line`."""
    if isinstance(error, cattrs.ClassValidationError):
        details = cattrs.transform_error(error, path="$")
        text = "; ".join(details[:3]) + (
            f" (and {len(details) - 3} more)" if len(details) > 3 else ""
        )
        return text[:500]
    return f"{type(error).__name__}: {error}"[:500]


def strict_primitives(converter: cattrs.Converter) -> None:
    """Strings, integers and booleans structure only from their own JSON type."""

    def exact(kind: type, accepts: tuple[type, ...], rejects: tuple[type, ...]) -> Any:
        def structure(value: Any, cls: type) -> Any:
            if cls is not kind:  # a subclass (IntEnum, str Enum): cattrs' default, cls(value)
                return cls(value)
            if isinstance(value, accepts) and not isinstance(value, rejects):
                return value
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")

        return structure

    for kind, accepts, rejects in (
        (str, (str,), ()),
        (int, (int,), (bool,)),
        (bool, (bool,), ()),
        (float, (int, float), (bool,)),
    ):
        converter.register_structure_hook(kind, exact(kind, accepts, rejects))
    # lsprotocol lets any primitive through as a languageId (5, null, true). The key must be
    # the typing.Union lsprotocol registered, not an `X | Y` union.
    language_id = Union[types.LanguageKind, str]  # noqa: UP007
    converter.register_structure_hook(language_id, _language_id)


def _language_id(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a languageId string, got {type(value).__name__}")


# -- incremental changes (the rules of vscode-languageserver-textdocument) ------------------


def apply_change(text: str, change: Any, encoding: str = "utf-16") -> str:
    r"""One content change applied to `text`.

    Lines break at \n, \r\n and \r only. A range whose end comes before its start is
    swapped; a line past the last one means the end of the text; a character past the end
    of its line means the end of that line (before its line break); half a surrogate pair
    means the end of that character, part of a UTF-8 sequence its start (the rules
    `lsp.convert.to_server_position` applies to the completion buffer).
    """
    if not isinstance(change, types.TextDocumentContentChangePartial):
        return change.text
    start, end = change.range.start, change.range.end
    if (start.line, start.character) > (end.line, end.character):
        start, end = end, start
    begin, finish = offset_at(text, start, encoding), offset_at(text, end, encoding)
    return text[:begin] + change.text + text[finish:]


def offset_at(text: str, position: types.Position, encoding: str = "utf-16") -> int:
    """Index into `text` of a client position, clamped as LSP clamps it."""
    line_start = 0
    if position.line > 0:
        for count, match in enumerate(_BREAK.finditer(text), 1):
            if count == position.line:
                line_start = match.end()
                break
        else:
            return len(text)
    found = _BREAK.search(text, line_start)
    line = text[line_start : found.start() if found else len(text)]
    return line_start + column_index(line, position.character, encoding)


def column_index(line: str, character: int, encoding: str = "utf-16") -> int:
    """Code-point index of a column in `encoding` units, clamped to the line."""
    if encoding == "utf-32" or line.isascii():
        return min(character, len(line))
    units = 0
    for index, char in enumerate(line):
        if units >= character:
            return index
        if encoding == "utf-8":
            width = len(char.encode("utf-8", "surrogatepass"))
            if units + width > character:  # inside the sequence: its start, as lsp.convert
                return index
        else:
            width = 2 if ord(char) > 0xFFFF else 1
        units += width
    return len(line)
