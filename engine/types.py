"""Shared plain types of the engine: prompts, requests, results, the tokenizer protocol.

Everything here is a frozen dataclass or a protocol so that `context/` and `lsp/` can
build and read them without importing llama.cpp.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from engine.confidence import Confidence


class Tokenizer(Protocol):
    """Counts tokens with the model's own tokenizer."""

    def count_tokens(self, text: str) -> int:
        """Return how many tokens `text` costs in the prompt."""
        ...


@dataclass(frozen=True, kw_only=True)
class ContextChunk:
    """A piece of repository context placed before the file being completed."""

    path: str
    text: str
    source: str = "context"
    start_line: int = 0
    end_line: int = 0
    score: float = 0.0
    tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class FimInput:
    """The text around the cursor in the keystroke-stable layout.

    `prefix` is the file up to the start of the cursor's line, `line_prefix` the cursor's
    line up to the cursor, `suffix` the rest of the cursor's line and everything after.
    """

    prefix: str
    line_prefix: str
    suffix: str
    path: str = ""
    repo_name: str = ""
    chunks: tuple[ContextChunk, ...] = ()
    healed: bool = False  # `line_prefix` already lacks its healed tail (a parsed prompt)
    # A line of indentation only: "model" leaves it out for the model to choose, "hold" keeps
    # it and heals its last blank (`engine.templates.split_cursor_line`).
    indentation: str = "model"


@dataclass(frozen=True, kw_only=True)
class StopPolicy:
    """When generation stops: one line, or a block bounded by indentation and a line cap."""

    multiline: bool = False
    max_lines: int = 8
    indent: int = 0  # indentation (columns) of the cursor's block; a shallower line stops
    stop_strings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """One generation: the rendered prompt text (and what it was rendered from) plus limits."""

    prompt: str
    max_tokens: int = 64
    deadline_ms: int = 5000
    stop: StopPolicy = field(default_factory=StopPolicy)
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    temperature: float = 0.0
    request_id: str = ""
    # Token healing: text the prompt left out that the generation must start with (a
    # backend that can constrain decoding forces it and returns it as part of the text).
    heal: str = ""
    # The pieces `prompt` was rendered from, for a backend that sends them separately
    # (llama-server's /infill); None for a prompt built some other way.
    fim: FimInput | None = None
    # Extra generations wanted beside the greedy one (an explicit request's alternatives):
    # each starts from a less likely first token and shares the evaluated prompt.
    alternatives: int = 0


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Milliseconds spent in each stage."""

    context_ms: float = 0.0
    prefill_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True, kw_only=True)
class TokenCounts:
    """Prompt tokens (all, reused from the KV cache) and generated tokens."""

    prompt: int = 0
    reused: int = 0
    generated: int = 0

    @property
    def new(self) -> int:
        """Prompt tokens that had to be evaluated."""
        return self.prompt - self.reused


@dataclass(frozen=True, kw_only=True)
class Alternative:
    """One more generation from the same prompt, started from another first token."""

    text: str
    stop_reason: str
    generated: int = 0
    confidence: Confidence | None = None


@dataclass(frozen=True, kw_only=True)
class GenerationResult:
    """Raw text from the model and what it cost."""

    text: str
    stop_reason: str  # "eos", "newline", "dedent", "blank_lines", "max_lines", "max_tokens",
    # "stop_string", "deadline", "cancelled"
    tokens: TokenCounts
    prefill_ms: float
    generate_ms: float
    confidence: Confidence | None = None  # None: the backend could not say (never filtered)
    alternatives: tuple[Alternative, ...] = ()
    alternatives_ms: float = 0.0  # time spent generating the alternatives


class CompletionError(Exception):
    """An error the user can act on, stated in one sentence."""
