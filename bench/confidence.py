"""What confidence and alternatives cost: automatic requests with the confidence tracked
and without (as before it existed), and explicit requests with alternatives, side by side
on the same warm prompts in one run.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import Report, Row, percentile
from context.completion import CompletionService
from engine.settings import GenerationSettings

SOURCES = ("context/completion.py", "engine/templates.py", "lsp/convert.py", "context/window.py")


def positions(root: Path, per_file: int = 4) -> list[tuple[str, str, int, int]]:
    """(text, path, line, column) at the start of code on evenly spaced lines of this repository's
    own files, the line cut at its indentation.
    """
    found = []
    for name in SOURCES:
        lines = (root / name).read_text(encoding="utf-8").split("\n")
        code = [i for i, ln in enumerate(lines) if len(ln.strip()) > 8 and i > 20]
        for i in code[:: max(1, len(code) // per_file)][:per_file]:
            indent = len(lines[i]) - len(lines[i].lstrip())
            cut = [*lines[:i], lines[i][:indent], *lines[i + 1 :]]
            found.append(("\n".join(cut), name, i, indent))
    return found


def bench_confidence_cost(report: Report, backend, root: Path) -> None:
    """Rows: automatic request generation time with/without the confidence, explicit with
    alternatives; a section with the counts.
    """
    generation = GenerationSettings(deadline_ms=120_000, multiline="never")
    service = CompletionService(backend=backend, generation=generation)
    plain, tracked, explicit, found = [], [], [], []
    for text, path, line, column in positions(root):
        service.complete(text, path, line, column)  # the prompt is now in the KV cache
        for track, sink in ((False, plain), (True, tracked)):
            backend.track_confidence = track
            done = service.complete(text, path, line, column)
            sink.append(done.timings.prefill_ms + done.timings.generate_ms)
        backend.track_confidence = True
        asked = service.complete(text, path, line, column, alternatives=generation.alternatives)
        explicit.append(
            asked.timings.prefill_ms + asked.timings.generate_ms + asked.alternatives_ms
        )
        found.append(len(asked.alternatives))
    n = len(plain)
    p50 = lambda xs: percentile(xs, 50)  # noqa: E731
    report.rows += [
        Row(
            "automatic request, warm prompt, p50 (ms): without → with confidence",
            p50(plain),
            p50(tracked),
            lower_is_better=True,
        ),
        Row(
            f"explicit request with up to {generation.alternatives} alternatives, p50 (ms)",
            p50(tracked),
            p50(explicit),
            lower_is_better=True,
        ),
    ]
    report.sections.append(
        f"Confidence and alternatives ({n} positions of Cove's own code, warm prompts, one run): "
        f"automatic p50 {p50(plain):.0f} ms without the confidence, {p50(tracked):.0f} ms with "
        f"it; explicit with alternatives p50 {p50(explicit):.0f} ms, "
        f"{sum(found) / max(1, n):.2f} distinct alternatives on average "
        f"({sum(1 for f in found if f >= 1)}/{n} positions with at least one)."
    )


__all__ = ["bench_confidence_cost"]
