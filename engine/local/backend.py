"""The embedded llama.cpp backend: one worker thread owns the model.

Generation is our own loop over llama-cpp-python's `eval`, so that the prompt is
evaluated in batches with a cancel/deadline check between them, every token is checked
against the stop rules, and the longest common token prefix with the previous prompt is
kept in the KV cache (and reported).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateChatCompletionResponse

from engine.confidence import confidence_of, log_softmax_at, top_tokens
from engine.local.healing import HealingIndex
from engine.local.model_store import ModelInfo
from engine.local.prefill import BIG, ChunkPolicy, evaluate_prompt
from engine.local.runtime import Runtime
from engine.local.states import KeptStates, switch_state
from engine.local.worker import ModelWorker, quiet_stderr
from engine.stops import check_stop
from engine.templates import FimTemplate, detect_template
from engine.types import (
    Alternative,
    CompletionError,
    GenerationRequest,
    GenerationResult,
    TokenCounts,
)

log = logging.getLogger(__name__)


@dataclass
class _Branch:
    """Where alternatives start: the first freely chosen token's step (healing done)."""

    n_tokens: int  # tokens in the KV cache at that step
    raw: bytes  # text written before it (the healed word)
    ban_blank: bool  # a blank may not follow (held indentation)
    generated: int  # steps taken before it
    logits: np.ndarray  # a copy: llama.cpp's buffer moves on


@dataclass
class _Decoding:
    """A decoding's state, so that an alternative can resume from the branch point."""

    raw: bytes = b""
    pending: bytes = b""  # healed text still to be written
    ban_blank: bool = False
    generated: int = 0
    logprobs: list[float] = field(default_factory=list)
    branch: _Branch | None = None


@dataclass
class _Decoded:
    text: str
    reason: str
    generated: int
    logprobs: list[float]
    branch: _Branch | None


def common_prefix_length(cached: np.ndarray, tokens: list[int]) -> int:
    """Length of the longest common prefix of the cached ids and the new prompt."""
    n = min(len(cached), len(tokens))
    if n == 0:
        return 0
    diff = np.nonzero(cached[:n] != np.asarray(tokens[:n], dtype=cached.dtype))[0]
    return int(diff[0]) if len(diff) else n


class LocalBackend:
    """llama-cpp-python in-process, greedy decoding, KV prefix reuse."""

    heals = True  # decoding is ours: the healed word is forced token by token
    # Log-probabilities and the branch point of alternatives; off only in the benchmark that
    # measures what they cost an automatic request.
    track_confidence = True

    def __init__(
        self,
        *,
        model_path: str | Path,
        context_size: int = 4096,
        threads: int = 0,
        batch_size: int = 64,
        gpu_layers: int = 0,
        verbose: bool = False,
        batch_threads: int = 0,
        kept_prompts: int = 4,
        use_mmap: bool = True,
    ) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.model_path = Path(model_path)
        self.batch_size = max(8, batch_size)
        # Prompt chunks: batch_size while something newer waits, up to n_batch otherwise.
        self.chunks = ChunkPolicy(small=self.batch_size, big=max(BIG, self.batch_size))
        self._prefill_rate = 0.0  # tokens/s of the last prompt evaluation (deadline cuts)
        self.gpu_layers = gpu_layers
        self.use_mmap = use_mmap  # False: the weights are read into private memory
        self.worker = ModelWorker()
        threads = threads or os.cpu_count() or 2
        batch_threads = batch_threads or os.cpu_count() or 2  # prompt evaluation: every core
        started = time.perf_counter()
        try:
            # verbose=True on purpose: with verbose=False llama-cpp-python points fd 1
            # (stdout, the LSP transport) at /dev/null while loading, and responses written
            # meanwhile are lost. We silence only fd 2, then turn its chatter off.
            with quiet_stderr() if not verbose else contextlib.nullcontext():
                self.llm = llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=context_size,
                    n_batch=self.chunks.big,
                    n_ubatch=self.chunks.big,  # a big chunk is one graph: its compute buffer
                    n_threads=threads,
                    n_threads_batch=batch_threads,
                    n_gpu_layers=gpu_layers,
                    use_mmap=use_mmap,
                    verbose=True,
                )
            self.llm.verbose = verbose
            llama_cpp.llama.set_verbose(verbose)
        except (ValueError, RuntimeError) as error:
            raise CompletionError(
                f"llama.cpp could not load {self.model_path} ({error}): check that it is a "
                "complete GGUF file, or set model.path to another model."
            ) from error
        self.load_ms = (time.perf_counter() - started) * 1000
        self._vocab = self.llm._model.vocab
        self.template: FimTemplate = self._detect_template()
        if not self.template.has_fim:
            log.warning(
                "%s has no fill-in-the-middle tokens: completions continue the prefix only "
                "(the text after the cursor is not shown to the model).",
                self.model_path.name,
            )
        self.model_name = self.model_path.name
        self.model_info: ModelInfo | None = None  # set by open_local_backend: why this model
        self.layout = "stable"  # `generation.layout: "auto"`: the preset's (open_local_backend)
        self.runtime: Runtime | None = None
        self._special_stop_ids = self._collect_stop_ids()
        self._token_cache: dict[str, int] = {}
        self.healing = HealingIndex(
            lambda: (
                (self.llm.detokenize([i], special=False), i) for i in range(self.llm.n_vocab())
            )
        )
        self._closed = False
        self.kept = KeptStates(kept_prompts)  # other files' prompts, evaluated (file switches)
        self.worker.submit(self.healing.matching, b" ")  # index the vocabulary before requests

    # -- vocabulary -------------------------------------------------------------------------

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def is_special(self, text: str) -> bool:
        """True when `text` is exactly one control token of the vocabulary."""
        if not text:
            return False
        ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
        if len(ids) != 1:
            return False
        attr = self._llama_cpp.llama_vocab_get_attr(self._vocab, ids[0])
        return bool(
            attr
            & (
                self._llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
                | self._llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            )
        )

    def _detect_template(self) -> FimTemplate:
        fim_pre = self._llama_cpp.llama_vocab_fim_pre(self._vocab)
        return detect_template(self._token_text(fim_pre), self.is_special)

    def _collect_stop_ids(self) -> set[int]:
        """FIM and file markers: the model writing one means the hole is filled."""
        lib = self._llama_cpp
        ids = {
            lib.llama_vocab_fim_pre(self._vocab),
            lib.llama_vocab_fim_suf(self._vocab),
            lib.llama_vocab_fim_mid(self._vocab),
            lib.llama_vocab_fim_pad(self._vocab),
            lib.llama_vocab_fim_rep(self._vocab),
            lib.llama_vocab_fim_sep(self._vocab),
        }
        for text in self.template.special_tokens:
            found = self.llm.tokenize(text.strip().encode(), add_bos=False, special=True)
            if len(found) == 1:
                ids.add(found[0])
        return {i for i in ids if i >= 0}

    def tokenize(self, text: str) -> list[int]:
        """Prompt tokens, special markers recognised (never a BOS: FIM prompts start bare)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        """Tokens of plain text (markers in user code are not treated as special)."""
        cached = self._token_cache.get(text)
        if cached is not None:
            return cached
        count = len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        if len(self._token_cache) > 20000:
            self._token_cache.clear()
        self._token_cache[text] = count
        return count

    # -- generation -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> concurrent.futures.Future[GenerationResult]:
        """Queue a generation on the model thread."""
        return self.worker.submit(self._generate, request, time.perf_counter())

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Run a generation and wait for it."""
        return self.submit(request).result()

    def _prefill(
        self, tokens: list[int], request: GenerationRequest, deadline: float
    ) -> tuple[int, str]:
        """Evaluate the prompt past the cached prefix, in batches; return (reused, stop)."""
        llm = self.llm
        reused = common_prefix_length(llm.input_ids[: llm.n_tokens], tokens)
        reused = switch_state(self._llama_cpp, llm, self.kept, tokens, reused)
        if reused >= len(tokens):
            reused = len(tokens) - 1  # re-evaluate the last token to get fresh logits
        llm.n_tokens = reused  # eval() drops the KV cache from here on

        def stopped() -> str:
            if request.cancel.is_set():
                return "cancelled"
            return "deadline" if time.perf_counter() > deadline else ""

        stop, self._prefill_rate = evaluate_prompt(
            llm.eval,
            tokens,
            reused,
            policy=self.chunks,
            stopped=stopped,
            waiting=lambda: self.worker.waiting > 0,
            deadline=deadline,
            rate=self._prefill_rate,
        )
        return reused, stop

    def _logits(self) -> np.ndarray:
        """The last evaluated position's logits (a view on llama.cpp's own buffer)."""
        logits_ptr = self._llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(
            ctypes.cast(logits_ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.llm.n_vocab(),)
        )

    @staticmethod
    def _greedy(
        logits: np.ndarray, allowed: np.ndarray | None = None, banned: np.ndarray | None = None
    ) -> int:
        """The most likely id (among `allowed` ids, never one of `banned`)."""
        if allowed is not None and len(allowed):
            return int(allowed[np.argmax(logits[allowed])])
        if banned is not None and len(banned):
            logits = logits.copy()  # llama.cpp's own buffer stays as it is
            logits[banned] = -np.inf
        return int(np.argmax(logits))

    def _generate(self, request: GenerationRequest, queued_at: float) -> GenerationResult:
        deadline = queued_at + request.deadline_ms / 1000
        started = time.perf_counter()
        tokens = self.tokenize(request.prompt)
        limit = self.llm.n_ctx() - request.max_tokens - 1
        if len(tokens) > limit:
            raise CompletionError(
                f"The prompt has {len(tokens)} tokens but the context holds {limit}: "
                "lower the prefix/suffix budgets or raise model.contextSize."
            )
        counts = dict(prompt=len(tokens), reused=0, generated=0)
        if request.cancel.is_set():
            return GenerationResult(
                text="",
                stop_reason="cancelled",
                tokens=TokenCounts(**counts),
                prefill_ms=0,
                generate_ms=0,
            )
        reused, stopped = self._prefill(tokens, request, deadline)
        counts["reused"] = reused
        prefilled = time.perf_counter()
        decoded = (
            self._decode(request, deadline) if not stopped else _Decoded("", stopped, 0, [], None)
        )
        counts["generated"] = decoded.generated
        finished = time.perf_counter()
        alternatives: tuple[Alternative, ...] = ()
        if request.alternatives and decoded.reason not in ("cancelled", "deadline"):
            alternatives = self._alternatives(request, deadline, decoded)
        return GenerationResult(
            text=decoded.text,
            stop_reason=decoded.reason,
            tokens=TokenCounts(**counts),
            prefill_ms=(prefilled - started) * 1000,
            generate_ms=(finished - prefilled) * 1000,
            confidence=confidence_of(decoded.logprobs),
            alternatives=alternatives,
            alternatives_ms=(time.perf_counter() - finished) * 1000,
        )

    def _decode(
        self,
        request: GenerationRequest,
        deadline: float,
        state: _Decoding | None = None,
        forced: int | None = None,
    ) -> _Decoded:
        """Choose token by token, checking cancel, deadline and stop rules after each.

        The log-probability of every freely chosen token is kept (for the confidence); the
        first free step is remembered as the branch point of alternatives. With `state` and
        `forced`, decoding resumes at a branch point with `forced` as the next token.
        """
        lib, vocab = self._llama_cpp, self._vocab
        fresh = state is None
        s = state or _Decoding(pending=request.heal.encode("utf-8"))
        # Healed blanks only (the user's indentation, held): written exactly, no blank after.
        hold = bool(request.heal) and not request.heal.strip(" \t")
        branch = None if fresh else s.branch
        text = s.raw.decode("utf-8", errors="ignore")
        for generated in range(s.generated, request.max_tokens):
            if s.pending:
                token = self._greedy(self._logits(), self.healing.matching(s.pending, hold))
            else:
                if forced is not None and branch is not None:
                    logits, token, forced = branch.logits, forced, None
                else:
                    logits = self._logits()
                    if branch is None and self.track_confidence:
                        branch = _Branch(
                            n_tokens=self.llm.n_tokens,
                            raw=s.raw,
                            ban_blank=s.ban_blank,
                            generated=generated,
                            logits=logits.copy(),
                        )
                    token = self._greedy(
                        logits, banned=self.healing.blanks() if s.ban_blank else None
                    )
                if self.track_confidence:
                    s.logprobs.append(log_softmax_at(logits, token))
                s.ban_blank = False
            if lib.llama_vocab_is_eog(vocab, token) or token in self._special_stop_ids:
                return _Decoded(text, "eos", generated, s.logprobs, branch)
            piece = self.llm.detokenize([token], special=False)
            s.raw += piece
            text = s.raw.decode("utf-8", errors="ignore")
            s.ban_blank = hold and piece == s.pending
            s.pending = b"" if piece.startswith(s.pending) else s.pending[len(piece) :]
            if s.pending:  # no stop rule applies inside the healed word
                self.llm.eval([token])
                continue
            decision = check_stop(text, request.stop)
            if decision.reason:
                return _Decoded(
                    text[: decision.keep], decision.reason, generated + 1, s.logprobs, branch
                )
            if request.cancel.is_set():
                return _Decoded(text, "cancelled", generated + 1, s.logprobs, branch)
            if time.perf_counter() > deadline:
                return _Decoded(text, "deadline", generated + 1, s.logprobs, branch)
            if generated + 1 < request.max_tokens:
                self.llm.eval([token])
        return _Decoded(text, "max_tokens", request.max_tokens, s.logprobs, branch)

    def _alternatives(
        self, request: GenerationRequest, deadline: float, greedy: _Decoded
    ) -> tuple[Alternative, ...]:
        """Up to `request.alternatives` more generations, each from the branch point with
        the next most likely first token; raw duplicates and empty ones are skipped.
        """
        branch = greedy.branch
        if branch is None or request.alternatives <= 0:
            return ()
        logits = branch.logits
        if branch.ban_blank:  # held indentation: no alternative may start with a blank
            logits = logits.copy()
            logits[self.healing.blanks()] = -np.inf
        ranked = top_tokens(logits, request.alternatives + 4)
        seen = {greedy.text}
        found: list[Alternative] = []
        lib, vocab = self._llama_cpp, self._vocab
        for token in ranked[1:]:
            if len(found) >= request.alternatives:
                break
            if request.cancel.is_set() or time.perf_counter() > deadline:
                break
            if lib.llama_vocab_is_eog(vocab, token) or token in self._special_stop_ids:
                continue  # an empty alternative
            self.llm.n_tokens = branch.n_tokens  # back to the branch point (eval drops the rest)
            state = _Decoding(raw=branch.raw, generated=branch.generated, branch=branch)
            decoded = self._decode(request, deadline, state, forced=token)
            if decoded.reason in ("cancelled", "deadline") or not decoded.text.strip():
                continue
            if decoded.text in seen:
                continue
            seen.add(decoded.text)
            found.append(
                Alternative(
                    text=decoded.text,
                    stop_reason=decoded.reason,
                    generated=decoded.generated - branch.generated,
                    confidence=confidence_of(decoded.logprobs),
                )
            )
        return tuple(found)

    # -- chat -------------------------------------------------------------------------------

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        deadline_ms: int,
        cancel: threading.Event | None = None,
    ) -> concurrent.futures.Future[str]:
        """Run the model's chat template (create_chat_completion) on the model thread."""
        cancel = cancel or threading.Event()
        queued = time.perf_counter()

        def run() -> str:
            deadline = queued + deadline_ms / 1000
            eos = self.llm.token_eos()

            def force_stop(
                _ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
            ) -> npt.NDArray[np.single]:
                # cancel/deadline: end the reply, keep what was said
                if cancel.is_set() or time.perf_counter() > deadline:
                    scores[:] = -np.inf
                    scores[eos] = 0.0
                return scores

            # Our role/content dicts are what llama_cpp's message TypedDicts describe; without
            # stream=True the call returns one response, not an iterator.
            reply = cast(
                "CreateChatCompletionResponse",
                self.llm.create_chat_completion(
                    messages=cast("list[ChatCompletionRequestMessage]", messages),
                    max_tokens=max_tokens,
                    temperature=0.0,
                    logits_processor=self._llama_cpp.LogitsProcessorList([force_stop]),
                ),
            )
            return reply["choices"][0]["message"]["content"] or ""

        return self.worker.submit(run)

    # -- facts ------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Model path, template and llama.cpp build facts."""
        return {
            "backend": "local",
            "model": str(self.model_path),
            "template": self.template.name,
            "context_size": self.llm.n_ctx(),
            "load_ms": round(self.load_ms),
            "mmap": self.use_mmap,
            "system_info": self._llama_cpp.llama_print_system_info()
            .decode(errors="replace")
            .strip(),
            "preset": self.model_info.preset if self.model_info else "",
            "reason": self.model_info.reason if self.model_info else "",
            "layout": self.layout,
            "threads": getattr(self.llm, "n_threads", None),
            "batch_threads": getattr(self.llm, "n_threads_batch", None),
            "gpu_backend": bool(self._llama_cpp.llama_supports_gpu_offload()),
            "gpu_layers": self.gpu_layers,
            "layers": self._layer_count(),
        }

    def _layer_count(self) -> int:
        """Transformer layers of the loaded model (0 when the bindings cannot say)."""
        with contextlib.suppress(Exception):
            return int(self._llama_cpp.llama_model_n_layer(self.llm._model.model))
        return 0

    def close(self) -> None:
        """Stop the worker and free the model (once; freeing it under a running call crashes)."""
        if self._closed:
            return
        self._closed = True
        self.worker.shutdown(wait=True)
        with contextlib.suppress(Exception):
            self.llm.close()
