"""The preparation step per keystroke on a large file: the old whole-file path against the
open `Document`.

Typing one line back into a ~12,000-line Python file, character by character, and timing
what happens before the model is asked: applying the edit, cutting the cursor window and
the single/multi-line decision. No model is loaded (token counts are an estimate); the
prompt rendering is the same in both and left out.

- before: the buffer split and joined as the server did (split + join), the window
  cut from the text (another split), a parse of the whole file and the multi-line decision
  over it (`should_complete_multiline` without a tree).
- after: `Document.apply_change` (what didChange does on the event loop), then on the
  preparing thread: the window cut from the document's lines, the kept tree brought up to
  date (one incremental re-parse) and the decision walked up from the cursor.

`python -m bench.keystroke` prints the numbers; `bench_keystroke` adds them to a report.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.report import Report, Row, percentile
from context.document import Document
from context.syntax.definitions import should_complete_multiline
from context.window import BudgetSettings, cursor_window, split_lines

TARGET_LINES = 12_000


class _Estimate:
    """About 3.5 characters per token: the same for both paths."""

    def count_tokens(self, text: str) -> int:
        return max(1, int(len(text) / 3.5) + 1) if text else 0


def big_python_file(lines: int = TARGET_LINES) -> str:
    """The checkout's own modules, concatenated (repeated if needed) to `lines` lines."""
    root = Path(__file__).resolve().parents[1]
    sources = [p.read_text(encoding="utf-8") for p in sorted(root.glob("context/**/*.py"))]
    sources += [p.read_text(encoding="utf-8") for p in sorted(root.glob("engine/**/*.py"))]
    out: list[str] = []
    while len(out) < lines:
        for source in sources:
            out.extend(source.split("\n"))
            if len(out) >= lines:
                break
    return "\n".join(out[:lines]) + "\n"


def _typing_line(lines: list[str]) -> int:
    """A line near the middle inside a function body, with something to type."""
    middle = len(lines) // 2
    for number in range(middle, len(lines)):
        text = lines[number]
        if text.startswith("        ") and 30 <= len(text.strip()) <= 70 and "=" in text:
            return number
    return middle


def measure(n_lines: int = TARGET_LINES) -> dict[str, list[float]]:
    """Per-keystroke milliseconds of each path, typing one line back into a large file."""
    source = big_python_file(n_lines)
    lines = source.split("\n")
    line_no = _typing_line(lines)
    target = lines[line_no]
    indent = len(target) - len(target.lstrip())
    lines[line_no] = target[:indent]
    start = "\n".join(lines)
    budgets, tokens = BudgetSettings(), _Estimate()
    doc = Document("file:///big.py", start, path="big.py", language_id="python")
    doc.snapshot().tree  # noqa: B018 - the parse at didOpen, outside the keystrokes
    times: dict[str, list[float]] = {k: [] for k in ("before", "after", "edit", "window", "tree")}
    source = start
    for column in range(indent, len(target)):
        char = target[column]
        # before: the old server's text, split, joined, split again and parsed whole
        line = lines[line_no] = lines[line_no] + char
        source = "\n".join(lines)
        began = time.perf_counter()
        text = "\n".join(split_lines(source))
        cursor_window(text, line_no, column + 1, budgets, tokens)
        old = should_complete_multiline(text, "python", line_no, column + 1)
        times["before"].append((time.perf_counter() - began) * 1000)
        # after: the edit on the loop, then the window and the decision on the kept tree
        began = time.perf_counter()
        doc.apply_change((line_no, column), (line_no, column), char)
        edited = time.perf_counter()
        snapshot = doc.snapshot()
        cursor_window(snapshot.lines, line_no, column + 1, budgets, tokens)
        windowed = time.perf_counter()
        tree = snapshot.tree
        treed = time.perf_counter()
        new = should_complete_multiline(
            "", "python", line_no, column + 1, tree=tree, lines=snapshot.lines
        )
        done = time.perf_counter()
        times["after"].append((done - began) * 1000)
        times["edit"].append((edited - began) * 1000)
        times["window"].append((windowed - edited) * 1000)
        times["tree"].append((treed - windowed) * 1000)
        if old != new or snapshot.lines[line_no] != line:
            raise AssertionError(f"the paths disagree at column {column}: {old} vs {new}")
    times["lines"] = [float(len(lines))]
    return times


def bench_keystroke(report: Report) -> None:
    """Rows: the preparation step per keystroke on a ~12k-line file, before and after."""
    times = measure()
    before, after = times["before"], times["after"]
    report.rows += [
        Row("prepare per keystroke, 12k-line file, p50 (ms)", percentile(before, 50),
            percentile(after, 50), lower_is_better=True),
        Row("prepare per keystroke, 12k-line file, p95 (ms)", percentile(before, 95),
            percentile(after, 95), lower_is_better=True),
    ]  # fmt: skip
    report.sections.append(
        f"Preparing a request on a {int(times['lines'][0])}-line Python file "
        f"({len(before)} keystrokes, no model): before (split + join + whole-file parse + "
        f"decision) mean {statistics.mean(before):.1f} ms; after (Document edit + window + "
        f"incremental re-parse + decision) mean {statistics.mean(after):.1f} ms, of which the "
        f"edit on the event loop {statistics.mean(times['edit']):.2f} ms, the incremental "
        f"re-parse {statistics.mean(times['tree']):.1f} ms."
    )


def main() -> None:
    """Print the per-keystroke numbers."""
    times = measure()
    print(f"{int(times['lines'][0])} lines, {len(times['before'])} keystrokes")
    for name in ("before", "after", "edit", "window", "tree"):
        values = times[name]
        print(
            f"{name:>10}: p50 {percentile(values, 50):7.2f} ms  p95 {percentile(values, 95):7.2f}"
            f" ms  mean {statistics.mean(values):7.2f} ms"
        )


if __name__ == "__main__":
    main()
