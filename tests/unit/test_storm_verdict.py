"""The typing storm's verdict (bench/storm.py): RSS net of the kept prompt states,
latency of the answers the typist paused for; the kept states' total read from the server log.
"""

from __future__ import annotations

from bench.storm import judge_storm, kept_bytes_from
from tests.lsp.storm import Block, StormReport

MB = 1024  # kB


def block(rss_mb: float, kept_mb: float, paused_ms: list[float], typed_ms: list[float]) -> Block:
    """A block whose requests at a pause took `paused_ms` (the typist waited for them) and
    the others, superseded by the next keystroke, `typed_ms`.
    """
    return Block(
        keystrokes=100,
        interval_s=0.08,
        rss_kb=int(rss_mb * MB),
        anon_kb=int((rss_mb - 500) * MB),
        latencies_ms=paused_ms + typed_ms,
        text_latencies_ms=paused_ms[:1],
        settled_ms=list(paused_ms),
        kept_bytes=int(kept_mb * 2**20),
    )


def test_memory_held_by_kept_states_is_reported_apart_and_latency_counts_the_paused_requests():
    report = StormReport(requests=400, answered=400)
    report.blocks = [
        block(700, 17, [200] * 10, [5] * 90),  # warm-up
        block(730, 51, [210] * 10, [5] * 90),  # two more files' states kept: +34 MB
        block(735, 51, [220] * 10, [40] * 90),  # cancellations slower: not the verdict's
        block(738, 51, [230] * 10, [90] * 90),
    ]
    result = judge_storm(report)
    assert result["gross_rss_growth_mb"] == 38 and result["rss_growth_mb"] == 4
    assert result["kept_mb"] == 51 and result["passed"]["rss"]
    assert result["latency_ratio"] == round(230 / 210, 2) and result["passed"]["latency"]
    assert result["blocks"][3]["p50_all_ms"] == 90 and result["passed"]["answers"]


def test_growth_beyond_the_kept_states_fails():
    report = StormReport(requests=200, answered=199)
    report.blocks = [
        block(700, 17, [200], []),
        block(710, 17, [200], []),
        block(760, 17, [300], []),
    ]
    result = judge_storm(report)
    assert result["rss_growth_mb"] == 60 and not result["passed"]["rss"]
    assert not result["passed"]["latency"] and not result["passed"]["answers"]


def test_the_kept_total_is_the_last_one_logged(tmp_path):
    log = tmp_path / "serve.log"
    read = kept_bytes_from(log)
    assert read() == 0  # no log yet
    log.write_text(
        "x engine.local.states INFO kept a prompt state: 900 tokens, 100 bytes; "
        "kept states 1, 100 bytes in all\n"
        "x engine.local.states INFO kept a prompt state: 950 tokens, 120 bytes; "
        "kept states 2, 220 bytes in all\n"
    )
    assert read() == 220
