"""What a remote backend learns from its server: model, tokenizer, slots — and the opt-in.

`probe_server` asks once (GET /v1/models, llama-server's /props, which tokenize endpoint
answers); `TokenCounter` counts with the server's own tokenizer when it has one and
falls back to a conservative estimate when it has none or cannot be reached, so token
budgets never wait on a dead server. `check_remote_allowed` enforces the per-workspace
opt-in before any byte leaves the machine.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.remote.http import CircuitBreaker, Connector, Endpoint
from engine.remote.prompt import estimate_tokens
from engine.remote.wire import ClientErrors
from engine.settings import BackendSettings
from engine.types import CompletionError

log = logging.getLogger(__name__)

TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


def check_remote_allowed(settings: BackendSettings) -> Endpoint:
    """The server's endpoint, if this workspace allows sending code there.

    A server on this machine (loopback) is always allowed; another machine needs
    `backend.allowRemote: true`, set per workspace, so that code never leaves by accident.
    """
    try:
        endpoint = Endpoint.parse(settings.url)
    except ValueError as error:
        raise CompletionError(
            f"{error}; set backend.url to the server, e.g. http://gpu-box:8012."
        ) from None
    if not endpoint.is_loopback and not settings.allow_remote:
        raise CompletionError(
            f"backend.url points at {endpoint.host}, another machine: code and context would "
            "leave this one; set backend.allowRemote to true in this workspace's settings "
            "to allow it."
        )
    if not endpoint.is_loopback and endpoint.scheme == "http":
        log.warning(
            "backend.url %s is plain http: code travels unencrypted; prefer https://.",
            endpoint.display,
        )
    if endpoint.scheme == "https" and not settings.verify_tls:
        log.warning("backend.verifyTls is off: %s is not authenticated.", endpoint.display)
    return endpoint


def api_key_header(settings: BackendSettings) -> tuple[dict[str, str], str]:
    """The Authorization header (from the environment variable the settings name) and a
    description of it that is safe to show: the variable's name, never its value.
    """
    if not settings.api_key_env:
        return {}, "none"
    key = os.environ.get(settings.api_key_env, "")
    if not key:
        return {}, f"${settings.api_key_env} (not set)"
    return {"Authorization": f"Bearer {key}"}, f"${settings.api_key_env}"


def tokenize_body(path: str, text: str, model: str) -> dict:
    """The request body each tokenize endpoint expects (counting plain text, no BOS)."""
    if path == "/extras/tokenize":  # llama-cpp-python's server
        return {"input": text, "model": model or None}
    # llama-server reads `content`, vLLM reads `prompt`: one body serves both.
    return {
        "content": text,
        "prompt": text,
        "model": model or None,
        "add_special": False,
        "parse_special": False,
        "add_special_tokens": False,
    }


def token_count(answer: object) -> int | None:
    """The count in a tokenize answer ({"tokens": [...]} or vLLM's {"count": n})."""
    if not isinstance(answer, dict):
        return None
    tokens = answer.get("tokens")
    if isinstance(tokens, list):
        return len(tokens)
    count = answer.get("count")
    return count if isinstance(count, int) else None


@dataclass
class ServerInfo:
    """What the server told us about itself."""

    model: str = ""
    models: list[str] = field(default_factory=list)
    tokenize_path: str = ""  # "/tokenize", "/extras/tokenize" or "" (estimate)
    facts: dict[str, Any] = field(default_factory=dict)  # llama-server: n_ctx, total_slots, ...


def probe_server(http: Connector, errors: ClientErrors, *, model: str, props: bool) -> ServerInfo:
    """Ask the server for its models (and /props when `props`) and find its tokenizer.

    Raises RemoteError on 401/403 (a wrong key will not fix itself) and the transport's
    OSError / HTTPException when the server cannot be reached.
    """
    status, body = http.request_json("GET", "/v1/models")
    if status in (401, 403):
        raise errors.client_error(status, body)
    info = ServerInfo(model=model)
    if status == 200 and isinstance(body, dict):
        info.models = [str(m.get("id", "")) for m in body.get("data", []) if isinstance(m, dict)]
    if not info.model and info.models:
        info.model = info.models[0]
    elif info.model and info.models and info.model not in info.models:
        log.warning("backend.model %r is not among the server's models %s.", model, info.models[:5])
    if props:
        info.facts = _read_props(http)
    for path in ("/tokenize", "/extras/tokenize"):
        status, answer = http.request_json(
            "POST", path, tokenize_body(path, "def f():\n", info.model)
        )
        if status == 200 and token_count(answer) is not None:
            info.tokenize_path = path
            break
    return info


def _read_props(http: Connector) -> dict[str, Any]:
    """llama-server's /props: context size, slots, model file."""
    status, props = http.request_json("GET", "/props")
    if status != 200 or not isinstance(props, dict):
        return {}
    defaults = props.get("default_generation_settings") or {}
    return {
        "n_ctx": int(defaults.get("n_ctx") or props.get("n_ctx") or 0),
        "total_slots": int(props.get("total_slots") or 0),
        "model_path": os.path.basename(str(props.get("model_path", ""))),
        "build_info": str(props.get("build_info", "")),
    }


# A run of base64 as long as a line of a key block: maybe a piece of one, so not sent.
KEY_MATERIAL = re.compile(r"[A-Za-z0-9+/]{40,}")


class TokenCounter:
    """Counts with the server's tokenizer, cached per text; estimates when it cannot."""

    QUIET_S = 10.0  # after a failed or slow tokenize call, estimate for this long

    def __init__(
        self, http: Connector, breaker: CircuitBreaker, scrub: Callable[[str], str] | None = None
    ) -> None:
        self.http = http
        self.breaker = breaker
        # Text with a secret is counted here, never sent: the scrubber finds whole secrets,
        # and a budget counts pieces (a line of a key block has no BEGIN line to match).
        self.scrub = scrub or (lambda text: text)
        self.path = ""
        self.model = ""
        self._cache: dict[str, int] = {}
        self._quiet_until = 0.0

    def count(self, text: str) -> int:
        """Tokens of `text`; the estimate is not cached, so real counts replace it later."""
        if not text:
            return 0
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        private = KEY_MATERIAL.search(text) is not None or self.scrub(text) != text
        counted = None if private else self._ask(text)
        if counted is None:
            return estimate_tokens(text)
        if len(self._cache) > 20000:
            self._cache.clear()
        self._cache[text] = counted
        return counted

    def _ask(self, text: str) -> int | None:
        # Budgets must never wait on a dead or busy server: not while the breaker is open,
        # and not for a while after a call failed or timed out (llama-cpp-python's server,
        # for one, answers tokenize only between generations).
        if not self.path or self.breaker.state != "closed" or time.monotonic() < self._quiet_until:
            return None
        try:
            status, answer = self.http.request_json(
                "POST", self.path, tokenize_body(self.path, text, self.model)
            )
        except TRANSPORT_ERRORS as error:
            self._quiet_until = time.monotonic() + self.QUIET_S
            log.debug("tokenize failed (%s); estimating for %.0f s", error, self.QUIET_S)
            return None
        return token_count(answer) if status == 200 else None
