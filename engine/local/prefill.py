"""Prompt evaluation in chunks: how many tokens go to llama.cpp between cancel/deadline checks.

A chunk is one `llm.eval` call; cancel and deadline are checked only between chunks, since
llama.cpp cannot be interrupted inside one. Small chunks answer a cancel sooner; big ones
evaluate faster. Measured side by side (`python -m bench.batches`, 0.5B, two cores, cold
~1,400-token prompts): 64-token chunks run at 0.92x the rate of 256-token ones, 512 at
0.98x of 256 (no faster), while the worst cancel wait doubles with each doubling (0.2 s at
64, 1.1 s at 256, 2.2 s at 512). `ChunkPolicy` is the pure decision: 256-token chunks while
the prompt is long and nothing newer waits on the model thread, 64 when something waits or
the deadline is near. The context is created with n_batch = n_ubatch = the big chunk, so a
chunk is one ubatch and llama.cpp's compute buffer is sized for it, no larger.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SMALL = 64  # tokens per chunk when something newer waits (the old fixed batch size)
BIG = 256  # tokens per chunk for a cold prompt with nothing waiting (n_batch = n_ubatch)


@dataclass(frozen=True)
class ChunkPolicy:
    """Chunk sizes of prompt evaluation; `small == big` is a fixed size."""

    small: int = SMALL
    big: int = BIG

    def next_chunk(self, remaining: int, *, waiting: bool, seconds_left: float, rate: float) -> int:
        """Tokens to evaluate next, of `remaining`: `small` when a newer call `waiting` on
        the model thread needs the thread soon; a big chunk cut to what fits in
        `seconds_left` at `rate` tokens/s (0: not measured yet), so the deadline overshoots
        by at most a small chunk.
        """
        size = self.small if waiting else self.big
        if rate > 0 and size > self.small:
            fits = int(rate * max(0.0, seconds_left))
            size = max(self.small, min(size, fits - fits % self.small))
        return max(1, min(size, remaining))


def evaluate_prompt(
    evaluate: Callable[[Sequence[int]], None],
    tokens: Sequence[int],
    start: int,
    *,
    policy: ChunkPolicy,
    stopped: Callable[[], str],
    waiting: Callable[[], bool],
    deadline: float,
    rate: float = 0.0,
) -> tuple[str, float]:
    """Evaluate `tokens[start:]` chunk by chunk; return ("" when done, else the reason
    `stopped()` gave before a chunk: "cancelled", "deadline") and the rate measured
    (tokens/s, `rate` the one known before). At most one chunk is evaluated after a cancel.
    """
    position = start
    while position < len(tokens):
        reason = stopped()
        if reason:
            return reason, rate
        size = policy.next_chunk(
            len(tokens) - position,
            waiting=waiting(),
            seconds_left=deadline - time.perf_counter(),
            rate=rate,
        )
        began = time.perf_counter()
        evaluate(tokens[position : position + size])
        position += size
        if size >= policy.small:  # a short tail says little about the rate
            rate = size / max(1e-6, time.perf_counter() - began)
    return "", rate
