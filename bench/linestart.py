"""What the "hybrid" layout costs the first character typed at a line start, side by side with
"stable", in one process on one model.

At a line of indentation only, "hybrid" renders the classic psm prompt (the indentation
ends the prefix); once the line has text its prompt is "stable" again, whose start differs
from the psm one after the prefix: the first character typed re-evaluates the suffix,
unless the model was idle long enough after the answer to warm that prompt
(`CompletionSession._warm_typing`). For each file (bench.prefetch's files, the middle code
line cut at its indentation): the line-start request (cold), a pause, then one character
that is not the suggestion's (so the model runs), timed; per layout and pause.

    python -m bench.linestart [--model NAME] [--pauses 0,2] [--files 6]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.prefetch import FILES, ROOT, opened_at
from bench.report import percentile
from context.completion import CompletionService
from context.document import Document
from context.session import CompletionSession
from engine.settings import GenerationSettings, ModelSettings

DEADLINE_MS = 120_000  # the cost is the measure: no deadline cuts it short


def _other_char(suggestion: str) -> str:
    """A first character the suggestion does not start with: the model must answer it."""
    return "z" if not suggestion.startswith("z") else "q"


def measure(backend, layout: str, path: Path, pause_s: float) -> dict:
    """One file: the line-start answer, `pause_s` idle, one typed character."""
    text, line, column = opened_at(path)
    service = CompletionService(
        backend=backend, generation=GenerationSettings(layout=layout, deadline_ms=DEADLINE_MS)
    )
    session = CompletionSession(service)
    doc = Document(path.as_uri(), text, path=str(path), language_id="python")
    try:
        started = time.perf_counter()
        _, future, _ = session.request(doc.snapshot(), line, column)
        first = future.result()
        first_ms = (time.perf_counter() - started) * 1000
        time.sleep(pause_s)
        doc.apply_change((line, column), (line, column), _other_char(first.text))
        started = time.perf_counter()
        _, future, _ = session.request(doc.snapshot(), line, column + 1)
        typed = future.result()
        typed_ms = (time.perf_counter() - started) * 1000
    finally:
        session.close()
    return {
        "file": str(path.relative_to(ROOT)),
        "layout": layout,
        "pause_s": pause_s,
        "line_start_ms": round(first_ms),
        "first_key_ms": round(typed_ms),
        "first_key_new_tokens": typed.tokens.new,
    }


def main(argv: list[str] | None = None) -> None:
    """Measure every file at every pause in both layouts; print the rows and the table."""
    from engine.local.loading import open_local_backend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--pauses", default="0,2")
    parser.add_argument("--files", type=int, default=6)
    args = parser.parse_args(argv)
    backend = open_local_backend(ModelSettings(name=args.model))
    rows = []
    try:
        for path in [ROOT / f for f in FILES[: args.files]]:
            for pause in [float(p) for p in args.pauses.split(",")]:
                for layout in ("stable", "hybrid"):
                    rows.append(measure(backend, layout, path, pause))
                    print(rows[-1], flush=True)
    finally:
        backend.close()
    print("\n| layout | pause s | n | line start p50 ms | first key p50 ms | max ms | new tokens |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for pause in sorted({r["pause_s"] for r in rows}):
        for layout in ("stable", "hybrid"):
            group = [r for r in rows if r["layout"] == layout and r["pause_s"] == pause]
            keys = [r["first_key_ms"] for r in group]
            print(
                f"| {layout} | {pause:g} | {len(group)} | "
                f"{percentile([r['line_start_ms'] for r in group], 50):.0f} | "
                f"{percentile(keys, 50):.0f} | {max(keys)} | "
                f"{statistics.mean(r['first_key_new_tokens'] for r in group):.0f} |"
            )


if __name__ == "__main__":
    main()
