"""`cove model list|use` and `--model NAME`: no model is loaded, nothing is assembled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lsp.cli import build_parser
from lsp.command_line import load_cli_settings


@pytest.fixture
def home(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "COVE_MODEL"}  # tests/conftest.py sets it
    return {
        **env,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def cove(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lsp.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_list_shows_every_preset_and_assembles_nothing(home: dict, tmp_path: Path):
    done = cove(home, "model", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "installed", "size", "verified", "template", "where"]
    assert any(line.startswith("qwen2.5-coder-0.5b ") for line in lines)
    assert any(line.startswith("qwen2.5-coder-1.5b ") for line in lines)
    assert "default:" in lines[-1]
    assert not (tmp_path / "cache" / "cove" / "models").exists()


def test_use_a_gguf_then_auto(home: dict, tmp_path: Path):
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 32)
    done = cove(home, "model", "use", str(model))
    assert done.returncode == 0, done.stderr
    written = tmp_path / "config" / "cove" / "model.json"
    assert json.loads(written.read_text()) == {"name": str(model.resolve())}
    assert str(model.resolve()) in cove(home, "model", "list").stdout.splitlines()[-1]
    assert cove(home, "model", "use", "auto").returncode == 0
    assert not written.exists()


def test_use_refuses_unknown_names_and_missing_files(home: dict, tmp_path: Path):
    done = cove(home, "model", "use", "qwen-13b")
    assert done.returncode == 2 and done.stdout == ""
    assert "Unknown model 'qwen-13b'" in done.stderr and "qwen2.5-coder-1.5b" in done.stderr
    missing = cove(home, "model", "use", str(tmp_path / "gone.gguf"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert not (tmp_path / "config" / "cove" / "model.json").exists()


def test_model_flag_takes_a_preset_name_or_a_path():
    parser = build_parser()
    named = load_cli_settings(parser.parse_args(["doctor", "--model", "qwen2.5-coder-1.5b"]))
    assert named.model.name == "qwen2.5-coder-1.5b" and named.model.path == ""
    path = load_cli_settings(parser.parse_args(["doctor", "--model", "/x/m.gguf"]))
    assert path.model.path == "/x/m.gguf" and path.model.name == "auto"
