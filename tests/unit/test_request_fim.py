"""A generation request carries the FimInput its prompt was rendered from, and llama-server's
/infill is built from it (not from the rendered prompt taken back apart).
"""

from __future__ import annotations

import dataclasses

from context.completion import CompletionService
from context.document import Snapshot
from engine.remote.scrub import PLACEHOLDER
from engine.templates import QWEN
from engine.types import ContextChunk, FimInput
from tests.remote_stub import SECRET, make_request, open_remote


class CountingBackend:
    """Enough of a backend for `CompletionService.prepare`."""

    model_name = "fake"
    template = QWEN
    heals = False  # as a remote backend: the classic (psm) prompt

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1


def test_prepare_puts_the_fim_input_on_the_request():
    service = CompletionService(backend=CountingBackend())
    prepared = service.prepare(Snapshot.of("def f(x):\n    return x\n", "a.py"), 1, 11)
    assert prepared.request.fim is prepared.fim
    assert (prepared.fim.prefix, prepared.fim.line_prefix) == ("def f(x):\n", "    return ")


def test_infill_body_comes_from_the_request_fim(stub_server):
    stub, url = stub_server(pieces=("x",))
    backend = open_remote(url, "llama-server")
    try:
        fim = FimInput(
            prefix="def f():\n",
            line_prefix="    return ",
            suffix="\n",
            chunks=(ContextChunk(path="k.py", text=f"KEY = '{SECRET}'"),),
        )
        request = dataclasses.replace(
            make_request(backend, fim=fim), prompt="not a rendered prompt", fim=fim
        )
        backend.generate(request)
        body = next(body for path, body, _ in stub.requests if path == "/infill")
        # The pieces as the service cut them: the cursor's line goes in `prompt` whole.
        assert (body["input_prefix"], body["prompt"], body["input_suffix"]) == (
            "def f():\n",
            "    return ",
            "\n",
        )
        assert body["input_extra"] == [{"filename": "k.py", "text": f"KEY = '{PLACEHOLDER}'"}]
    finally:
        backend.close()
