"""Remote prompts with no server: the template from a model name, parsing a rendered
prompt back into pieces, the stop scan over streamed chunks, the token estimate.
"""

from __future__ import annotations

import random

import pytest

from engine.remote.prompt import (
    estimate_tokens,
    infill_template,
    parse_prompt,
    scan_stop,
    template_for_model,
)
from engine.stops import check_stop
from engine.templates import PLAIN, QWEN, TEMPLATES, render_prompt, split_cursor_line
from engine.types import StopPolicy
from tests.remote_stub import FIM


@pytest.mark.parametrize(
    ("family", "name", "expected"),
    [
        ("", "Qwen/Qwen2.5-Coder-7B", "qwen2.5-coder"),
        ("", "qwen2.5-coder:7b-base", "qwen2.5-coder"),
        ("", "/models/starcoder2-3b-Q8_0.gguf", "starcoder"),
        ("", "deepseek-ai/deepseek-coder-6.7b-base", "deepseek-coder"),
        ("", "codellama/CodeLlama-7b-hf", "codellama"),
        ("", "google/codegemma-2b", "codegemma"),
        ("", "mistral-7b-instruct", "prefix-only"),
        ("starcoder", "Qwen/Qwen2.5-Coder-7B", "starcoder"),
    ],
)
def test_template_from_family_or_model_name(family, name, expected):
    assert template_for_model(family, name)[0].name == expected


@pytest.mark.parametrize("template", [*TEMPLATES, infill_template(QWEN)], ids=lambda t: t.name)
def test_parse_prompt_inverts_render_prompt(template):
    prompt = render_prompt(template, FIM)
    parsed = parse_prompt(template, prompt)
    assert parsed is not None
    # The line's last word is healed: the prompt (and so its parse) leaves it out.
    assert (parsed.line_prefix, parsed.suffix) == (
        split_cursor_line(FIM.line_prefix)[0],
        FIM.suffix,
    )
    if template.file_sep:
        assert render_prompt(template, parsed) == prompt
        assert parsed.prefix == FIM.prefix
        assert [(c.path, c.text) for c in parsed.chunks] == [
            ("src/app/util.py", "def helper():\n    return 1"),
            ("README.md", "# Demo"),
        ]
    else:  # comment-style context stays as text ahead of the file
        assert parsed.prefix == prompt[: prompt.index(template.prefix)] + FIM.prefix
    if template.repo_name:
        assert (parsed.path, parsed.repo_name) == ("src/app/io.py", "demo")
    assert parse_prompt(PLAIN, render_prompt(PLAIN, FIM)) is None


def _local_stop(text: str, policy: StopPolicy, specials: tuple[str, ...]) -> tuple[str, str]:
    """What the local backend does: one character per token, markers end the text."""
    out = ""
    for char in text:
        out += char
        for token in specials:
            if token and out.endswith(token):
                kept = out[: -len(token)]
                return kept, "eos"
        decision = check_stop(out, policy)
        if decision.reason:
            return out[: decision.keep], decision.reason
    return out, ""


@pytest.mark.parametrize("seed", range(40))
def test_scan_stop_over_chunks_cuts_where_token_by_token_does(seed):
    rng = random.Random(seed)
    lines = [
        "    x = 1",
        "",
        "    return x",
        "def other():",
        "        y()",
        "  # note",
        "STOP here",
        "<|fim_pad|>tail",
    ]
    text = "\n".join(rng.choice(lines) for _ in range(rng.randint(1, 7))) + rng.choice(
        ["", "\n", "\n\n"]
    )
    policy = StopPolicy(
        multiline=rng.random() < 0.7,
        max_lines=rng.randint(2, 5),
        indent=rng.choice([0, 4]),
        stop_strings=rng.choice([(), ("STOP",)]),
    )
    specials = ("<|fim_pad|>", "<|endoftext|>")
    expected = _local_stop(text, policy, specials)
    streamed, got = "", ("", "")
    position = 0
    while position < len(text):
        size = rng.randint(1, 12)
        start = len(streamed)
        streamed += text[position : position + size]
        position += size
        decision = scan_stop(streamed, start, policy, specials)
        if decision is not None:
            got = (streamed[: decision.keep], decision.reason)
            break
    else:
        got = (streamed, "")
    assert got == expected


def test_estimate_is_bytes_over_three_rounded_up():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("é") == 1 and estimate_tokens("日本語") == 3
