"""Token counts asked of a remote server never carry a secret (engine/remote/probe.py)."""

from __future__ import annotations

from engine.remote.http import CircuitBreaker
from engine.remote.probe import TokenCounter
from engine.remote.scrub import scrub_text
from tests.privacy import AWS_KEY, KEY_BODY


class RecordingHttp:
    """Answers every tokenize call with two tokens and keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def request_json(self, method: str, path: str, body: dict):
        self.sent.append(body)
        return 200, {"tokens": [1, 2]}


def test_text_with_a_secret_or_key_material_is_counted_locally():
    http = RecordingHttp()
    counter = TokenCounter(http, CircuitBreaker(), scrub_text)  # type: ignore[arg-type]
    counter.path = "/tokenize"
    assert counter.count("def f():\n") == 2  # ordinary code: the server counts
    assert counter.count(f'KEY = "{AWS_KEY}"\n') > 2  # a secret: estimated here
    assert counter.count(KEY_BODY + "\n") > 2  # one line of a key block, no BEGIN line
    assert [body["content"] for body in http.sent] == ["def f():\n"]
