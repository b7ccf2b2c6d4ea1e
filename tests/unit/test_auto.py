"""`model.name = "auto"`: the decision from given rates, the cache, and which setting wins."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from engine.local import auto
from engine.local.auto import RateCache, Rates, choose_preset, fits_budget, pick_auto
from engine.local.presets import QWEN_05B, QWEN_15B
from engine.local.runtime import ALL_LAYERS, decide_runtime
from engine.settings import ModelSettings
from engine.types import CompletionError
from tests.unit.test_presets import fake_preset, install_fake

FAST = Rates(prefill_tps=500, generate_tps=60)  # 25/500 + 12/60 = 250 ms
SLOW = Rates(prefill_tps=80, generate_tps=9)  # 312 + 1333 = 1646 ms


def test_keystroke_estimate_and_budget():
    assert FAST.keystroke_ms() == pytest.approx(250)
    assert SLOW.keystroke_ms() == pytest.approx(1645.8, abs=0.1)
    assert fits_budget(FAST, 500) and not fits_budget(SLOW, 500)
    assert fits_budget(SLOW, 2000)
    broken = Rates(prefill_tps=0, generate_tps=0, error="out of memory")
    assert not fits_budget(broken, 10**9) and "out of memory" in broken.describe()


def test_largest_preset_that_fits_wins_and_the_floor_is_never_measured():
    asked: list[str] = []

    def rates_for(preset):
        asked.append(preset.name)
        return FAST, True

    chosen, verdicts = choose_preset([QWEN_15B, QWEN_05B], rates_for, 500)
    assert chosen is QWEN_15B and asked == ["qwen2.5-coder-1.5b"]
    assert verdicts[0].fits and "<= 500 ms (measured now)" in verdicts[0].describe(500)


def test_too_slow_falls_back_to_the_smallest_without_measuring_it():
    asked: list[str] = []

    def rates_for(preset):
        asked.append(preset.name)
        return SLOW, False

    chosen, verdicts = choose_preset([QWEN_15B, QWEN_05B], rates_for, 500)
    assert chosen is QWEN_05B and asked == ["qwen2.5-coder-1.5b"]
    assert "> 500 ms (cached)" in verdicts[0].describe(500)
    assert verdicts[1].rates is None and "without measuring" in verdicts[1].describe(500)


def test_a_single_candidate_is_taken_without_measuring():
    def never(preset):
        raise AssertionError("measured")

    chosen, _ = choose_preset([QWEN_05B], never, 500)
    assert chosen is QWEN_05B


# -- pick_auto on fake installed presets ---------------------------------------------------------

SMALL = [b"GGUF small"]
LARGE = [b"GGUF large " * 20]


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("COVE_MODEL", raising=False)
    small = fake_preset(SMALL, "fake-small")
    large = dataclasses.replace(  # its own distribution, installed only when a test wants it
        fake_preset(LARGE, "fake-large"),
        distribution="cove-fake-large{n}",
        part_path="cove_fake_large{n}/data/part{n:02d}.bin",
    )
    install_fake(site, 1, SMALL[0])
    return site, small, large


def install_large(site: Path) -> None:
    data = site / "cove_fake_large1" / "data" / "part01.bin"
    data.parent.mkdir(parents=True)
    data.write_bytes(LARGE[0])
    info = site / "cove_fake_large1-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cove-fake-large1\nVersion: 0.1.0\n"
    )
    (info / "RECORD").write_text("cove_fake_large1/data/part01.bin,,\n")
    importlib.invalidate_caches()


class Meter:
    """Counts measurements; answers with the given rates."""

    def __init__(self, rates: Rates) -> None:
        self.rates, self.paths = rates, []

    def __call__(self, path: Path) -> Rates:
        self.paths.append(path)
        return self.rates


MACHINE = {"cpu": "test cpu", "cpus": 2, "llama": "CPU : AVX2 = 1", "threads": 2, "gpu_layers": 0}


def test_only_the_small_preset_installed_measures_nothing(fakes, tmp_path: Path):
    _site, small, large = fakes
    meter, cache = Meter(FAST), RateCache(tmp_path / "rates.json")
    info = pick_auto(
        500, machine=lambda: MACHINE, measure=meter, cache=cache, presets=[small, large]
    )
    assert info.preset == "fake-small" and meter.paths == []
    assert not cache.path.exists()
    assert "without measuring" in info.reason


def test_measured_once_then_cached(fakes, tmp_path: Path):
    site, small, large = fakes
    install_large(site)
    meter, cache = Meter(FAST), RateCache(tmp_path / "rates.json")
    first = pick_auto(
        500, machine=lambda: MACHINE, measure=meter, cache=cache, presets=[small, large]
    )
    assert first.preset == "fake-large" and len(meter.paths) == 1
    assert meter.paths[0].read_bytes() == LARGE[0]  # measured the assembled file
    second = pick_auto(
        500, machine=lambda: MACHINE, measure=meter, cache=cache, presets=[small, large]
    )
    assert second.preset == "fake-large" and len(meter.paths) == 1
    assert "(cached)" in second.reason
    # A tighter budget changes the decision from the same cached rates, still no measuring.
    third = pick_auto(
        100, machine=lambda: MACHINE, measure=meter, cache=cache, presets=[small, large]
    )
    assert third.preset == "fake-small" and len(meter.paths) == 1


def test_a_new_machine_or_build_measures_again(fakes, tmp_path: Path):
    site, small, large = fakes
    install_large(site)
    meter, cache = Meter(SLOW), RateCache(tmp_path / "rates.json")
    for machine in (MACHINE, MACHINE, {**MACHINE, "cpus": 16}, {**MACHINE, "threads": 1}):
        info = pick_auto(
            500, machine=lambda m=machine: m, measure=meter, cache=cache, presets=[small, large]
        )
        assert info.preset == "fake-small"
    assert len(meter.paths) == 3


def test_a_model_that_fails_to_measure_counts_as_too_slow(fakes, tmp_path: Path):
    site, small, large = fakes
    install_large(site)

    def failing(path: Path) -> Rates:
        raise CompletionError("llama.cpp could not load it")

    info = pick_auto(
        500,
        machine=lambda: MACHINE,
        measure=failing,
        cache=RateCache(tmp_path / "r.json"),
        presets=[small, large],
    )
    assert info.preset == "fake-small" and "could not load" in info.reason


# -- which setting wins ---------------------------------------------------------------------------


def test_path_then_name_then_env_then_user_choice(fakes, tmp_path: Path, monkeypatch):
    from engine.local import model_store

    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 16)
    other = tmp_path / "env.gguf"
    other.write_bytes(b"GGUF" + b"\0" * 16)

    def never(path):
        raise AssertionError("measured")

    def choose(settings: ModelSettings):
        return auto.choose_model(settings, machine=lambda: MACHINE, measure=never)

    model_store.write_user_choice(str(gguf))
    assert choose(ModelSettings()).reason.startswith("cove model use")
    monkeypatch.setenv("COVE_MODEL", str(other))
    assert choose(ModelSettings()).path == other
    assert choose(ModelSettings(name=str(gguf))).reason == "model.name"
    found = choose(ModelSettings(name="qwen2.5-coder-1.5b", path=str(gguf)))
    assert found.path == gguf and found.reason == "model.path"


def test_settings_defaults():
    settings = ModelSettings()
    assert settings.name == "auto" and settings.gpu_layers == -1
    assert settings.keystroke_budget_ms == 500


def test_gpu_layers_follow_the_build():
    assert decide_runtime(0, -1, gpu_backend=True, cpu_count=8).gpu_layers == ALL_LAYERS
    cpu = decide_runtime(0, -1, gpu_backend=False, cpu_count=8)
    assert cpu.gpu_layers == 0 and cpu.notes == () and cpu.threads == 8
    asked = decide_runtime(4, 20, gpu_backend=False, cpu_count=8)
    assert asked.gpu_layers == 0 and asked.threads == 4
    assert len(asked.notes) == 1 and "no GPU backend" in asked.notes[0]
    assert decide_runtime(0, 12, gpu_backend=True).gpu_layers == 12


def test_measure_backend_reads_rates_from_the_generations():
    from engine.types import GenerationResult, TokenCounts

    class Fake:
        def __init__(self) -> None:
            self.cached = 0
            self.requests = []

        def generate(self, request):
            self.requests.append(request)
            prompt = len(request.prompt) // 4  # a made-up tokenizer: 4 characters a token
            new = prompt - self.cached
            self.cached = prompt
            generated = request.max_tokens if request.max_tokens > 1 else 0
            return GenerationResult(
                text="x" * generated,
                stop_reason="max_tokens",
                tokens=TokenCounts(prompt=prompt, reused=prompt - new, generated=generated),
                prefill_ms=new * 10.0,  # 100 tok/s
                generate_ms=generated * 50.0,  # 20 tok/s
            )

    fake = Fake()
    rates = auto.measure_backend(fake)
    assert rates.prefill_tps == pytest.approx(100) and rates.cold_prefill_tps == pytest.approx(100)
    assert rates.generate_tps == pytest.approx(20)
    assert len(fake.requests) == 3 and fake.requests[1].stop.multiline  # nothing cuts it short
    assert rates.keystroke_ms() == pytest.approx(1000 * (25 / 100 + 12 / 20))


def test_a_busy_measurement_is_provisional(fakes, tmp_path: Path, monkeypatch):
    site, small, large = fakes
    install_large(site)
    busy = Rates(prefill_tps=5, generate_tps=1, load=6.5, cpus=2)
    assert busy.busy and "machine busy: load 6.5 on 2 cores" in busy.describe()
    cache = RateCache(tmp_path / "rates.json")
    cache.put(MACHINE, {"sha256": large.sha256}, busy)
    meter = Meter(FAST)

    def pick():
        return pick_auto(
            500, machine=lambda: MACHINE, measure=meter, cache=cache, presets=[small, large]
        )

    monkeypatch.setattr(auto, "machine_load", lambda: 5.0)  # still busy: keep what we have
    assert pick().preset == "fake-small" and meter.paths == []
    monkeypatch.setattr(auto, "machine_load", lambda: 0.3)  # quiet now: measure again
    assert pick().preset == "fake-large" and len(meter.paths) == 1
    assert pick().preset == "fake-large" and len(meter.paths) == 1  # and keep that
