"""Kept prompt states with the real embedded model: a return to a file after other files
restores its evaluated prompt, and the restored state gives the same suggestion.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from context.completion import CompletionService
from engine.local.states import KeptStates
from engine.settings import GenerationSettings

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
# Real files of this project. The middle line of each must not be a near-tie for the model:
# after a restore the last prompt token is evaluated alone, not in a batch, and on a near-tie
# that rounding can flip greedy decoding (engine/templates.py's middle line did, 2026-12-02).
FILES = ("context/completion.py", "context/cache.py", "lsp/convert.py")
PATIENT = GenerationSettings(deadline_ms=120_000, multiline="never")


def middle(name: str) -> tuple[str, str, int, int]:
    """(text, path, line, column): the file with its middle code line cut at its indentation."""
    lines = (ROOT / name).read_text(encoding="utf-8").split("\n")
    i = next(k for k in range(len(lines) // 2, len(lines)) if len(lines[k].strip()) > 8)
    indent = len(lines[i]) - len(lines[i].lstrip())
    return "\n".join([*lines[:i], lines[i][:indent], *lines[i + 1 :]]), name, i, indent


@pytest.fixture
def kept(backend):
    """The backend with an empty set of kept states; the original put back afterwards."""
    original = backend.kept
    backend.kept = KeptStates(4)
    yield backend
    backend.kept = original


def test_a_return_to_a_file_restores_its_prompt_and_the_same_suggestion(kept):
    service = CompletionService(backend=kept, generation=PATIENT)
    a, b, c = (middle(name) for name in FILES)
    first_a = service.complete(*a)
    first_b = service.complete(*b)
    assert first_a.tokens.prompt >= 256 and first_b.tokens.prompt >= 256
    assert first_b.tokens.reused < first_b.tokens.prompt // 2  # B really replaced A
    service.complete(*c)
    restores = kept.kept.restores
    again_a = service.complete(*a)
    again_b = service.complete(*b)
    for first, again in ((first_a, again_a), (first_b, again_b)):
        # Everything but the last prompt token (evaluated again for its logits) came back.
        assert again.tokens.reused == again.tokens.prompt - 1, again.tokens
        assert again.text == first.text  # the restored state is the evaluated one
    assert kept.kept.restores == restores + 2
    assert 0 < kept.kept.nbytes <= kept.kept.max_bytes


def test_an_edit_after_a_restore_evaluates_like_a_cold_prompt(kept):
    service = CompletionService(backend=kept, generation=PATIENT)
    a, b = middle(FILES[0]), middle(FILES[1])
    text, path, line, column = a
    lines = text.split("\n")
    lines[line] += "retur"  # typed on the return: the kept state covers the text before
    edited = ("\n".join(lines), path, line, column + 5)
    service.complete(*a)
    service.complete(*b)
    restores = kept.kept.restores
    warm = service.complete(*edited)
    assert kept.kept.restores == restores + 1
    assert warm.tokens.reused > warm.tokens.prompt // 2, warm.tokens
    kept.kept = KeptStates(0)
    service.complete(*b)  # A's prompt leaves the cache
    cold = service.complete(*edited)
    assert cold.tokens.reused < cold.tokens.prompt // 2
    assert warm.text == cold.text


def test_with_kept_prompts_off_a_return_evaluates_the_whole_prompt(kept):
    kept.kept = KeptStates(0)
    service = CompletionService(backend=kept, generation=PATIENT)
    a, b = middle(FILES[0]), middle(FILES[1])
    service.complete(*a)
    service.complete(*b)
    again = service.complete(*a)
    assert again.tokens.reused < again.tokens.prompt // 2, again.tokens
    assert kept.kept.restores == 0 and len(kept.kept) == 0
