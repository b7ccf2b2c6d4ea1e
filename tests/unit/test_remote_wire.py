"""Remote backends against a stub server on loopback: what goes over the wire (OpenAI
and /infill bodies, scrubbed secrets, chat, token counts) and what comes back.
"""

from __future__ import annotations

import json

from engine.remote.prompt import estimate_tokens
from engine.remote.scrub import PLACEHOLDER
from engine.settings import BackendSettings
from engine.types import ContextChunk, FimInput
from tests.remote_stub import SECRET, make_request, open_remote


def test_openai_stream_gets_the_local_stop_rules_and_a_clean_body(stub_server):
    stub, url = stub_server()
    backend = open_remote(url)
    try:
        secret_fim = FimInput(
            prefix=f"TOKEN = '{SECRET}'\n",
            line_prefix="x = ",
            suffix="\n",
            chunks=(ContextChunk(path="a.py", text=f"KEY='{SECRET}'"),),
        )
        result = backend.generate(make_request(backend, fim=secret_fim))
        assert (result.text, result.stop_reason) == ("hello world", "newline")
        path, body, _ = stub.requests[0]
        assert path == "/v1/completions"
        assert (
            body["model"] == "qwen2.5-coder-7b"
            and body["stream"] is True
            and body["max_tokens"] == 32
        )
        assert "<|fim_pad|>" in body["stop"] and body["repeat_penalty"] == 1.0
        assert SECRET not in json.dumps(body) and PLACEHOLDER in body["prompt"]
        assert (
            backend.template.name == "qwen2.5-coder"
            and backend.describe()["tokenizer"] == "server /tokenize"
        )
        multi = backend.generate(make_request(backend, multiline=True))
        assert (multi.text, multi.stop_reason) == (
            "hello world",
            "dedent",
        )  # "more" falls below the block
    finally:
        backend.close()
    assert stub.client_left.wait(5)  # the single-line answer closed its stream at the newline


def test_open_backend_opens_each_remote_kind(stub_server):
    from engine.backends import open_backend
    from engine.settings import ModelSettings

    _, url = stub_server()
    for kind in ("openai", "llama-server"):
        settings = BackendSettings(type=kind, url=url, model="qwen2.5-coder-7b")
        backend = open_backend(ModelSettings(), settings, session_id="vscode-1")
        try:
            assert (backend.kind, backend.model_name, backend.session_id) == (
                kind,
                "qwen2.5-coder-7b",
                "vscode-1",
            )
        finally:
            backend.close()


def test_infill_wire_format(stub_server):
    stub, url = stub_server(pieces=("a", "b", "\n", "    c"))
    first, second = open_remote(url, "llama-server"), open_remote(url, "llama-server")
    try:
        chunks = (ContextChunk(path="src/util.py", text=f"API_KEY = '{SECRET}'\n"),)
        fim = FimInput(
            prefix="def f():\n",
            line_prefix="    return ",
            suffix="\n\nprint(f())\n",
            path="src/main.py",
            chunks=chunks,
        )
        result = first.generate(make_request(first, fim=fim, multiline=True))
        first.generate(make_request(first, fim=fim))
        second.generate(make_request(second, fim=fim))
        assert (
            result.text == "ab\n    c" and result.tokens.prompt == 30 and result.tokens.reused == 20
        )
        bodies = [body for path, body, _ in stub.requests if path == "/infill"]
        body = bodies[0]
        # The line's trailing blank is left for the model to write (token healing).
        assert (body["input_prefix"], body["prompt"], body["input_suffix"]) == (
            "def f():\n",
            "    return",
            "\n\nprint(f())\n",
        )
        assert body["input_extra"] == [
            {"filename": "src/util.py", "text": f"API_KEY = '{PLACEHOLDER}'"}
        ]
        assert (
            body["cache_prompt"] is True and body["n_indent"] == 4 and body["t_max_predict_ms"] > 0
        )
        assert bodies[1]["n_indent"] == 0
        assert body["id_slot"] == bodies[1]["id_slot"] and 0 <= body["id_slot"] < 4
        assert first.template.name == "llama-server infill (qwen2.5-coder)"
        assert first.describe()["context_size"] == 8192
    finally:
        first.close()
        second.close()


def test_token_counts_use_the_server_and_are_cached(stub_server):
    stub, url = stub_server()
    backend = open_remote(url)
    try:
        calls = stub.tokenize_calls
        assert backend.count_tokens("a b c d") == 4
        assert backend.count_tokens("a b c d") == 4
        assert stub.tokenize_calls == calls + 1
    finally:
        backend.close()
    stub, url = stub_server(tokenize=False)
    backend = open_remote(url)
    try:
        assert backend.count_tokens("a b c d") == estimate_tokens("a b c d")
    finally:
        backend.close()


def test_chat_streams_the_reply_with_scrubbed_messages(stub_server):
    stub, url = stub_server(pieces=("Hello", "\n", "there"))
    backend = open_remote(url)
    try:
        reply = backend.chat(
            [{"role": "user", "content": f"explain TOKEN={SECRET}"}],
            max_tokens=20,
            deadline_ms=5000,
        ).result(timeout=10)
        assert reply == "Hello\nthere"
        path, body, _ = stub.requests[0]
        assert path == "/v1/chat/completions" and SECRET not in json.dumps(body)
    finally:
        backend.close()
