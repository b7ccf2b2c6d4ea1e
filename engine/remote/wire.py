"""One remote call from start to result: its stop conditions, the stream read, the errors.

`read_events` applies the local backend's stop rules to streamed text (see `scan_stop`),
so a remote suggestion is cut where a local one would be; `ClientErrors` turns every
failure into one sentence a user can act on, logged once rather than per keystroke.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.confidence import confidence_of
from engine.remote.http import RemoteError, Stream
from engine.remote.prompt import scan_stop
from engine.types import GenerationRequest, GenerationResult, TokenCounts

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Call:
    """A request on its way: when it started, whether a newer one pushed it out."""

    request: GenerationRequest
    scan_stops: bool = True  # completions apply the stop rules; chat replies do not
    started: float = field(default_factory=time.perf_counter)
    preempted: bool = False

    @property
    def deadline(self) -> float:
        """perf_counter() time by which the answer must be in."""
        return self.started + self.request.deadline_ms / 1000

    def why_stop(self) -> str:
        """Why the call must end now ("cancelled", "deadline"), or "" while it may go on."""
        if self.preempted or self.request.cancel.is_set():
            return "cancelled"
        if time.perf_counter() > self.deadline:
            return "deadline"
        return ""


class InFlight:
    """At most `limit` calls at once per editor; admitting one more cancels the oldest."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def admit(self, call: Call) -> list[Call]:
        """Add `call`; return the calls it pushed out (already marked preempted)."""
        with self._lock:
            self._calls.append(call)
            pushed = self._calls[: max(0, len(self._calls) - self.limit)]
            del self._calls[: len(pushed)]
        for old in pushed:
            old.preempted = True
        return pushed

    def cancel_all(self) -> None:
        """Mark every call in flight as pushed out (the backend is closing)."""
        with self._lock:
            calls, self._calls = self._calls, []
        for call in calls:
            call.preempted = True

    def leave(self, call: Call) -> None:
        """The call is over."""
        with self._lock:
            if call in self._calls:
                self._calls.remove(call)


@dataclass(frozen=True)
class Piece:
    """What one streamed event says: more text, maybe a finish reason and token counts."""

    text: str = ""
    finish: str = ""  # already in Cove's stop_reason words ("eos", "max_tokens", ...)
    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    logprobs: tuple[float, ...] = ()  # of the tokens in `text`, where the server said


@dataclass
class Outcome:
    """A call's accumulated answer."""

    text: str = ""
    reason: str = ""
    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    chunks: int = 0
    sent_at: float = 0.0
    first_at: float = 0.0
    broken: str = ""  # why the stream broke off, when the server went away
    logprobs: list[float] = field(default_factory=list)

    def add(self, piece: Piece) -> None:
        """Fold one event in (counts only grow)."""
        if not self.first_at:
            self.first_at = time.perf_counter()
        self.text += piece.text
        self.chunks += 1 if piece.text else 0
        self.logprobs.extend(piece.logprobs)
        self.prompt_tokens = max(self.prompt_tokens, piece.prompt_tokens)
        self.reused_tokens = max(self.reused_tokens, piece.reused_tokens)
        self.generated_tokens = max(self.generated_tokens, piece.generated_tokens)

    def result(self, prompt_estimate: int) -> GenerationResult:
        """The GenerationResult the Backend protocol promises."""
        now = time.perf_counter()
        first = self.first_at or now
        prompt = self.prompt_tokens or prompt_estimate
        return GenerationResult(
            text=self.text,
            stop_reason=self.reason or "eos",
            tokens=TokenCounts(
                prompt=prompt,
                reused=min(self.reused_tokens, prompt),
                generated=self.generated_tokens or self.chunks,
            ),
            prefill_ms=(first - self.sent_at) * 1000 if self.sent_at else 0.0,
            generate_ms=(now - first) * 1000 if self.first_at else 0.0,
            confidence=confidence_of(self.logprobs),
        )


def read_events(
    stream: Stream,
    call: Call,
    parse: Callable[[dict], Piece],
    specials: tuple[str, ...],
    errors: ClientErrors,
    sent_at: float,
) -> Outcome:
    """Read the stream to its end, or until a stop rule, cancel or deadline ends it."""
    out = Outcome(sent_at=sent_at)
    ended = False
    try:
        for event, data in stream.events():
            if event == "done":
                ended = True
                continue
            payload = json.loads(data) if data.strip() else {}
            if event == "error" or (
                isinstance(payload, dict) and payload.get("error") and not payload.get("choices")
            ):
                raise errors.server_error(payload)
            piece = parse(payload)
            start = len(out.text)
            out.add(piece)
            decision = (
                scan_stop(out.text, start, call.request.stop, specials)
                if call.scan_stops and piece.text
                else None
            )
            if decision is not None:
                out.text, out.reason = out.text[: decision.keep], decision.reason
                stream.abort("stopped")  # the server sees the client go and stops generating
                return out
            if piece.finish:
                out.reason, ended = piece.finish, True
    except (OSError, http.client.HTTPException, ValueError) as error:
        if not ended:
            out.reason = call.why_stop()
            out.broken = "" if out.reason else errors.why(error)
        return out
    if not ended:
        out.reason = call.why_stop()
        out.broken = "" if out.reason else "the stream ended before the answer was complete"
    return out


class ClientErrors:
    """Every failure as one sentence; each distinct one logged once, not on every keystroke."""

    def __init__(self, url: str, kind: str, timeout_ms: int = 0) -> None:
        self.url = url
        self.kind = kind
        self.timeout_ms = timeout_ms
        self._logged: set[str] = set()

    def why(self, error: BaseException) -> str:
        """A transport error in a few words; a timeout names the setting that bounds it."""
        if isinstance(error, TimeoutError):
            return f"silent for {self.timeout_ms} ms; a busy server may need a larger backend.timeoutMs"
        return getattr(error, "strerror", None) or str(error) or type(error).__name__

    def unreachable(self, error: BaseException) -> RemoteError:
        """Connection refused, reset, timed out, name unknown."""
        return RemoteError(
            f"Cannot reach the completion server at {self.url} ({self.why(error)}): start it, or check backend.url.",
            unreachable=True,
            retryable=True,
        )

    def breaker_open(self, retry_in: float) -> RemoteError:
        """Refused without trying: the server failed several times in a row."""
        return RemoteError(
            f"The completion server at {self.url} is not answering; Cove tries again in {retry_in:.1f} s "
            '(start the server, fix backend.url, or set backend.fallback to "local").',
            unreachable=True,
        )

    def cut_off(self, why: str) -> RemoteError:
        """The stream broke in the middle of an answer."""
        return RemoteError(
            f"The completion server at {self.url} stopped in the middle of an answer ({why}).",
            unreachable=True,
        )

    def server_error(self, payload: object) -> RemoteError:
        """An error the server reported inside the stream."""
        return RemoteError(
            f"The completion server at {self.url} reported an error: {error_text(payload)}."
        )

    def http_error(self, status: int, raw: bytes) -> RemoteError:
        """An HTTP error status: 5xx may be retried, 4xx (and 501) is the user's to fix."""
        try:
            body: object = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        if status >= 500 and status != 501:
            return RemoteError(
                f"The completion server at {self.url} failed (HTTP {status}: {error_text(body)}).",
                unreachable=True,
                retryable=True,
                status=status,
            )
        return self.client_error(status, body)

    def client_error(self, status: int, body: object) -> RemoteError:
        """The one sentence for a request the server will never accept as it is."""
        said = error_text(body)
        low = said.lower()
        if status in (401, 403):
            text = (
                f"The server at {self.url} refused the request (HTTP {status}: {said}): set backend.apiKeyEnv to the "
                "name of an environment variable that holds a valid key."
            )
        elif status == 501 or "infill" in low or "fim" in low:
            text = (
                f"This server's model has no FIM support; set backend.family or use /v1/completions "
                f'(backend.type "openai"). The server said: {said}'
            )
        elif status == 404 and self.kind == "llama-server":
            text = f'The server at {self.url} has no /infill endpoint (HTTP 404): it is not llama-server; set backend.type to "openai".'
        elif status == 404:
            text = (
                f"The server at {self.url} answered HTTP 404 ({said}): check backend.url and backend.model "
                "(GET /v1/models lists what it serves)."
            )
        elif "context" in low or "too long" in low or "exceed" in low:
            text = f"The prompt is longer than the server's context ({said}): lower budget.prefixTokens and budget.contextTokens."
        else:
            text = f"The server at {self.url} rejected the request (HTTP {status}: {said})."
        return RemoteError(text, status=status)

    def recovered(self) -> None:
        """The server answered: the next failure is news again and gets logged."""
        if self._logged:
            self._logged.clear()

    def report(self, error: RemoteError, note: str = "") -> None:
        """Log an error once (per distinct sentence); later repeats go to debug."""
        line = f"{error}" + (f" ({note})" if note else "")
        if line in self._logged:
            log.debug("%s", line)
            return
        if len(self._logged) > 100:
            self._logged.clear()
        self._logged.add(line)
        log.warning("%s", line)


def error_text(body: object) -> str:
    """The server's own error message from an OpenAI-style or llama-server error body."""
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        if isinstance(error, dict):
            return str(error.get("message") or error.get("msg") or error)[:300]
        if isinstance(error, list) and error:
            return str(error[0].get("msg", error[0]) if isinstance(error[0], dict) else error[0])[
                :300
            ]
        return str(error)[:300]
    return str(body).strip()[:300]


def openai_logprobs(choice: dict) -> tuple[float, ...]:
    """Token log-probabilities of one /v1/completions stream choice: the legacy shape
    (`logprobs.token_logprobs`, vLLM, llama-cpp-python) or the chat-like one
    (`logprobs.content[].logprob`, llama-server); () when the server sent none.
    """
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return ()
    values = logprobs.get("token_logprobs")
    if values is None and isinstance(logprobs.get("content"), list):
        values = [e.get("logprob") for e in logprobs["content"] if isinstance(e, dict)]
    return _numbers(values)


def infill_logprobs(event: dict) -> tuple[float, ...]:
    """Token log-probabilities of one llama-server /infill event asked with `n_probs`:
    `completion_probabilities[].logprob` (newer servers) or the chosen token's `prob` among
    `probs` (older ones); () when the server sent none.
    """
    entries = event.get("completion_probabilities")
    if not isinstance(entries, list):
        return ()
    values: list[object] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if "logprob" in entry:
            values.append(entry["logprob"])
            continue
        chosen = entry.get("content", entry.get("token"))
        for option in entry.get("probs") or []:
            if isinstance(option, dict) and option.get("tok_str") == chosen:
                prob = option.get("prob")
                if isinstance(prob, (int, float)) and prob > 0:
                    values.append(math.log(prob))
                break
    return _numbers(values)


def _numbers(values: object) -> tuple[float, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(
        float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
    )
