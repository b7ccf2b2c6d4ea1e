"""`cove`: the command line, a second front door beside the LSP server.

It parses arguments, calls the same services the server uses, and prints. Errors a user
can act on are one sentence on stderr and exit code 2; nothing is ever written on them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import sys
from pathlib import Path

from engine.backends import open_backend
from lsp.assist_commands import cmd_commit_message, cmd_explain, cmd_install_hook
from lsp.command_line import (
    UsageError,
    add_common_options,
    load_cli_settings,
    parse_location,
    progress_bar,
    read_source,
    setup_logging,
    to_position,
)

log = logging.getLogger("cove")


def cmd_complete(args: argparse.Namespace) -> int:
    """Print the suggestion for FILE:LINE:COL."""
    from context.completion import CompletionService

    path, line, column = parse_location(args.location)
    text = read_source(path)
    line0, col0 = to_position(text, line, column)
    settings = load_cli_settings(args)
    backend = open_backend(settings.model, settings.backend)
    service = CompletionService(
        backend=backend, budgets=settings.budget, generation=settings.generation
    )
    repo = None
    if not args.no_context and settings.context.enabled and settings.budget.context_tokens > 0:
        from context.retrieval.repository import RepositoryContext

        repo = RepositoryContext.open(path.resolve().parent, settings.context, backend)
        repo.build()  # incremental: a second run on an unchanged repository parses nothing
        service.context_provider, service.repo_name = repo.provider, repo.repo_name
    shown_path = repo.relative_path(path.resolve()) if repo else None
    completion = service.complete(
        text,
        shown_path or path.name,
        line0,
        col0,
        use_context=not args.no_context,
        alternatives=max(0, min(args.alternatives, 4)),
    )
    if repo is not None:
        repo.close()
    log.info(
        "complete %s:%d:%d tokens prompt=%d reused=%d generated=%d ms context=%.0f prefill=%.0f "
        "generate=%.0f confidence=%s",
        path,
        line,
        col0 + 1,
        completion.tokens.prompt,
        completion.tokens.reused,
        completion.tokens.generated,
        completion.timings.context_ms,
        completion.timings.prefill_ms,
        completion.timings.generate_ms,
        f"{completion.confidence.score:.3f}" if completion.confidence else "unknown",
    )
    if args.json:
        payload = completion.to_json()
        payload["timings"]["load_ms"] = round(backend.load_ms, 1)
        print(json.dumps(payload, indent=2))
    elif args.alternatives:
        for choice in completion.choices():  # greedy first, each ended by a rule
            print(f"{choice.text}\n---")
    else:
        print(completion.text)
    backend.close()
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """Build (or bring up to date) the index of DIR's repository, with a progress bar."""
    from context.retrieval.repository import RepositoryContext

    root = Path(args.dir)
    if not root.exists():
        raise UsageError(f"{root}: no such folder.")
    settings = load_cli_settings(args)
    repo = RepositoryContext.open(root, settings.context)
    try:
        stats = repo.build(lambda done, total, _path: progress_bar(done, total, "indexing"))
    finally:
        repo.close()
    rate = stats.files / stats.seconds if stats.seconds else 0.0
    print(
        f"{repo.root}: {stats.files} files indexed, {stats.parsed} parsed, {stats.removed} removed, "
        f"in {stats.seconds:.2f} s ({rate:.0f} files/s)"
    )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the model and the runtime; exit non-zero with a one-line fix when broken."""
    from lsp.model_commands import doctor_local, doctor_remote

    settings = load_cli_settings(args)
    if settings.backend.type != "local":
        return doctor_remote(settings)
    return doctor_local(settings.model)


def cmd_model(args: argparse.Namespace) -> int:
    """`cove model list` / `cove model use NAME|PATH`."""
    from lsp.model_commands import model_list, model_use

    if args.model_command == "use":
        return model_use(args.name)
    return model_list(load_cli_settings(args).model)


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their flags."""
    parser = argparse.ArgumentParser(
        prog="cove", description="Cove: a private, local coding assistant."
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    parser.add_argument("--log-file", help="also write logs to this file")
    sub = parser.add_subparsers(dest="command", required=True)

    complete = sub.add_parser("complete", help="print a completion for FILE:LINE:COL (1-based)")
    complete.add_argument("location", help="FILE:LINE:COL, 1-based")
    add_common_options(complete)
    complete.add_argument(
        "--json", action="store_true", help="print text, timings, tokens, model, template, context"
    )
    complete.add_argument("--max-tokens", type=int, help="cap on generated tokens")
    complete.add_argument(
        "--alternatives",
        type=int,
        default=0,
        metavar="N",
        help="also up to N (at most 4) other suggestions (from the next most likely first tokens)",
    )
    # One-shot use has no next keystroke to finish a cut-short prompt: wait for a cold start.
    complete.add_argument(
        "--deadline-ms", type=int, default=120000, help="time limit (default 120000)"
    )
    mode = complete.add_mutually_exclusive_group()
    mode.add_argument("--single-line", dest="multiline", action="store_const", const="never")
    mode.add_argument("--multi-line", dest="multiline", action="store_const", const="always")
    complete.add_argument(
        "--no-context", action="store_true", help="no repository context (ablation)"
    )
    complete.set_defaults(func=cmd_complete)

    index = sub.add_parser("index", help="build or update the repository index of DIR")
    index.add_argument(
        "dir", nargs="?", default=".", help="a folder in the repository (default: .)"
    )
    add_common_options(index)
    index.set_defaults(func=cmd_index)

    doctor = sub.add_parser("doctor", help="check the model and runtime")
    add_common_options(doctor)
    doctor.set_defaults(func=cmd_doctor)

    model = sub.add_parser("model", help="list the model presets, or choose the default model")
    verbs = model.add_subparsers(dest="model_command", required=True)
    listing = verbs.add_parser("list", help="presets: installed, size, verified, template, where")
    add_common_options(listing)
    use = verbs.add_parser("use", help="make NAME (a preset, a .gguf path, or auto) the default")
    use.add_argument("name", help="auto, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, or a GGUF path")
    model.set_defaults(func=cmd_model)

    explain = sub.add_parser("explain", help="explain FILE:START[-END] (1-based lines) in Markdown")
    explain.add_argument(
        "location", help="FILE:START[-END], 1-based; START alone explains the definition there"
    )
    add_common_options(explain)
    explain.set_defaults(func=cmd_explain)

    commit = sub.add_parser("commit-message", help="print a commit message for the staged changes")
    commit.add_argument(
        "--repo", default=".", help="the repository (default: the current directory)"
    )
    commit.add_argument("--all", action="store_true", help="describe staged and unstaged changes")
    add_common_options(commit)
    commit.set_defaults(func=cmd_commit_message)

    hook = sub.add_parser(
        "install-hook", help="install a prepare-commit-msg hook that drafts empty messages"
    )
    hook.add_argument("--repo", default=".", help="the repository (default: the current directory)")
    hook.set_defaults(func=cmd_install_hook)

    bench = sub.add_parser(
        "bench", add_help=False, help="benchmarks, from a checkout (python -m bench --help)"
    )
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)

    serve = sub.add_parser("serve", help="run the language server on stdio")
    add_common_options(serve)
    serve.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    serve.add_argument(
        "--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (debugging)"
    )
    serve.set_defaults(func=cmd_serve)
    return parser


def cmd_bench(args: argparse.Namespace) -> int:
    """Hand over to the benchmarks, which live in the checkout's `bench/` (not in the wheel)."""
    # Looked up by name: the benchmarks depend on Cove, never the other way round.
    checkout = Path(__file__).resolve().parents[1]
    if importlib.util.find_spec("bench") is None:
        if not (checkout / "bench" / "cli.py").is_file():
            raise UsageError(
                "the benchmarks are not installed with Cove: run `python -m bench` in a checkout."
            )
        sys.path.insert(0, str(checkout))
    return importlib.import_module("bench.cli").main(args.rest)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the language server."""
    from lsp.server import run_server

    return run_server(load_cli_settings(args), tcp=getattr(args, "tcp", None))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cove` console script."""
    from engine.types import CompletionError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # everything after `bench` is the benchmarks' own command line
        args = argparse.Namespace(verbose=0, log_file=None, func=cmd_bench, rest=argv[1:])
    else:
        args = parser.parse_args(argv)
    setup_logging(args.verbose, args.log_file)
    try:
        return args.func(args)
    except (UsageError, CompletionError) as error:
        print(f"cove: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
