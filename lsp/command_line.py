"""What every command line of Cove shares (`cove`, `python -m bench`): usage errors,
logging, FILE:LINE[:COL] locations, settings from `--config` and flags, the common flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from lsp.settings import CoveSettings, parse_settings


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
