"""Models side by side on this machine, one run: what `auto` would measure, the cold first
suggestion, warm keystrokes (a line typed character by character), load time and peak RSS.

    python -m bench.models --model qwen2.5-coder-0.5b --model qwen2.5-coder-1.5b [--out DIR]

Each model runs in a child process of its own (a clean peak RSS, no page cache shared in
Python), through the same CompletionService the server uses, with no context and no result
caches: every keystroke is a model call, so the numbers are the model's, in the layout each model ships
with (`generation.layout: "auto"`, the preset's) with KV reuse. Results are kept per model in OUT/models.json; `--resume` skips models already
measured (a long run can be split into turns under the model lock).
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

from bench.latency import _typing_target, line_typist
from bench.report import percentile

KEYSTROKES = 24  # characters typed per run (the line's first ones)


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_one(name: str, threads: int = 0, keystrokes: int = KEYSTROKES) -> dict:
    """Load `name`, measure its rates, then a cold suggestion and warm keystrokes."""
    from engine.local.auto import measure_backend
    from engine.local.loading import open_local_backend
    from engine.settings import ModelSettings

    started = time.perf_counter()
    backend = open_local_backend(ModelSettings(name=name, threads=threads))
    ready_ms = (time.perf_counter() - started) * 1000  # assembly (first use only) + load
    complete = line_typist(backend)

    try:
        cold = complete(0)
        keys = [complete(n) for n in range(1, keystrokes + 1)]
        rates = measure_backend(backend)  # after the run: the file's pages are warm, as in use
    finally:
        backend.close()
    warm = [k.timings.total_ms for k in keys]
    path, line_no = _typing_target()  # the line typed, for the report
    return {
        "model": name,
        "file": str(backend.model_path),
        "threads": backend.runtime.threads if backend.runtime else threads,
        "ready_ms": round(ready_ms),
        "load_ms": round(backend.load_ms),
        "cold_ms": round(cold.timings.total_ms),
        "cold_prompt_tokens": cold.tokens.prompt,
        "cold_text": cold.text,
        "keystroke_p50_ms": round(percentile(warm, 50)),
        "keystroke_p95_ms": round(percentile(warm, 95)),
        "keystroke_mean_new_tokens": round(statistics.mean(k.tokens.new for k in keys), 1),
        "keystrokes": len(keys),
        "rates": {
            "prefill_tps": rates.prefill_tps,
            "generate_tps": rates.generate_tps,
            "cold_prefill_tps": rates.cold_prefill_tps,
            "keystroke_estimate_ms": round(rates.keystroke_ms()),
        },
        "peak_rss_mb": round(_rss_mb("VmHWM")),
        "load": round(os.getloadavg()[0], 2),
        "typed": f"{path.name}:{line_no + 1}",
    }


def main(argv: list[str] | None = None) -> int:
    """Run each --model in a child process; print and keep a table."""
    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__)
    parser.add_argument("--model", action="append", help="a preset name or GGUF path (repeat)")
    parser.add_argument("--threads", type=int, default=0, help="model.threads (0: the default)")
    parser.add_argument("--keystrokes", type=int, default=KEYSTROKES, help="characters typed")
    parser.add_argument("--out", default="bench-report", help="folder for models.json")
    parser.add_argument("--resume", action="store_true", help="skip models already in models.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_one(args.child, args.threads, args.keystrokes)))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "models.json"
    results = json.loads(store.read_text()) if args.resume and store.is_file() else {}
    for name in args.model or ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]:
        key = f"{name}@{args.threads}"
        if key in results:
            continue
        command = [sys.executable, "-m", "bench.models", "--child", name]
        command += ["--threads", str(args.threads), "--keystrokes", str(args.keystrokes)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"cove: {name} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 1
        results[key] = json.loads(done.stdout.strip().splitlines()[-1])
        store.write_text(json.dumps(results, indent=1))
    print("\n".join(_latency_table(results.values())))
    return 0


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in Path(name).name)


def _strip(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    """The arguments without the given flags and their values (`--flag V` and `--flag=V`)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        elif not arg.startswith(tuple(f + "=" for f in flags)):
            kept.append(arg)
    return kept


def side_by_side(models: list[str], argv: list[str], out: Path) -> int:
    """`python -m bench WHAT --model A --model B …`: the asked benchmarks for each model in
    a process of its own (OUT/<model>/report.md), then the cold suggestion, warm keystrokes,
    rates and peak RSS of each (`measure_one`, a child each), and OUT/models.md with every
    headline row of every model side by side. Returns the exit status.
    """
    rest = _strip(argv, ("--model", "--out"))
    out.mkdir(parents=True, exist_ok=True)
    reports = {}
    for name in models:
        folder = out / _slug(name)
        command = [sys.executable, "-m", "bench", *rest, "--model", name, "--out", str(folder)]
        print("running: " + " ".join(command), file=sys.stderr)
        if subprocess.run(command, check=False).returncode != 0:
            print(f"cove: the run of {name} failed (see above)", file=sys.stderr)
            return 1
        reports[name] = json.loads((folder / "report.json").read_text())
    flags = [f for name in models for f in ("--model", name)]
    if main([*flags, "--out", str(out), "--resume"]) != 0:
        return 1
    latency = json.loads((out / "models.json").read_text())
    path = out / "models.md"
    path.write_text(models_markdown(models, reports, latency, "python -m bench " + " ".join(argv)))
    print(path)
    return 0


def models_markdown(models: list[str], reports: dict, latency: dict, command: str) -> str:
    """Every model's headline rows (baseline and Cove) side by side, then the latency table."""
    head = "| metric | " + " | ".join(f"{m}: baseline | {m}: Cove" for m in models) + " |"
    lines = ["# Models side by side", "", f"Command: `{command}`", "", head]
    lines.append("|---" + "|---:|---:" * len(models) + "|")
    metrics = list(dict.fromkeys(row["metric"] for m in models for row in reports[m]))
    for metric in metrics:
        cells = []
        for m in models:
            row = next((r for r in reports[m] if r["metric"] == metric), None)
            for key in ("baseline", "cove"):
                value = row.get(key) if row else None
                cells.append("–" if value is None else f"{value:.1f}{row.get('unit', '')}")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += ["", "Each model's own report: " + ", ".join(f"{_slug(m)}/report.md" for m in models)]
    lines += ["", "## Cold suggestion, warm keystrokes, rates, peak RSS (a process per model)", ""]
    lines += _latency_table(latency.values())
    return "\n".join(lines) + "\n"


LATENCY_COLUMNS = (
    "ready_ms",
    "load_ms",
    "cold_ms",
    "cold_prompt_tokens",
    "keystroke_p50_ms",
    "keystroke_p95_ms",
    "keystroke_mean_new_tokens",
    "peak_rss_mb",
    "load",
)


def _latency_table(rows) -> list[str]:
    lines = [
        "| model | threads | " + " | ".join(LATENCY_COLUMNS) + " | prefill tok/s | gen tok/s |"
    ]
    lines.append("|---" * (len(LATENCY_COLUMNS) + 4) + "|")
    for row in rows:
        cells = [str(row.get(c, "–")) for c in LATENCY_COLUMNS]
        rates = row["rates"]
        lines.append(
            f"| {row['model']} | {row['threads']} | "
            + " | ".join(cells)
            + f" | {rates['prefill_tps']} | {rates['generate_tps']} |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
