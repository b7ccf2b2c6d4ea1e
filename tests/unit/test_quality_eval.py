"""The real-code evaluation without the model: statistics, positions per kind, npm entries."""

from __future__ import annotations

import dataclasses
import io
import math
import tarfile
from pathlib import Path

import pytest

from bench import repos as benchrepos
from bench.evaluate import Position
from bench.positions import interleave, repo_positions, skipped_lines
from bench.realcode import score, summarize
from bench.repos import RepoFetchError, RepoSpec, fetch_repo, load_repo_specs
from bench.stats import discordant, identifier_match, mcnemar_exact, paired_ident_p
from context.retrieval.repository import RepositoryContext
from context.settings import ContextSettings
from tests.conftest import git

# -- McNemar -----------------------------------------------------------------------------


def test_mcnemar_exact_is_the_two_sided_binomial_on_discordant_pairs():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)  # 2 * C(5,0) / 2^5
    assert mcnemar_exact(1, 4) == pytest.approx(2 * (1 + 5) / 32)
    assert mcnemar_exact(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(3, 3) == 1.0  # capped: the two tails overlap at the middle
    # Against a direct sum over the binomial distribution.
    b, c = 7, 19
    n = b + c
    assert mcnemar_exact(b, c) == pytest.approx(
        2 * sum(math.comb(n, k) for k in range(b + 1)) / 2**n
    )


def test_discordant_pairs_count_each_side():
    assert discordant([True, True, False, False], [True, False, True, False]) == (1, 1)
    assert discordant([True, True, True], [False, False, True]) == (2, 0)
    with pytest.raises(ValueError):
        discordant([True], [])


# -- identifier match ----------------------------------------------------------------------


def test_identifier_match_is_the_share_of_cross_file_names_written():
    assert identifier_match('click.echo("x")', ("click", "echo")) == 1.0
    assert identifier_match('print("click echo")', ("click.echo",)) == 1.0  # parts of a.b
    assert identifier_match("echo_all()", ("echo", "Context")) == 0.0  # whole identifiers
    assert identifier_match("ctx = Context(obj)", ("echo", "Context")) == 0.5
    assert identifier_match("anything", ()) is None


def test_identifier_sign_test_counts_positions_with_more_and_fewer_names():
    rows = {
        "a": {"x": {"ident": 1.0}, "y": {"ident": 0.5}},
        "b": {"x": {"ident": 1.0}, "y": {"ident": 0.0}},
        "c": {"x": {"ident": 0.0}, "y": {"ident": 1.0}},
        "d": {"x": {"ident": 0.5}, "y": {"ident": 0.5}},  # a tie: not counted
        "e": {"x": {"ident": None}, "y": {"ident": None}},  # no cross-file names
        "f": {"x": {"ident": 1.0}},  # unpaired
    }
    assert paired_ident_p(rows, "x", "y") == (mcnemar_exact(2, 1), 2, 1)
    assert paired_ident_p(rows, "y", "x")[1:] == (1, 2)


def test_score_judges_the_text_inserted_at_the_cursor():
    pos = Position("a.py", 3, 4, "run(Client())", ("run", "Client"))
    assert score("run(Client())", pos)["exact"]
    spaced = score("    run(Client())", pos)  # the model's own indentation, kept
    assert not spaced["exact"] and spaced["exact_ws"] and spaced["similarity"] == 1.0
    empty = score("", pos)
    assert not empty["exact"] and empty["ident"] == 0.0 and empty["similarity"] == 0.0


def test_summary_pairs_positions_and_tests_against_naive_and_no_context():
    items = []
    # 8 positions: cove-hold right on all, cove right on 2, naive on 1.
    for n in range(8):
        for name, right in (("naive", n == 0), ("cove", n < 2), ("cove-hold", True)):
            items.append(
                {
                    "key": f"real/r-1/a.py:{n}:4/line/{name}",
                    "pipeline": name,
                    "language": "python",
                    "kind": "line",
                    "exact": right,
                    "got": "x" if right else "",
                    "similarity": 1.0 if right else 0.0,
                    "ident": None,
                    "ms": 10.0,
                }
            )
    items.append({**items[0], "key": "real/r-1/a.py:99:4/line/naive"})  # unpaired: left out
    summary = summarize(items, ("naive", "cove", "cove-hold"))
    assert summary["positions"] == 8 and summary["measured"] == 9
    row = summary["table"]["python/line"]
    assert row["naive"]["n"] == 8 and row["naive"]["em"] == 1 / 8
    assert row["naive"]["empty"] == 7 / 8
    hold = row["cove-hold"]
    assert (hold["wins_naive"], hold["losses_naive"]) == (7, 0)
    assert hold["p_naive"] == pytest.approx(mcnemar_exact(7, 0))
    assert (hold["wins_nocontext"], hold["losses_nocontext"]) == (6, 0)  # against cove
    assert "p_nocontext" not in row["cove"]
    assert summary["table"]["all/line"]["cove"]["em"] == 2 / 8


# -- positions per kind on a tiny repository ----------------------------------------------------

UTIL = '''"""Helpers."""


def helper(value):
    return value * 2


class Client:
    def send(self, payload):
        return payload
'''

MAIN = '''"""Uses the helpers.

helper(1) inside a docstring is no target.
"""

from pkg.util import Client, helper
import os


def run(items):
    # helper(2) in a comment is no target either
    total = helper(len(items))
    client = Client()
    client.send(total)
    path = os.path.join("a", "b")
    return Client.send(client, total + 1)
'''

TS_LIB = """export function parse(text: string): number {
  return Number(text);
}
"""

TS_USE = """import { parse } from './lib';

// parse(comment) is no target
export function total(values: string[]): number {
  let sum = 0;
  for (const value of values) {
    sum += parse(value);
  }
  return sum;
}
"""


@pytest.fixture()
def tiny_repo(tmp_path: Path):
    root = tmp_path / "tiny"
    files = {
        "pkg/__init__.py": "",
        "pkg/util.py": UTIL,
        "pkg/main.py": MAIN,
        "web/lib.ts": TS_LIB,
        "web/use.ts": TS_USE,
        "web/types.d.ts": "export declare function parse(text: string): number;\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "tiny")
    repo = RepositoryContext.open(root, ContextSettings(index_dir=str(tmp_path / "index")))
    repo.build()
    yield repo
    repo.close()


def test_positions_of_each_kind_come_from_cross_file_lines(tiny_repo):
    groups = repo_positions(tiny_repo, 5, ("python",))
    positions = [p for group in groups for p in group]
    assert {p.path for p in positions} == {"pkg/main.py"}  # util.py imports nothing of ours
    by_kind = {p.kind: p for p in positions}
    assert set(by_kind) == {"line", "api", "control"}
    lines = MAIN.split("\n")
    line = by_kind["line"]
    assert line.target == lines[line.line].strip() and line.column == 4
    assert line.target in (
        "total = helper(len(items))",
        "client = Client()",
        "return Client.send(client, total + 1)",
    )
    api = by_kind["api"]
    cut = lines[api.line][: api.column]
    assert cut.endswith(("helper(", "Client(", "Client.")), cut
    assert api.target == lines[api.line][api.column :]
    for pos in positions:  # never a docstring, comment or import line
        text = lines[pos.line]
        assert "docstring" not in text and "#" not in text and "import" not in text
    assert by_kind["control"].line != line.line  # the control line is another line


def test_api_target_names_are_its_cross_file_identifiers(tiny_repo):
    groups = repo_positions(tiny_repo, 5, ("python",), seed=3)
    for pos in (p for g in groups for p in g):
        if pos.target.startswith("send("):
            assert pos.names == ("send",)  # `Client.send`: the attribute, defined in util.py
        for name in pos.names:
            assert name in pos.target


def test_positions_in_typescript_skip_comments_and_declarations(tiny_repo):
    positions = [p for g in repo_positions(tiny_repo, 5, ("typescript",)) for p in g]
    assert positions and {p.path for p in positions} == {"web/use.ts"}
    line = next(p for p in positions if p.kind == "line")
    assert line.target == "sum += parse(value);" and line.names == ("parse",)
    assert line.language == "typescript"


def test_skipped_lines_per_language():
    assert skipped_lines(MAIN, "python") >= {1, 2, 5, 6, 10}
    ts = skipped_lines(TS_USE, "typescript")
    assert {0, 2} <= ts and 6 not in ts


def test_interleave_takes_one_file_group_per_repository_in_turn():
    a = [[Position("a1", 1, 0, "x", ())], [Position("a2", 1, 0, "x", ())]]
    b = [[Position("b1", 1, 0, "x", ()), Position("b1", 5, 0, "y", ())]]
    order = [(n, p.path) for n, p in interleave([a, b])]
    assert order == [(0, "a1"), (1, "b1"), (1, "b1"), (0, "a2")]


# -- npm entries in the list ---------------------------------------------------------------


def test_list_entries_take_a_source_languages_and_excluded_folders(tmp_path: Path):
    listing = tmp_path / "repos.toml"
    listing.write_text(
        '[[repo]]\nname = "rxjs"\nversion = "7.8.1"\nsource = "npm"\n'
        'languages = ["typescript"]\nexclude = ["dist"]\n'
    )
    (spec,) = load_repo_specs(listing)
    assert (spec.source, spec.languages, spec.exclude) == ("npm", ("typescript",), ("dist",))
    listing.write_text('[[repo]]\nname = "x"\nversion = "1"\nsource = "cargo"\n')
    with pytest.raises(RepoFetchError, match="source"):
        load_repo_specs(listing)
    listing.write_text('[[repo]]\nname = "x"\nversion = "1"\nlanguages = "rust"\n')
    with pytest.raises(RepoFetchError, match="must be a list"):
        load_repo_specs(listing)


def test_shipped_list_has_three_languages_beyond_python():
    specs = load_repo_specs()
    languages = {lang for spec in specs for lang in spec.languages}
    assert {"python", "typescript", "javascript", "rust"} <= languages
    assert any(spec.source == "npm" for spec in specs)


def test_npm_tarball_is_packed_checked_and_stripped(tmp_path: Path, monkeypatch):
    archive = tmp_path / "demo-1.0.0.tgz"
    with tarfile.open(archive, "w:gz") as handle:
        for path, text in {
            "package/src/a.ts": "export const A = 1;\n",
            "package/dist/a.js": "x",
        }.items():
            info = tarfile.TarInfo(path)
            info.size = len(text)
            handle.addfile(info, io.BytesIO(text.encode()))
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        (Path(kwargs["cwd"]) / archive.name).write_bytes(archive.read_bytes())
        return benchrepos.subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(benchrepos.subprocess, "run", run)
    spec = RepoSpec(name="demo", version="1.0.0", source="npm", exclude=("dist",))
    folder = tmp_path / "dl"
    folder.mkdir()
    got = benchrepos._download(spec, folder)
    assert commands[0][:3] == ["npm", "pack", "demo@1.0.0"] and got.name == archive.name
    monkeypatch.undo()

    def copy(spec, into):
        (into / archive.name).write_bytes(archive.read_bytes())
        return into / archive.name

    monkeypatch.setattr(benchrepos, "_download", copy)
    root = fetch_repo(spec, tmp_path / "cache")
    assert (root / "src" / "a.ts").exists() and not (root / "dist").exists()


# -- the runner, with a backend that answers from the file itself ------------------------------


class EchoBackend:
    """A healing backend that writes the first line after the prompt's cursor-line seed as
    the file has it: answers are right where the prompt shows enough, so the runner's
    plumbing (pipelines, ledger, resume, report) is tested without a model.
    """

    heals = True
    model_name = "echo"

    def __init__(self, answers: dict[str, str]):
        from engine.templates import QWEN

        self.template = QWEN
        self.answers = answers
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def submit(self, request):
        import concurrent.futures

        from engine.types import GenerationResult, TokenCounts

        self.prompts.append(request.prompt)
        text = request.heal + self.answers.get("next", "")
        done: concurrent.futures.Future = concurrent.futures.Future()
        tokens = TokenCounts(prompt=self.count_tokens(request.prompt), reused=0, generated=3)
        result = GenerationResult(
            text=text, stop_reason="eos", tokens=tokens, prefill_ms=1.0, generate_ms=2.0
        )
        done.set_result(result)
        return done


def _listing(tiny_repo, tmp_path: Path) -> Path:
    """A repository list (TOML) of the tiny repository alone."""
    listing = tmp_path / "repos.toml"
    listing.write_text(
        f'[[repo]]\nname = "tiny"\npath = "{tiny_repo.root}"\nlanguages = ["python"]\n'
    )
    return listing


def test_runner_measures_every_pipeline_once_and_resumes(tiny_repo, tmp_path: Path):
    from bench.quality import Ledger
    from bench.realcode import RealCodeOptions, run_realcode
    from context.completion import CompletionService

    listing = _listing(tiny_repo, tmp_path)
    backend = EchoBackend({"next": "x = 1"})
    options = RealCodeOptions(
        per_kind=2,
        repos=listing,
        pipelines=("naive", "cove", "cove-hold", "ctx-suffix", "ctx-prefix"),
    )
    ledger = Ledger(tmp_path / "items.jsonl")
    summary = run_realcode(backend, CompletionService(backend=backend), ledger, options)
    assert summary["positions"] == 3  # one of each kind from pkg/main.py
    kinds = {item["kind"] for item in ledger.items.values()}
    assert kinds == {"line", "api", "control"}
    api_hold = next(
        i for i in ledger.items.values() if i["kind"] == "api" and i["pipeline"] == "cove-hold"
    )
    assert api_hold["same_as"] == "cove" and api_hold["key"].endswith("/cove-hold")
    asked = len(backend.prompts)
    assert asked == 3 * 5 - 1  # the api position's cove-hold is cove's answer
    again = run_realcode(
        backend, CompletionService(backend=backend), Ledger(tmp_path / "items.jsonl", True), options
    )
    assert len(backend.prompts) == asked and again["positions"] == 3  # nothing measured twice
    line = again["table"]["python/line"]
    assert set(line) == {*options.pipelines, "ctx-pick", "ctx-api"} and line["cove"]["n"] == 1
    # The shipped gate's variant: context where the cursor follows `name.` or `name(` only.
    from bench.realcode import gated_pick

    gate = {k.rsplit("/", 1)[0]: "/api" in k for k in ledger.items}
    picked = {
        i["kind"]: i["picked"]
        for i in gated_pick(ledger.items.values(), "cove-hold", "ctx-suffix", "ctx-api", gate)
    }
    assert picked == {"api": "ctx-suffix", "line": "cove-hold", "control": "cove-hold"}
    # Held indentation: the suggestion starts at the cursor, as the healed backend writes it.
    hold = next(
        i for i in ledger.items.values() if i["kind"] == "line" and i["pipeline"] == "cove-hold"
    )
    assert hold["got"] == "x = 1"
    placed = [p for p in backend.prompts if "# Path: pkg/util.py" in p]
    assert any(
        p.startswith("<|fim_prefix|># Path: ") and "pkg/util.py" in p.split("<|fim_suffix|>")[0]
        for p in placed
    )  # ctx-prefix
    assert any("# Path: pkg/util.py" in p.split("<|fim_suffix|>")[1] for p in placed)  # suffix


def test_runner_start_skips_the_first_positions_of_the_asked_kinds(tiny_repo, tmp_path: Path):
    from bench.quality import Ledger
    from bench.realcode import RealCodeOptions, run_realcode
    from context.completion import CompletionService

    listing = _listing(tiny_repo, tmp_path)
    backend = EchoBackend({"next": "x = 1"})
    every = RealCodeOptions(per_kind=2, repos=listing, pipelines=("naive",))
    whole = Ledger(tmp_path / "all.jsonl")
    run_realcode(backend, CompletionService(backend=backend), whole, every)
    order = [i["kind"] for i in whole.items.values()]  # the plan's order
    later = dataclasses.replace(every, kinds=("line", "control"), start=1)
    ledger = Ledger(tmp_path / "later.jsonl")
    run_realcode(backend, CompletionService(backend=backend), ledger, later)
    line_starts = [k for k in order if k != "api"]
    assert [i["kind"] for i in ledger.items.values()] == line_starts[1:]


def test_cove_wide_pairs_another_window_on_the_same_positions(tiny_repo, tmp_path: Path):
    from bench.quality import Ledger
    from bench.realcode import RealCodeOptions, run_realcode
    from context.completion import CompletionService
    from context.window import BudgetSettings

    listing = _listing(tiny_repo, tmp_path)
    backend = EchoBackend({"next": "x = 1"})
    options = RealCodeOptions(
        per_kind=2, repos=listing, pipelines=("cove", "cove-wide"), wide_window=(1024, 384)
    )
    narrow = BudgetSettings(prefix_tokens=4, suffix_tokens=4)  # a line or two either side
    service = CompletionService(backend=backend, budgets=narrow)
    ledger = Ledger(tmp_path / "items.jsonl")
    summary = run_realcode(backend, service, ledger, options)
    assert summary["positions"] == 3
    by_pipeline: dict[str, list[int]] = {"cove": [], "cove-wide": []}
    for item in ledger.items.values():
        by_pipeline[item["pipeline"]].append(item["prompt_tokens"])
    # Each position once per pipeline; the wide window's prompt holds more of the file.
    assert len(by_pipeline["cove"]) == len(by_pipeline["cove-wide"]) == 3
    assert all(w > n for n, w in zip(by_pipeline["cove"], by_pipeline["cove-wide"], strict=True))
    prompts = backend.prompts
    assert len(prompts) == 6 and all(len(prompts[i + 1]) > len(prompts[i]) for i in (0, 2, 4))


def test_window_budgets_read_two_positive_token_counts():
    import argparse

    from bench.arguments import window_budgets

    assert window_budgets("512,128") == (512, 128)
    for bad in ("512", "a,b", "0,128", "512,128,1"):
        with pytest.raises(argparse.ArgumentTypeError):
            window_budgets(bad)
