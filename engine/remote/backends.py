"""Remote backends: an OpenAI-compatible server (`openai`) or llama.cpp's llama-server.

Cove still builds the context, renders the prompt (or, for /infill, its pieces), applies
the same stop rules to the streamed text and post-processes as in local mode; only the
model runs elsewhere, and every text that leaves passes the injected scrubber first.

    backend = open_remote_backend(BackendSettings(type="openai", url="http://gpu-box:8000",
                                                  allow_remote=True),
                                  fallback=lambda: open_local_backend(model_settings))

Every text that leaves passes `engine.remote.scrub.scrub_text` unless another scrubber
is injected. The shared machinery is in `base` (sending, retries, breaker, fallback),
`probe` (model, tokenizer, opt-in), `wire` (one call's stream and errors), `http`
(stdlib HTTP) and `prompt` (templates, stop scan).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from engine.backend import Backend
from engine.remote.base import RemoteBackend, Scrubber
from engine.remote.http import RemoteError
from engine.remote.probe import check_remote_allowed
from engine.remote.prompt import (
    infill_template,
    parse_prompt,
)
from engine.remote.wire import Piece, infill_logprobs, openai_logprobs
from engine.settings import BackendSettings, check_backend_settings
from engine.templates import FimTemplate
from engine.types import CompletionError, GenerationRequest

__all__ = [
    "BackendSettings",
    "LlamaServerBackend",
    "OpenAIBackend",
    "RemoteBackend",
    "RemoteError",
    "check_backend_settings",
    "check_remote_allowed",
    "open_remote_backend",
]

log = logging.getLogger(__name__)

OPENAI_FINISH = {"stop": "eos", "length": "max_tokens"}
INFILL_STOP = {"eos": "eos", "limit": "max_tokens", "word": "stop_string"}


class OpenAIBackend(RemoteBackend):
    """POST /v1/completions with the prompt Cove renders (vLLM, Ollama, llama-server,
    llama-cpp-python's server, any OpenAI-compatible server).
    """

    kind = "openai"
    path = "/v1/completions"
    asks_logprobs = True  # per instance once a server rejects the field

    def _body(self, request: GenerationRequest) -> dict:
        stops = list(dict.fromkeys((*request.stop.stop_strings, *self.template.special_tokens)))
        return {
            **({"model": self.model_name} if self.model_name else {}),
            "prompt": self._scrub(request.prompt),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": 1.0,
            "stream": True,
            "stream_options": {"include_usage": True},
            **({"stop": stops} if stops else {}),
            # Not in OpenAI's API; servers that know them keep greedy decoding plain
            # (llama-cpp-python defaults to repeat_penalty 1.1) and show special tokens
            # (vLLM), so Cove's stop scan sees them. Other servers ignore them.
            "repeat_penalty": 1.0,
            "skip_special_tokens": False,
            "cache_prompt": True,
            # The chosen tokens' log-probabilities, for the confidence (dropped for good
            # if this server rejects the field).
            **({"logprobs": 1} if self.asks_logprobs else {}),
        }

    def drop_optional(self, error: RemoteError) -> bool:
        """A request rejected as malformed: retry without `logprobs`, which not every
        OpenAI-compatible server accepts (once; later requests leave it out too).
        """
        if self.asks_logprobs and error.status in (400, 422):
            self.asks_logprobs = False
            log.info(
                "%s rejected logprobs (%s): confidence unknown from now on",
                self.endpoint.display,
                error,
            )
            return True
        return False

    def _parse_event(self, data: dict) -> Piece:
        choice = (data.get("choices") or [{}])[0]
        usage = data.get("usage") or {}
        finish = choice.get("finish_reason") or ""
        return Piece(
            text=choice.get("text") or "",
            finish=OPENAI_FINISH.get(finish, finish),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            reused_tokens=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
            generated_tokens=int(usage.get("completion_tokens") or 0),
            logprobs=openai_logprobs(choice),
        )


class LlamaServerBackend(RemoteBackend):
    """POST /infill on llama.cpp's llama-server: the server applies the model's FIM tokens,
    keeps one KV-cache slot per editor, and stops at indentation (`n_indent`).
    """

    kind = "llama-server"
    path = "/infill"

    def _choose_template(self) -> tuple[FimTemplate, str]:
        family, source = super()._choose_template()
        return infill_template(family), source

    @property
    def id_slot(self) -> int:
        """The slot of this editor: stable per session, so the server's KV cache stays its own."""
        slots = int(self.server.facts.get("total_slots") or 0)
        if slots <= 0:
            return -1
        return int(hashlib.sha1(self.session_id.encode()).hexdigest(), 16) % slots

    def _body(self, request: GenerationRequest) -> dict:
        # The pieces the prompt was rendered from; a prompt built elsewhere is taken apart.
        fim = request.fim or parse_prompt(self.template, request.prompt)
        if fim is None:
            raise RemoteError("The prompt was not rendered with this backend's template.")
        stop = request.stop
        return {
            "input_prefix": self._scrub(fim.prefix),
            "input_suffix": self._scrub(fim.suffix),
            "prompt": self._scrub(fim.line_prefix),
            "input_extra": [{"filename": c.path, "text": self._scrub(c.text)} for c in fim.chunks],
            "n_predict": request.max_tokens,
            "stream": True,
            "cache_prompt": True,
            "temperature": request.temperature,
            "top_k": 1,
            "n_indent": stop.indent if stop.multiline else 0,
            "t_max_predict_ms": max(1, request.deadline_ms),
            "id_slot": self.id_slot,
            "n_probs": 1,  # each token's probability, for the confidence
            **({"stop": list(stop.stop_strings)} if stop.stop_strings else {}),
        }

    def _parse_event(self, data: dict) -> Piece:
        finish = INFILL_STOP.get(data.get("stop_type", ""), "eos") if data.get("stop") else ""
        return Piece(
            text=data.get("content") or "",
            finish=finish,
            prompt_tokens=int(data.get("tokens_evaluated") or 0),
            reused_tokens=int(data.get("tokens_cached") or 0) if finish else 0,
            generated_tokens=int(data.get("tokens_predicted") or 0),
            logprobs=infill_logprobs(data),
        )


def open_remote_backend(
    settings: BackendSettings,
    *,
    fallback: Callable[[], Backend] | None = None,
    scrub: Scrubber | None = None,
    session_id: str = "",
) -> RemoteBackend:
    """Connect to the server `settings` names.

    `scrub` is applied to every text that leaves (prompt, infill pieces, chat messages);
    `fallback` builds the backend that answers while the server is unreachable (called
    once, on first need); `session_id` names the editor session (llama-server slot).
    Raises CompletionError on settings that cannot work (one sentence: what to set).
    """
    _, problems = check_backend_settings(settings)
    if problems:
        raise CompletionError(problems[0])
    kinds = {"openai": OpenAIBackend, "llama-server": LlamaServerBackend}
    if settings.type not in kinds:
        raise CompletionError(f"backend.type {settings.type!r} is not a remote backend.")
    return kinds[settings.type](settings, fallback=fallback, scrub=scrub, session_id=session_id)
