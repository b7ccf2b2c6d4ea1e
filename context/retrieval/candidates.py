"""Context candidates for one cursor, each with a source label and a score.

Sources: definitions of the names used near the cursor (preferring those the file
imports), outlines of the files it imports, recently edited and viewed regions (a ring
the server fills from LSP events), similar code (BM25 with the cursor window as the
query), and git signals (uncommitted changes, files that change together with this one).
Ranking and budgeting happen afterwards, in `context.retrieval.ranking`.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from context.index.chunking import STOPWORDS, index_terms
from context.index.index import RepositoryIndex
from context.index.store import SymbolRecord
from context.index.tags import extract_symbols
from context.retrieval.git_signals import GitSignals
from context.retrieval.imports import Import, PathTable, parse_imports, resolve_import
from context.retrieval.outline import best_window, definition_text, file_outline
from context.retrieval.ranking import Candidate, CursorRegion
from context.retrieval.recent import RecentRing
from context.settings import ContextSettings
from context.syntax.languages import language_for

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
CODE_NOISE = re.compile(
    r"""[rbfuRBFU]*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)|#(?!include|define|if|import).*$|//.*$"""
)
QUALIFIED = re.compile(r"([A-Za-z_]\w*)\s*(?:\.|::|->)\s*([A-Za-z_]\w*)")
IGNORED_NAMES = (
    STOPWORDS
    | frozenset(dir(builtins))
    | frozenset({"None", "True", "False", "self", "this", "super"})
)
SIMILAR_LINES = 12  # a BM25 hit is cut to its best stretch of this many lines


@dataclass(frozen=True)
class Cursor:
    """One request: the buffer, where the cursor is, and what the prompt already shows."""

    path: str  # relative to the repository root
    text: str
    line: int  # 1-based line of the cursor
    line_prefix: str
    region: CursorRegion

    @property
    def language(self) -> str:
        """The language of the current file ("" for plain text)."""
        return language_for(self.path) or ""


@dataclass(frozen=True)
class BufferFacts:
    """What the current buffer defines and imports."""

    symbols: tuple[SymbolRecord, ...]
    imports: tuple[Import, ...]
    indexed: bool  # symbols (and their lines) come from the index, not the live buffer


def near_identifiers(
    lines: list[str], line0: int, line_prefix: str, above: int, below: int
) -> dict[str, float]:
    """Identifiers around the cursor (0-based `line0`), each with a proximity in (0, 1]."""
    found: dict[str, float] = {}

    def add(text: str, distance: float) -> None:
        weight = 1.0 / (1.0 + distance / 4.0)
        for name in IDENTIFIER.findall(text):
            if found.get(name, 0.0) < weight:
                found[name] = weight

    add(line_prefix, 0)
    for i in range(max(0, line0 - above), line0):
        add(lines[i], line0 - i)
    rest = lines[line0][len(line_prefix) :] if line0 < len(lines) else ""
    add(rest, 1)
    for i in range(line0 + 1, min(len(lines), line0 + 1 + below)):
        add(lines[i], 2 + (i - line0))
    return found


def code_only(lines: list[str]) -> list[str]:
    """The lines with string literals, comments and docstring bodies blanked.

    A name in prose or in a string (`t.Optional["Command"]`, an error message) is not a
    use: looking it up only brings noise.
    """
    out = []
    in_triple = ""
    for line in lines:
        if in_triple:
            closed = line.find(in_triple)
            if closed < 0:
                out.append("")
                continue
            line = line[closed + 3 :]
            in_triple = ""
        code = CODE_NOISE.sub(" ", line)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2 == 1:
                in_triple = quote
                code = CODE_NOISE.sub(" ", line[: line.find(quote)])
                break
        out.append(code)
    return out


def qualified_pairs(text: str) -> list[tuple[str, str]]:
    """`module.name` / `pkg::name` pairs in `text`."""
    return QUALIFIED.findall(text)


class Retriever:
    """Candidate sources over one repository index."""

    def __init__(
        self,
        index: RepositoryIndex,
        settings: ContextSettings,
        ring: RecentRing,
        git: GitSignals | None,
        path_table: Callable[[], PathTable],
    ) -> None:
        self.index = index
        self.settings = settings
        self.ring = ring
        self.git = git
        self.path_table = path_table
        self._facts: tuple[str, BufferFacts] | None = None

    def buffer_facts(self, cursor: Cursor) -> BufferFacts:
        """Symbols and imports of the current file.

        Symbols come from the index when the file is indexed (the server re-indexes the
        buffer on change, debounced): re-parsing a 10,000-line file on every keystroke
        would cost more than the rest of retrieval. A file not indexed yet is parsed once
        per content.
        """
        key = hashlib.sha1(
            cursor.path.encode() + b"\0" + cursor.text.encode("utf-8", "surrogatepass")
        ).hexdigest()
        language = cursor.language
        # A buffer larger than the index would read (a dump, a generated file) is not
        # parsed whole: that took 10 s per edit of a 10 MB buffer. Imports sit at the top.
        huge = len(cursor.text) > self.settings.max_file_bytes
        cached = self._facts  # one read: another thread may replace it meanwhile
        if cached is None or cached[0] != key:
            head = cursor.text[: self.settings.max_file_bytes] if huge else cursor.text
            imports = tuple(parse_imports(language, head))
            cached = self._facts = (key, BufferFacts((), imports, False))
        facts = cached[1]
        if self.index.has_file(cursor.path):
            return BufferFacts(tuple(self.index.symbols_in(cursor.path)), facts.imports, True)
        if not facts.symbols and language and not huge:
            parsed = extract_symbols(language, cursor.text.encode("utf-8", "surrogatepass"))
            symbols = tuple(
                SymbolRecord(cursor.path, x.name, x.kind, x.start_line, x.end_line, x.signature)
                for x in parsed
            )
            facts = BufferFacts(symbols, facts.imports, False)
            self._facts = (key, facts)
        return facts

    def lines_of(self, cursor: Cursor, facts: BufferFacts) -> Callable[[str, int, int], list[str]]:
        """Line reader: the index, or the live buffer for a current file not indexed yet."""
        buffer: list[str] = []  # the live buffer's lines, split only if read

        def read(path: str, start: int, end: int) -> list[str]:
            if path == cursor.path and not facts.indexed:
                if not buffer:
                    buffer.extend(cursor.text.split("\n"))
                return buffer[max(start, 1) - 1 : end]
            return self.index.lines(path, start, end)

        return read

    def candidates(self, cursor: Cursor) -> list[Candidate]:
        """Every source's candidates for this cursor (unranked)."""
        facts = self.buffer_facts(cursor)
        table = self.path_table()
        resolved = {
            id(imp): resolve_import(cursor.language, cursor.path, imp, table)
            for imp in facts.imports
        }
        out: list[Candidate] = []
        for source in (
            self.definitions,
            self.imported_files,
            self.recent,
            self.similar,
            self.git_changes,
        ):
            try:
                out.extend(source(cursor, facts, resolved))
            except Exception:  # one broken source must not cost the others
                log.exception("context source %s failed", source.__name__)
        return out

    # -- definitions ----------------------------------------------------------------------

    def _bindings(self, facts: BufferFacts, resolved: dict[int, list[str]]) -> tuple[dict, dict]:
        """Local name → (original name, files) for imported names; alias → files for modules."""
        names: dict[str, tuple[str, list[str]]] = {}
        modules: dict[str, list[str]] = {}
        for imp in facts.imports:
            files = resolved.get(id(imp), [])
            for original, local in imp.names:
                names[local] = (original, files)
            if imp.alias:
                modules[imp.alias] = files
            if not imp.names and not imp.alias and files:  # C/C++ includes: every name in them
                modules.setdefault("", []).extend(files)
        return names, modules

    def _wanted(
        self, cursor: Cursor, facts: BufferFacts, resolved: dict[int, list[str]]
    ) -> dict[str, tuple[float, str, list[str]]]:
        """Names to look up: name → (proximity, looked-up name, preferred files)."""
        line0 = cursor.line - 1
        s = self.settings
        below = max(2, s.near_lines // 4)
        start = max(0, line0 - s.near_lines)
        # Only the code near the cursor is read: blank strings, comments and docstrings.
        lines = [""] * start + code_only(cursor.text.split("\n")[start : line0 + 1 + below])
        line_prefix = code_only([cursor.line_prefix])[0]
        near = near_identifiers(lines, line0, line_prefix, s.near_lines, below)
        names, modules = self._bindings(facts, resolved)
        wanted: dict[str, tuple[float, str, list[str]]] = {}
        for name, proximity in near.items():
            if name in IGNORED_NAMES or len(name) < 2 or name in modules:
                continue
            original, files = names.get(name, (name, modules.get("", [])))
            wanted[name] = (proximity, original, files)
        nearby = "\n".join(lines[start:line0]) + "\n" + line_prefix
        for qualifier, attribute in qualified_pairs(nearby):
            if qualifier in modules and modules[qualifier] and attribute not in IGNORED_NAMES:
                proximity = near.get(attribute, 0.5)
                wanted[f"{qualifier}.{attribute}"] = (proximity, attribute, modules[qualifier])
        return wanted

    def definitions(
        self, cursor: Cursor, facts: BufferFacts, resolved: dict[int, list[str]]
    ) -> list[Candidate]:
        """Definitions of names used near the cursor, preferring the imported ones."""
        s = self.settings
        wanted = self._wanted(cursor, facts, resolved)
        local = {sym.name: sym for sym in facts.symbols}
        lookup = {original for _, original, _ in wanted.values()}
        records: dict[str, list[SymbolRecord]] = {}
        for record in self.index.definitions(lookup, per_name=6):
            if record.path != cursor.path:
                records.setdefault(record.name, []).append(record)
        scored: list[tuple[float, SymbolRecord]] = []
        for proximity, original, files in wanted.values():
            found = records.get(original, [])
            preferred = [r for r in found if r.path in files]
            if preferred:
                scored.extend(
                    (s.weight_definition * s.weight_imported * proximity, r) for r in preferred[:2]
                )
            elif original in local:
                sym = local[original]
                if not (cursor.region.first_line <= sym.start_line <= cursor.region.last_line):
                    scored.append((s.weight_definition * proximity, sym))
            elif found and len(found) <= 3:
                scored.extend((s.weight_definition * proximity / len(found), r) for r in found)
        scored.sort(key=lambda item: (-item[0], item[1].path, item[1].start_line))
        focus = frozenset(key.rsplit(".", 1)[-1] for key in wanted)
        return self._definition_candidates(cursor, scored[: s.max_definitions], focus)

    def _definition_candidates(
        self, cursor: Cursor, scored: list[tuple[float, SymbolRecord]], focus: frozenset[str]
    ) -> list[Candidate]:
        s = self.settings
        facts = self.buffer_facts(cursor)
        read = self.lines_of(cursor, facts)
        out = []
        for score, record in scored:
            if record.path == cursor.path:
                symbols = list(facts.symbols)
            else:
                symbols = self.index.symbols_in(record.path)
            text = definition_text(
                record,
                symbols,
                read,
                max_members=s.class_members,
                body_lines=s.body_lines,
                focus=focus,
            )
            out.append(
                Candidate(
                    record.path, text, "definition", record.start_line, record.end_line, score
                )
            )
        return out

    # -- imported files -------------------------------------------------------------------

    def imported_files(
        self, cursor: Cursor, facts: BufferFacts, resolved: dict[int, list[str]]
    ) -> list[Candidate]:
        """Outlines of the repository files this file imports (the imported names only)."""
        out = []
        seen: set[str] = set()
        for rank, imp in enumerate(facts.imports):
            for path in resolved.get(id(imp), [])[:2]:
                if path == cursor.path or path in seen:
                    continue
                seen.add(path)
                names = {original for original, _ in imp.names}
                text, first, last = file_outline(
                    path, self.index.symbols_in(path), names, self.settings.class_members
                )
                if text:
                    relevance = 1.0 / (1.0 + 0.1 * rank)
                    out.append(
                        Candidate(
                            path,
                            text,
                            "import",
                            first,
                            last,
                            self.settings.weight_import * relevance,
                        )
                    )
        return out[:6]

    # -- recent regions -------------------------------------------------------------------

    def recent(
        self, cursor: Cursor, facts: BufferFacts, resolved: dict[int, list[str]]
    ) -> list[Candidate]:
        """Regions around recently edited/viewed positions, newest first."""
        s = self.settings
        read = self.lines_of(cursor, facts)
        out = []
        for rank, entry in enumerate(self.ring.entries()[: s.recent_size]):
            start, end = max(1, entry.line - s.recent_lines), entry.line + s.recent_lines
            if (
                entry.path == cursor.path
                and start <= cursor.region.last_line
                and end >= cursor.region.first_line
            ):
                continue
            lines = read(entry.path, start, end)
            if not any(ln.strip() for ln in lines):
                continue
            relevance = (0.85**rank) * (1.0 if entry.kind == "edit" else 0.6)
            out.append(
                Candidate(
                    entry.path,
                    "\n".join(lines),
                    "recent",
                    start,
                    start + len(lines) - 1,
                    s.weight_recent * relevance,
                )
            )
        return out

    # -- similar code ---------------------------------------------------------------------

    def similar(
        self, cursor: Cursor, facts: BufferFacts, resolved: dict[int, list[str]]
    ) -> list[Candidate]:
        """BM25 neighbours of the lines just above the cursor, cut to their best stretch."""
        s = self.settings
        lines = cursor.text.split("\n")
        line0 = cursor.line - 1
        query_text = (
            "\n".join(lines[max(0, line0 - s.near_lines) : line0]) + "\n" + cursor.line_prefix
        )
        query = set(index_terms(query_text))
        if not query:
            return []
        out = []
        for hit in self.index.search(sorted(query), s.similar_chunks * 3):
            if (
                hit.path == cursor.path
                and hit.start_line <= cursor.region.last_line
                and hit.end_line >= cursor.region.first_line
            ):
                continue
            chunk_lines = hit.text.split("\n")
            start, end = best_window(chunk_lines, hit.start_line, query, SIMILAR_LINES, index_terms)
            text = "\n".join(chunk_lines[start - hit.start_line : end - hit.start_line + 1])
            coverage = len(query.intersection(index_terms(text))) / len(query)
            out.append(
                Candidate(hit.path, text, "similar", start, end, s.weight_similar * coverage)
            )
            if len(out) >= s.similar_chunks:
                break
        return out

    # -- git ------------------------------------------------------------------------------

    def git_changes(
        self, cursor: Cursor, facts: BufferFacts, resolved: dict[int, list[str]]
    ) -> list[Candidate]:
        """Uncommitted hunks of other files, and outlines of files that change with this one."""
        if self.git is None:
            return []
        s = self.settings
        out = []
        rank = 0
        for path, regions in sorted(self.git.changed_regions().items()):
            if path == cursor.path or not self.index.has_file(path):
                continue
            for start, end in regions[:2]:
                start, end = max(1, start - 2), min(end + 2, start + 12)
                lines = self.index.lines(path, start, end)
                if any(ln.strip() for ln in lines):
                    out.append(
                        Candidate(
                            path,
                            "\n".join(lines),
                            "git",
                            start,
                            start + len(lines) - 1,
                            s.weight_git * 0.9**rank,
                        )
                    )
                    rank += 1
        for path, share in self.git.cochanged(cursor.path, limit=3):
            if share < 0.2 or path == cursor.path or not self.index.has_file(path):
                continue
            text, first, last = file_outline(path, self.index.symbols_in(path), None, 8)
            if text:
                out.append(
                    Candidate(path, text, "cochange", first, last, s.weight_cochange * share)
                )
        return out[:8]
