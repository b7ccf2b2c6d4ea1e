"""The file-switch session's memory figures (bench.switches.report_memory, bench.batches
.memory_kb), without a model.
"""

from __future__ import annotations

import sys

import pytest

from bench.batches import memory_kb
from bench.report import Report
from bench.switches import report_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_memory_is_read_from_proc():
    found = memory_kb()
    assert found["VmRSS"] > 0 and 0 < found["RssAnon"] <= found["VmRSS"]
    assert found["VmHWM"] >= found["VmRSS"]


def test_each_mode_gets_a_row_from_its_first_sample_to_its_peak():
    report = Report()
    memory = {
        0: [{"VmRSS": 1024 * 600, "RssAnon": 1024 * 100}, {"VmRSS": 1024 * 650}],
        4: [{"VmRSS": 1024 * 650, "RssAnon": 1024 * 150}, {"VmRSS": 1024 * 700}],
    }
    report_memory(report, memory, kept_bytes=40 * 2**20)
    assert [(row.baseline, row.cove) for row in report.rows] == [(600, 650), (650, 700)]
    assert "keptPrompts 4" in report.rows[1].metric
    assert "40 MiB" in report.sections[-1] and "1 requests" in report.sections[-1]
