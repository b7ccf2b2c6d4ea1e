"""Opening the backend the settings name: shared by the CLI and the server."""

from __future__ import annotations

from lsp.settings import CoveSettings


def open_backend(settings: CoveSettings, *, session_id: str = ""):
    """The embedded model, or the server `settings.backend` names (scrubbed, with fallback)."""
    from engine.local_backend import open_local_backend

    if settings.backend.type == "local":
        return open_local_backend(settings.model)
    from context.scrub import scrub_text
    from engine.remote_backend import open_remote_backend

    fallback = (lambda: open_local_backend(settings.model)) if settings.backend.fallback == "local" else None
    return open_remote_backend(settings.backend, fallback=fallback, scrub=scrub_text, session_id=session_id)
