"""Prompt chunk sizes side by side (issue 17 §5): cold prefill rate, the warm keystroke
floor, cancel latency and memory per chunk size, on one loaded backend, settings
alternated so that they share the machine's load.

    python -m bench.batches rates,keystrokes,cancel,memory [--sizes 64,128,256,512] [--n N]

Each part prints JSON lines and fits one ~10-minute turn of the model lock.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.report import percentile
from engine.local.prefill import ChunkPolicy
from engine.templates import render_prompt
from engine.types import FimInput, GenerationRequest, StopPolicy

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (
    "context/completion.py",
    "engine/local/backend.py",
    "lsp/server.py",
    "context/session.py",
    "bench/latency.py",
)
PROMPT_TOKENS = 1400
KEYSTROKE_NEW = 25  # tokens a keystroke re-evaluates (typed-ahead layout, measured: 25)


def load_line() -> str:
    """The machine's load averages (1, 5, 15 min)."""
    return " ".join(os.getloadavg().__repr__().strip("()").split(", "))


def memory_kb() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon (/proc/self/status) and Rss, Anonymous (smaps_rollup), in KiB."""
    found: dict[str, int] = {}
    for name in ("/proc/self/status", "/proc/self/smaps_rollup"):
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        for key in ("VmRSS", "VmHWM", "Rss", "Anonymous", "RssAnon"):
            match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
            if match and key not in found:
                found[key] = int(match.group(1))
    return found


def code_prompts(backend, tokens: int = PROMPT_TOKENS) -> list[str]:
    """One FIM prompt of about `tokens` tokens per source file: the file around a code
    line past its middle, three quarters of it before the cursor.
    """
    prompts = []
    for name in SOURCES:
        lines = (ROOT / name).read_text(encoding="utf-8").split("\n")
        i = next(k for k in range(len(lines) // 2, len(lines)) if len(lines[k].strip()) > 8)
        indent = len(lines[i]) - len(lines[i].lstrip())
        before, after = "\n".join(lines[:i]) + "\n", "\n".join(lines[i + 1 :])
        chars = tokens * 3
        for _ in range(6):  # scale the window until the prompt has about `tokens` tokens
            fim = FimInput(
                prefix=before[-(chars * 3 // 4) :],
                line_prefix=lines[i][: indent + 4],
                suffix=lines[i][indent + 4 :] + "\n" + after[: chars // 4],
                path=name,
            )
            prompt = render_prompt(backend.template, fim)
            n = len(backend.tokenize(prompt))
            if abs(n - tokens) < tokens // 50:
                break
            chars = int(chars * tokens / n)
        prompts.append(prompt)
    return prompts


def _forget(backend) -> None:
    """Drop the live KV cache (the next prompt is cold), on the model thread."""

    def drop() -> None:
        backend.llm.n_tokens = 0

    backend.worker.submit(drop).result()


def _rewind(backend, keep: int) -> None:
    """Keep the first `keep` evaluated tokens (the next call re-evaluates the rest)."""

    def cut() -> None:
        backend.llm.n_tokens = min(backend.llm.n_tokens, keep)

    backend.worker.submit(cut).result()


def _request(prompt: str, max_tokens: int = 1) -> GenerationRequest:
    return GenerationRequest(
        prompt=prompt,
        max_tokens=max_tokens,
        deadline_ms=600_000,
        stop=StopPolicy(multiline=True, max_lines=50),
    )


def emit(record: dict) -> dict:
    """Print one measurement as a JSON line at once (a run cut short keeps what it did)."""
    print(json.dumps(record), flush=True)
    return record


def measure_rates(backend, prompts: list[str], sizes: list[int], n: int) -> list[dict]:
    """Cold prefill tokens/s per chunk size: n prompts each, the sizes' order rotated."""
    records = []
    for rep in range(n):
        for size in sizes[rep % len(sizes) :] + sizes[: rep % len(sizes)]:
            backend.chunks = ChunkPolicy(small=size, big=size)
            _forget(backend)
            result = backend.generate(_request(prompts[rep % len(prompts)]))
            rate = result.tokens.new / (result.prefill_ms / 1000)
            records.append(emit({"kind": "rate", "size": size, "rate": round(rate, 1)}))
    return records


def measure_keystrokes(backend, prompt: str, sizes: list[int], n: int) -> list[dict]:
    """The warm keystroke per chunk size, sizes alternated: the prompt's last KEYSTROKE_NEW
    tokens evaluated again, then up to 8 generated; wall time of the call.
    """
    backend.generate(_request(prompt))  # warm
    keep = len(backend.tokenize(prompt)) - KEYSTROKE_NEW
    records = []
    for _ in range(n):
        for size in sizes:
            backend.chunks = ChunkPolicy(small=size, big=size)
            _rewind(backend, keep)
            started = time.perf_counter()
            result = backend.generate(_request(prompt, max_tokens=8))
            ms = (time.perf_counter() - started) * 1000
            records.append(
                emit(
                    {
                        "kind": "keystroke",
                        "size": size,
                        "ms": round(ms, 1),
                        "new": result.tokens.new,
                        "generated": result.tokens.generated,
                    }
                )
            )
    return records


def _cancel_trial(
    backend, prompt: str, follow: str | None, delay: float
) -> tuple[float, float, str]:
    """A cold prompt cancelled `delay` s after it starts, and at once (unless `follow` is
    None) a keystroke's request sharing all but its tail: (cancel → the old call returns,
    cancel → the keystroke's answer, 0 without one) in ms, and the old call's stop reason.
    """
    _forget(backend)
    old = _request(prompt)
    began = threading.Event()
    backend.worker.submit(began.set)
    future = backend.submit(old)
    began.wait()
    time.sleep(delay)
    old.cancel.set()
    cancelled = time.perf_counter()
    newer = backend.submit(_request(follow, max_tokens=8)) if follow is not None else None
    stop = future.result().stop_reason
    returned = time.perf_counter()
    if newer is None:
        return (returned - cancelled) * 1000, 0.0, stop
    newer.result()
    answered = time.perf_counter()
    return (returned - cancelled) * 1000, (answered - cancelled) * 1000, stop


def measure_cancel(
    backend, prompts: list[str], sizes: list[int], n: int, follow: bool, seed: int = 17
) -> list[dict]:
    """Per chunk size, n cold prompts cancelled at the same seeded moments (0.3-4 s in);
    with `follow`, each followed by the keystroke that cancelled it.
    """
    records = []
    for i in range(n):
        delay = random.Random(seed + i).uniform(0.3, 4.0)
        prompt = prompts[i % len(prompts)]
        for size in sizes:
            backend.chunks = ChunkPolicy(small=size, big=size)
            # The follow-up: the user typed a character, only the prompt's tail differs.
            then = prompt + "x" if follow else None
            cancel_ms, answer_ms, stop = _cancel_trial(backend, prompt, then, delay)
            record = {"kind": "cancel", "size": size, "delay_s": round(delay, 2)}
            record |= {"ms": round(cancel_ms, 1), "answer_ms": round(answer_ms, 1), "stop": stop}
            records.append(emit(record))
    return records


def summarize(records: list[dict]) -> list[dict]:
    """One row per chunk size from the measurement records (rate, keystroke, cancel)."""
    rows: dict[int, dict] = {}
    for r in records:
        rows.setdefault(r["size"], {}).setdefault(r["kind"], []).append(r)
    table = []
    for size, kinds in sorted(rows.items()):
        row: dict = {"size": size}
        rates = [r["rate"] for r in kinds.get("rate", [])]
        keys = [r["ms"] for r in kinds.get("keystroke", [])]
        cancels = [r["ms"] for r in kinds.get("cancel", [])]
        answers = [r["answer_ms"] for r in kinds.get("cancel", []) if r["answer_ms"]]
        if rates:
            row |= {"rate_n": len(rates), "rate_mean": round(sum(rates) / len(rates), 1)}
            row |= {"rate_min": min(rates), "rate_max": max(rates)}
        if keys:
            row |= {"keystroke_n": len(keys), "keystroke_p50": percentile(keys, 50)}
            row |= {"keystroke_p95": percentile(keys, 95)}
        if cancels:
            row |= {"cancel_n": len(cancels), "cancel_p50": percentile(cancels, 50)}
            row["cancel_max"] = max(cancels)
        if answers:
            row["answer_after_p50"] = percentile(answers, 50)
        table.append(row)
    return table


MEMORY_CHILD = """
import json, re, sys, time
from pathlib import Path
import llama_cpp
u = int(sys.argv[2])
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=4096, n_batch=max(512, u), n_ubatch=u,
                      verbose=True)
tokens = llm.tokenize(Path(sys.argv[3]).read_text()[:6000].encode(), add_bos=False)[:1400]
llm.eval(tokens[:64])
llm.n_tokens = 0
started = time.perf_counter()
llm.eval(tokens)
seconds = time.perf_counter() - started
status = Path("/proc/self/status").read_text()
get = lambda key: int(re.search(rf"^{key}:\\s+(\\d+) kB", status, re.M).group(1))
print(json.dumps({"rate": round(len(tokens) / seconds, 1), "tokens": len(tokens),
                  "VmRSS_kb": get("VmRSS"), "VmHWM_kb": get("VmHWM"), "RssAnon_kb": get("RssAnon")}))
"""


def measure_memory(model_path: str, ubatches: list[int]) -> list[dict]:
    """Per n_ubatch, a child process (each size twice, the order mirrored): llama.cpp's
    compute buffer (its own log line), the rate and RSS after evaluating 1,400 tokens.
    """
    rows = []
    for u in ubatches + ubatches[::-1]:
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, model_path, str(u), str(ROOT / SOURCES[0])],
            capture_output=True,
            text=True,
            timeout=300,
        )
        buffers = re.findall(r"compute buffer size\s*=\s*([\d.]+) MiB", done.stderr)
        facts = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
        rows.append({"n_ubatch": u, "compute_buffer_mib": [float(b) for b in buffers], **facts})
        emit(rows[-1])
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the parts asked for on one backend, printing each measurement as a JSON line,
    then the table (with the load before and after).
    """
    parser = argparse.ArgumentParser(prog="python -m bench.batches")
    parser.add_argument("parts", help="comma-separated: rates, keystrokes, cancel, memory")
    parser.add_argument("--sizes", default="64,128,256,512")
    parser.add_argument("--n", type=int, default=5, help="cold prompts / cancels per size")
    parser.add_argument("--keystrokes", type=int, default=20)
    parser.add_argument(
        "--follow", action="store_true", help="cancel: time the cancelling keystroke's answer too"
    )
    args = parser.parse_args(argv)
    parts, sizes = args.parts.split(","), [int(s) for s in args.sizes.split(",")]
    from engine.local.loading import open_local_backend, resolve_local_model
    from engine.settings import ModelSettings

    name = os.environ.get("COVE_MODEL", "qwen2.5-coder-0.5b")
    emit({"load_before": load_line(), "parts": parts})
    if "memory" in parts:
        info, _, _ = resolve_local_model(ModelSettings(name=name))
        measure_memory(str(info.path), sizes)
    records: list[dict] = []
    if set(parts) - {"memory"}:
        backend = open_local_backend(ModelSettings(name=name, kept_prompts=0))  # really cold
        try:
            prompts = code_prompts(backend)
            backend.generate(_request(prompts[-1]))  # warm-up: weights paged in, not counted
            if "rates" in parts:
                records += measure_rates(backend, prompts, sizes, args.n)
            if "keystrokes" in parts:
                records += measure_keystrokes(backend, prompts[0], sizes, args.keystrokes)
            if "cancel" in parts:
                records += measure_cancel(backend, prompts, sizes, args.n, args.follow)
            emit({"memory_kb": memory_kb()})
        finally:
            backend.close()
    emit({"table": summarize(records), "load_after": load_line()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
