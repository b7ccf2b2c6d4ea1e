"""How llama.cpp runs here: threads and GPU layers from the settings and the build.

Pure functions of the settings and the facts llama.cpp reports, so the rules are tested
without a model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ALL_LAYERS = -1  # llama.cpp's "offload every layer"


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """The threads and GPU layers a model is loaded with, and notes for the user."""

    threads: int
    gpu_layers: int  # -1: all layers
    gpu_backend: bool  # llama.cpp was built with a GPU backend (Metal, CUDA, Vulkan, ...)
    notes: tuple[str, ...] = ()


def default_threads(cpu_count: int | None = None) -> int:
    """`model.threads = 0`: every core (measured faster than cores - 1 here; see README)."""
    return max(1, cpu_count or os.cpu_count() or 2)


def decide_runtime(
    threads: int, gpu_layers: int, *, gpu_backend: bool, cpu_count: int | None = None
) -> Runtime:
    """Threads (0: the default) and GPU layers (-1: all with a GPU backend, else 0).

    A positive `gpu_layers` on a CPU-only build is a note, not a failure: llama.cpp would
    ignore it anyway.
    """
    notes: list[str] = []
    if gpu_layers < 0:
        layers = ALL_LAYERS if gpu_backend else 0
    elif gpu_layers > 0 and not gpu_backend:
        notes.append(
            f"model.gpuLayers is {gpu_layers} but this llama.cpp has no GPU backend: running "
            "on the CPU (rebuild llama-cpp-python with Metal/CUDA/Vulkan, see the README)."
        )
        layers = 0
    else:
        layers = gpu_layers
    return Runtime(
        threads=threads if threads > 0 else default_threads(cpu_count),
        gpu_layers=layers,
        gpu_backend=gpu_backend,
        notes=tuple(notes),
    )


def gpu_backend_name(system_info: str) -> str:
    """The GPU backend named in llama.cpp's system info ("" when there is none)."""
    found = [
        name
        for name in ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL", "MUSA", "CANN")
        if name.lower() in system_info.lower()
    ]
    return ", ".join(found)
