"""The real-code evaluation's tables: paired summaries per language and position kind,
the derived pipelines (context where the shipped gate adds it), realcode.md/.json.

Pure functions over the ledger's items (`bench.realcode` measures them).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from bench.gate import gate_tables, pairs_by_position, plot_gate
from bench.stats import paired_ident_p, paired_p, summarize_group


def gated_pick(items, base: str, context: str, name: str, gate: dict[str, bool]) -> list[dict]:
    """A derived pipeline `name`: the `context` answer where `gate` says context is added,
    the `base` (no-context) answer elsewhere, at positions both measured.
    """
    return [
        {
            **pair[context if gate[where] else base],
            "pipeline": name,
            "key": f"{where}/{name}",
            "picked": context if gate[where] else base,
        }
        for where, pair in pairs_by_position(items, base, context).items()
        if where in gate
    ]


def summarize(items, pipelines: tuple[str, ...], context_base: str = "cove-hold") -> dict:
    """Per (language, kind) and pipeline: the metrics, McNemar p against naive and against
    the no-context pipeline (`context_base` for the context pipelines, "cove" for the others). Only positions that every asked
    pipeline measured count, so all rows of a group are paired.
    """
    by_position: dict[str, dict[str, dict]] = defaultdict(dict)
    for item in items:
        if "pipeline" in item and item["key"].startswith("real/"):
            by_position[item["key"].rsplit("/", 1)[0]][item["pipeline"]] = item
    complete = {k: v for k, v in by_position.items() if all(p in v for p in pipelines)}
    groups: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for key, row in complete.items():
        any_item = next(iter(row.values()))
        family = "ts/js" if any_item["language"] in ("typescript", "javascript") else None
        kind = any_item["kind"]
        for group in (
            (any_item["language"], kind),
            ("all", kind),
            ("all", "all"),  # every kind pooled: the most paired positions
            *([("all", "line-start")] if kind in ("line", "control") else []),  # indentation
            *([(family, kind)] if family else []),
        ):
            groups[group][key] = row
    table = {}
    for group, rows in sorted(groups.items(), key=lambda g: (g[0][0] != "all", g[0])):
        entry = {}
        for name in pipelines:
            stats = summarize_group([row[name] for row in rows.values()])
            if name != "naive" and "naive" in pipelines:
                stats["p_naive"], stats["wins_naive"], stats["losses_naive"] = paired_p(
                    rows, name, "naive"
                )
            other = (
                context_base
                if name.startswith("ctx-")
                else ("cove" if name in ("cove-hold", "cove-hybrid") else "")
            )
            if other and other in pipelines:
                stats["p_nocontext"], stats["wins_nocontext"], stats["losses_nocontext"] = paired_p(
                    rows, name, other
                )
                stats["p_ident"], stats["wins_ident"], stats["losses_ident"] = paired_ident_p(
                    rows, name, other
                )
            entry[name] = stats
        table[f"{group[0]}/{group[1]}"] = entry
    return {
        "positions": len(complete),
        "measured": len(by_position),
        "pipelines": list(pipelines),
        "table": table,
    }


def markdown(summary: dict, command: str) -> str:
    """The results table: one row per group and pipeline."""
    head = (
        "| language/kind | pipeline | n | EM | EM (blanks ignored) | ES | ident match (n) | empty "
        "| p vs naive (W/L) | p vs no-context (W/L) | ident p vs no-context (W/L) | prompt tok "
        "| new tok | ms/pos |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for group, entry in summary["table"].items():
        for name, s in entry.items():
            if not s.get("n"):
                continue
            ident = "–" if s["ident"] is None else f"{s['ident']:.3f} ({s['ident_n']})"
            pn = (
                f"{s['p_naive']:.3f} ({s['wins_naive']}/{s['losses_naive']})"
                if "p_naive" in s
                else "–"
            )
            pc = (
                f"{s['p_nocontext']:.3f} ({s['wins_nocontext']}/{s['losses_nocontext']})"
                if "p_nocontext" in s
                else "–"
            )
            pi = (
                f"{s['p_ident']:.3f} ({s['wins_ident']}/{s['losses_ident']})"
                if "p_ident" in s
                else "–"
            )
            rows.append(
                f"| {group} | {name} | {s['n']} | {s['em']:.3f} | {s['em_ws']:.3f} | {s['es']:.3f} "
                f"| {ident} | {s['empty']:.3f} | {pn} | {pc} | {pi} | {s['prompt_tokens']:.0f} "
                f"| {s['new_tokens']:.0f} | {s['ms']:.0f} |"
            )
    return (
        f"# Real-code evaluation\n\nCommand: `{command}`\n\n"
        f"Positions measured by every pipeline: {summary['positions']} "
        f"(of {summary['measured']} started).\n\n" + head + "\n".join(rows) + "\n"
    )


def write_report(summary: dict, out: Path, command: str, items=None) -> Path:
    """realcode.md and realcode.json in `out` (with `items`, the ledger's rows: the
    confidence gate's precision/coverage tables and gate.png).
    """
    (out / "realcode.json").write_text(json.dumps(summary, indent=1))
    path = out / "realcode.md"
    text = markdown(summary, command)
    if "without_context" in summary:
        text += (
            "\n## Without context, every position\n\n"
            + markdown(summary["without_context"], command).split("\n\n", 2)[2]
        )
    gates = gate_tables(items or [], summary.get("pipelines", ()))
    if gates:
        text += "\n" + gates
        plot_gate(items or [], out / "gate.png")
    path.write_text(text)
    return path
