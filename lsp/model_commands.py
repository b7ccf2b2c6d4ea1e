"""`cove model list|use` and `cove doctor`: what is installed, what runs, where code goes.

They print what the engine's model store and auto-choice report; no decisions are made here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.backends import open_backend
from engine.settings import ModelSettings
from lsp.settings import CoveSettings


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def _default_choice(settings: ModelSettings) -> str:
    """Which rule picks the model, without loading anything."""
    import os

    from engine.local.model_store import read_user_choice, user_choice_file

    if settings.path:
        return f"model.path = {settings.path}"
    if settings.name and settings.name != "auto":
        return f"model.name = {settings.name}"
    if os.environ.get("COVE_MODEL"):
        return f"$COVE_MODEL = {os.environ['COVE_MODEL']}"
    chosen = read_user_choice()
    if chosen:
        return f"{chosen} (cove model use, {user_choice_file()})"
    return "auto (the largest installed preset whose measured keystroke fits the budget)"


def model_list(settings: ModelSettings) -> int:
    """Print every preset: installed or not, size, verified, template, where."""
    from engine.local.model_store import install_hint, models_dir, preset_status
    from engine.local.presets import PRESETS

    rows = [("name", "installed", "size", "verified", "template", "where")]
    details: list[str] = []
    for preset in PRESETS:
        status = preset_status(preset)
        if status.installed:
            installed = "yes"
        elif len(status.missing) == len(preset.parts):
            installed = "no"
            details.append(f"{preset.name}: not installed: {install_hint(preset)}")
        else:
            installed = "partly"
            if status.missing:
                details.append(
                    f"{preset.name}: missing {', '.join(status.missing)}: "
                    f"{install_hint(preset, status.missing)}"
                )
            details.extend(f"{preset.name}: {sentence}" for sentence in status.broken)
        if status.verified:
            verified = "sha256 ok"
        elif status.assembled:
            verified = "checked on next use"
        else:
            verified = "on first use"
        where = str(status.assembled or models_dir() / preset.file_name)
        if not status.assembled:
            where += " (not assembled yet)"
        rows.append((preset.name, installed, _mib(preset.size), verified, preset.template, where))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[-1] = 0  # the last column is not padded
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for line in details:
        print(line)
    print(f"default:  {_default_choice(settings)}")
    return 0


def model_use(name: str) -> int:
    """Record the user's default model (a preset name, a GGUF path, or auto)."""
    from engine.local.model_store import (
        check_gguf,
        locate_parts,
        looks_like_path,
        write_user_choice,
    )
    from engine.local.presets import PRESET_NAMES, find_preset
    from engine.types import CompletionError

    preset = find_preset(name)
    if preset is not None:
        locate_parts(preset)  # a missing or broken package: the sentence that says what to do
        value = preset.name
    elif name == "auto":
        value = "auto"
    elif looks_like_path(name) or Path(name).exists():
        path = Path(name).expanduser().resolve()
        check_gguf(path, "cove model use")
        value = str(path)
    else:
        raise CompletionError(
            f"Unknown model {name!r}: use auto, {', '.join(PRESET_NAMES)}, or the path of a .gguf file."
        )
    written = write_user_choice(value)
    if value == "auto":
        print(f"default model: auto (removed {written})")
    else:
        print(
            f"default model: {value} (written to {written}; a model.path, or a model.name "
            "other than auto, in editor settings or --config still wins)"
        )
    return 0


def _gpu_line(facts: dict) -> str:
    from engine.local.runtime import gpu_backend_name

    layers = facts.get("layers") or 0
    requested = facts.get("gpu_layers", 0)
    if not facts.get("gpu_backend"):
        return "none: llama.cpp was built for the CPU only (0 layers offloaded; see README, Models)"
    name = gpu_backend_name(facts.get("system_info", "")) or "a GPU backend"
    offloaded = layers if requested < 0 or requested >= layers else requested
    return f"{name}: {offloaded} of {layers} layers offloaded"


def doctor_local(settings: ModelSettings) -> int:
    """`cove doctor` for the embedded backend: the active model, why, its speed here, the GPU."""
    from engine.local.loading import measured_rates, open_local_backend

    backend = open_local_backend(settings)
    try:
        facts = backend.describe()
        info = backend.model_info
        print(f"model:     {backend.model_path}")
        print(f"preset:    {facts['preset'] or '(a GGUF of your own)'}")
        print(f"chosen by: {info.reason if info else 'model.path'}")
        print(f"verified:  {'sha256 ok' if info and info.verified else 'not checked (user model)'}")
        template = facts["template"]
        if template == "prefix-only":
            template += " (no FIM tokens in this GGUF: the text after the cursor is not used)"
        print(f"template:  {template}")
        print(f"context:   {facts['context_size']} tokens, loaded in {facts['load_ms']} ms")
        print(
            f"threads:   {facts.get('threads')} generating, {facts.get('batch_threads')} "
            "evaluating prompts"
        )
        print(f"gpu:       {_gpu_line(facts)}")
        for note in backend.runtime.notes if backend.runtime else ():
            print(f"note:      {note}")
        rates, measured_now = measured_rates(backend)
        source = "measured now, cached" if measured_now else "cached"
        print(
            f"speed:     {rates.describe()} (auto's budget {settings.keystroke_budget_ms} ms; {source})"
        )
        print(f"llama.cpp: {facts['system_info']}")
        probe = backend.count_tokens("def hello():\n    return 1\n")
    finally:
        backend.close()
    if probe <= 0:
        print(
            "cove: the tokenizer returned nothing: the model file is damaged; reinstall it.",
            file=sys.stderr,
        )
        return 1
    print("status:    ok")
    return 0


def doctor_remote(settings: CoveSettings) -> int:
    """`cove doctor` in remote mode: where code goes, what the server serves, whether it answers."""
    backend = open_backend(settings.model, settings.backend)
    try:
        facts = backend.describe()
    finally:
        backend.close()
    print(
        f"backend:   {facts['backend']} at {facts['url']} ({'another machine' if facts['remote'] else 'this machine'})"
    )
    print(f"model:     {facts['model'] or '(server default)'}")
    print(f"template:  {facts['template']} ({facts['template_source']})")
    print(f"tokenizer: {facts['tokenizer']}")
    print(
        f"api key:   {facts['api_key']}; TLS verification {'on' if facts['verify_tls'] else 'OFF'}"
    )
    print(f"fallback:  {facts['fallback']}")
    print(f"privacy:   {facts['privacy']}")
    if not facts["reachable"]:
        print(
            f"cove: the completion server at {facts['url']} does not answer: start it, or fix backend.url.",
            file=sys.stderr,
        )
        return 1
    print("status:    ok")
    return 0
