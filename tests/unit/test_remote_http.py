"""Remote transport pieces with no server: SSE parsing, the circuit breaker, backoff, endpoints."""

from __future__ import annotations

import pytest

from engine.remote.http import CircuitBreaker, Endpoint, backoff_delays, iter_sse


def test_iter_sse_reads_events_comments_and_done():
    lines = [
        b": ping\n",
        b'data: {"a": 1}\n',
        b"\n",
        b"event: x\n",
        b"data: one\n",
        b"data: two\n",
        b"\n",
        b"data: [DONE]\n",
        b"\n",
        b"data: never\n",
        b"\n",
    ]
    assert list(iter_sse(iter(lines))) == [("message", '{"a": 1}'), ("x", "one\ntwo"), ("done", "")]
    assert list(iter_sse(iter([b'error: {"message": "boom"}\n']))) == [
        ("error", '{"message": "boom"}')
    ]


def test_circuit_breaker_opens_probes_and_closes():
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, cooldown_s=2.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 2.5
    assert breaker.allow()  # one probe after the cooldown
    assert not breaker.allow()  # and only one
    breaker.record_failure()  # the probe failed: open again, longer
    now[0] = 5.0
    assert not breaker.allow() and breaker.retry_in() == pytest.approx(1.5)
    now[0] = 7.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_backoff_is_exponential_with_jitter_and_capped():
    assert backoff_delays(4, base_s=0.1, cap_s=0.3, rng=lambda: 1.0) == [0.1, 0.2, 0.3, 0.3]
    assert backoff_delays(3, rng=lambda: 0.0) == [0.0, 0.0, 0.0]


def test_endpoint_parsing_hides_credentials_and_knows_loopback():
    endpoint = Endpoint.parse("https://user:pw@gpu-box:8443/v1/")
    assert (endpoint.host, endpoint.port, endpoint.base_path) == ("gpu-box", 8443, "")
    assert "pw" not in endpoint.display and not endpoint.is_loopback
    assert Endpoint.parse("http://127.0.0.1:8012").is_loopback
    assert Endpoint.parse("http://[::1]:8012/api").base_path == "/api"
    with pytest.raises(ValueError):
        Endpoint.parse("gpu-box:8012")
