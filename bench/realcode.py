"""The real-code evaluation: Cove's variants against a plain FIM plugin on real repositories.

`python -m bench repos` fetches the configured repositories (bench/repos.toml), picks
positions of three kinds (`bench.positions`), and runs every pipeline on every position:

- "naive": what a plain FIM plugin does (PSM prompt, same window budgets, stop at newline,
  raw text);
- "cove": the real `CompletionService`, no context, today's indentation ("model");
- "cove-hold": the same, the user's indentation held (`generation.indentation = "hold"`);
- "cove-hybrid": the same, `generation.layout = "hybrid"` (psm on a line of indentation
  only: there the prompt is the naive one, so the pair shows what Cove's post-processing does);
- "cove-wide": "cove" with another window (`--wide-window`, the shipped default 1,024 + 384
  tokens unless told), so that a run pairs two window budgets on the same positions;
- "ctx-prefix", "ctx-suffix", "ctx-repo": with repository context (`--context-tokens`),
  placed as `generation.contextPlacement` says, over the settings of the no-context pipeline
  `--context-base` names ("cove-hold" unless told);
- "ctx-defs", "ctx-bm25": "ctx-suffix" with context from one source only (definitions and
  import outlines; BM25 neighbours), so that a run pairs the sources on the same positions.

Pipelines of one position run back to back in an order that lets each prompt reuse the
previous one's start in the KV cache. Every item goes to OUT/items.jsonl (`--resume`
continues; `--minutes` stops starting positions after a while, so a run fits a turn on the
shared model). The report groups by language and position kind.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.evaluate import Position, edit_similarity
from bench.gate import confident_pick
from bench.positions import KINDS, interleave, repo_positions
from bench.quality import Ledger, naive_generate
from bench.realcode_report import gated_pick, summarize, write_report
from bench.stats import identifier_match
from context.completion import CompletionService
from context.retrieval.gate import wants_context
from context.retrieval.repository import RepositoryContext
from context.window import BudgetSettings, cursor_window

# In run order: each prompt shares its start with the one before it (naive -> cove: the
# file prefix; naive -> cove-hybrid: at a line start the whole prompt; cove -> cove-hold: the whole prompt; -> ctx-suffix: prefix and suffix).
# cove-wide last: its prompt starts elsewhere in the file and shares nothing with the others.
PIPELINES = (
    "naive",
    "cove-hybrid",
    "cove",
    "cove-hold",
    "ctx-suffix",
    "ctx-defs",
    "ctx-bm25",
    "ctx-prefix",
    "ctx-repo",
    "cove-wide",
)
DEFAULT_PIPELINES = ("naive", "cove", "cove-hold", "ctx-suffix", "ctx-prefix")
# The no-context pipelines: (generation.indentation, generation.layout).
BASE_SETTINGS = {
    "cove": ("model", "stable"),
    "cove-hold": ("hold", "stable"),
    "cove-hybrid": ("model", "hybrid"),
    "cove-wide": ("model", "stable"),
}
PLACEMENT_OF = {
    "ctx-prefix": "prefix",
    "ctx-suffix": "suffix",
    "ctx-repo": "repo",
    "ctx-defs": "suffix",
    "ctx-bm25": "suffix",
}
# Context from one kind of source only (ContextSettings weights set to 0 drop the others):
# "ctx-defs" the definitions of names near the cursor and outlines of imported files,
# "ctx-bm25" the BM25 neighbours of the cursor window. The others take every source.
_NO_EDITS = {"weight_recent": 0.0, "weight_git": 0.0, "weight_cochange": 0.0}
CONTENT_OF = {
    "ctx-defs": {**_NO_EDITS, "weight_similar": 0.0},
    "ctx-bm25": {**_NO_EDITS, "weight_definition": 0.0, "weight_import": 0.0},
}


@dataclass(frozen=True, kw_only=True)
class RealCodeOptions:
    """What `python -m bench repos` was asked for."""

    per_kind: int = 20  # positions of each kind per repository
    pipelines: tuple[str, ...] = DEFAULT_PIPELINES
    context_tokens: int = 256
    context_base: str = "cove-hold"  # the no-context pipeline whose settings context adds to
    # Cove's generation.multiline. The first line is compared, and greedy decoding writes the
    # same first line either way, so "never" only saves generating the lines after it.
    multiline: str = "never"
    minutes: float = 0.0  # stop starting positions after this long (0: no limit)
    context_every: int = 1  # context pipelines on every k-th position only (model time)
    kinds: tuple[str, ...] = KINDS  # position kinds to measure
    start: int = 0  # skip the plan's first `start` positions of those kinds
    repos: Path | None = None
    only: tuple[str, ...] = ()  # repository names to run (empty: all)
    # cove-wide's (prefix, suffix) token budgets: the shipped defaults unless told
    wide_window: tuple[int, int] = (BudgetSettings.prefix_tokens, BudgetSettings.suffix_tokens)


def cut_document(repo: RepositoryContext, pos: Position) -> str:
    """The file as the editor holds it at the position: the line cut at the cursor."""
    lines = (repo.root / pos.path).read_text(encoding="utf-8").split("\n")
    lines[pos.line] = lines[pos.line][: pos.column]
    return "\n".join(lines)


def score(got: str, pos: Position) -> dict:
    """Exact match of the text inserted at the cursor (`exact`; `exact_ws` ignores blanks at
    its ends), edit similarity, identifier match.
    """
    return {
        "got": got,
        "exact": got == pos.target,
        "exact_ws": got.strip() == pos.target.strip(),
        "similarity": round(edit_similarity(got.strip(), pos.target.strip()), 4),
        "ident": identifier_match(got, pos.names),
    }


def naive_item(backend, service: CompletionService, repo: RepositoryContext, pos: Position):
    """The plain plugin at the position: its raw first line, inserted at the cursor."""
    window = cursor_window(cut_document(repo, pos), pos.line, pos.column, service.budgets, backend)
    result = naive_generate(
        backend,
        window.prefix + window.line_prefix,
        window.suffix,
        deadline_ms=service.generation.deadline_ms,
    )
    got = result.text.split("\n", 1)[0].rstrip()
    return {
        **score(got, pos),
        "ms": round(result.prefill_ms + result.generate_ms, 1),
        "prompt_tokens": result.tokens.prompt,
        "new_tokens": result.tokens.new,
        "stop_reason": result.stop_reason,
        "confidence": result.confidence.to_json() if result.confidence else None,
    }


def cove_item(service: CompletionService, repo: RepositoryContext, pos: Position, context: bool):
    """Cove's pipeline at the position: the first line of its suggestion."""
    completion = service.complete(
        cut_document(repo, pos),
        str(repo.root / pos.path),
        pos.line,
        pos.column,
        use_context=context,
    )
    got = completion.text.split("\n", 1)[0].rstrip()
    return {
        **score(got, pos),
        "ms": round(completion.timings.total_ms, 1),
        "prompt_tokens": completion.tokens.prompt,
        "new_tokens": completion.tokens.new,
        "stop_reason": completion.stop_reason,
        "multiline": completion.multiline,
        "chunks": len(completion.chunks),
        "sources": sorted(c.source for c in completion.chunks),
        "context_tokens": sum(c.tokens for c in completion.chunks),
        "context_ms": round(completion.timings.context_ms, 1),
        "confidence": completion.confidence.to_json() if completion.confidence else None,
    }


def make_pipelines(
    backend, base: CompletionService, repo: RepositoryContext, options: RealCodeOptions
) -> dict[str, Callable[[Position], dict]]:
    """The asked pipelines for one repository, in run order: name -> measure(position)."""
    relative = lambda path: repo.relative_path(path) or path  # noqa: E731
    plain = dataclasses.replace(base.generation, multiline=options.multiline)

    def service(
        indentation: str,
        placement: str = "repo",
        context: bool = False,
        layout: str = "stable",
        window: tuple[int, int] | None = None,
        provider=None,
    ):
        generation = dataclasses.replace(
            plain,
            indentation=indentation,
            context_placement=placement,
            context_when="always",
            layout=layout,
        )
        budgets = dataclasses.replace(
            base.budgets, context_tokens=options.context_tokens if context else 0
        )
        if window:
            budgets = dataclasses.replace(budgets, prefix_tokens=window[0], suffix_tokens=window[1])
        return CompletionService(
            backend=backend,
            budgets=budgets,
            generation=generation,
            repo_name=repo.repo_name,
            context_provider=(provider or repo.provider) if context else None,
            display_path=relative,
        )

    made: dict[str, Callable[[Position], dict]] = {}
    for name in PIPELINES:
        if name not in options.pipelines:
            continue
        if name == "naive":
            naive = service("model")
            made[name] = lambda pos, s=naive: naive_item(backend, s, repo, pos)
        elif name in BASE_SETTINGS:
            indentation, layout = BASE_SETTINGS[name]
            wide = options.wide_window if name == "cove-wide" else None
            cove = service(indentation, layout=layout, window=wide)
            made[name] = lambda pos, s=cove: cove_item(s, repo, pos, False)
        else:
            indentation, layout = BASE_SETTINGS[options.context_base]
            content = repo.variant(**CONTENT_OF[name]) if name in CONTENT_OF else None
            ctx = service(
                indentation, PLACEMENT_OF[name], context=True, layout=layout, provider=content
            )
            made[name] = lambda pos, s=ctx: cove_item(s, repo, pos, True)
    return made


def run_realcode(
    backend,
    base: CompletionService,
    ledger: Ledger,
    options: RealCodeOptions,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Measure every asked pipeline on every position (resumable); returns the summary."""
    from bench.repos import fetch_repo, load_repo_specs

    specs = [
        s for s in load_repo_specs(options.repos) if not options.only or s.name in options.only
    ]
    repos, groups = [], []
    saved = _load_plan(ledger, options, specs)
    for spec in specs:
        repo = RepositoryContext.open(fetch_repo(spec), tokenizer=backend)
        repo.build()
        repos.append((spec, repo))
        if saved is None:
            groups.append(repo_positions(repo, options.per_kind, spec.languages))
    if saved is None:
        _save_plan(ledger, options, specs, groups)
    plan = interleave(groups) if saved is None else saved
    started = time.perf_counter()
    pipelines = [make_pipelines(backend, base, repo, options) for _, repo in repos]
    asked = 0  # positions of the asked kinds seen so far
    for done, (number, pos) in enumerate(plan, start=1):
        spec, repo = repos[number]
        where = f"real/{spec.label}/{pos.path}:{pos.line + 1}:{pos.column}/{pos.kind}"
        if options.minutes and time.perf_counter() - started > options.minutes * 60:
            break  # the next run resumes here
        if pos.kind not in options.kinds:
            continue
        asked += 1
        if asked <= options.start:
            continue
        for name, measure in pipelines[number].items():
            key = f"{where}/{name}"
            if key in ledger.items:
                continue
            if name.startswith("ctx-") and (done - 1) % max(1, options.context_every):
                continue  # this position is measured without context only
            if name == "cove-hold" and pos.kind == "api" and f"{where}/cove" in ledger.items:
                # The cursor follows code: both settings render the same prompt and heal.
                same = {k: v for k, v in ledger.items[f"{where}/cove"].items() if k != "key"}
                same.update(pipeline=name, same_as="cove")
                ledger.measure(key, lambda same=same: same)
                continue
            meta = {
                "repo": spec.label,
                "path": pos.path,
                "line": pos.line + 1,
                "column": pos.column,
                "kind": pos.kind,
                "language": pos.language,
                "pipeline": name,
                "target": pos.target,
                "names": list(pos.names),
            }
            ledger.measure(key, lambda m=measure, p=pos, meta=meta: {**meta, **m(p)})
        if progress:
            progress(done, len(plan), "repos")
    gate = {}  # position -> whether the shipped gate (generation.contextWhen "api") adds context
    lines: dict[tuple[int, str], list[str]] = {}  # each file read once
    for number, pos in plan:
        spec, repo = repos[number]
        if (number, pos.path) not in lines:
            lines[number, pos.path] = (repo.root / pos.path).read_text("utf-8").split("\n")
        line = lines[number, pos.path][pos.line][: pos.column]
        gate[f"real/{spec.label}/{pos.path}:{pos.line + 1}:{pos.column}/{pos.kind}"] = (
            wants_context("api", line)
        )
    for _, repo in repos:
        repo.close()
    return report_tables(ledger.items.values(), options, gate)


def report_tables(items, options: RealCodeOptions, gate: dict[str, bool] | None = None) -> dict:
    """The summary of every asked pipeline (positions that all measured) and, when context
    ran on a subset only, of the pipelines without context on every position. With `gate`
    (position -> the shipped `contextWhen` gate's answer there), "ctx-api" is the first
    context pipeline where the gate adds context and the no-context one elsewhere.
    """
    items = list(items)
    pipelines = options.pipelines
    base = options.context_base
    context = next((p for p in pipelines if p.startswith("ctx-")), "")
    if base in pipelines and context:  # no extra model calls: both answers are measured
        items += confident_pick(items, base, context, "ctx-pick")
        pipelines = (*pipelines, "ctx-pick")
        if gate:
            items += gated_pick(items, base, context, "ctx-api", gate)
            pipelines = (*pipelines, "ctx-api")
    summary = summarize(items, pipelines, options.context_base)
    plain = tuple(p for p in options.pipelines if not p.startswith("ctx-"))
    if plain != options.pipelines:
        summary["without_context"] = summarize(items, plain, options.context_base)
    return summary


def _plan_key(options: RealCodeOptions, specs) -> str:
    return json.dumps([options.per_kind, [s.label for s in specs]])


def _load_plan(ledger: Ledger, options: RealCodeOptions, specs) -> list | None:
    """The positions chosen by an earlier run with the same repositories and counts (choosing
    them again reads and parses every file), or None.
    """
    if ledger.path is None or not ledger.path.with_suffix(".plan.json").exists():
        return None
    data = json.loads(ledger.path.with_suffix(".plan.json").read_text(encoding="utf-8"))
    if data.get("key") != _plan_key(options, specs):
        return None
    return [(n, Position(**{**f, "names": tuple(f["names"])})) for n, f in data["plan"]]


def _save_plan(ledger: Ledger, options: RealCodeOptions, specs, groups) -> None:
    if ledger.path is None:
        return
    plan = [[n, dataclasses.asdict(p)] for n, p in interleave(groups)]
    payload = {"key": _plan_key(options, specs), "plan": plan}
    ledger.path.with_suffix(".plan.json").write_text(json.dumps(payload), encoding="utf-8")


__all__ = ["KINDS", "RealCodeOptions", "run_realcode", "summarize", "write_report"]
