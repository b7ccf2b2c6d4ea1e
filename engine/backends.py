"""Opening the backend the settings name: one way in, shared by the CLI and the server."""

from __future__ import annotations

from engine.backend import Backend
from engine.settings import BackendSettings, ModelSettings


def open_backend(
    model: ModelSettings, backend: BackendSettings, *, session_id: str = ""
) -> Backend:
    """The embedded model, or the server `backend` names (scrubbed, with optional local fallback)."""
    from engine.local.loading import open_local_backend

    if backend.type == "local":
        return open_local_backend(model)
    from engine.remote.backends import open_remote_backend

    fallback = (lambda: open_local_backend(model)) if backend.fallback == "local" else None
    return open_remote_backend(backend, fallback=fallback, session_id=session_id)
