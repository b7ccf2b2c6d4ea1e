"""The model file mapped (mmap) against read into private memory, side by side in one run.

Usage:

    python -m bench.mmap [--model qwen2.5-coder-0.5b] [--rounds 2] [--out DIR]

Each load runs in a child process of its own, the two ways alternating (on/off, then
off/on, ...) so that neither always finds the file warmer in the page cache. A child
measures the load, its memory after the load and after the first (cold) suggestion — RSS,
anonymous and file-backed RSS, PSS (a mapped model's pages are shared with the page cache
and with every other process that maps the file: two editors, two servers) — the cold
suggestion's time and a few warm keystrokes. Why it matters: a mapped file truncated in
place kills the process with SIGBUS at its next read of a lost page (bench/faults.md); a
model read into private memory survives that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.latency import line_typist
from bench.report import percentile

KEYSTROKES = 8
FIELDS = (
    ("status", "VmRSS"),
    ("status", "RssAnon"),
    ("status", "RssFile"),
    ("smaps_rollup", "Pss"),
    ("smaps_rollup", "Pss_Anon"),
    ("smaps_rollup", "Pss_File"),
)


def memory_mb() -> dict[str, float]:
    """RSS figures and PSS of the running process, in MB."""
    found: dict[str, float] = {}
    for source, key in FIELDS:
        for line in Path(f"/proc/self/{source}").read_text().splitlines():
            if line.startswith(key + ":"):
                found[key] = round(int(line.split()[1]) / 1024, 1)
    return found


def measure_one(name: str, use_mmap: bool) -> dict:
    """Load `name` mapped or not; memory and times of the load and the first suggestions."""
    from engine.local.loading import open_local_backend
    from engine.settings import ModelSettings

    started = time.perf_counter()
    backend = open_local_backend(ModelSettings(name=name, mmap="on" if use_mmap else "off"))
    backend.worker.submit(lambda: None).result()  # the vocabulary index, queued at load
    ready_ms = (time.perf_counter() - started) * 1000
    loaded = memory_mb()
    info = backend.model_info
    complete = line_typist(backend)

    try:
        cold = complete(0)
        after = memory_mb()
        keys = [complete(n) for n in range(1, KEYSTROKES + 1)]
    finally:
        backend.close()
    warm = [k.timings.total_ms for k in keys]
    return {
        "mmap": use_mmap,
        "file": str(info.path),
        "file_mb": round(info.path.stat().st_size / 2**20, 1),
        "load_ms": round(backend.load_ms),
        "ready_ms": round(ready_ms),
        "cold_ms": round(cold.timings.total_ms),
        "cold_prompt_tokens": cold.tokens.prompt,
        "keystroke_p50_ms": round(percentile(warm, 50)),
        "keystroke_mean_ms": round(statistics.mean(warm)),
        "after_load": loaded,
        "after_cold": after,
        "load": round(os.getloadavg()[0], 2),
    }


def run_rounds(name: str, rounds: int) -> list[dict]:
    """Both ways `rounds` times, alternating which goes first; a child process each."""
    results = []
    for round_no in range(rounds):
        order = (True, False) if round_no % 2 == 0 else (False, True)
        for use_mmap in order:
            command = [sys.executable, "-m", "bench.mmap", "--child", name]
            command += ["--mmap", "on" if use_mmap else "off"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{name} mmap={use_mmap} failed: {done.stderr[-500:]}")
            results.append({"round": round_no, **json.loads(done.stdout.strip().splitlines()[-1])})
    return results


def summary_table(results: list[dict]) -> list[str]:
    """Medians per way: one markdown row each."""
    lines = [
        "| mmap | n | load ms | cold suggestion ms | load + cold ms | keystroke p50 ms "
        "| RSS after load MB | anon | file | PSS | RSS after cold MB | anon | file | PSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for way in (True, False):
        rows = [r for r in results if r["mmap"] is way]
        if not rows:
            continue

        def med(pick, rows=rows) -> float:
            return round(statistics.median(pick(r) for r in rows), 1)

        cells = [
            "on" if way else "off",
            str(len(rows)),
            *(
                f"{med(lambda r, k=k: r[k]):,.0f}"
                for k in ("load_ms", "cold_ms", "keystroke_p50_ms")
            ),
        ]
        cells.insert(4, f"{med(lambda r: r['load_ms'] + r['cold_ms']):,.0f}")
        for when in ("after_load", "after_cold"):
            for key in ("VmRSS", "RssAnon", "RssFile", "Pss"):
                cells.append(f"{med(lambda r, w=when, k=key: r[w].get(k, 0)):,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the rounds, print the table, keep every child's figures in OUT/mmap.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.mmap", description=__doc__)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="a preset or GGUF path")
    parser.add_argument("--rounds", type=int, default=2, help="loads of each way")
    parser.add_argument("--out", default="bench-report", help="folder for mmap.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mmap", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_one(args.child, args.mmap == "on")))
        return 0
    results = run_rounds(args.model, args.rounds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mmap.json").write_text(json.dumps(results, indent=1))
    print("\n".join(summary_table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
