"""What remote backends need to know about prompts: settings, model families, pieces.

Pure functions and data: the FIM template of a served
model (from `backend.family` or the model's name), the prompt taken back apart into
its pieces (llama-server's /infill wants them separately, and a fallback model of
another family re-renders them), a conservative token estimate, and the stop scan that
applies `check_stop` to streamed text exactly where the local backend would have.
"""

from __future__ import annotations

import math

from engine.stops import StopDecision, check_stop
from engine.templates import (
    CODEGEMMA,
    CODELLAMA,
    DEEPSEEK,
    PLAIN,
    QWEN,
    STARCODER,
    TEMPLATES,
    FimTemplate,
    render_prompt,
)
from engine.types import ContextChunk, FimInput, StopPolicy

# Substrings of a served model's name (lower case) that tell its FIM family.
NAME_HINTS: tuple[tuple[tuple[str, ...], FimTemplate], ...] = (
    (("qwen", "coder"), QWEN),
    (("codegemma",), CODEGEMMA),
    (("starcoder",), STARCODER),
    (("deepseek", "coder"), DEEPSEEK),
    (("codellama",), CODELLAMA),
    (("code-llama",), CODELLAMA),
)


def template_for_model(family: str, model_name: str) -> tuple[FimTemplate, str]:
    """The FIM template for a served model, and where the choice came from.

    `backend.family` wins; otherwise the model's name (e.g. "Qwen/Qwen2.5-Coder-7B",
    "qwen2.5-coder:7b-base", a GGUF path) decides; an unknown name gets prefix-only
    continuation, which every model can do.
    """
    by_name = {t.name: t for t in TEMPLATES}
    if family in by_name:
        return by_name[family], "backend.family"
    name = model_name.lower().replace("_", "-")
    for needles, template in NAME_HINTS:
        if all(n in name for n in needles):
            return template, "model name"
    return PLAIN, "unknown model: set backend.family"


def infill_template(family: FimTemplate) -> FimTemplate:
    """The template the llama-server backend gives Cove: markers no code contains.

    llama-server applies the model's own FIM tokens; Cove renders with these private-use
    characters so that the pieces can be taken back apart without ambiguity. The family's
    own markers stay in `stops`, so post-processing still cuts a leaked one.
    """
    return FimTemplate(
        name=f"llama-server infill ({family.name})",
        prefix="\ue000",
        suffix="\ue001",
        middle="\ue002",
        repo_name="\ue003",
        file_sep="\ue004",
        stops=family.special_tokens,
    )


def _parse_header(
    template: FimTemplate, header: str
) -> tuple[tuple[ContextChunk, ...], str, str, str]:
    """(chunks, current path, repo name, text left over) of the part before the prefix marker."""
    if not header:
        return (), "", "", ""
    sep = template.file_sep
    if sep and template.repo_name and header.startswith(template.repo_name):
        parts = header.split(sep)
        repo = parts[0][len(template.repo_name) :].rstrip("\n")
        path = parts[-1].rstrip("\n") if len(parts) > 1 else ""
        return tuple(_chunk(part) for part in parts[1:-1]), path, repo, ""
    if sep and header.startswith(sep):
        return tuple(_chunk(part) for part in header.split(sep)[1:]), "", "", ""
    return (), "", "", header  # comment-style chunks: plain text before the file


def _chunk(part: str) -> ContextChunk:
    path, _, text = part.partition("\n")
    return ContextChunk(path=path, text=text.removesuffix("\n"), source="prompt")


def parse_prompt(template: FimTemplate, prompt: str) -> FimInput | None:
    """Take a prompt rendered by `render_prompt(template, ...)` back apart; None if it is not one."""
    if not template.has_fim:
        return None
    start = prompt.find(template.prefix)
    hole = prompt.find(template.suffix, start + len(template.prefix)) if start >= 0 else -1
    middle = prompt.find(template.middle, hole + len(template.suffix)) if hole >= 0 else -1
    if middle < 0:
        return None
    chunks, path, repo, loose = _parse_header(template, prompt[:start])
    prefix, line_prefix = (
        loose + prompt[start + len(template.prefix) : hole],
        prompt[middle + len(template.middle) :],
    )
    if line_prefix.startswith("\n"):  # the stable layout's newline, moved after the middle marker
        prefix, line_prefix = prefix + "\n", line_prefix[1:]
    return FimInput(
        prefix=prefix,
        suffix=prompt[hole + len(template.suffix) : middle],
        line_prefix=line_prefix,
        healed=True,
        path=path,
        repo_name=repo,
        chunks=chunks,
    )


def rerender_prompt(prompt: str, source: FimTemplate, target: FimTemplate) -> str:
    """The same prompt in another family's template (for a fallback model); as is if it can't be."""
    if source.name == target.name:
        return prompt
    fim = parse_prompt(source, prompt)
    return prompt if fim is None else render_prompt(target, fim)


def estimate_tokens(text: str) -> int:
    """A conservative token count when the server cannot count: UTF-8 bytes / 3, rounded up.

    Code averages 3.5-4 characters per token; non-ASCII text costs more bytes, and so more
    estimated tokens, which keeps the estimate on the high side there too.
    """
    return math.ceil(len(text.encode("utf-8")) / 3)


def scan_stop(
    text: str, start: int, policy: StopPolicy, specials: tuple[str, ...] = ()
) -> StopDecision | None:
    """Where the local backend would have stopped, given streamed text that grew past `start`.

    A chunk may carry several tokens; `check_stop` is asked at every point inside the new
    text where its answer can change (after each newline, and at the end), so the cut and
    the reason are the ones a token-by-token check gives. A leaked special marker ends the
    text like an end-of-text token does locally.
    """
    cut = len(text)
    for token in specials:
        at = text.find(token) if token else -1
        if 0 <= at < cut:
            cut = at
    visible = text[:cut]
    points = []
    newline = visible.find("\n", max(0, start - 1))
    while newline >= 0:
        points.append(newline + 1)
        newline = visible.find("\n", newline + 1)
    points.append(len(visible))
    for point in points:
        decision = check_stop(visible[:point], policy)
        if decision.reason:
            return decision
    return StopDecision("eos", cut) if cut < len(text) else None
