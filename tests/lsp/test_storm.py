"""The typing storm (tests/lsp/storm.py) in CI, on a stub completion server (no model).

1,200 keystrokes across three real modules (copied into a git repository) with context
on: a warm-up block, 100 at a human 80 ms, 900 at four times that speed, and 100 human
again, with undo-like reversals, cursor jumps and `$/cancelRequest`. Every request is
answered exactly once, the server's texts equal the client's, and the server's RSS grows
at most 20 MB after the warm-up. No timing is asserted: latency is the bench's
(`python -m bench.reliability --storm`, on the real model).
"""

from __future__ import annotations

import sys

from tests.conftest import git
from tests.lsp.storm import FAST_S, HUMAN_S, SOURCES, Storm
from tests.wire import WireClient

SERVER = [sys.executable, "-m", "lsp.cli", "serve"]
SCHEDULE = [(100, FAST_S), (100, HUMAN_S), (900, FAST_S), (100, HUMAN_S)]
RSS_GROWTH_KB = 20 * 1024


def test_a_typing_storm_keeps_every_answer_the_text_and_the_memory(stub_server, tmp_path):
    # Slow enough (two pieces 40 ms apart) that a fast typist overtakes it and cancels.
    stub, url = stub_server(pieces=("value = 1", "\n"), delay=0.04)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    for name, text in SOURCES.items():
        (root / name).write_text(text)
    client = WireClient(SERVER)
    try:
        options = {
            "backend": {"type": "openai", "url": url},
            "budget": {"contextTokens": 128},
            "generation": {"contextWhen": "always"},  # retrieval on every keystroke
            "context": {"indexDir": str(tmp_path / "index")},
        }
        assert client.initialize(options, root=root)["status"]["state"] == "ready"
        storm = Storm(client, root)
        storm.open_all()
        report = storm.run(SCHEDULE)
        assert client.close() == 0
    finally:
        if client.proc.poll() is None:
            client.proc.kill()
    assert report.failures == [], report.failures[:10]
    keystrokes = sum(block.keystrokes for block in report.blocks)
    assert keystrokes == 1200 and len(report.blocks) == 12
    assert report.requests == keystrokes and report.answered == report.requests
    assert sum(block.cancelled for block in report.blocks) > 100  # the editor cancelled often
    assert report.empty < report.answered  # suggestions were made, not only cancellations
    assert len(stub.requests) > 50  # the backend was really asked
    warm, last = report.blocks[0].rss_kb, report.blocks[-1].rss_kb
    assert warm > 0 and last - warm <= RSS_GROWTH_KB, [b.rss_kb for b in report.blocks]
