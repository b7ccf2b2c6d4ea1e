"""An editor session's completions: caches, superseding, speculative warm-up.

The server converts LSP messages and calls `request`, which returns at once: the request
is prepared (cursor window, context, prompt: token counting may be an HTTP call to a
remote backend) on the session's own thread, never on the server's event loop. This
module decides whether the model runs at all, and makes sure the newest request for a
document wins.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from context.cache import ResultCache, ShownSuggestion, TypedAheadCache, text_key
from context.completion import Choice, Completion, CompletionService, PreparedCompletion
from context.document import Snapshot
from context.window import cursor_window
from engine.confidence import Confidence
from engine.types import Timings, TokenCounts

log = logging.getLogger(__name__)

PREFETCH_DEADLINE_MS = 60_000  # a prefetch's bound: nobody waits for it


@dataclass
class _InFlight:
    request_id: str
    cancel: threading.Event
    speculative: bool
    # A speculative request's (document lines, line, character, future): a real request for
    # exactly that position and text adopts it instead of starting over.
    target: tuple[list[str], int, int, concurrent.futures.Future[Completion]] | None = None


class CompletionSession:
    """Completions for one editor connection, over one `CompletionService`."""

    def __init__(self, service: CompletionService, *, cache_size: int = 256) -> None:
        self.service = service
        self.typed_ahead = TypedAheadCache()
        self.results: ResultCache[Completion] = ResultCache(cache_size)
        self._in_flight: dict[str, _InFlight] = {}
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()  # the caches: the preparing and model threads
        self._ids = itertools.count(1)
        # One thread prepares requests, in order: the newest for a document cancels the
        # older, which then answers empty without being prepared.
        self._preparer = concurrent.futures.ThreadPoolExecutor(1, "cove-prepare")

    def _supersede(self, uri: str, speculative: bool, *, if_idle: bool = False) -> _InFlight | None:
        """Cancel every older request (each answers empty at once); register a new one.

        Not only the document's own: the user types in one place, and one model thread
        serves them all, so a request left behind in another file (a jump, a split view
        switched) would hold the new one up by a whole prompt for an answer nobody sees.
        `if_idle`: register nothing (None) while a real request is in flight; only older
        speculative work gives way. One lock for the check and the registration, so a
        prefetch can never cancel a real request that came in between.
        """
        entry = _InFlight(f"c{next(self._ids)}", threading.Event(), speculative)
        with self._lock:
            if if_idle and any(not e.speculative for e in self._in_flight.values()):
                return None
            for older in self._in_flight.values():
                older.cancel.set()
            self._in_flight[uri] = entry
        return entry

    def _done(self, uri: str, entry: _InFlight) -> None:
        with self._lock:
            if self._in_flight.get(uri) is entry:
                del self._in_flight[uri]

    def busy(self) -> bool:
        """True while a completion is being prepared or generated: background work (an
        index build) holds off until it is answered.
        """
        with self._lock:
            return bool(self._in_flight)

    def cancel_document(self, uri: str, *, speculative_only: bool = False) -> None:
        """Stop the document's request in flight (e.g. the user typed over a speculation)."""
        with self._lock:
            entry = self._in_flight.get(uri)
            if entry is not None and (entry.speculative or not speculative_only):
                entry.cancel.set()

    def _instant(
        self,
        text: str,
        kind: str,
        started: float,
        stop: str = "cache",
        confidence: Confidence | None = None,
        alternatives: tuple[Choice, ...] = (),
    ) -> Completion:
        backend = self.service.backend
        elapsed = (time.perf_counter() - started) * 1000
        return Completion(
            text=text,
            confidence=confidence,
            alternatives=alternatives,
            timings=Timings(context_ms=elapsed, total_ms=elapsed),
            tokens=TokenCounts(),
            model=backend.model_name,
            template=backend.template.name,
            stop_reason=stop,
            cache=kind,
        )

    def request(
        self,
        document: Snapshot,
        line: int,
        character: int,
        *,
        speculative: bool = False,
        explicit: bool = False,
        **options,
    ) -> tuple[str, concurrent.futures.Future[Completion], threading.Event]:
        """Start a completion at (line, character) of one version of a document; returns
        (request id, future, cancel event) at once. An `explicit` request (the user asked)
        also gets up to `generation.alternatives` other suggestions.

        Order: typed-ahead cache, result cache (by prompt hash), then the model. The
        newest request for `document.uri` cancels the older one. A bad position is a
        ValueError from the future.
        """
        started = time.perf_counter()
        if explicit and self.service.generation.alternatives > 0:
            options.setdefault("alternatives", self.service.generation.alternatives)
        if not speculative and not options:
            adopted = self._adopt(document, line, character)
            if adopted is not None:
                return adopted
        entry = self._supersede(document.uri, speculative)
        assert entry is not None  # only `if_idle` registers nothing
        future = self._launch(document, line, character, entry, started, options)
        return entry.request_id, future, entry.cancel

    def _adopt(
        self, document: Snapshot, line: int, character: int
    ) -> tuple[str, concurrent.futures.Future[Completion], threading.Event] | None:
        """The speculative request in flight (a prefetch, a speculation) for exactly this
        text and position, now a real one: the user gets its answer when it is done, not
        a fresh generation after it is dropped (on two cores, the line's generation alone
        is ~1-2 s). Every other request in flight is cancelled, as a new request would do.
        (request id, future, cancel event) as `request` returns them; None when there is
        no such request.
        """
        with self._lock:
            entry = self._in_flight.get(document.uri)
            if entry is None or not entry.speculative or entry.target is None:
                return None
            lines, at_line, at_character, future = entry.target
            if (
                lines is not document.lines
                or (at_line, at_character) != (line, character)
                or entry.cancel.is_set()
                or future.done()
            ):
                return None
            for other in self._in_flight.values():
                if other is not entry:
                    other.cancel.set()
            entry.speculative = False
            return entry.request_id, future, entry.cancel

    def _launch(
        self,
        document: Snapshot,
        line: int,
        character: int,
        entry: _InFlight,
        started: float,
        options: dict,
    ) -> concurrent.futures.Future[Completion]:
        """Queue a registered request on the preparing thread; its future."""
        future: concurrent.futures.Future[Completion] = concurrent.futures.Future()
        if entry.speculative and not options.get("alternatives"):
            entry.target = (document.lines, line, character, future)

        def prepare() -> None:
            try:
                self._start(document, line, character, entry, future, started, options)
            except BaseException as error:  # a bad position, a broken backend: to the caller
                self._done(document.uri, entry)
                if not future.done():
                    future.set_exception(error)

        self._preparer.submit(prepare)
        return future

    def _start(
        self,
        document: Snapshot,
        line: int,
        character: int,
        entry: _InFlight,
        future: concurrent.futures.Future[Completion],
        started: float,
        options: dict,
    ) -> None:
        """On the preparing thread: answer from a cache, or hand the prompt to the model."""
        uri = document.uri
        if entry.cancel.is_set():  # a newer request came while this one waited
            self._done(uri, entry)
            future.set_result(self._instant("", "", started, stop="cancelled"))
            return
        # One window per keystroke: the typed-ahead lookup and the prompt share it.
        window = cursor_window(
            document.lines, line, character, self.service.budgets, self.service.backend
        )
        with self._cache_lock:
            found = self.typed_ahead.find(
                uri, line, window.line_prefix, text_key(window.prefix), text_key(window.suffix)
            )
        if found is not None and not options.get("alternatives"):
            self._done(uri, entry)
            rest, shown = found
            future.set_result(
                self._instant(rest, "typed-ahead", started, confidence=shown.confidence)
            )
            return
        prepared = self.service.prepare(
            document, line, character, cancel=entry.cancel, window=window, **options
        )
        # The line prefix too: the prompt leaves trailing blanks out, the answer does not.
        key = text_key(
            prepared.request.prompt,
            repr(prepared.request.stop),
            str(prepared.request.max_tokens),
            str(prepared.request.alternatives),
            window.line_prefix,
        )
        with self._cache_lock:
            cached = self.results.get(key)
        if cached is not None:
            self._done(uri, entry)
            self._remember(uri, line, prepared.window, cached.text, cached.confidence)
            future.set_result(
                self._instant(
                    cached.text,
                    "result",
                    started,
                    confidence=cached.confidence,
                    alternatives=cached.alternatives,
                )
            )
            return

        def on_result(raw: concurrent.futures.Future) -> None:
            self._done(uri, entry)
            try:
                completion = self.service.finish(prepared, raw.result(), started)
            except BaseException as error:  # handed to the awaiting handler
                _settle(future, error=error)
                return
            if completion.stop_reason not in ("cancelled", "deadline"):
                # A hit answers with the text, confidence and alternatives alone: the
                # context pieces (their text) need not stay alive in the cache.
                kept = dataclasses.replace(completion, chunks=())
                with self._cache_lock:
                    self.results.put(key, kept)
            self._remember(uri, line, prepared.window, completion.text, completion.confidence)
            _settle(future, completion)
            if completion.stop_reason not in ("cancelled", "deadline"):
                self._warm_typing(document, line, character, prepared)

        self.service.backend.submit(prepared.request).add_done_callback(on_result)

    def _warm_typing(
        self, document: Snapshot, line: int, character: int, answered: PreparedCompletion
    ) -> None:
        """After an answer in one layout where the next keystroke's prompt has another (the
        "hybrid" layout: psm on a line of indentation only, stable once it has text), evaluate
        that prompt while the model is idle, so the first character typed does not pay for
        the whole suffix again. Speculative: any real request stops it, and what it
        evaluated stays in the KV cache for that request's shared prefix.
        """
        layout = self.service.typing_layout(answered.fim)
        if layout == answered.layout or not getattr(self.service.backend, "heals", False):
            return
        entry = self._supersede(document.uri, True, if_idle=True)
        if entry is None:
            return

        def warm() -> None:
            try:
                if entry.cancel.is_set():
                    self._done(document.uri, entry)
                    return
                prepared = self.service.prepare(
                    document,
                    line,
                    character,
                    cancel=entry.cancel,
                    window=answered.window,
                    max_tokens=1,
                    layout=layout,
                    deadline_ms=max(PREFETCH_DEADLINE_MS, self.service.generation.deadline_ms),
                )
                submitted = self.service.backend.submit(prepared.request)
            except BaseException:  # a warm-up is a bonus: never an error for the user
                self._done(document.uri, entry)
                log.debug("warming the typing prompt failed", exc_info=True)
                return
            submitted.add_done_callback(lambda _: self._done(document.uri, entry))

        try:
            self._preparer.submit(warm)
        except RuntimeError:  # the session closed meanwhile
            self._done(document.uri, entry)

    def _remember(
        self, uri: str, line: int, window, suggestion: str, confidence: Confidence | None
    ) -> None:
        shown = ShownSuggestion(
            line=line,
            line_prefix=window.line_prefix,
            text=suggestion,
            before_key=text_key(window.prefix),
            after_key=text_key(window.suffix),
            confidence=confidence,
        )
        with self._cache_lock:
            self.typed_ahead.remember(uri, shown)

    def speculate(
        self, document: Snapshot, line: int, character: int
    ) -> concurrent.futures.Future[Completion]:
        """Warm the caches for the next position after an accepted suggestion."""
        _, future, _ = self.request(document, line, character, speculative=True)
        return future

    def prefetch(
        self, document: Snapshot, line: int, character: int
    ) -> tuple[str, concurrent.futures.Future[Completion]] | None:
        """While no real request is in flight, start the request one at (line, character)
        would be: its prompt gets evaluated (the KV cache keeps it) and, if it finishes,
        its answer fills the caches. (request id, future); None when a real request is in
        flight. Any real request supersedes it: the prefill stops within one batch, and
        what it evaluated stays in the cache for the real prompt's shared prefix.
        """
        entry = self._supersede(document.uri, True, if_idle=True)
        if entry is None:
            return None
        # Idle time is free and any real request cancels this one: a cold prompt (~10 s on
        # two cores, the default deadline) must not be cut off at the deadline meant for
        # a user who waits for the answer.
        deadline = max(PREFETCH_DEADLINE_MS, self.service.generation.deadline_ms)
        future = self._launch(
            document, line, character, entry, time.perf_counter(), {"deadline_ms": deadline}
        )
        return entry.request_id, future

    def forget(self, uri: str) -> None:
        """A document closed: cancel its work and drop its cache entries."""
        self.cancel_document(uri)
        with self._cache_lock:
            self.typed_ahead.forget(uri)

    def close(self) -> None:
        """Stop preparing: requests already queued still answer; no new ones start."""
        self._preparer.shutdown(wait=False)


def _settle(
    future: concurrent.futures.Future, result: Any = None, error: BaseException | None = None
) -> None:
    """Hand a request its outcome, unless the client cancelled it meanwhile: nobody waits
    for it then (setting it would raise InvalidStateError in the backend's callback: an
    error traceback in the log for every cancelled keystroke, the typing storm saw 992).
    """
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass
