"""The engine's settings section, and a loader that fills any settings dataclass.

Settings are frozen, keyword-only dataclasses with documented defaults. On the wire
(LSP initializationOptions, JSON) keys are camelCase; in Python, snake_case. Unknown or
badly typed keys are reported and the default is kept: a bad setting never stops Cove.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from engine.templates import TEMPLATES

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Which model to load and how."""

    name: str = "auto"  # "auto" (the best preset this machine runs fast enough, measured),
    # "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", or a GGUF path
    path: str = ""  # a GGUF file; wins over model.name when set
    context_size: int = 4096  # llama.cpp context window in tokens
    threads: int = 0  # CPU threads for generation; 0: all cores
    batch_size: int = 64  # prompt tokens between deadline/cancel checks while a newer call
    # waits or the deadline is near; otherwise a cold prompt goes in chunks of 256 (measured)
    gpu_layers: int = -1  # layers offloaded to a GPU; -1: all when llama.cpp has a GPU backend
    keystroke_budget_ms: int = 500  # auto: a warm keystroke (25 new + 12 generated tokens)
    # must fit this on a preset for auto to choose it
    kept_prompts: int = 4  # evaluated prompts of other files kept in memory (at most 256 MB
    # together) so that returning to a file does not evaluate its prompt again; 0: off
    mmap: str = "auto"  # map the model file: "auto" (on for Cove's read-only presets, off for
    # a model.path file, which a rewrite in place would turn into a crash), "on" or "off"


@dataclass(frozen=True, kw_only=True)
class GenerationSettings:
    """Limits of one completion."""

    max_tokens: int = 64  # cap on generated tokens
    deadline_ms: int = 10000  # bound on queueing, prompt evaluation and generation
    multiline: str = "auto"  # "auto" (decided at the cursor), "always" or "never"
    max_lines: int = 8  # cap on lines in a multi-line suggestion
    layout: str = "auto"  # "auto": the model's measured choice (its preset says; "stable" for
    # other models); "stable": hole from the line start (KV reuse); "psm": classic; "hybrid":
    # psm on a line of indentation only, stable on a line with text
    indentation: str = "model"  # line of indentation only: "model" writes its own, "hold" keeps
    # the user's (healed like a word: the suggestion starts at the cursor)
    context_placement: str = "suffix"  # context chunks: "repo" (repo-level header before the
    # prefix), "prefix" (comment blocks after the prefix marker), "suffix" (before the middle)
    context_when: str = "api"  # "api": context only after `name.` / `name(` and the word
    # typed after it; "always": every request. Both measured: README, "Real code"
    min_confidence: float = 0.35  # stay silent on automatic requests when the least likely
    # token of the suggestion had a lower probability (0..1); explicit ones are never
    # filtered; 0: off. The default is measured: README, "Confidence and alternatives"
    alternatives: int = 2  # extra suggestions an explicit request may get (0..4; 0: just one)


MMAP_CHOICES = ("auto", "on", "off")
BACKEND_TYPES = ("local", "openai", "llama-server")
FAMILIES = tuple(template.name for template in TEMPLATES)
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
    fixes: dict[str, Any] = {}

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


def snake_case(name: str) -> str:
    """`maxTokens` → `max_tokens` (snake_case passes through)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel_case(name: str) -> str:
    """`max_tokens` → `maxTokens`."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _coerce(value: Any, kind: Any) -> Any:
    """Convert a wire value to `kind`, or raise ValueError with what was wrong."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            try:
                return _coerce(value, option)
            except ValueError:
                continue
        raise ValueError(f"expected {kind}, got {value!r}")
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, got {value!r}")
        return dict(value)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list, got {value!r}")
        (item,) = typing.get_args(kind)[:1] or (str,)
        return tuple(_coerce(v, item) for v in value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind is type(None):
        if value is not None:
            raise ValueError(f"expected null, got {value!r}")
        return None
    raise ValueError(f"unsupported setting type {kind}")


def load_settings(
    cls: type[T], data: Any, base: T | None = None, where: str = ""
) -> tuple[T, list[str]]:
    """Build `cls` from a (camelCase or snake_case) mapping on top of `base`.

    Returns the settings and a list of problems, one sentence each; a key with a problem
    keeps its value from `base` (or the default).
    """
    current = base if base is not None else cls()
    problems: list[str] = []
    if data is None:
        return current, problems
    if not isinstance(data, dict):
        return current, [f"{where or 'settings'}: expected an object, got {data!r}; defaults used."]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        name = snake_case(str(key))
        label = f"{where}.{key}" if where else str(key)
        if name not in fields:
            problems.append(f"Unknown setting {label!r} ignored.")
            continue
        kind = hints[name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            sub, sub_problems = load_settings(kind, value, getattr(current, name), label)
            changes[name] = sub
            problems.extend(sub_problems)
            continue
        try:
            changes[name] = _coerce(value, kind)
        except ValueError as error:
            problems.append(f"Setting {label!r}: {error}; keeping {getattr(current, name)!r}.")
    return dataclasses.replace(current, **changes), problems


def validate_choice(value: str, choices: tuple[str, ...], label: str, problems: list[str]) -> bool:
    """Record a problem when `value` is not one of `choices`."""
    if value in choices:
        return True
    problems.append(f"Setting {label!r} must be one of {', '.join(choices)}; got {value!r}.")
    return False
