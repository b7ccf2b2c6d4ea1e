"""The completion service: from a document and a cursor to a cleaned suggestion.

Both front doors (the LSP server and `cove complete`) call this; it holds the only
recipe: cut the window, pick context, render the FIM prompt, generate, post-process.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from context.document import Snapshot
from context.retrieval.gate import wants_context
from context.syntax.definitions import should_complete_multiline
from context.window import BudgetSettings, CursorWindow, cursor_window
from engine.backend import Backend
from engine.confidence import Confidence
from engine.postprocess import align_to_cursor, postprocess
from engine.settings import GenerationSettings
from engine.stops import block_indent
from engine.templates import continued_line, healed_tail, render_prompt, resolve_layout
from engine.types import (
    ContextChunk,
    FimInput,
    GenerationRequest,
    GenerationResult,
    StopPolicy,
    Timings,
    TokenCounts,
)

log = logging.getLogger(__name__)

ContextProvider = Callable[[str, str, CursorWindow, int], list[ContextChunk]]


@dataclass(frozen=True, kw_only=True)
class Choice:
    """One more suggestion for an explicit request, with the model's confidence in it."""

    text: str
    confidence: Confidence | None = None


def should_show(confidence: Confidence | None, threshold: float, explicit: bool) -> bool:
    """The stay-silent gate: an automatic suggestion is shown only when the model's
    confidence reaches `threshold`. An explicit request (the user asked), an unknown
    confidence (the backend could not say) and a threshold of 0 are never filtered.
    """
    if explicit or threshold <= 0 or confidence is None:
        return True
    return confidence.score >= threshold


@dataclass(frozen=True, kw_only=True)
class Completion:
    """A suggestion and what it cost."""

    text: str
    timings: Timings
    tokens: TokenCounts
    model: str
    template: str
    stop_reason: str = ""
    multiline: bool = False
    chunks: tuple[ContextChunk, ...] = ()
    cache: str = ""  # "", "typed-ahead", "result"
    confidence: Confidence | None = None  # None: unknown
    alternatives: tuple[Choice, ...] = ()  # an explicit request's others (distinct, non-empty)
    alternatives_ms: float = 0.0

    def choices(self) -> list[Choice]:
        """Every distinct suggestion: the greedy answer first, then the alternatives in the
        order of their first token's probability (how they were generated). Not by mean
        token probability: a degenerate run (`1234567890...`) scores high on it.
        """
        items = [Choice(text=self.text, confidence=self.confidence)] if self.text else []
        return items + list(self.alternatives)

    def to_json(self) -> dict:
        """The `--json` shape of `cove complete`."""
        return {
            "text": self.text,
            "timings": {k: round(v, 1) for k, v in dataclasses.asdict(self.timings).items()},
            "tokens": dataclasses.asdict(self.tokens),
            "model": self.model,
            "template": self.template,
            "stop_reason": self.stop_reason,
            "multiline": self.multiline,
            "cache": self.cache,
            "confidence": self.confidence.to_json() if self.confidence else None,
            "alternatives": [
                {"text": c.text, "confidence": c.confidence.to_json() if c.confidence else None}
                for c in self.alternatives
            ],
            "context": [
                {
                    "source": c.source,
                    "path": c.path,
                    "lines": [c.start_line, c.end_line],
                    "score": round(c.score, 3),
                    "tokens": c.tokens,
                }
                for c in self.chunks
            ],
        }


@dataclass(frozen=True, kw_only=True)
class PreparedCompletion:
    """Everything decided before the model runs."""

    window: CursorWindow
    fim: FimInput
    request: GenerationRequest
    context_ms: float
    layout: str = "stable"  # the layout the prompt was rendered in (`CompletionService.layout`)


def decide_multiline(window: CursorWindow, policy: str, syntax: bool | None = None) -> bool:
    """Single- or multi-line: `policy` "always"/"never", or "auto".

    Auto: tree-sitter's verdict from the node at the cursor when it has one (`syntax`);
    otherwise multi-line only on an empty line (nothing right of the cursor) that opens a
    block body — after a line ending with `:` / `{` / `(` — or that stands at the end of a
    block; otherwise one line, which is what users accept most while typing.
    """
    if policy in ("always", "never"):
        return policy == "always"
    if syntax is not None:
        return syntax
    rest_of_line = window.suffix.split("\n", 1)[0]
    if window.line_prefix.strip() or rest_of_line.strip():
        return False
    previous = window.previous_line.rstrip()
    if previous.endswith((":", "{", "(", "[", "=>")):
        return True
    following = next((ln for ln in window.suffix.split("\n")[1:] if ln.strip()), "")
    return not following or len(following) - len(following.lstrip()) < len(window.line_prefix)


@dataclass
class CompletionService:
    """Turns (document, cursor) into a `Completion` with one backend."""

    backend: Backend
    budgets: BudgetSettings = field(default_factory=BudgetSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    repo_name: str = ""
    context_provider: ContextProvider | None = None
    display_path: Callable[[str], str] | None = None  # the path a prompt shows (repo-relative)

    def layout(self, fim: FimInput) -> str:
        """The prompt's layout: the configured one (`resolve_layout`; "auto": the one the
        backend's model was measured best with), or psm for a backend that cannot heal.
        """
        if not getattr(self.backend, "heals", False):
            return "psm"
        return resolve_layout(
            self.generation.layout, fim, getattr(self.backend, "layout", "stable")
        )

    def typing_layout(self, fim: FimInput) -> str:
        """The layout of the next keystroke's prompt on this line (the line then has text)."""
        return self.layout(dataclasses.replace(fim, line_prefix=fim.line_prefix + "x"))

    def prepare(
        self,
        document: Snapshot,
        line: int,
        character: int,
        *,
        cancel: threading.Event | None = None,
        use_context: bool = True,
        multiline: str | None = None,
        max_tokens: int | None = None,
        window: CursorWindow | None = None,
        alternatives: int = 0,
        deadline_ms: int | None = None,
        layout: str | None = None,
    ) -> PreparedCompletion:
        """Cut the window (unless the caller already did), gather context, render the prompt.

        `document` is one version of the buffer: its lines, language (from the client's
        languageId when it sent one) and, for an open document, the tree kept current.
        `deadline_ms`: this request's own bound (default `generation.deadlineMs`).
        `layout`: render in this layout instead of the configured one (a warm-up of the
        prompt the next keystroke will need, `CompletionSession`).
        Raises ValueError on a bad position.
        """
        started = time.perf_counter()
        path = document.path
        window = window or cursor_window(
            document.lines, line, character, self.budgets, self.backend
        )
        chunks: list[ContextChunk] = []
        if (
            use_context
            and self.context_provider
            and self.budgets.context_tokens > 0
            and wants_context(self.generation.context_when, window.line_prefix)
        ):
            try:
                chunks = self.context_provider(
                    document.text, path, window, self.budgets.context_tokens
                )
            except Exception:  # context is a bonus: a failure must not cost the completion
                log.exception("context retrieval failed for %s", path)
        fim = FimInput(
            prefix=window.prefix,
            line_prefix=window.line_prefix,
            suffix=window.suffix,
            path=self.display_path(path) if self.display_path else path,
            repo_name=self.repo_name,
            chunks=tuple(chunks),
            indentation=self.generation.indentation,
        )
        policy = multiline or self.generation.multiline
        syntax = self._syntax_multiline(document, line, character) if policy == "auto" else None
        is_multi = decide_multiline(window, policy, syntax)
        stop = StopPolicy(
            multiline=is_multi,
            max_lines=self.generation.max_lines,
            indent=block_indent(window.line_prefix, window.previous_line) if is_multi else 0,
        )
        layout = layout or self.layout(fim)
        request = GenerationRequest(
            prompt=render_prompt(
                self.backend.template, fim, layout, self.generation.context_placement
            ),
            heal=healed_tail(self.backend.template, fim, layout),
            fim=fim,
            max_tokens=max_tokens or self.generation.max_tokens,
            deadline_ms=deadline_ms or self.generation.deadline_ms,
            stop=stop,
            cancel=cancel or threading.Event(),
            alternatives=max(0, alternatives),
        )
        return PreparedCompletion(
            window=window,
            fim=fim,
            request=request,
            context_ms=(time.perf_counter() - started) * 1000,
            layout=layout,
        )

    def _syntax_multiline(self, document: Snapshot, line: int, character: int) -> bool | None:
        """Tree-sitter's single/multi-line verdict; None for unknown languages or huge files.

        An open document's tree is kept current by its edits, so this costs a small
        incremental re-parse and a walk up from the cursor, not a parse of the whole file.
        """
        try:
            tree = document.tree
            if tree is None:
                return None
            return should_complete_multiline(
                "", document.language, line, character, tree=tree, lines=document.lines
            )
        except Exception:  # a parser problem must not cost the completion
            log.debug("tree-sitter failed on %s", document.path, exc_info=True)
            return None

    def finish(
        self, prepared: PreparedCompletion, result: GenerationResult, started: float
    ) -> Completion:
        """Post-process the raw generation into the suggestion."""
        continued = continued_line(self.backend.template, prepared.fim, prepared.layout)
        text = self._clean(prepared, continued, result.text)
        if result.stop_reason == "cancelled":
            text = ""
        alternatives: list[Choice] = []
        seen = {text}
        for other in result.alternatives:
            cleaned = self._clean(prepared, continued, other.text)
            if cleaned.strip() and cleaned not in seen:
                seen.add(cleaned)
                alternatives.append(Choice(text=cleaned, confidence=other.confidence))
        total = (time.perf_counter() - started) * 1000
        return Completion(
            text=text,
            timings=Timings(
                context_ms=prepared.context_ms,
                prefill_ms=result.prefill_ms,
                generate_ms=result.generate_ms,
                total_ms=total,
            ),
            tokens=result.tokens,
            model=self.backend.model_name,
            template=self.backend.template.name,
            stop_reason=result.stop_reason,
            multiline=prepared.request.stop.multiline,
            chunks=prepared.fim.chunks,
            confidence=result.confidence,
            alternatives=tuple(alternatives),
            alternatives_ms=result.alternatives_ms,
        )

    def _clean(self, prepared: PreparedCompletion, continued: str, raw: str) -> str:
        """One raw generation as the text to insert at the cursor (`continued`: the cursor
        line's text the output continues, `engine.templates.continued_line`).
        """
        window = prepared.window
        return postprocess(
            align_to_cursor(raw, continued, window.line_prefix),
            line_prefix=window.line_prefix,
            suffix=window.suffix,
            previous_line=window.previous_line,
            special_tokens=self.backend.template.special_tokens,
        )

    def submit(
        self,
        text: str,
        path: str,
        line: int,
        character: int,
        *,
        language: str | None = None,
        **options,
    ) -> concurrent.futures.Future[Completion]:
        """Prepare on this thread, generate on the model thread; the future yields a Completion.

        `language`: our language name (e.g. from an LSP languageId); else from `path`.
        """
        started = time.perf_counter()
        document = Snapshot.of(text, path, language)
        prepared = self.prepare(document, line, character, **options)
        done: concurrent.futures.Future[Completion] = concurrent.futures.Future()

        def on_result(future: concurrent.futures.Future[GenerationResult]) -> None:
            try:
                done.set_result(self.finish(prepared, future.result(), started))
            except BaseException as error:  # surfaced to the caller through the future
                done.set_exception(error)

        self.backend.submit(prepared.request).add_done_callback(on_result)
        done.cancel_event = prepared.request.cancel  # type: ignore[attr-defined]
        return done

    def complete(self, text: str, path: str, line: int, character: int, **options) -> Completion:
        """Blocking completion (the CLI's path)."""
        return self.submit(text, path, line, character, **options).result()
