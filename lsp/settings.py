"""Cove's whole settings tree, as it arrives from LSP initializationOptions or the CLI.

Each package owns its section (engine: model + generation; context: budget); this
module only adds the editor-facing `features` section and puts the tree together.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from context.assist.actions import AssistSettings
from context.assist.commit import CommitSettings
from context.retrieval.gate import CONTEXT_WHEN
from context.settings import ContextSettings
from context.window import BudgetSettings
from engine.settings import (
    MMAP_CHOICES,
    BackendSettings,
    GenerationSettings,
    ModelSettings,
    check_backend_settings,
    load_settings,
    validate_choice,
)
from engine.templates import INDENTATIONS, LAYOUTS, PLACEMENTS


@dataclass(frozen=True, kw_only=True)
class FeatureSettings:
    """What the server offers the editor."""

    inline_completion: bool = True  # textDocument/inlineCompletion (ghost text)
    completion: bool = True  # textDocument/completion (the menu fallback every client has)
    code_actions: bool = True  # explain / docstring code actions
    speculative: bool = True  # after an accepted suggestion, warm the next position
    # When a document opens or the user pauses and no request is open, evaluate the prompt
    # the next request most likely needs (the last edit, else the editor's cursor); any
    # real request drops that work at once (lsp/features/prefetch.py).
    prefetch: bool = True
    disabled_languages: tuple[str, ...] = ()  # languageIds with no completions, e.g. ["markdown"]
    # Longest wait of an automatic request for typing to pause (adapted to the typing
    # rhythm, context/debounce.py); explicit requests never wait. 0 = off.
    debounce_ms: int = 0
    log_level: str = "info"  # window/logMessage level: "error", "warning", "info", "debug"


@dataclass(frozen=True, kw_only=True)
class CoveSettings:
    """Every key Cove reads; camelCase on the wire."""

    model: ModelSettings = field(default_factory=ModelSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    backend: BackendSettings = field(default_factory=BackendSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    assist: AssistSettings = field(default_factory=AssistSettings)
    commit: CommitSettings = field(default_factory=CommitSettings)


LOG_LEVELS = ("error", "warning", "info", "debug")
MULTILINE = ("auto", "always", "never")


def parse_settings(data: Any, base: CoveSettings | None = None) -> tuple[CoveSettings, list[str]]:
    """Fill the tree from a wire mapping; return it with a list of one-sentence problems.

    Accepts the tree itself or wrapped in a `cove` key (as editors send their section).
    Values that break a rule (a negative budget, an unknown choice) keep their default.
    """
    if isinstance(data, dict) and isinstance(data.get("cove"), dict) and len(data) == 1:
        data = data["cove"]
    settings, problems = load_settings(CoveSettings, data, base)
    defaults = CoveSettings()
    if not validate_choice(
        settings.generation.multiline, MULTILINE, "generation.multiline", problems
    ):
        settings = dataclasses.replace(
            settings, generation=dataclasses.replace(settings.generation, multiline="auto")
        )
    if not validate_choice(settings.generation.layout, LAYOUTS, "generation.layout", problems):
        settings = dataclasses.replace(
            settings, generation=dataclasses.replace(settings.generation, layout="auto")
        )
    for key, label, choices in (
        ("indentation", "generation.indentation", INDENTATIONS),
        ("context_placement", "generation.contextPlacement", PLACEMENTS),
        ("context_when", "generation.contextWhen", CONTEXT_WHEN),
    ):
        if not validate_choice(getattr(settings.generation, key), choices, label, problems):
            default = getattr(defaults.generation, key)
            generation = dataclasses.replace(settings.generation, **{key: default})
            settings = dataclasses.replace(settings, generation=generation)
    if not validate_choice(settings.model.mmap, MMAP_CHOICES, "model.mmap", problems):
        settings = dataclasses.replace(
            settings, model=dataclasses.replace(settings.model, mmap="auto")
        )
    settings = _check_ranges(settings, defaults, problems)
    if not validate_choice(settings.features.log_level, LOG_LEVELS, "features.logLevel", problems):
        settings = dataclasses.replace(
            settings, features=dataclasses.replace(settings.features, log_level="info")
        )
    backend, backend_problems = check_backend_settings(settings.backend)
    problems.extend(backend_problems)
    settings = dataclasses.replace(settings, backend=backend)
    settings = _clamp_positive(settings, defaults, problems)
    return settings, problems


def _check_ranges(
    settings: CoveSettings, defaults: CoveSettings, problems: list[str]
) -> CoveSettings:
    """Numbers with a range: out of it, one sentence and the default."""
    for section, name, label, low, high in (
        ("generation", "min_confidence", "generation.minConfidence", 0.0, 1.0),
        ("generation", "alternatives", "generation.alternatives", 0, 4),
        ("model", "kept_prompts", "model.keptPrompts", 0, 16),
        ("context", "index_workers", "context.indexWorkers", 0, 64),
    ):
        current = getattr(settings, section)
        value = getattr(current, name)
        if not low <= value <= high:
            default = getattr(getattr(defaults, section), name)
            problems.append(
                f"Setting '{label}' must be between {low} and {high}; got {value!r}, using {default}."
            )
            fixed = dataclasses.replace(current, **{name: default})
            settings = dataclasses.replace(settings, **{section: fixed})
    return settings


def _clamp_positive(
    settings: CoveSettings, defaults: CoveSettings, problems: list[str]
) -> CoveSettings:
    """Numbers that must be positive fall back to their defaults."""
    rules = {
        "generation": ("max_tokens", "deadline_ms", "max_lines"),
        "budget": ("prefix_tokens", "suffix_tokens"),
        "model": ("context_size", "batch_size", "keystroke_budget_ms"),
    }
    for section, names in rules.items():
        current = getattr(settings, section)
        fixes = {}
        for name in names:
            if getattr(current, name) <= 0:
                default = getattr(getattr(defaults, section), name)
                problems.append(f"Setting '{section}.{name}' must be positive; using {default}.")
                fixes[name] = default
        if fixes:
            settings = dataclasses.replace(
                settings, **{section: dataclasses.replace(current, **fixes)}
            )
    return settings
