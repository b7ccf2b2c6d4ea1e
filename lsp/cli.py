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
from lsp.settings import CoveSettings, parse_settings

log = logging.getLogger("cove")


class UsageError(Exception):
    """Bad input on the command line: printed as one sentence, exit code 2."""


def setup_logging(verbosity: int, log_file: str | None) -> None:
    """Logs go to stderr (never stdout, which may be the LSP transport) and optionally a file."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        handlers[-1].setLevel(logging.DEBUG)
        level = min(level, logging.INFO)
    logging.basicConfig(
        level=level,
        handlers=handlers,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        force=True,
    )


def parse_location(spec: str) -> tuple[Path, int, int | None]:
    """`FILE:LINE[:COL]` (1-based) → path, line, column (None when absent)."""
    parts = spec.rsplit(":", 2)
    try:
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return Path(parts[0]), int(parts[1]), int(parts[2])
        if len(parts) >= 2 and parts[-1].isdigit():
            return Path(spec.rsplit(":", 1)[0]), int(parts[-1]), None
    except ValueError:
        pass
    raise UsageError(f"{spec!r} is not FILE:LINE:COL (1-based numbers).")


def read_source(path: Path) -> str:
    """The file's text; refuses directories, missing and binary files; warns on bad UTF-8."""
    if not path.exists():
        raise UsageError(f"{path}: no such file.")
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a file.")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise UsageError(f"{path} looks like a binary file; Cove completes text files only.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        print(
            f"cove: warning: {path} is not valid UTF-8; undecodable bytes were replaced.",
            file=sys.stderr,
        )
        return data.decode("utf-8", errors="replace")


def to_position(text: str, line: int, column: int | None) -> tuple[int, int]:
    """1-based (line, column) → 0-based; column defaults to the end of the line."""
    lines = text.split("\n")
    if line < 1 or line > len(lines):
        raise UsageError(f"line {line} is out of range: the file has {len(lines)} lines.")
    length = len(lines[line - 1].rstrip("\r"))
    col = length + 1 if column is None else column
    if col < 1 or col > length + 1:
        raise UsageError(
            f"column {col} is out of range: line {line} has {length} characters (columns 1-{length + 1})."
        )
    return line - 1, col - 1


def progress_bar(done: int, total: int, label: str) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r{label:<12} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def load_cli_settings(args: argparse.Namespace) -> CoveSettings:
    """Settings from `--config` JSON plus flags; problems are warnings, defaults kept."""
    data: dict = {}
    if getattr(args, "config", None):
        try:
            data = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot read settings file {args.config}: {error}.") from None
    settings, problems = parse_settings(data)
    overrides: dict = {"model": {}, "generation": {}, "backend": {}}
    if getattr(args, "backend", None):
        overrides["backend"]["type"] = args.backend
    if getattr(args, "url", None):
        overrides["backend"]["url"] = args.url
    if getattr(args, "remote_model", None):
        overrides["backend"]["model"] = args.remote_model
    if getattr(args, "allow_remote", False):
        overrides["backend"]["allowRemote"] = True
    if getattr(args, "model", None):  # a preset name (or auto) or a GGUF path
        from engine.local.presets import PRESET_NAMES

        key = "name" if args.model in (*PRESET_NAMES, "auto") else "path"
        overrides["model"][key] = args.model
    if getattr(args, "max_tokens", None):
        overrides["generation"]["maxTokens"] = args.max_tokens
    if getattr(args, "multiline", None):
        overrides["generation"]["multiline"] = args.multiline
    if getattr(args, "deadline_ms", None):
        overrides["generation"]["deadlineMs"] = args.deadline_ms
    settings, more = parse_settings(overrides, settings)
    for problem in problems + more:
        print(f"cove: warning: {problem}", file=sys.stderr)
    return settings


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


def add_common_options(p: argparse.ArgumentParser) -> None:
    """The flags every subcommand takes: logging, model, settings file, backend."""
    p.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging"
    )
    p.add_argument("--log-file", default=argparse.SUPPRESS, help="also write logs to this file")
    p.add_argument(
        "--model",
        help="a preset (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, auto) or a GGUF file (default: auto)",
    )
    p.add_argument(
        "--config", help="a JSON file with settings (the same keys as initializationOptions)"
    )
    p.add_argument(
        "--backend",
        choices=("local", "openai", "llama-server"),
        help="where completions run: the embedded model (default) or a server",
    )
    p.add_argument(
        "--url", help="the server for --backend openai/llama-server, e.g. http://127.0.0.1:8012"
    )
    p.add_argument("--remote-model", help="model name on the server (default: the first it lists)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a server on another machine (code and context leave this one)",
    )


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their flags."""
    from lsp.assist_commands import cmd_commit_message, cmd_explain, cmd_install_hook

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
