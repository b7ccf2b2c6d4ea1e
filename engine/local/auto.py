"""`model.name = "auto"`: the best installed preset this machine runs fast enough, measured.

The budget is a warm keystroke: `KEYSTROKE_NEW_TOKENS` prompt tokens evaluated after a
cached prompt plus `KEYSTROKE_GENERATED` generated tokens must take at most
`model.keystrokeBudgetMs` (500 ms by default). Cove measures the rates itself (a fixed
~200-token prompt, then two keystroke-sized rounds: a few seconds) and caches them per
machine (CPU, core count, llama.cpp build, threads, GPU layers) and per model file, in
the user cache; a change of either measures again, and so does a quiet start after a
measurement taken while other work kept the cores busy (load average >= cores). Presets are tried from the largest
down; the smallest installed one is taken without measuring, so a machine with only the
embedded model, or a test run pinned to it, never measures anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from engine.local.model_store import (
    ModelInfo,
    assemble_preset,
    cache_dir,
    locate_parts,
    open_named,
    preset_status,
    read_user_choice,
    user_choice_file,
)
from engine.local.presets import DEFAULT_PRESET, PRESETS, Preset
from engine.settings import ModelSettings
from engine.types import CompletionError, GenerationRequest, GenerationResult, StopPolicy

log = logging.getLogger(__name__)

KEYSTROKE_NEW_TOKENS = 25  # a warm keystroke: prompt tokens past the cached prefix ...
KEYSTROKE_GENERATED = 12  # ... and tokens generated for a one-line suggestion


@dataclass(frozen=True, kw_only=True)
class Rates:
    """Measured speed of one model on this machine."""

    prefill_tps: float  # prompt tokens/s in keystroke-sized batches after a cached prompt
    generate_tps: float  # generated tokens/s
    cold_prefill_tps: float = 0.0  # tokens/s of the fresh ~200-token prompt (first use)
    seconds: float = 0.0  # how long measuring took, loading included
    error: str = ""  # set when the model could not be measured (counts as too slow)
    load: float = 0.0  # the 1-minute load average when measuring started
    cpus: int = 0  # cores then

    @property
    def busy(self) -> bool:
        """Measured while other work kept the cores busy: provisional, measured again later."""
        return self.cpus > 0 and self.load >= self.cpus

    def keystroke_ms(self) -> float:
        """Estimated milliseconds of a warm keystroke (the budget's unit)."""
        if self.error or self.prefill_tps <= 0 or self.generate_tps <= 0:
            return float("inf")
        return 1000 * (
            KEYSTROKE_NEW_TOKENS / self.prefill_tps + KEYSTROKE_GENERATED / self.generate_tps
        )

    def describe(self) -> str:
        """`prefill 143 tok/s, generation 24 tok/s → keystroke ≈ 670 ms`."""
        if self.error:
            return f"not measurable ({self.error})"
        busy = f" (machine busy: load {self.load:.1f} on {self.cpus} cores)" if self.busy else ""
        return (
            f"prefill {self.prefill_tps:.0f} tok/s, generation {self.generate_tps:.1f} tok/s "
            f"-> keystroke ~{self.keystroke_ms():.0f} ms{busy}"
        )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What auto concluded about one preset."""

    preset: str
    rates: Rates | None  # None: taken without measuring (the smallest installed)
    measured_now: bool = False  # False: the rates came from the cache
    fits: bool = True

    def describe(self, budget_ms: int) -> str:
        """One clause for logs and `cove doctor`."""
        if self.rates is None:
            return f"{self.preset}: the smallest installed, taken without measuring"
        sign = "<=" if self.fits else ">"
        where = "measured now" if self.measured_now else "cached"
        return f"{self.preset}: {self.rates.describe()} {sign} {budget_ms} ms ({where})"


def fits_budget(rates: Rates, budget_ms: int) -> bool:
    """True when a warm keystroke on these rates stays within the budget."""
    return rates.keystroke_ms() <= budget_ms


def choose_preset(
    candidates: Sequence[Preset],
    rates_for: Callable[[Preset], tuple[Rates, bool]],
    budget_ms: int,
) -> tuple[Preset, list[Verdict]]:
    """The first of `candidates` (best first) that fits the budget; the last one regardless.

    `rates_for(preset)` returns (rates, measured_now); it is never called for the last
    candidate, which is the floor.
    """
    if not candidates:
        raise ValueError("no candidates")
    verdicts: list[Verdict] = []
    for preset in candidates[:-1]:
        rates, measured_now = rates_for(preset)
        fits = fits_budget(rates, budget_ms)
        verdicts.append(
            Verdict(preset=preset.name, rates=rates, measured_now=measured_now, fits=fits)
        )
        if fits:
            return preset, verdicts
    verdicts.append(Verdict(preset=candidates[-1].name, rates=None))
    return candidates[-1], verdicts


# -- the machine and the cache ---------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere what `platform` knows)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_identity(system_info: str, threads: int, gpu_layers: int) -> dict[str, Any]:
    """What a measurement depends on besides the model file."""
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count() or 0,
        "platform": f"{platform.system()} {platform.machine()}",
        "llama": system_info,
        "threads": threads,
        "gpu_layers": gpu_layers,
    }


def file_identity(path: Path, sha256: str = "") -> dict[str, Any]:
    """A preset by its content hash; any other file by path, size and mtime."""
    if sha256:
        return {"sha256": sha256}
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class RateCache:
    """Measured rates in a small JSON file in the user cache, keyed by machine and model file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "rates.json"

    @staticmethod
    def key(machine: dict[str, Any], model: dict[str, Any]) -> str:
        """A short digest of both identities."""
        blob = json.dumps([machine, model], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, machine: dict[str, Any], model: dict[str, Any]) -> Rates | None:
        """The cached rates, or None when this machine never measured this model."""
        entry = self._load().get(self.key(machine, model))
        if not isinstance(entry, dict):
            return None
        try:
            return Rates(**entry["rates"])
        except (KeyError, TypeError):
            return None

    def put(self, machine: dict[str, Any], model: dict[str, Any], rates: Rates) -> None:
        """Record rates (atomically: a temporary file renamed over the old one)."""
        data = self._load()
        data[self.key(machine, model)] = {
            "machine": machine,
            "model": model,
            "rates": asdict(rates),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".rates-", dir=self.path.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1)
        os.replace(tmp_name, self.path)


# -- measuring ---------------------------------------------------------------------------------


class Generator(Protocol):
    """What measuring needs of a backend."""

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Run one generation."""
        ...


# A fixed prompt (about 200 tokens) and two keystroke-sized additions (about 25 tokens each).
_PROMPT = '''import math
from dataclasses import dataclass


@dataclass
class Point:
    """A point in the plane."""

    x: float
    y: float

    def distance(self, other: "Point") -> float:
        """Euclidean distance to another point."""
        return math.hypot(self.x - other.x, self.y - other.y)


def centroid(points: list[Point]) -> Point:
    """The mean of the points."""
    n = len(points)
    return Point(sum(p.x for p in points) / n, sum(p.y for p in points) / n)


def perimeter(points: list[Point]) -> float:
    """Length of the closed polygon through the points."""
    total = 0.0
'''
_KEYSTROKES = (
    "    for a, b in zip(points, points[1:] + points[:1]):\n        total += a.distance(b)\n",
    "    return total\n\n\ndef bounding_box(points: list[Point]) -> tuple[Point, Point]:\n",
)
_OPEN = StopPolicy(multiline=True, max_lines=1000)  # no stop rule cuts the timed generation


def measure_backend(backend: Generator) -> Rates:
    """Rates of a loaded backend: one fresh prompt, then two keystroke rounds (best of two)."""
    started = time.perf_counter()
    load = machine_load()

    def run(prompt: str, max_tokens: int) -> GenerationResult:
        request = GenerationRequest(
            prompt=prompt, max_tokens=max_tokens, deadline_ms=120_000, stop=_OPEN
        )
        return backend.generate(request)

    cold = run(_PROMPT, 1)
    cold_tps = (cold.tokens.prompt - cold.tokens.reused) / max(cold.prefill_ms / 1000, 1e-6)
    prefill, generate = 0.0, 0.0
    prompt = _PROMPT
    for addition in _KEYSTROKES:
        prompt += addition
        result = run(prompt, KEYSTROKE_GENERATED + 4)
        new = result.tokens.prompt - result.tokens.reused
        prefill = max(prefill, new / max(result.prefill_ms / 1000, 1e-6))
        if result.tokens.generated > 1:
            generate = max(generate, result.tokens.generated / max(result.generate_ms / 1000, 1e-6))
    return Rates(
        prefill_tps=round(prefill, 1),
        generate_tps=round(generate, 2),
        cold_prefill_tps=round(cold_tps, 1),
        seconds=round(time.perf_counter() - started, 2),
        load=round(load, 2),
        cpus=os.cpu_count() or 0,
    )


def machine_load() -> float:
    """The 1-minute load average (0.0 where the system has none)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0.0


# -- choosing ----------------------------------------------------------------------------------


def choose_model(
    settings: ModelSettings,
    *,
    machine: Callable[[], dict[str, Any]],
    measure: Callable[[Path], Rates],
    cache: RateCache | None = None,
) -> ModelInfo:
    """The model to load, and why.

    In order: `model.path`; `model.name` when it is not "auto"; `$COVE_MODEL`; the choice
    `cove model use` recorded; otherwise auto's pick. `measure(path)` loads and measures
    one model file; `machine()` describes this machine (called only when needed).
    """
    if settings.path:
        return open_named(settings.path, "model.path", "model.path")
    if settings.name and settings.name != "auto":
        return open_named(settings.name, "model.name")
    env = os.environ.get("COVE_MODEL", "")
    if env:
        return open_named(env, "$COVE_MODEL", "COVE_MODEL")
    chosen = read_user_choice()
    if chosen:
        return open_named(chosen, f"cove model use ({user_choice_file()})")
    return pick_auto(settings.keystroke_budget_ms, machine=machine, measure=measure, cache=cache)


def pick_auto(
    budget_ms: int,
    *,
    machine: Callable[[], dict[str, Any]],
    measure: Callable[[Path], Rates],
    cache: RateCache | None = None,
    presets: Sequence[Preset] = PRESETS,
) -> ModelInfo:
    """The largest installed preset whose measured keystroke fits `budget_ms`."""
    installed = [preset for preset in presets if preset_status(preset).installed]
    if not installed:
        locate_parts(DEFAULT_PRESET)  # raises the sentence that says how to install it
        raise CompletionError("No model preset is installed: set model.path to a GGUF file.")
    cache = cache or RateCache()
    identity: dict[str, Any] = {}

    def rates_for(preset: Preset) -> tuple[Rates, bool]:
        if not identity:
            identity.update(machine())
        key = file_identity(Path(), preset.sha256)
        cached = cache.get(identity, key)
        if cached is not None and not (cached.busy and machine_load() < cached.cpus):
            return cached, False
        log.warning(
            "measuring %s %s (a few seconds; cached in %s)",
            preset.name,
            "again: the last measurement was on a busy machine"
            if cached
            else "once on this machine",
            cache.path,
        )
        try:
            rates = measure(assemble_preset(preset).path)
        except (CompletionError, RuntimeError, ValueError, OSError) as error:
            rates = Rates(prefill_tps=0, generate_tps=0, error=str(error)[:200])
        cache.put(identity, key, rates)
        return rates, True

    chosen, verdicts = choose_preset(installed[::-1], rates_for, budget_ms)
    info = assemble_preset(chosen)
    notes = tuple(verdict.describe(budget_ms) for verdict in verdicts)
    reason = f"auto (warm keystroke budget {budget_ms} ms): " + "; ".join(notes)
    for note in notes:
        log.info("auto: %s", note)
    return ModelInfo(
        path=info.path, embedded=True, verified=True, preset=chosen.name, reason=reason, notes=notes
    )
