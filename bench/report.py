"""The benchmark report: headline rows, sections, plot series, and one percentile."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Row:
    """One line of the headline table."""

    metric: str
    baseline: float | None
    cove: float | None
    unit: str = ""
    lower_is_better: bool = False

    def ratio(self) -> str:
        """Cove's value over the baseline's, as text ("–" when there is nothing to compare)."""
        if not self.baseline or self.cove is None:
            return "–"
        return f"{self.cove / self.baseline:.2f}×"


@dataclass
class Report:
    """Rows, extra sections and plot series collected by the benchmarks."""

    rows: list[Row] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    series: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)  # x labels of a bar plot

    def markdown(self, command: str) -> str:
        """The report: the headline table, then each benchmark's section."""
        lines = [
            "# Cove benchmark report",
            "",
            f"Command: `{command}`",
            "",
            "| metric | baseline | Cove | ratio |",
            "|---|---:|---:|---:|",
        ]
        for row in self.rows:
            mark = " ↓" if row.lower_is_better else ""
            lines.append(
                f"| {row.metric}{mark} | {_number(row.baseline, row.unit)} | {_number(row.cove, row.unit)} | {row.ratio()} |"
            )
        note = "Ratio: Cove ÷ baseline; ↓ marks a metric where lower is better."
        return "\n".join(lines + ["", note, ""] + self.sections) + "\n"


def _number(value: float | None, unit: str) -> str:
    return "–" if value is None else f"{value:.1f}{unit}"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank (the smallest value with at least q% of
    the values at or below it); 0.0 for no values.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]
