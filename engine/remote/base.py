"""The core both remote backends share: sending, retrying, cancelling, falling back.

A request runs on a small worker pool. `InFlight` keeps at most `max_concurrency` per
editor (a newer request pushes out the oldest); the watchdog ends a stream the moment
its request is cancelled, pushed out or past its deadline; connection errors and 5xx
retry with jittered backoff behind a circuit breaker; when the server is unreachable
and a fallback factory was given, the request is answered by that backend instead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from engine.backend import Backend
from engine.remote.http import (
    CircuitBreaker,
    Connector,
    RemoteError,
    Stream,
    Watchdog,
    backoff_delays,
)
from engine.remote.probe import (
    TRANSPORT_ERRORS,
    ServerInfo,
    TokenCounter,
    api_key_header,
    check_remote_allowed,
    probe_server,
)
from engine.remote.prompt import (
    estimate_tokens,
    rerender_prompt,
    template_for_model,
)
from engine.remote.scrub import scrub_text
from engine.remote.wire import Call, ClientErrors, InFlight, Outcome, Piece, read_events
from engine.settings import BackendSettings
from engine.templates import FimTemplate
from engine.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

Scrubber = Callable[[str], str]
PROBE_INTERVAL_S = 5.0  # a server that did not answer the probe is asked again after this
Parser = Callable[[dict], Piece]


class RemoteBackend:
    """A Backend whose model runs on a server; subclasses say how to ask it."""

    kind = "remote"
    path = ""
    heals = False  # a server samples on its own: no forced start, so the psm prompt

    def __init__(
        self,
        settings: BackendSettings,
        *,
        fallback: Callable[[], Backend] | None = None,
        scrub: Scrubber | None = None,
        session_id: str = "",
    ) -> None:
        self.settings = settings
        self.endpoint = check_remote_allowed(settings)
        headers, self._key_state = api_key_header(settings)
        timeout = settings.timeout_ms / 1000
        tls = settings.verify_tls
        self._http = Connector(
            self.endpoint,
            timeout_s=timeout,
            verify_tls=tls,
            headers=headers,
            keep_idle=settings.max_concurrency + 1,
        )
        # Probes and tokenize calls get a short timeout: budgets must not wait long.
        self._http_small = Connector(
            self.endpoint, timeout_s=min(timeout, 1.0), verify_tls=tls, headers=headers, keep_idle=2
        )
        self.breaker = CircuitBreaker()
        self.tokens = TokenCounter(self._http_small, self.breaker, lambda t: self._scrub(t))
        self._watchdog = Watchdog()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            settings.max_concurrency + 2, thread_name_prefix="cove-remote"
        )
        self._inflight = InFlight(settings.max_concurrency)
        self._fallback_factory = fallback
        self._fallback: Backend | None = None
        self._lock = threading.Lock()
        # Secrets never leave: the scrubber is on unless another one is injected.
        self._scrub: Scrubber = scrub or scrub_text
        self.scrubbing = True
        self.session_id = session_id or uuid.uuid4().hex
        self.server = ServerInfo(model=settings.model)
        self.stats = dict.fromkeys(
            ("requests", "connects", "retries", "preempted", "fallbacks", "refused_by_breaker"), 0
        )
        self._errors = ClientErrors(self.endpoint.display, self.kind, settings.timeout_ms)
        self.template, self.template_source = self._choose_template()
        self._probed = self._probe_failed = False
        self._next_probe = 0.0
        started = time.perf_counter()
        self._probe()
        self.load_ms = (time.perf_counter() - started) * 1000
        log.info("%s", self.privacy_notice())

    @property
    def model_name(self) -> str:
        """The model the server serves (from backend.model or its /v1/models)."""
        return self.server.model

    # -- discovery --------------------------------------------------------------------------

    def _choose_template(self) -> tuple[FimTemplate, str]:
        name = self.server.model or self.server.facts.get("model_path", "")
        return template_for_model(self.settings.family, name)

    def _probe(self) -> None:
        """Learn the server's model, tokenizer and slots; if it does not answer, ask again later.

        A failed probe does not count against the breaker: a busy server answers slowly
        here but may still serve completions; the completions themselves decide.
        """
        self._next_probe = time.monotonic() + PROBE_INTERVAL_S
        try:
            info = probe_server(
                self._http_small,
                self._errors,
                model=self.settings.model,
                props=self.kind == "llama-server",
            )
        except TRANSPORT_ERRORS as error:
            line = (
                f"The completion server at {self.endpoint.display} does not answer yet ({error})."
            )
            log.log(logging.WARNING if not self._probe_failed else logging.DEBUG, "%s", line)
            self._probe_failed = True
            return
        self.server = info
        self.tokens.path, self.tokens.model = info.tokenize_path, info.model
        self.template, self.template_source = self._choose_template()
        self._probed = True

    def count_tokens(self, text: str) -> int:
        """Tokens of `text`: the server's tokenizer when it has one, else a conservative estimate."""
        return self.tokens.count(text)

    # -- generation -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> concurrent.futures.Future[GenerationResult]:
        """Start a generation; the oldest call beyond max_concurrency is cancelled."""
        call = Call(request=request)
        self.stats["requests"] += 1
        self.stats["preempted"] += len(self._inflight.admit(call))
        return self._pool.submit(self._complete, call)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Run a generation and wait for it."""
        return self.submit(request).result()

    def _complete(self, call: Call) -> GenerationResult:
        try:
            if not self._probed and time.monotonic() >= self._next_probe:
                with self._lock:  # the server was down at start: learn its model now
                    if not self._probed and time.monotonic() >= self._next_probe:
                        self._probe()
            if call.why_stop():
                return Outcome(reason=call.why_stop()).result(0)

            def make_body() -> dict:
                return self._body(call.request)

            try:
                outcome = self._with_retries(call, self.path, make_body, self._parse_event)
            except RemoteError as error:
                if not self.drop_optional(error):
                    raise
                outcome = self._with_retries(call, self.path, make_body, self._parse_event)
            return outcome.result(estimate_tokens(call.request.prompt))
        except RemoteError as error:
            if error.unreachable and self._fallback_factory is not None:
                return self._fallback_generate(call, error)
            self._errors.report(error)
            raise
        finally:
            self._inflight.leave(call)

    def _with_retries(
        self, call: Call, path: str, make_body: Callable[[], dict], parse: Parser
    ) -> Outcome:
        """One exchange, retried on connection errors and 5xx while the deadline allows."""
        body = make_body()  # built (and scrubbed) once, before the breaker hands out a probe
        delays = backoff_delays(self.settings.retries)
        last: RemoteError | None = None
        for attempt in range(len(delays) + 1):
            if not self.breaker.allow():
                self.stats["refused_by_breaker"] += 1
                raise last or self._errors.breaker_open(self.breaker.retry_in())
            try:
                return self._attempt(call, path, body, parse)
            except RemoteError as error:
                last = error
                if not error.retryable or attempt == len(delays):
                    raise
                if call.request.cancel.wait(delays[attempt]) or call.why_stop():
                    return Outcome(reason=call.why_stop() or "cancelled")
                self.stats["retries"] += 1
        raise AssertionError("the loop returns or raises")

    def _attempt(self, call: Call, path: str, body: dict, parse: Parser) -> Outcome:
        """Send one request and read its stream, under the watchdog."""
        stream = Stream()
        handle = self._watchdog.watch(stream, call.why_stop)
        settled = False  # the breaker heard how this attempt went
        try:
            sent_at, connects = time.perf_counter(), self._http.connects
            try:
                conn, response = self._http.send("POST", path, body, attach=stream.attach)
            except TRANSPORT_ERRORS as error:
                if call.why_stop():
                    return Outcome(reason=call.why_stop())
                self.breaker.record_failure()
                settled = True
                raise self._errors.unreachable(error) from None
            stream.response = response
            self.stats["connects"] += self._http.connects - connects
            settled = True
            if response.status >= 400:
                raw = response.read()
                conn.close()
                down = response.status >= 500 and response.status != 501
                (self.breaker.record_failure if down else self.breaker.record_success)()
                raise self._errors.http_error(response.status, raw)
            self.breaker.record_success()
            self._errors.recovered()
            specials = self.template.special_tokens
            outcome = read_events(stream, call, parse, specials, self._errors, sent_at)
            if outcome.broken:
                self.breaker.record_failure()
                raise self._errors.cut_off(outcome.broken)
            return outcome
        finally:
            self._watchdog.unwatch(handle)
            if not settled:
                self.breaker.release_probe()
            self._release(stream)

    def _release(self, stream: Stream) -> None:
        """Keep the connection of a stream read to its end (keep-alive); drop any other."""
        response = stream.response
        if (
            stream.finished
            and stream.conn is not None
            and response is not None
            and not response.will_close
        ):
            self._http.give_back(stream.conn)
        else:
            stream.close()

    def _body(self, request: GenerationRequest) -> dict:
        """The JSON body of a completion request, scrubbed."""
        raise NotImplementedError

    def _parse_event(self, data: dict) -> Piece:
        """One streamed event: a text piece, maybe a finish reason and token counts."""
        raise NotImplementedError

    def drop_optional(self, error: RemoteError) -> bool:
        """True when the request can be retried without an optional field the server
        rejected (`error`); the body is made again without it.
        """
        return False

    # -- fallback ---------------------------------------------------------------------------

    def _get_fallback(self, error: RemoteError) -> Backend:
        with self._lock:
            if self._fallback is None:
                assert self._fallback_factory is not None
                try:
                    self._fallback = self._fallback_factory()
                except Exception as failure:  # noqa: BLE001  report both failures as one
                    raise RemoteError(f"{error} The local fallback failed too: {failure}") from None
            self._errors.report(error, note="answering with the local model")
            self.stats["fallbacks"] += 1
            return self._fallback

    def _fallback_generate(self, call: Call, error: RemoteError) -> GenerationResult:
        """Answer with the fallback backend, in its own template, in what is left of the deadline."""
        if call.why_stop():
            return Outcome(reason=call.why_stop()).result(0)
        backend = self._get_fallback(error)
        left_ms = max(1, int((call.deadline - time.perf_counter()) * 1000))
        prompt = rerender_prompt(call.request.prompt, self.template, backend.template)
        request = dataclasses.replace(call.request, prompt=prompt, deadline_ms=left_ms)
        return backend.submit(request).result()

    # -- chat -------------------------------------------------------------------------------

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        deadline_ms: int,
        cancel: threading.Event | None = None,
    ) -> concurrent.futures.Future[str]:
        """The server's chat template (/v1/chat/completions) over scrubbed messages."""
        request = GenerationRequest(
            prompt="",
            max_tokens=max_tokens,
            deadline_ms=deadline_ms,
            cancel=cancel or threading.Event(),
        )
        return self._pool.submit(self._chat, Call(request=request, scan_stops=False), messages)

    def _chat(self, call: Call, messages: list[dict[str, str]]) -> str:
        body = {
            **({"model": self.model_name} if self.model_name else {}),
            "messages": [{**m, "content": self._scrub(m.get("content", ""))} for m in messages],
            "max_tokens": call.request.max_tokens,
            "temperature": 0.0,
            "stream": True,
        }
        try:
            return self._with_retries(
                call, "/v1/chat/completions", lambda: body, parse_chat_event
            ).text
        except RemoteError as error:
            if not (error.unreachable and self._fallback_factory is not None):
                raise
            left_ms = max(1, int((call.deadline - time.perf_counter()) * 1000))
            reply = self._get_fallback(error).chat(
                messages,
                max_tokens=call.request.max_tokens,
                deadline_ms=left_ms,
                cancel=call.request.cancel,
            )
            return reply.result()

    # -- facts ------------------------------------------------------------------------------

    def privacy_notice(self) -> str:
        """One line saying where code goes (for the log, `cove doctor`, the progress title)."""
        where = (
            "this machine"
            if self.endpoint.is_loopback
            else f"{self.endpoint.host}, another machine"
        )
        scrub = (
            "secrets are scrubbed before sending" if self.scrubbing else "secrets are NOT scrubbed"
        )
        model = self.model_name or "?"
        return f"Remote mode: completions by {self.endpoint.display} ({where}), model {model}; {scrub}."

    def describe(self) -> dict[str, Any]:
        """Facts for `cove doctor`: server, model, template, tokenizer, privacy, health (never the key)."""
        tokenizer = (
            f"server {self.tokens.path}" if self.tokens.path else "estimate (UTF-8 bytes / 3)"
        )
        return {
            "backend": self.kind,
            "url": self.endpoint.display,
            "remote": not self.endpoint.is_loopback,
            "reachable": self._probed and self.breaker.state == "closed",
            "model": self.model_name,
            "template": self.template.name,
            "template_source": self.template_source,
            "tokenizer": tokenizer,
            "context_size": int(self.server.facts.get("n_ctx", 0)),
            "load_ms": round(self.load_ms),
            "system_info": f"{self.kind} server at {self.endpoint.display}",
            "api_key": self._key_state,
            "verify_tls": self.settings.verify_tls,
            "scrubbing": self.scrubbing,
            "max_concurrency": self.settings.max_concurrency,
            "fallback": self.settings.fallback or ("yes" if self._fallback_factory else "none"),
            "breaker": self.breaker.state,
            "privacy": self.privacy_notice(),
            "stats": dict(self.stats),
        }

    def close(self) -> None:
        """Cancel what is in flight, stop the workers, drop connections, close the fallback."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._inflight.cancel_all()  # calls still running answer "cancelled" at once
        self._watchdog.stop()
        self._http.close()
        self._http_small.close()
        if self._fallback is not None:
            with contextlib.suppress(Exception):
                self._fallback.close()


def parse_chat_event(data: dict) -> Piece:
    """One streamed chat event (`choices[0].delta.content`)."""
    choices = data.get("choices") or [{}]
    delta = choices[0].get("delta") or choices[0].get("message") or {}
    return Piece(text=delta.get("content") or "", finish=choices[0].get("finish_reason") or "")
