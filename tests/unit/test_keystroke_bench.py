"""The keystroke benchmark's two paths see the same text and reach the same verdicts."""

from __future__ import annotations

from bench.keystroke import big_python_file, measure


def test_both_paths_agree_on_every_keystroke():
    times = measure(800)  # raises when the old and the new decision differ
    assert times["lines"] == [801.0]
    assert len(times["before"]) == len(times["after"]) > 10


def test_big_file_has_the_asked_lines():
    assert big_python_file(1234).count("\n") == 1234
