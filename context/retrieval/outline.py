"""How a definition or a file is shown as context: signatures, not whole bodies.

A small model gains little from whole bodies pasted before the file; a signature tells it
the name, the parameters and the return type in a few tokens. A class is shown as its
header, its fields and its members' signatures; a file as its top-level signatures.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

from context.index.store import SymbolRecord
from context.index.tags import TYPE_KINDS

FIELD = re.compile(r"^\s*[A-Za-z_]\w*\s*(?::[^=]+)?=|^\s*[A-Za-z_]\w*\s*:\s*\S")
LinesOf = Callable[[str, int, int], list[str]]  # (path, start, end) → lines, 1-based inclusive


def is_python(path: str) -> bool:
    """True for Python sources (their stubs end with `...`)."""
    return path.endswith((".py", ".pyi"))


def compact(signature: str, max_chars: int = 200) -> str:
    """A multi-line signature on one line (tokens are the budget), cut at `max_chars`."""
    lines = signature.rstrip().split("\n")
    indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
    text = " ".join(ln.strip() for ln in lines if ln.strip())
    text = re.sub(r"([(\[{]) ", r"\1", text)
    text = re.sub(r",? ([)\]}])", r"\1", text)
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + " ..."
    return indent + text


def stub(signature: str, path: str, kind: str = "function") -> str:
    """A signature closed as a declaration: `def f(x): ...` / `fn f() { ... }`.

    Function signatures are put on one line; a type's text (a struct with its fields) stays.
    """
    text = signature.rstrip() if kind in TYPE_KINDS else compact(signature)
    if is_python(path) and text.endswith(":"):
        return text + " ..."
    if text.endswith("{"):
        return text + " ... }"
    return text


def outermost(symbols: list[SymbolRecord]) -> list[SymbolRecord]:
    """Symbols not nested in another one, in line order (one sweep, not a pairwise test)."""
    out: list[SymbolRecord] = []
    covered = 0
    for sym in sorted(symbols, key=lambda s: (s.start_line, -s.end_line)):
        if sym.start_line > covered:
            out.append(sym)
            covered = max(covered, sym.end_line)
    return out


def _direct_members(record: SymbolRecord, symbols: list[SymbolRecord]) -> list[SymbolRecord]:
    inside = [
        s
        for s in symbols
        if record.start_line <= s.start_line and s.end_line <= record.end_line and s != record
    ]
    return outermost(inside)


def _fields(
    record: SymbolRecord, members: list[SymbolRecord], lines: list[str], limit: int
) -> list[tuple[int, str]]:
    """Class-level assignments (dataclass fields, constants) outside any member."""
    header = record.signature.count("\n") + 1
    body = [(record.start_line + i, ln) for i, ln in enumerate(lines) if i >= header and ln.strip()]
    if not body:
        return []
    indent = len(body[0][1]) - len(body[0][1].lstrip())
    out = []
    for number, line in body:
        if len(line) - len(line.lstrip()) != indent or any(
            m.start_line <= number <= m.end_line for m in members
        ):
            continue
        if FIELD.match(line) and not line.lstrip().startswith(("return", "if ", "for ", "while ")):
            out.append((number, line.rstrip()))
        if len(out) >= limit:
            break
    return out


def class_outline(
    record: SymbolRecord,
    symbols: list[SymbolRecord],
    lines_of: LinesOf,
    max_members: int,
    focus: frozenset[str] = frozenset(),
) -> str:
    """Header, fields and member signatures of a class-like definition, in source order."""
    if record.signature.count("\n") + 1 >= record.end_line - record.start_line + 1:
        return textwrap.dedent(record.signature)  # a short type was captured whole
    members = _direct_members(record, symbols)
    # Members named near the cursor first, then public ones in source order.
    public = [m for m in members if not m.name.startswith("_") or m.name == "__init__"]
    wanted = [m for m in members if m.name in focus]
    shown = list(dict.fromkeys(wanted + (public or members)))[:max_members]
    shown.sort(key=lambda m: m.start_line)
    lines = lines_of(record.path, record.start_line, record.end_line)
    items = _fields(record, members, lines, max_members) + [
        (m.start_line, stub(m.signature, m.path, m.kind)) for m in shown
    ]
    parts = [record.signature.rstrip()] + [text for _, text in sorted(items)]
    if not is_python(record.path) and record.signature.rstrip().endswith("{"):
        parts.append(
            record.signature[: len(record.signature) - len(record.signature.lstrip())] + "}"
        )
    return textwrap.dedent("\n".join(parts))


def definition_text(
    record: SymbolRecord,
    symbols: list[SymbolRecord],
    lines_of: LinesOf,
    *,
    max_members: int,
    body_lines: int,
    focus: frozenset[str] = frozenset(),
) -> str:
    """What one definition shows: a class outline, or a signature (plus `body_lines`).

    `focus`: names used near the cursor; a class shows those members first.
    """
    if record.kind in TYPE_KINDS:
        return class_outline(record, symbols, lines_of, max_members, focus)
    header = record.signature.count("\n") + 1
    if body_lines > 0 and record.end_line - record.start_line + 1 > header:
        lines = lines_of(
            record.path,
            record.start_line,
            min(record.end_line, record.start_line + header + body_lines - 1),
        )
        return textwrap.dedent("\n".join(lines))
    return textwrap.dedent(stub(record.signature, record.path, record.kind))


def file_outline(
    path: str, symbols: list[SymbolRecord], names: set[str] | None, max_items: int
) -> tuple[str, int, int]:
    """Top-level signatures of a file (only `names` when given): text, first and last line."""
    top = outermost(symbols)
    if names:
        top = [s for s in top if s.name in names] or top
    top = top[:max_items]
    if not top:
        return "", 0, 0
    text = "\n".join(textwrap.dedent(stub(s.signature, path, s.kind)) for s in top)
    return text, top[0].start_line, max(s.end_line for s in top)


def best_window(
    lines: list[str],
    first_line: int,
    query: set[str],
    size: int,
    terms_of: Callable[[str], list[str]],
) -> tuple[int, int]:
    """The `size`-line stretch of `lines` sharing the most terms with `query` (1-based)."""
    if len(lines) <= size:
        return first_line, first_line + len(lines) - 1
    hits = [len(query.intersection(terms_of(ln))) for ln in lines]
    best, best_at = -1, 0
    running = sum(hits[:size])
    for at in range(len(lines) - size + 1):
        if at:
            running += hits[at + size - 1] - hits[at - 1]
        if running > best:
            best, best_at = running, at
    return first_line + best_at, first_line + best_at + size - 1
