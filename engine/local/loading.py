"""Which model file to load and how (threads, GPU layers, `auto`'s measured choice), and
loading it into a `LocalBackend`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.local.auto import (
    RateCache,
    Rates,
    choose_model,
    file_identity,
    machine_identity,
    machine_load,
    measure_backend,
)
from engine.local.backend import LocalBackend
from engine.local.memory import decide_mmap, return_large_blocks
from engine.local.model_store import ModelInfo
from engine.local.presets import find_preset
from engine.local.runtime import Runtime, decide_runtime
from engine.local.worker import quiet_stderr
from engine.settings import ModelSettings

log = logging.getLogger(__name__)


def llama_runtime(settings: ModelSettings) -> tuple[Runtime, str]:
    """Threads and GPU layers for this llama.cpp build, and its system info line."""
    import llama_cpp

    with quiet_stderr():  # the first query initialises the backends, which chatter on fd 2
        gpu_backend = bool(llama_cpp.llama_supports_gpu_offload())
    runtime = decide_runtime(settings.threads, settings.gpu_layers, gpu_backend=gpu_backend)
    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    return runtime, info


def measure_model_file(
    path: Path, settings: ModelSettings, runtime: Runtime, *, verbose: bool = False
) -> Rates:
    """Load `path` as Cove would, measure its rates (auto's budget), free it."""
    backend = LocalBackend(
        model_path=path,
        context_size=min(settings.context_size, 1024),
        threads=runtime.threads,
        batch_size=settings.batch_size,
        gpu_layers=runtime.gpu_layers,
        verbose=verbose,
    )
    try:
        return measure_backend(backend)
    finally:
        backend.close()


def resolve_local_model(
    settings: ModelSettings, *, verbose: bool = False, cache: RateCache | None = None
) -> tuple[ModelInfo, Runtime, str]:
    """Which model file to load (measuring for `auto` when nothing is cached), and how."""
    runtime, system_info = llama_runtime(settings)
    for note in runtime.notes:
        log.warning("%s", note)
    info = choose_model(
        settings,
        machine=lambda: machine_identity(system_info, runtime.threads, runtime.gpu_layers),
        measure=lambda path: measure_model_file(path, settings, runtime, verbose=verbose),
        cache=cache,
    )
    log.info("model %s (%s)", info.path, info.reason)
    return info, runtime, system_info


def open_local_backend(settings: ModelSettings, *, verbose: bool = False) -> LocalBackend:
    """Resolve the model (path, name, $COVE_MODEL, `cove model use`, auto) and load it."""
    info, runtime, _ = resolve_local_model(settings, verbose=verbose)
    return_large_blocks()  # freed kept states and logits copies go back to the system
    backend = LocalBackend(
        model_path=info.path,
        context_size=settings.context_size,
        threads=runtime.threads,
        batch_size=settings.batch_size,
        gpu_layers=runtime.gpu_layers,
        verbose=verbose,
        kept_prompts=settings.kept_prompts,
        use_mmap=decide_mmap(settings.mmap, info.preset),
    )
    backend.model_info, backend.runtime = info, runtime
    preset = find_preset(info.preset) if info.preset else None
    backend.layout = preset.layout if preset else "stable"
    return backend


def measured_rates(backend: LocalBackend, cache: RateCache | None = None) -> tuple[Rates, bool]:
    """The loaded model's rates on this machine: (cached or measured now, measured now)."""
    cache = cache or RateCache()
    runtime = backend.runtime or decide_runtime(0, 0, gpu_backend=False)
    system_info = backend._llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    machine = machine_identity(system_info, runtime.threads, runtime.gpu_layers)
    preset = find_preset(backend.model_info.preset) if backend.model_info else None
    model = file_identity(backend.model_path, preset.sha256 if preset else "")
    cached = cache.get(machine, model)
    if cached is not None and not (cached.busy and machine_load() < cached.cpus):
        return cached, False
    log.warning("measuring %s once on this machine (a few seconds)", backend.model_path.name)
    rates = measure_backend(backend)
    cache.put(machine, model, rates)
    return rates, True
