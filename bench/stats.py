"""Statistics of the real-code evaluation: paired tests and per-group summaries.

Pure functions over measured items (dicts from the ledger), so the arithmetic is tested
without a model.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable

IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for `b` and `c` discordant pairs (A right and B wrong,
    A wrong and B right): the binomial test of min(b, c) on b + c trials at 1/2.
    """
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def discordant(first: list[bool], second: list[bool]) -> tuple[int, int]:
    """(first right and second wrong, first wrong and second right) over paired outcomes."""
    if len(first) != len(second):
        raise ValueError("paired outcomes must have the same length")
    b = sum(1 for x, y in zip(first, second, strict=True) if x and not y)
    c = sum(1 for x, y in zip(first, second, strict=True) if y and not x)
    return b, c


def identifier_match(suggestion: str, identifiers: Iterable[str]) -> float | None:
    """Share of `identifiers` (the target's cross-file names; `a.b` counts as both parts)
    that the suggestion contains as identifiers; None when the target has none.
    """
    wanted = [part for name in identifiers for part in name.split(".") if part]
    if not wanted:
        return None
    present = set(IDENTIFIER.findall(suggestion))
    return sum(1 for name in wanted if name in present) / len(wanted)


def summarize_group(items: list[dict]) -> dict:
    """EM, edit similarity, identifier match, empty share, tokens and ms of one pipeline's
    items in one group (language, kind).
    """
    n = len(items)
    if not n:
        return {"n": 0}
    ident = [i["ident"] for i in items if i.get("ident") is not None]
    return {
        "n": n,
        "em": sum(bool(i["exact"]) for i in items) / n,
        "em_ws": sum(bool(i.get("exact_ws", i["exact"])) for i in items) / n,
        "es": statistics.fmean(i["similarity"] for i in items),
        "ident": statistics.fmean(ident) if ident else None,
        "ident_n": len(ident),
        "empty": sum(1 for i in items if not i["got"].strip()) / n,
        "prompt_tokens": statistics.fmean(i.get("prompt_tokens", 0) for i in items),
        "new_tokens": statistics.fmean(i.get("new_tokens", 0) for i in items),
        "ms": statistics.fmean(i["ms"] for i in items),
    }


def paired_p(items: dict[str, dict[str, dict]], name: str, other: str) -> tuple[float, int, int]:
    """McNemar p of pipeline `name` against `other` on the positions both measured
    (`items[position][pipeline]`), with the discordant counts (name only, other only).
    """
    pairs = [
        (row[name]["exact"], row[other]["exact"])
        for row in items.values()
        if name in row and other in row
    ]
    b, c = discordant([x for x, _ in pairs], [y for _, y in pairs])
    return mcnemar_exact(b, c), b, c


def paired_ident_p(
    items: dict[str, dict[str, dict]], name: str, other: str
) -> tuple[float, int, int]:
    """Sign test of pipeline `name` against `other` on identifier match: over the positions
    both measured whose target has cross-file names, the exact two-sided binomial p of the
    positions where `name` wrote more of them against those where it wrote fewer, with those
    counts (issue 12's "identifier match without losing exact match" asks for a paired test).
    """
    pairs = [
        (row[name]["ident"], row[other]["ident"])
        for row in items.values()
        if name in row and other in row and row[name].get("ident") is not None
    ]
    more = sum(1 for x, y in pairs if x > y)
    fewer = sum(1 for x, y in pairs if x < y)
    return mcnemar_exact(more, fewer), more, fewer
