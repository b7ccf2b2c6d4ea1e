"""Kept prompt states: the evaluated KV cache of a few recent prompts, by their token ids.

llama.cpp keeps one prompt in its KV cache; a return to a file edited a minute ago would
evaluate its whole prompt again (6-9 s on two cores). Before another file's prompt replaces
a long one, its sequence state is copied out (`llama_state_seq_get_data`: the KV cells of
sequence 0 only, ~12 KB a token on the 0.5B, not `Llama.save_state`, which also copies the
n_batch x n_vocab logits); a later prompt that shares a longer prefix with a kept state
than with the live cache gets it copied back in. Logits are not restored: the backend
always re-evaluates at least the prompt's last token.

`KeptStates` is the pure part (an LRU bounded by count and bytes, the decisions);
`switch_state` is the one function that touches llama.cpp.
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

KEPT_BYTES = 256 * 1024 * 1024  # all kept states together: ~10k tokens of the 1.5B
MIN_TOKENS = 256  # a shorter prompt is cheap to evaluate again: not worth keeping
SHARED_BELOW = 0.5  # keep the live cache when the new prompt reuses less than this of it
GAIN = 64  # restore only when a kept state reuses this many tokens more than the live cache


@dataclass(eq=False)
class KeptState:
    """A copied-out sequence state and the token ids it holds, in order."""

    tokens: np.ndarray
    data: np.ndarray  # uint8: llama.cpp's own serialisation of the sequence

    @property
    def nbytes(self) -> int:
        """Memory the state holds (its data and ids)."""
        return int(self.data.nbytes + self.tokens.nbytes)


def shared_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two id arrays."""
    n = min(len(a), len(b))
    diff = np.nonzero(a[:n] != b[:n])[0]
    return int(diff[0]) if len(diff) else n


class KeptStates:
    """The most recently used states, at most `limit` of them and `max_bytes` together."""

    def __init__(self, limit: int = 4, max_bytes: int = KEPT_BYTES) -> None:
        self.limit = max(0, limit)
        self.max_bytes = max_bytes
        self._states: OrderedDict[int, KeptState] = OrderedDict()  # oldest first
        self.saves = 0
        self.restores = 0
        self.restored_tokens = 0

    def __len__(self) -> int:
        return len(self._states)

    @property
    def nbytes(self) -> int:
        """Memory all kept states hold."""
        return sum(state.nbytes for state in self._states.values())

    def should_save(self, cached: int, reused: int, prompt: int) -> bool:
        """Keep the live cache (`cached` tokens) before a prompt of `prompt` tokens that
        reuses only `reused` of it replaces it: when it is long and mostly lost.
        """
        return self.limit > 0 and cached >= MIN_TOKENS and reused < SHARED_BELOW * prompt

    def best(self, tokens: np.ndarray, reused: int) -> tuple[KeptState | None, int]:
        """The kept state sharing the longest prefix with `tokens`, when it beats the live
        cache's `reused` by at least GAIN tokens; with that prefix's length.
        """
        found, longest = None, reused
        for state in self._states.values():
            n = shared_prefix(state.tokens, tokens)
            if n > longest:
                found, longest = state, n
        if found is None or longest - reused < GAIN:
            return None, reused
        self._states.move_to_end(id(found))
        return found, longest

    def covers(self, tokens: np.ndarray) -> bool:
        """True when a kept state already holds all of `tokens` (no need to save them)."""
        for key, state in self._states.items():
            if len(state.tokens) >= len(tokens) and shared_prefix(state.tokens, tokens) == len(
                tokens
            ):
                self._states.move_to_end(key)
                return True
        return False

    def add(self, state: KeptState) -> None:
        """Keep `state` as the most recent; drop the states it supersedes (they share half
        their ids or more with it: the same region, edited), then the oldest over the bounds.
        """
        if self.limit <= 0 or state.nbytes > self.max_bytes:
            return
        for key, old in list(self._states.items()):
            if shared_prefix(old.tokens, state.tokens) * 2 >= len(old.tokens):
                del self._states[key]
        self._states[id(state)] = state
        self.saves += 1
        while len(self._states) > self.limit or self.nbytes > self.max_bytes:
            self._states.popitem(last=False)

    def clear(self) -> None:
        """Forget every kept state."""
        self._states.clear()


def _pointer(data: np.ndarray) -> Any:
    return data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))


def save_sequence(lib: Any, llm: Any) -> KeptState | None:
    """Copy sequence 0's KV cells (the `llm.n_tokens` evaluated ids) out of the context."""
    n = llm.n_tokens
    llm._ctx.kv_cache_seq_rm(0, n, -1)  # cells past n_tokens (an abandoned branch) go first
    size = lib.llama_state_seq_get_size(llm._ctx.ctx, 0)
    data = np.empty(size, dtype=np.uint8)
    if not size or lib.llama_state_seq_get_data(llm._ctx.ctx, _pointer(data), size, 0) != size:
        return None
    return KeptState(tokens=np.array(llm.input_ids[:n], copy=True), data=data)


def restore_sequence(lib: Any, llm: Any, state: KeptState, keep: int) -> bool:
    """Put `state` back into sequence 0 and keep its first `keep` ids; False (and an empty
    cache) when llama.cpp refuses it.
    """
    ctx = llm._ctx.ctx
    # Cleared, not only sequence 0 removed: that also moves the cache's head back to cell 0,
    # so the restored cells are placed first and attention spans no more cells than they are.
    llm._ctx.kv_cache_clear()
    if not lib.llama_state_seq_set_data(ctx, _pointer(state.data), state.data.nbytes, 0):
        llm._ctx.kv_cache_seq_rm(0, -1, -1)
        llm.n_tokens = 0
        return False
    n = len(state.tokens)
    llm.input_ids[:n] = state.tokens
    llm._ctx.kv_cache_seq_rm(0, keep, -1)
    llm.n_tokens = keep
    return True


def switch_state(lib: Any, llm: Any, kept: KeptStates, tokens: list[int], reused: int) -> int:
    """Before evaluating `tokens` (the live cache shares `reused` of them): keep the live
    cache when it is about to be lost, restore a kept state that shares more; return how
    many tokens of the prompt the KV cache now holds.
    """
    if kept.limit <= 0:
        return reused
    ids = np.asarray(tokens, dtype=llm.input_ids.dtype)
    state, shared = kept.best(ids, reused)
    cached = llm.n_tokens
    if kept.should_save(cached, reused, len(tokens)) and not kept.covers(llm.input_ids[:cached]):
        saved = save_sequence(lib, llm)
        if saved is not None:
            kept.add(saved)
            # Info, with the total: the typing storm reads it to judge RSS net of these states.
            log.info(
                "kept a prompt state: %d tokens, %d bytes; kept states %d, %d bytes in all",
                cached,
                saved.nbytes,
                len(kept),
                kept.nbytes,
            )
    if state is None:
        return reused
    shared = min(shared, len(tokens) - 1)  # the last prompt token is evaluated for its logits
    if not restore_sequence(lib, llm, state, shared):
        log.warning("llama.cpp refused a kept prompt state; evaluating the prompt in full")
        kept.clear()
        return 0
    kept.restores += 1
    kept.restored_tokens += shared
    log.debug("restored a kept prompt state: %d of %d tokens reused", shared, len(tokens))
    return shared
