"""Bad input on the command line: one clear sentence, exit code 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cove(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lsp.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "a.py"
    path.write_text("x = 1\ny = \n")
    return path


def assert_refused(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("cove: ")
    for word in words:
        assert word in message, message


def test_missing_file(tmp_path: Path):
    assert_refused(cove("complete", f"{tmp_path}/nope.py:1:1"), "no such file")


def test_directory(tmp_path: Path):
    assert_refused(cove("complete", f"{tmp_path}:1:1"), "directory")


def test_line_out_of_range(source: Path):
    assert_refused(cove("complete", f"{source}:40:1"), "line 40", "3 lines")


def test_column_out_of_range(source: Path):
    assert_refused(cove("complete", f"{source}:2:99"), "column 99")


def test_not_a_location(source: Path):
    assert_refused(cove("complete", f"{source}"), "FILE:LINE:COL")


def test_binary_file(tmp_path: Path):
    path = tmp_path / "blob.py"
    path.write_bytes(b"\x00\x01\x02binary")
    assert_refused(cove("complete", f"{path}:1:1"), "binary")


def test_model_path_not_a_gguf(source: Path, tmp_path: Path):
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    assert_refused(cove("complete", f"{source}:2:5", "--model", str(fake)), "not a GGUF")


def test_model_path_missing(source: Path, tmp_path: Path):
    assert_refused(
        cove("complete", f"{source}:2:5", env={"COVE_MODEL": str(tmp_path / "gone.gguf")}),
        "does not exist",
    )


def test_truncated_gguf(source: Path, tmp_path: Path):
    broken = tmp_path / "truncated.gguf"
    broken.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    assert_refused(cove("complete", f"{source}:2:5", "--model", str(broken)), "could not load")


def test_doctor_reports_broken_model(tmp_path: Path):
    fake = tmp_path / "model.gguf"
    fake.write_text("nope")
    done = cove("doctor", "--model", str(fake))
    assert done.returncode == 2 and "not a GGUF" in done.stderr
