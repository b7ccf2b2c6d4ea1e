"""The model's own confidence in a suggestion, from its token log-probabilities.

Computed from what decoding already has (the logits of each step), so it costs no model
call: the local backend records the log-probability of every token it chose freely (not
the ones forced by token healing); remote backends pass on what the server returns
(`logprobs` in /v1/completions, `n_probs` in llama-server's /infill), or nothing, which
means "unknown" and is never filtered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class Confidence:
    """How sure the model was of a generation.

    `mean_logprob` is the mean natural-log probability of the chosen tokens (the one that
    ended the generation included: deciding to stop is part of the answer), `first_prob`
    the probability of the first one, `min_prob` of the least likely one.
    """

    mean_logprob: float
    first_prob: float
    min_prob: float
    tokens: int

    @property
    def score(self) -> float:
        """What `generation.minConfidence` is compared with: the probability of the least
        likely token the model chose, in [0, 1]. Chosen by measurement over the mean and
        the first token's probability (README, "Confidence and alternatives"): one unsure
        token is where a wrong line goes wrong, and a mean hides it.
        """
        return self.min_prob

    @property
    def mean_prob(self) -> float:
        """The geometric mean token probability."""
        return math.exp(self.mean_logprob)

    def to_json(self) -> dict:
        """The `--json` / log shape."""
        return {
            "score": round(self.score, 4),
            "mean_prob": round(self.mean_prob, 4),
            "mean_logprob": round(self.mean_logprob, 4),
            "first_prob": round(self.first_prob, 4),
            "min_prob": round(self.min_prob, 4),
            "tokens": self.tokens,
        }


def confidence_of(logprobs: Sequence[float]) -> Confidence | None:
    """The confidence of a generation whose chosen tokens had these log-probabilities; None
    (unknown) when there are none.
    """
    values = [float(v) for v in logprobs if v is not None and math.isfinite(float(v))]
    if not values:
        return None
    return Confidence(
        mean_logprob=sum(values) / len(values),
        first_prob=math.exp(values[0]),
        min_prob=math.exp(min(values)),
        tokens=len(values),
    )


def log_softmax_at(logits: np.ndarray, token: int) -> float:
    """Log p(token) under softmax(logits), computed stably (one pass over the vocabulary)."""
    peak = float(np.max(logits))
    total = float(np.sum(np.exp(logits - peak, dtype=np.float64)))
    return float(logits[token]) - peak - math.log(total)


def top_tokens(logits: np.ndarray, count: int, allowed: np.ndarray | None = None) -> list[int]:
    """The `count` most likely token ids, best first (only among `allowed` when given)."""
    if allowed is not None and len(allowed):
        scores = logits[allowed]
        count = min(count, len(allowed))
        best = np.argpartition(-scores, count - 1)[:count]
        return [int(allowed[i]) for i in best[np.argsort(-scores[best], kind="stable")]]
    count = min(count, len(logits))
    best = np.argpartition(-logits, count - 1)[:count]
    return [int(i) for i in best[np.argsort(-logits[best], kind="stable")]]
