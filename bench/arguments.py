"""The benchmark command line: `python -m bench`'s flags and the options they make.

Kept apart from `bench.cli`, which runs the benchmarks, so the runner stays readable and
the flags are in one place (the realcode group mirrors `bench.realcode.RealCodeOptions`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from context.window import BudgetSettings
from lsp.command_line import UsageError, add_common_options

QUALITY_TASKS = ("humaneval", "santacoder", "repos")


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """What `cove bench` was asked for."""

    quick: bool = False
    size: int | None = None  # rows per quality task (a seeded subset; None: all, or 40 when quick)
    positions: int | None = None  # positions per repository (None: 5 when quick, else 20)
    repos: Path | None = None  # the repository list (TOML); None: the shipped one
    no_context: bool = False  # skip the with-context repository pipeline
    resume: bool = False  # keep items already measured in OUT/items.jsonl
    realcode: Any = None  # `bench.realcode.RealCodeOptions` of `repos` (None: its defaults)
    tasks: tuple[str, ...] = QUALITY_TASKS  # the quality benchmark's task sets


def build_parser() -> argparse.ArgumentParser:
    """The benchmark command line (the same common flags as `cove`)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Cove against the naive FIM baseline.",
        conflict_handler="resolve",  # --model below replaces the common flag: it repeats
    )
    parser.add_argument(
        "what",
        nargs="+",
        choices=["quality", "repos", "latency", "index", "memory", "reliability", "all"],
        help="one or more benchmarks (`all` leaves out `repos`, the long real-code evaluation)",
    )
    add_common_options(parser)
    parser.add_argument(
        "--model",
        action="append",
        help="a preset or GGUF file (default: auto); repeat it to run each model in a process "
        "of its own and write OUT/models.md, the models side by side",
    )
    parser.set_defaults(verbose=0, log_file=None)
    parser.add_argument("--out", default="bench-report", help="folder for report.md and plots")
    parser.add_argument(
        "--quick", action="store_true", help="a fixed seeded subset, for development"
    )
    parser.add_argument(
        "--size", type=int, help="rows per quality task, a seeded subset (overrides --quick/full)"
    )
    parser.add_argument(
        "--positions", type=int, help="positions per repository (default 5 with --quick, else 20)"
    )
    parser.add_argument(
        "--repos", help="TOML list of real repositories (default: bench/repos.toml)"
    )
    parser.add_argument(
        "--no-context", action="store_true", help="skip the with-context pipeline on repositories"
    )
    parser.add_argument(
        "--resume", action="store_true", help="keep items already measured in OUT/items.jsonl"
    )
    parser.add_argument(
        "--tasks",
        default=",".join(QUALITY_TASKS),
        help="the quality benchmark's task sets (HumanEval always runs): "
        + ", ".join(QUALITY_TASKS),
    )
    real = parser.add_argument_group("repos (the real-code evaluation)")
    real.add_argument("--per-kind", type=int, default=20, help="positions per kind and repository")
    real.add_argument(
        "--pipelines",
        default="naive,cove,cove-hold,ctx-suffix,ctx-prefix",
        help="comma-separated: naive, cove-hybrid, cove, cove-hold, ctx-suffix, ctx-defs, "
        "ctx-bm25, ctx-prefix, ctx-repo, cove-wide",
    )
    real.add_argument(
        "--wide-window",
        type=window_budgets,
        default=f"{BudgetSettings.prefix_tokens},{BudgetSettings.suffix_tokens}",
        help="PREFIX,SUFFIX: the token budgets of cove-wide (cove in another window)",
    )
    real.add_argument("--context-tokens", type=int, default=256, help="context budget (tokens)")
    real.add_argument(
        "--context-base",
        choices=["cove", "cove-hold", "cove-hybrid"],
        default="cove-hold",
        help="the no-context pipeline whose settings (indentation, layout) context is added to",
    )
    real.add_argument(
        "--minutes", type=float, default=0.0, help="stop starting positions after this long"
    )
    real.add_argument("--only", default="", help="comma-separated repository names to run")
    real.add_argument(
        "--context-every", type=int, default=1, help="context pipelines on every k-th position"
    )
    real.add_argument(
        "--kinds", default="line,api,control", help="comma-separated position kinds to measure"
    )
    real.add_argument(
        "--start",
        type=int,
        default=0,
        help="skip the plan's first N positions of the asked kinds (an earlier run measured them)",
    )
    return parser


def realcode_options(args):
    """`RealCodeOptions` from the command line."""
    from bench.realcode import PIPELINES, RealCodeOptions

    pipelines = tuple(p for p in args.pipelines.split(",") if p)
    unknown = sorted(set(pipelines) - set(PIPELINES))
    if unknown:
        raise UsageError(f"unknown pipelines {unknown}; choose from {', '.join(PIPELINES)}")
    return RealCodeOptions(
        per_kind=args.per_kind,
        pipelines=pipelines,
        context_tokens=args.context_tokens,
        context_base=args.context_base,
        minutes=args.minutes,
        repos=Path(args.repos) if args.repos else None,
        only=tuple(n for n in args.only.split(",") if n),
        context_every=args.context_every,
        kinds=tuple(k for k in args.kinds.split(",") if k),
        start=args.start,
        wide_window=args.wide_window,
    )


def window_budgets(text: str) -> tuple[int, int]:
    """An argparse type: PREFIX,SUFFIX token budgets of the cursor window, both positive."""
    try:
        prefix, suffix = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"wants two token counts, PREFIX,SUFFIX (got {text!r})"
        ) from None
    if prefix <= 0 or suffix <= 0:
        raise argparse.ArgumentTypeError(f"wants positive token counts (got {text!r})")
    return prefix, suffix
