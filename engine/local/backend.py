"""The embedded llama.cpp backend: one worker thread owns the model.

Generation is our own loop over llama-cpp-python's `eval`, so that the prompt is
evaluated in batches with a cancel/deadline check between them, every token is checked
against the stop rules, and the longest common token prefix with the previous prompt is
kept in the KV cache (and reported).
"""

from __future__ import annotations

import bisect
import concurrent.futures
import contextlib
import ctypes
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.local.model_store import resolve_model
from engine.settings import ModelSettings
from engine.stops import check_stop
from engine.templates import FimTemplate, detect_template
from engine.types import CompletionError, GenerationRequest, GenerationResult, TokenCounts

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence llama.cpp's C-level logging to fd 2 while loading (stdout stays untouched)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


class ModelWorker:
    """A single thread that runs every call touching the llama.cpp context, in order."""

    def __init__(self, name: str = "cove-model") -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn, *args, **kwargs) -> concurrent.futures.Future:
        """Queue `fn(*args, **kwargs)` on the model thread."""
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = False) -> None:
        """Stop accepting work and drop queued calls; `wait` for the running one to end."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


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

    def __init__(
        self,
        *,
        model_path: str | Path,
        context_size: int = 4096,
        threads: int = 0,
        batch_size: int = 64,
        gpu_layers: int = 0,
        verbose: bool = False,
    ) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.model_path = Path(model_path)
        self.batch_size = max(8, batch_size)
        self.worker = ModelWorker()
        threads = threads or os.cpu_count() or 2
        started = time.perf_counter()
        try:
            # verbose=True on purpose: with verbose=False llama-cpp-python points fd 1
            # (stdout, the LSP transport) at /dev/null while loading, and responses written
            # meanwhile are lost. We silence only fd 2, then turn its chatter off.
            with _quiet_stderr() if not verbose else contextlib.nullcontext():
                self.llm = llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=context_size,
                    n_batch=max(512, self.batch_size),
                    n_threads=threads,
                    n_gpu_layers=gpu_layers,
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
        self.model_name = self.model_path.name
        self._special_stop_ids = self._collect_stop_ids()
        self._token_cache: dict[str, int] = {}
        self._vocab_sorted: tuple[list[bytes], np.ndarray] | None = None
        self._vocab_by_text: dict[bytes, list[int]] = {}
        self._closed = False
        self.worker.submit(self._healing_tokens, b" ")  # index the vocabulary before requests

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
        if reused >= len(tokens):
            reused = len(tokens) - 1  # re-evaluate the last token to get fresh logits
        llm.n_tokens = reused  # eval() drops the KV cache from here on
        for start in range(reused, len(tokens), self.batch_size):
            if request.cancel.is_set():
                return reused, "cancelled"
            if time.perf_counter() > deadline:
                return reused, "deadline"
            llm.eval(tokens[start : start + self.batch_size])
        return reused, ""

    def _next_token(self, allowed: np.ndarray | None = None) -> int:
        """Greedy choice from the last evaluated position's logits (among `allowed` ids)."""
        logits_ptr = self._llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        n_vocab = self.llm.n_vocab()
        logits = np.ctypeslib.as_array(
            ctypes.cast(logits_ptr, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,)
        )
        if allowed is not None and len(allowed):
            return int(allowed[np.argmax(logits[allowed])])
        return int(np.argmax(logits))

    def _healing_tokens(self, pending: bytes) -> np.ndarray:
        """Ids whose text starts with `pending` or is a start of it (token healing)."""
        if self._vocab_sorted is None:  # built once, on the model thread after loading (~0.5 s)
            pairs = [
                (self.llm.detokenize([i], special=False), i) for i in range(self.llm.n_vocab())
            ]
            ordered = sorted((t, i) for t, i in pairs if t)
            self._vocab_sorted = (
                [t for t, _ in ordered],
                np.array([i for _, i in ordered], dtype=np.int64),
            )
            self._vocab_by_text = {}
            for text, token in ordered:
                self._vocab_by_text.setdefault(text, []).append(token)
        texts, ids = self._vocab_sorted
        low = bisect.bisect_left(texts, pending)
        high = bisect.bisect_left(texts, pending + b"\xff", low)  # 0xff never occurs in UTF-8
        shorter = [
            t for k in range(1, len(pending)) for t in self._vocab_by_text.get(pending[:k], [])
        ]
        return np.concatenate([ids[low:high], np.array(shorter, dtype=np.int64)])

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
        text, reason, generated = ("", stopped, 0) if stopped else self._decode(request, deadline)
        counts["generated"] = generated
        finished = time.perf_counter()
        return GenerationResult(
            text=text,
            stop_reason=reason,
            tokens=TokenCounts(**counts),
            prefill_ms=(prefilled - started) * 1000,
            generate_ms=(finished - prefilled) * 1000,
        )

    def _decode(self, request: GenerationRequest, deadline: float) -> tuple[str, str, int]:
        """Sample token by token, checking cancel, deadline and stop rules after each."""
        lib, vocab = self._llama_cpp, self._vocab
        raw = b""
        text = ""
        pending = request.heal.encode("utf-8")  # healed text still to be written
        for generated in range(request.max_tokens):
            token = self._next_token(self._healing_tokens(pending) if pending else None)
            if lib.llama_vocab_is_eog(vocab, token) or token in self._special_stop_ids:
                return text, "eos", generated
            piece = self.llm.detokenize([token], special=False)
            raw += piece
            text = raw.decode("utf-8", errors="ignore")
            pending = b"" if piece.startswith(pending) else pending[len(piece) :]
            if pending:  # no stop rule applies inside the healed word
                self.llm.eval([token])
                continue
            decision = check_stop(text, request.stop)
            if decision.reason:
                return text[: decision.keep], decision.reason, generated + 1
            if request.cancel.is_set():
                return text, "cancelled", generated + 1
            if time.perf_counter() > deadline:
                return text, "deadline", generated + 1
            if generated + 1 < request.max_tokens:
                self.llm.eval([token])
        return text, "max_tokens", request.max_tokens

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

            def force_stop(_ids, scores):  # cancel/deadline: end the reply, keep what was said
                if cancel.is_set() or time.perf_counter() > deadline:
                    scores[:] = -np.inf
                    scores[eos] = 0.0
                return scores

            reply = self.llm.create_chat_completion(
                messages=messages,
                max_tokens=max_tokens,
                temperature=0.0,
                logits_processor=self._llama_cpp.LogitsProcessorList([force_stop]),
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
            "system_info": self._llama_cpp.llama_print_system_info()
            .decode(errors="replace")
            .strip(),
        }

    def close(self) -> None:
        """Stop the worker and free the model (once; freeing it under a running call crashes)."""
        if self._closed:
            return
        self._closed = True
        self.worker.shutdown(wait=True)
        with contextlib.suppress(Exception):
            self.llm.close()


def open_local_backend(settings: ModelSettings, *, verbose: bool = False) -> LocalBackend:
    """Resolve the model (explicit path, $COVE_MODEL or the embedded one) and load it."""
    info = resolve_model(settings.path or None)
    return LocalBackend(
        model_path=info.path,
        context_size=settings.context_size,
        threads=settings.threads,
        batch_size=settings.batch_size,
        gpu_layers=settings.gpu_layers,
        verbose=verbose,
    )
