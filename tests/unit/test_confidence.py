"""The confidence arithmetic, the stay-silent gate, alternatives after post-processing,
and confidence from remote servers' log-probabilities (a stub server on loopback).
"""

from __future__ import annotations

import concurrent.futures
import math

import numpy as np
import pytest

from context.completion import Choice, Completion, CompletionService, should_show
from context.document import Document
from context.session import CompletionSession
from engine.confidence import Confidence, confidence_of, log_softmax_at, top_tokens
from engine.remote.wire import infill_logprobs, openai_logprobs
from engine.templates import QWEN
from engine.types import Alternative, GenerationResult, Timings, TokenCounts
from lsp.settings import parse_settings
from tests.remote_stub import make_request, open_remote


def sure(score: float) -> Confidence:
    return Confidence(mean_logprob=math.log(score), first_prob=score, min_prob=score, tokens=3)


def test_confidence_is_the_least_likely_chosen_token_and_keeps_the_mean():
    c = confidence_of([-0.1, -0.5, float("nan"), -0.3])
    assert c is not None and c.tokens == 3
    assert c.mean_logprob == pytest.approx(-0.3)
    assert c.mean_prob == pytest.approx(math.exp(-0.3))
    assert c.score == c.min_prob  # what the gate compares
    assert (c.first_prob, c.min_prob) == (
        pytest.approx(math.exp(-0.1)),
        pytest.approx(math.exp(-0.5)),
    )
    assert confidence_of([]) is None and confidence_of([float("-inf")]) is None
    assert c.to_json()["score"] == round(math.exp(-0.5), 4)
    assert c.to_json()["mean_prob"] == round(math.exp(-0.3), 4)


def test_log_softmax_matches_the_definition_and_stays_finite_on_large_logits():
    logits = np.array([2.0, 1.0, 0.1, -3.0], dtype=np.float32)
    expected = logits - math.log(np.exp(logits.astype(np.float64)).sum())
    for token in range(4):
        assert log_softmax_at(logits, token) == pytest.approx(expected[token], abs=1e-6)
    big = np.array([1000.0, 999.0], dtype=np.float32)  # exp() would overflow without the shift
    assert log_softmax_at(big, 0) == pytest.approx(-math.log(1 + math.exp(-1)), abs=1e-5)


def test_top_tokens_best_first_and_among_allowed():
    logits = np.array([0.1, 5.0, 3.0, 4.0, -1.0], dtype=np.float32)
    assert top_tokens(logits, 3) == [1, 3, 2]
    assert top_tokens(logits, 2, allowed=np.array([0, 2, 4])) == [2, 0]
    assert top_tokens(logits, 9) == [1, 3, 2, 0, 4]


@pytest.mark.parametrize(
    ("confidence", "threshold", "explicit", "shown"),
    [
        (sure(0.9), 0.5, False, True),
        (sure(0.3), 0.5, False, False),  # automatic and unsure: silent
        (sure(0.3), 0.5, True, True),  # the user asked: never filtered
        (None, 0.5, False, True),  # unknown (a server without logprobs): never filtered
        (sure(0.01), 0.0, False, True),  # the gate off
        (sure(0.5), 0.5, False, True),  # at the threshold: shown
    ],
)
def test_the_gate(confidence, threshold, explicit, shown):
    assert should_show(confidence, threshold, explicit) is shown


def test_out_of_range_gate_settings_fall_back_with_one_sentence_each():
    settings, problems = parse_settings({"generation": {"minConfidence": 1.5, "alternatives": -1}})
    assert settings.generation.min_confidence == parse_settings({})[0].generation.min_confidence
    assert settings.generation.alternatives == 2
    assert len(problems) == 2 and "generation.minConfidence" in problems[0]
    ok, none = parse_settings({"generation": {"minConfidence": 0.4, "alternatives": 0}})
    assert (ok.generation.min_confidence, ok.generation.alternatives, none) == (0.4, 0, [])
    _, wrong = parse_settings({"generation": {"minConfidence": "high"}})
    assert len(wrong) == 1 and "minConfidence" in wrong[0]


def completion(text: str, score: float | None, *alternatives: Choice) -> Completion:
    return Completion(
        text=text,
        timings=Timings(),
        tokens=TokenCounts(),
        model="m",
        template="t",
        confidence=sure(score) if score else None,
        alternatives=alternatives,
    )


def test_choices_put_the_greedy_answer_first_then_the_alternatives_in_rank_order():
    c = completion("a", 0.4, Choice(text="b", confidence=sure(0.6)), Choice(text="c"))
    assert [x.text for x in c.choices()] == ["a", "b", "c"]
    assert [x.text for x in completion("", 0.9, Choice(text="b")).choices()] == ["b"]
    assert completion("", 0.9).choices() == []


class BranchingBackend:
    """Answers a greedy text and alternatives that post-process to duplicates and blanks."""

    model_name = "fake"
    template = QWEN
    heals = False

    def __init__(self) -> None:
        self.requests = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def submit(self, request) -> concurrent.futures.Future[GenerationResult]:
        self.requests.append(request)
        future: concurrent.futures.Future[GenerationResult] = concurrent.futures.Future()
        others = (
            Alternative(text="x + 1", stop_reason="eos", confidence=sure(0.2)),  # = greedy
            Alternative(text="x * 2  ", stop_reason="eos", confidence=sure(0.3)),
            Alternative(text="x * 2", stop_reason="eos", confidence=sure(0.25)),  # = above
            Alternative(text="   ", stop_reason="eos", confidence=sure(0.1)),  # blank
        )
        future.set_result(
            GenerationResult(
                text="x + 1",
                stop_reason="eos",
                tokens=TokenCounts(),
                prefill_ms=1.0,
                generate_ms=1.0,
                confidence=sure(0.8),
                alternatives=others if request.alternatives else (),
            )
        )
        return future


def test_explicit_requests_get_distinct_alternatives_and_automatic_ones_do_not():
    backend = BranchingBackend()
    session = CompletionSession(CompletionService(backend=backend))
    doc = Document("file:///a.py", "def f(x):\n    return \n", path="/a.py", language_id="python")
    _, auto, _ = session.request(doc.snapshot(), 1, 11)
    first = auto.result(5)
    assert backend.requests[-1].alternatives == 0 and first.alternatives == ()
    assert first.confidence is not None and first.confidence.score == pytest.approx(0.8)
    _, asked, _ = session.request(doc.snapshot(), 1, 11, explicit=True)
    answer = asked.result(5)
    assert backend.requests[-1].alternatives == 2  # generation.alternatives
    assert [c.text for c in answer.choices()] == ["x + 1", "x * 2"]
    # The same explicit request again: the result cache keeps the alternatives.
    _, again, _ = session.request(doc.snapshot(), 1, 11, explicit=True)
    cached = again.result(5)
    assert cached.cache == "result" and [c.text for c in cached.choices()] == ["x + 1", "x * 2"]
    session.close()


def test_typed_ahead_answers_keep_the_confidence_of_the_suggestion():
    backend = BranchingBackend()
    session = CompletionSession(CompletionService(backend=backend))
    doc = Document("file:///a.py", "def f(x):\n    return \n", path="/a.py", language_id="python")
    session.request(doc.snapshot(), 1, 11)[1].result(5)
    typed = Document(
        "file:///a.py", "def f(x):\n    return x \n", path="/a.py", language_id="python"
    )
    rest = session.request(typed.snapshot(), 1, 13)[1].result(5)
    assert (rest.cache, rest.text) == ("typed-ahead", "+ 1")
    assert rest.confidence is not None and rest.confidence.score == pytest.approx(0.8)
    session.close()


def test_remote_logprob_shapes():
    legacy = {"logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.1, -0.2]}}
    chat_like = {"logprobs": {"content": [{"token": "a", "logprob": -0.3}, {"token": "b"}]}}
    assert openai_logprobs(legacy) == (-0.1, -0.2)
    assert openai_logprobs(chat_like) == (-0.3,)
    assert openai_logprobs({}) == () and openai_logprobs({"logprobs": None}) == ()
    assert infill_logprobs({"completion_probabilities": [{"logprob": -0.5}]}) == (-0.5,)
    old = {"completion_probabilities": [{"content": "a", "probs": [{"tok_str": "a", "prob": 0.5}]}]}
    assert infill_logprobs(old) == (pytest.approx(math.log(0.5)),)
    assert infill_logprobs({"content": "a"}) == ()


@pytest.mark.parametrize("kind", ["openai", "llama-server"])
def test_remote_confidence_from_the_servers_logprobs(stub_server, kind):
    stub, url = stub_server(logprob=-0.25)
    backend = open_remote(url, kind)
    try:
        result = backend.generate(make_request(backend))
        assert result.confidence is not None
        assert result.confidence.score == pytest.approx(math.exp(-0.25))
        _, body, _ = stub.requests[0]
        assert body.get("logprobs") == 1 or body.get("n_probs") == 1
    finally:
        backend.close()


def test_a_server_without_logprobs_gives_unknown_and_one_rejecting_them_still_answers(stub_server):
    _, url = stub_server()  # sends no log-probabilities
    backend = open_remote(url)
    try:
        assert backend.generate(make_request(backend)).confidence is None
    finally:
        backend.close()
    stub, url = stub_server(reject_logprobs=True, logprob=-0.1)
    backend = open_remote(url)
    try:
        result = backend.generate(make_request(backend))
        assert (result.text, result.confidence) == ("hello world", None)
        backend.generate(make_request(backend))
        asked = ["logprobs" in body for _, body, _ in stub.requests]
        assert asked == [True, False, False]  # rejected once, then left out for good
    finally:
        backend.close()
