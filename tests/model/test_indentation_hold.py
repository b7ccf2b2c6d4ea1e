"""Holding the user's indentation (`generation.indentation = "hold"`) with the real model."""

from __future__ import annotations

import dataclasses

import pytest

from context.completion import CompletionService
from engine.settings import GenerationSettings
from engine.templates import healed_tail, render_prompt
from engine.types import FimInput, GenerationRequest, StopPolicy

pytestmark = pytest.mark.model

HOLD = GenerationSettings(deadline_ms=120_000, indentation="hold")

SOURCE = (
    "def report(items, progress):\n"
    "    total = 0\n"
    "    for item in items:\n"
    "        total += item.size\n"
    "        progress.update()\n"
    "{cursor}\n"
    "    return total\n"
)


@pytest.mark.parametrize("indent", ["    ", "        ", "\t", "\t\t"], ids=repr)
def test_held_indentation_is_written_exactly_then_code(backend, indent):
    """The healed last blank of the indentation comes back first, never with a blank more;
    the suggestion then starts at the cursor.
    """
    source = SOURCE.replace("{cursor}", indent)
    if "\t" in indent:
        source = source.replace("    ", "\t")
    lines = source.split("\n")
    fim = FimInput(
        prefix="".join(f"{line}\n" for line in lines[:5]),
        line_prefix=indent,
        suffix="\n" + "\n".join(lines[6:]),
        indentation="hold",
    )
    heal = healed_tail(backend.template, fim)
    assert heal == indent[-1]  # the prompt keeps the rest of the indentation
    request = GenerationRequest(
        prompt=render_prompt(backend.template, fim),
        heal=heal,
        max_tokens=24,
        deadline_ms=120_000,
        stop=StopPolicy(),
    )
    raw = backend.submit(request).result().text
    assert raw.startswith(heal) and raw[1:2] not in (" ", "\t"), raw
    service = CompletionService(backend=backend, generation=HOLD)
    shown = service.complete(source, "report.py", 5, len(indent), multiline="never")
    assert not shown.text[:1].isspace(), shown


def test_held_and_free_indentation_share_the_prompt(backend):
    """The prompts differ only in their last token (the kept indentation): the KV cache
    keeps the rest.
    """
    source = SOURCE.replace("{cursor}", "    ")
    free = CompletionService(
        backend=backend, generation=dataclasses.replace(HOLD, indentation="model")
    )
    held = CompletionService(backend=backend, generation=HOLD)
    first = free.complete(source, "report.py", 5, 4, multiline="never")
    second = held.complete(source, "report.py", 5, 4, multiline="never")
    assert second.tokens.reused >= second.tokens.prompt - 2, (first, second)
    # Whatever the model writes starts at the cursor (it may also decide on nothing here:
    # whether it writes code on this line is the other test's business).
    assert not second.text[:1].isspace(), second


def test_a_blank_heal_after_code_is_held_too(backend):
    """`x = ` heals its trailing blank: the next token may not add a second one."""
    request = GenerationRequest(
        prompt="<|fim_prefix|>def f():\n    x =<|fim_suffix|>\n    return x\n<|fim_middle|>",
        heal=" ",
        max_tokens=8,
        deadline_ms=120_000,
        stop=StopPolicy(),
    )
    text = backend.submit(request).result().text
    assert text.startswith(" ") and not text.startswith("  "), text
