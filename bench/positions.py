"""Positions of the real-code evaluation, in three kinds, from real repositories.

- "line": the start of a line (after its indentation) that uses a name imported from another
  file of the repository; the model writes the whole line.
- "api": on such a line, right after a `.` or `(` that follows such a name (API completion);
  the model writes the rest of the line.
- "control": a random statement line, cursor after its indentation.

Every language the index reads is handled the same way: tree-sitter marks comments,
multi-line strings and imports (never targets), the import parser names what a file takes
from the repository. Choices are seeded per file, so any run sees the same positions.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from bench.evaluate import Position
from context.retrieval.imports import parse_imports, resolve_import
from context.retrieval.repository import RepositoryContext
from context.syntax.languages import COMMENTS, STRINGS, language_for, parse

KINDS = ("line", "api", "control")
IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
# String literals and trailing comments, blanked before names are read off a line.
CODE_NOISE = re.compile(
    r"""[rbfuRBFU]*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`)|(?:#|//).*$"""
)
QUALIFIED = re.compile(r"\b([A-Za-z_$][\w$]*)\s*(?:\.|::)\s*([A-Za-z_$][\w$]*)")
SKIP_LINE = re.compile(
    r"""^\s*(#|//|/\*|\*|@|"""
    r"""(import|from|use|package|export\s+\*|export\s+\{)[\s{]|"""
    r'''"""|'''
    r"""'''|[)\]}]|(else|try|finally|do)\b\s*[:{]?\s*$|pass$|(return|break|continue);?$)"""
)
IMPORT_NODES = {
    "import_statement",
    "import_from_statement",
    "future_import_statement",
    "use_declaration",
    "import_declaration",
    "package_declaration",
    "extern_crate_declaration",
}
MIN_LINE, MAX_LINE = 8, 120


def skipped_lines(text: str, language: str) -> set[int]:
    """0-based lines that are no code to predict: comments, the inside of multi-line strings
    (docstrings), imports.
    """
    tree = parse(text, language)
    skip: set[int] = set()
    stack = [tree.root_node] if tree is not None else []
    lines = text.split("\n")
    while stack:
        node = stack.pop()
        first, last = node.start_point[0], node.end_point[0]
        if node.type in IMPORT_NODES:
            skip.update(range(first, last + 1))
        elif node.type in COMMENTS:
            alone = lines[first][: node.start_point[1]].strip() == ""
            skip.update(range(first if alone else first + 1, last + 1))
        elif node.type in STRINGS:
            skip.update(range(first + 1, last + 1))
        else:
            stack.extend(node.children)
    return skip


@dataclass(frozen=True)
class FileNames:
    """What one file takes from the rest of the repository."""

    imported: frozenset[str]  # local names bound to repository definitions
    modules: frozenset[str]  # local aliases of repository modules (`import x as m`)
    elsewhere: frozenset[str]  # names defined in other repository files, not in this one


def file_names(
    repo: RepositoryContext, path: str, text: str, language: str, defined: set[str]
) -> FileNames:
    """The file's cross-file names: imports that resolve to repository files."""
    local = {s.name for s in repo.index.symbols_in(path)}
    table = repo.path_table()
    imported, modules = set(), set()
    for imp in parse_imports(language, text):
        if not resolve_import(language, path, imp, table):
            continue  # a third-party or standard-library import
        for original, name in imp.names:
            if original in defined or original == "default" or name in defined:
                imported.add(name)
        if imp.alias:
            modules.add(imp.alias)
    return FileNames(
        imported=frozenset(imported - local),
        modules=frozenset(modules),
        elsewhere=frozenset(defined - local),
    )


def cross_file_names(code: str, names: FileNames) -> list[str]:
    """Names of the (string-blanked) code that come from other files: imported names and
    `module.attr` of imported modules, in order of appearance.
    """
    used = [n for n in IDENTIFIER.findall(code) if n in names.imported]
    used += [
        f"{q}.{a}"
        for q, a in QUALIFIED.findall(code)
        if q in names.modules and a in names.elsewhere
    ]
    return list(dict.fromkeys(used))


def target_identifiers(line: str, column: int, names: FileNames) -> tuple[str, ...]:
    """The cross-file identifiers of the line's text from `column` on (for identifier match):
    imported names and module aliases, and an attribute defined in another file right after
    one of them (`click.echo`, `Client.send`).
    """
    code = CODE_NOISE.sub(lambda m: " " * len(m.group(0)), line)
    wanted = names.imported | names.modules
    found = [m.group(0) for m in IDENTIFIER.finditer(code, column) if m.group(0) in wanted]
    for m in QUALIFIED.finditer(code):
        if m.group(1) in wanted and m.group(2) in names.elsewhere and m.start(2) >= column:
            found.append(m.group(2))
    return tuple(dict.fromkeys(found))


def _api_columns(line: str, names: FileNames) -> list[int]:
    """Columns right after a `.` or `(` that follows a cross-file name on the line."""
    code = CODE_NOISE.sub(lambda m: " " * len(m.group(0)), line)
    wanted = names.imported | names.modules
    columns = []
    for match in IDENTIFIER.finditer(code):
        after = match.end()
        if match.group(0) in wanted and after < len(code) and code[after] in ".(":
            rest = line[after + 1 :].rstrip()
            if len(rest) >= 2 and re.search(r"\w", rest):
                columns.append(after + 1)
    return columns


def file_positions(
    repo: RepositoryContext, path: str, text: str, language: str, defined: set[str], rng
) -> list[Position]:
    """At most one position of each kind from one file (none without a cross-file line)."""
    names = file_names(repo, path, text, language, defined)
    skip = skipped_lines(text, language)
    lines, cross, plain = text.split("\n"), [], []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if number in skip or not MIN_LINE <= len(stripped) <= MAX_LINE or SKIP_LINE.match(line):
            continue
        plain.append(number)
        used = cross_file_names(CODE_NOISE.sub('""', stripped), names)
        if used:
            cross.append((number, used))
    if not cross:
        return []
    indent = lambda n: len(lines[n]) - len(lines[n].lstrip())  # noqa: E731
    out = []
    number, used = rng.choice(cross)
    out.append(_position(path, number, indent(number), lines[number], "line", language, names))
    api = [(n, c) for n, _ in cross for c in _api_columns(lines[n], names)]
    if api:
        number, column = rng.choice(api)
        out.append(_position(path, number, column, lines[number], "api", language, names))
    taken = {p.line for p in out}
    plain = [n for n in plain if n not in taken] or plain
    number = rng.choice(plain)
    out.append(_position(path, number, indent(number), lines[number], "control", language, names))
    return sorted(out, key=lambda p: (p.line, p.column))


def _position(
    path: str, number: int, column: int, line: str, kind: str, language: str, names: FileNames
) -> Position:
    target = line[column:].strip() if kind != "api" else line[column:].rstrip()
    return Position(
        path,
        number,
        column,
        target,
        target_identifiers(line, column, names),
        kind=kind,
        language=language,
    )


def repo_positions(
    repo: RepositoryContext, per_kind: int, languages: tuple[str, ...] = (), seed: int = 0
) -> list[list[Position]]:
    """Groups of positions (one group per file, by line) until each kind has `per_kind`
    positions or the files run out; files in a seeded order.
    """
    defined = repo.index.symbol_names()
    paths = [
        p
        for p in sorted(repo.index.paths())
        if language_for(p) and not p.endswith(".d.ts") and "/node_modules/" not in f"/{p}"
    ]
    if languages:
        paths = [p for p in paths if language_for(p) in languages]
    random.Random(seed).shuffle(paths)
    counts = dict.fromkeys(KINDS, 0)
    groups = []
    for path in paths:
        if all(n >= per_kind for n in counts.values()):
            break
        try:
            text = (repo.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        rng = random.Random(f"{seed}:{path}")
        found = file_positions(repo, path, text, language_for(path) or "", defined, rng)
        found = [p for p in found if counts[p.kind] < per_kind]
        for pos in found:
            counts[pos.kind] += 1
        if found:
            groups.append(found)
    return groups


def interleave(per_repo: list[list[list[Position]]]) -> list[tuple[int, Position]]:
    """Round-robin over repositories, one file group at a time, so that a run cut short is
    still balanced; positions of one file stay together (their prompts share their start).
    Returns (repository number, position) pairs.
    """
    out, round_ = [], 0
    while any(round_ < len(groups) for groups in per_repo):
        for number, groups in enumerate(per_repo):
            if round_ < len(groups):
                out.extend((number, pos) for pos in groups[round_])
        round_ += 1
    return out
