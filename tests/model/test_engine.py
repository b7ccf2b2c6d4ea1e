"""The engine with the real embedded model (loaded once per session)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from context.completion import CompletionService
from engine.settings import GenerationSettings
from engine.templates import QWEN
from tests.conftest import is_circle_area

pytestmark = pytest.mark.model

CIRCLE = 'import math\n\n\ndef circle_area(radius: float) -> float:\n    """Return the area of a circle."""\n    return '


def test_template_detected_from_real_vocabulary(backend):
    assert backend.template is QWEN
    assert backend.is_special("<|fim_prefix|>") and backend.is_special("<|repo_name|>")
    assert not backend.is_special("fim_prefix")


def test_the_presets_layout_is_what_auto_means_for_the_loaded_model(backend):
    from engine.local.presets import find_preset

    preset = find_preset(backend.model_info.preset)
    assert preset is not None and backend.layout == preset.layout == backend.describe()["layout"]


# Tests check behaviour, not speed: a loaded CI machine must not turn them into deadline tests.
PATIENT = GenerationSettings(deadline_ms=120_000)


def test_circle_area_and_prefix_reuse(backend):
    service = CompletionService(backend=backend, generation=PATIENT)
    first = service.complete(CIRCLE, "geometry.py", 5, 11)
    assert is_circle_area(first.text), first
    assert first.tokens.prompt > 0 and first.tokens.generated > 0
    # Same place again: the whole prompt but its last token comes from the KV cache.
    second = service.complete(CIRCLE, "geometry.py", 5, 11)
    assert second.tokens.reused >= second.tokens.prompt - 1
    # One typed character inside the line: only the tail of the prompt is new.
    typed = CIRCLE + "m"
    third = service.complete(typed, "geometry.py", 5, 12)
    assert third.tokens.reused >= third.tokens.prompt - 3, third.tokens


def test_token_healing_finishes_the_word_being_typed(backend):
    """Mid-word and after a blank, the model writes the rest of the word, not a new one."""
    service = CompletionService(backend=backend, generation=PATIENT)
    source = "def is_small(x):\n    if x < 3:\n        return Tru\n    return False\n"
    healed = service.complete(source, "small.py", 2, len("        return Tru"), multiline="never")
    assert healed.text == "e", healed
    # One more character of the same word: the prompt is the same, all of it reused.
    shorter = service.complete(
        source.replace("return Tru", "return Tr"),
        "small.py",
        2,
        len("        return Tr"),
        multiline="never",
    )
    assert shorter.text == "ue" and shorter.tokens.reused >= shorter.tokens.prompt - 1, shorter
    # After "return " the answer starts with the word, not with a second blank.
    spaced = source.replace("return Tru", "return ")
    after_blank = service.complete(spaced, "small.py", 2, len("        return "), multiline="never")
    assert after_blank.text.startswith("True"), after_blank


def test_cancel_event_stops_generation(backend):
    service = CompletionService(backend=backend, generation=PATIENT)
    future = service.submit(
        "def long_function():\n    ", "x.py", 1, 4, multiline="always", max_tokens=400
    )
    future.cancel_event.set()
    result = future.result(timeout=60)
    assert result.stop_reason == "cancelled" and result.text == ""


def test_deadline_bounds_prompt_evaluation(backend):
    import dataclasses

    from engine.settings import GenerationSettings

    service = CompletionService(
        backend=backend, generation=dataclasses.replace(GenerationSettings(), deadline_ms=1)
    )
    body = "".join(f"value_{i} = compute({i}, 'item {i}')\n" for i in range(300))
    result = service.complete(body + "total = ", "big.py", 300, 8)
    assert result.stop_reason == "deadline"
    assert result.tokens.generated == 0


def _run_cli(
    *args: str, env_extra: dict | None = None, block_network: bool = False
) -> subprocess.CompletedProcess:
    prelude = ""
    if block_network:
        prelude = (
            "import socket\n"
            "def _deny(*a, **k):\n    raise OSError('network access attempted in local mode')\n"
            "class _NoSocket(socket.socket):\n    def __init__(self, *a, **k):\n        _deny()\n"
            "socket.socket = _NoSocket\nsocket.create_connection = _deny\nsocket.getaddrinfo = _deny\n"
        )
    code = prelude + "import sys\nfrom lsp.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )


def test_cli_complete_json_with_network_blocked(tmp_path: Path, backend):
    source = tmp_path / "geometry.py"
    source.write_text(CIRCLE + "\n")
    done = _run_cli("complete", f"{source}:6:12", "--json", block_network=True)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert is_circle_area(payload["text"]), payload
    assert set(payload["timings"]) >= {"context_ms", "prefill_ms", "generate_ms", "total_ms"}
    assert set(payload["tokens"]) >= {"prompt", "reused", "generated"}
    assert payload["template"] == "qwen2.5-coder" and payload["model"].endswith(".gguf")
