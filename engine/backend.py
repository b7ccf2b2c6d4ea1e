"""The `Backend` protocol: what the rest of Cove needs from a model.

A backend turns a rendered prompt into text. The embedded llama.cpp backend
(`engine.local`) is the default; remote ones (`engine.remote`) speak to a server.
`engine.backends.open_backend` picks one from the settings.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Protocol

from engine.templates import FimTemplate
from engine.types import GenerationRequest, GenerationResult


class Backend(Protocol):
    """What the rest of Cove needs from a model."""

    template: FimTemplate
    # True when generation can be forced to start with `GenerationRequest.heal` (token
    # healing); a backend without it gets the classic psm prompt, which needs none.
    heals: bool

    @property
    def model_name(self) -> str:
        """The served or loaded model's name (read-only: a remote one learns it from the server)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs with this model's tokenizer."""
        ...

    def submit(self, request: GenerationRequest) -> concurrent.futures.Future[GenerationResult]:
        """Start a generation; the future resolves to its result (never to an exception for
        cancellation or deadline: those end with a `stop_reason`).
        """
        ...

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        deadline_ms: int,
        cancel: threading.Event | None = None,
    ) -> concurrent.futures.Future[str]:
        """Run the model's chat template over `messages` and return the reply."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts for `cove doctor` and logs."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...
