"""What remote backends need to know about prompts: settings, model families, pieces.

Pure functions and data: the `backend` settings section, the FIM template of a served
model (from `backend.family` or the model's name), the prompt taken back apart into
its pieces (llama-server's /infill wants them separately, and a fallback model of
another family re-renders them), a conservative token estimate, and the stop scan that
applies `check_stop` to streamed text exactly where the local backend would have.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

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

BACKEND_TYPES = ("local", "openai", "llama-server")
FAMILIES = tuple(t.name for t in TEMPLATES)
FALLBACKS = ("", "local")


@dataclass(frozen=True, kw_only=True)
class BackendSettings:
    """Where completions are computed: the embedded model, or a server of the user's own."""

    type: str = "local"  # "local" (embedded llama.cpp), "openai" (/v1/completions: vLLM, Ollama,
    # llama-server, llama-cpp-python) or "llama-server" (llama.cpp's /infill)
    url: str = ""  # the server, e.g. "http://gpu-box:8012" (a trailing /v1 is ignored)
    model: str = ""  # model name sent to the server; empty: the first one /v1/models lists
    family: str = ""  # FIM template: "qwen2.5-coder", "starcoder", "deepseek-coder", "codellama",
    # "codegemma"; empty: guessed from the served model's name
    api_key_env: str = ""  # NAME of an environment variable holding the API key (never logged)
    timeout_ms: int = 10000  # connect (at most 3 s) and read timeout of one request
    max_concurrency: int = 2  # requests in flight per editor; a newer one cancels the oldest
    retries: int = 2  # extra attempts on connection errors and HTTP 5xx, jittered backoff
    fallback: str = ""  # "local": answer with the embedded model while the server is unreachable
    verify_tls: bool = True  # check the server's certificate on https://
    allow_remote: bool = False  # opt-in per workspace: required for a server on another machine


def check_backend_settings(settings: BackendSettings) -> tuple[BackendSettings, list[str]]:
    """Settings with each broken key back at its default, and one sentence per problem.

    A remote type without a url falls back to "local": code never goes anywhere unplanned.
    """
    problems: list[str] = []
    defaults = BackendSettings()
    fixes: dict[str, object] = {}

    def reject(name: str, sentence: str) -> None:
        problems.append(sentence)
        fixes[name] = getattr(defaults, name)

    if settings.type not in BACKEND_TYPES:
        reject(
            "type",
            f"Setting 'backend.type' must be one of {', '.join(BACKEND_TYPES)}; got {settings.type!r}; using \"local\".",
        )
    elif settings.type != "local" and not settings.url:
        reject(
            "type",
            f'Setting \'backend.url\' is needed with backend.type {settings.type!r}, e.g. "http://gpu-box:8012"; using "local".',
        )
    if settings.family and settings.family not in FAMILIES:
        reject(
            "family",
            f"Setting 'backend.family' must be one of {', '.join(FAMILIES)} or empty; got {settings.family!r}.",
        )
    if settings.fallback not in FALLBACKS:
        reject(
            "fallback",
            f'Setting \'backend.fallback\' must be "" or "local"; got {settings.fallback!r}.',
        )
    for name, label in (("timeout_ms", "timeoutMs"), ("max_concurrency", "maxConcurrency")):
        if getattr(settings, name) <= 0:
            reject(
                name,
                f"Setting 'backend.{label}' must be positive; using {getattr(defaults, name)}.",
            )
    if settings.retries < 0:
        reject("retries", f"Setting 'backend.retries' must be 0 or more; using {defaults.retries}.")
    return dataclasses.replace(settings, **fixes), problems


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
    prefix, line_prefix = loose + prompt[start + len(template.prefix) : hole], prompt[middle + len(template.middle) :]
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
