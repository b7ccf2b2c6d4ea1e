"""The confidence gate's precision/coverage curve on the real-code evaluation's items.

For a threshold t, an automatic suggestion is shown when it is non-empty and its confidence
score (`engine.confidence.Confidence.score`) is at least t. Coverage is the share of
positions where something is shown; precision the exact match among the shown ones. The
curve is what `generation.minConfidence`'s default was chosen from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# What a gate could compare. "min_prob" ships (`Confidence.score`); older ledger rows have
# "score" = the mean, so the tables name the measures, not "score".
SCORES = ("min_prob", "mean_prob", "first_prob")


def gate_rows(items: Iterable[dict], pipeline: str, measure: str = "min_prob") -> list[dict]:
    """Per threshold: n, shown, coverage, precision (EM among shown), EM of all positions
    (a hidden suggestion counts as a miss), and the share of right answers kept.
    """
    rows = [i for i in items if i.get("pipeline") == pipeline and "exact" in i]
    n = len(rows)
    if not n:
        return []
    right = sum(1 for r in rows if r["exact"])
    table = []
    for t in THRESHOLDS:
        shown = [r for r in rows if r.get("got") and _value(r, measure) >= t]
        hits = sum(1 for r in shown if r["exact"])
        table.append(
            {
                "threshold": t,
                "n": n,
                "shown": len(shown),
                "coverage": len(shown) / n,
                "precision": hits / len(shown) if shown else 0.0,
                "em_all": hits / n,
                "kept_right": hits / right if right else 0.0,
            }
        )
    return table


def _value(item: dict, measure: str) -> float:
    """The item's confidence measure; an unknown confidence passes every gate."""
    confidence = item.get("confidence")
    if not confidence:
        return 1.0
    if measure == "mean_prob" and "mean_prob" not in confidence:
        return math.exp(float(confidence.get("mean_logprob", 0.0)))
    return float(confidence.get(measure, 1.0))


def gate_tables(items: Iterable[dict], pipelines: Iterable[str]) -> str:
    """Markdown: one precision/coverage table per pipeline and measure."""
    items = list(items)
    parts = []
    for pipeline in pipelines:
        for measure in SCORES:
            rows = gate_rows(items, pipeline, measure)
            if not rows or not any(
                i.get("confidence") for i in items if i.get("pipeline") == pipeline
            ):
                continue
            parts.append(
                f"### Confidence gate: {pipeline}, {measure} (n = {rows[0]['n']})\n\n"
                "| threshold | shown | coverage | precision (EM of shown) | EM of all | right kept |\n"
                "|---:|---:|---:|---:|---:|---:|\n"
                + "\n".join(
                    f"| {r['threshold']:.2f} | {r['shown']} | {r['coverage']:.3f} "
                    f"| {r['precision']:.3f} | {r['em_all']:.3f} | {r['kept_right']:.3f} |"
                    for r in rows
                )
            )
    return ("## Confidence gate\n\n" + "\n\n".join(parts) + "\n") if parts else ""


def plot_gate(items: Iterable[dict], path: Path, measure: str = "min_prob") -> Path | None:
    """Precision against coverage, one line per pipeline with confidences (matplotlib from
    the `bench` extra; None without it).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    items = list(items)
    pipelines = sorted({i["pipeline"] for i in items if i.get("confidence") and "pipeline" in i})
    if not pipelines:
        return None
    figure, axes = plt.subplots(figsize=(6, 4))
    for pipeline in pipelines:
        rows = gate_rows(items, pipeline, measure)
        axes.plot(
            [r["coverage"] for r in rows],
            [r["precision"] for r in rows],
            marker="o",
            label=pipeline,
        )
        for r in rows[1::2]:
            axes.annotate(f"{r['threshold']:.2f}", (r["coverage"], r["precision"]), fontsize=7)
    axes.set_xlabel("coverage (share of positions shown)")
    axes.set_ylabel("precision (exact match among shown)")
    axes.set_title(f"Confidence gate ({measure})")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def pairs_by_position(items: Iterable[dict], first: str, second: str) -> dict[str, dict]:
    """Real-code positions that both pipelines measured: position -> {pipeline: item}."""
    by_position: dict[str, dict[str, dict]] = {}
    for item in items:
        if item.get("pipeline") in (first, second) and item.get("key", "").startswith("real/"):
            by_position.setdefault(item["key"].rsplit("/", 1)[0], {})[item["pipeline"]] = item
    return {where: pair for where, pair in by_position.items() if len(pair) == 2}


def confident_pick(
    items: Iterable[dict], first: str, second: str, name: str, measure: str = "mean_prob"
) -> list[dict]:
    """A derived pipeline `name`: at each position both measured, the answer of
    the one the model was surer of (issue 12's gating by log-probability: generate with and
    without context, keep the likelier). An empty answer loses to a non-empty one.
    """
    derived = []
    for where, pair in pairs_by_position(items, first, second).items():
        a, b = pair[first], pair[second]
        pick = (
            b
            if (bool(b.get("got")), _value(b, measure)) > (bool(a.get("got")), _value(a, measure))
            else a
        )
        derived.append(
            {**pick, "pipeline": name, "key": f"{where}/{name}", "picked": pick["pipeline"]}
        )
    return derived
