"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def backend():
    """The embedded Qwen2.5-Coder-0.5B through the local llama.cpp backend (loaded once)."""
    from engine.local_backend import open_local_backend
    from engine.settings import ModelSettings

    loaded = open_local_backend(ModelSettings())
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def model_path(backend):
    """Path of the assembled, verified embedded GGUF."""
    return backend.model_path
