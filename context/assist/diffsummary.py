"""Pure text work for commit messages: parse a unified diff, summarise it to a budget, read
the repository's subject style, and clean the model's reply into a proper message.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

LOCK_FILES = {
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "Cargo.lock", "go.sum", "Gemfile.lock",
    "composer.lock", "mix.lock", "flake.lock", "packages.lock.json", "pubspec.lock", "Podfile.lock",
}  # fmt: skip
GENERATED = re.compile(
    r"(\.min\.(js|css)$|\.map$|_pb2(_grpc)?\.py$|\.pb\.(go|cc|h)$|\.generated\.|\.g\.dart$|"
    r"(^|/)(dist|node_modules|__snapshots__|vendor)/)"
)
GENERATED_MARKERS = re.compile(
    r"@generated|DO NOT EDIT|Code generated .* DO NOT EDIT|auto-?generated", re.IGNORECASE
)
CONVENTIONAL = re.compile(r"^(?P<type>[a-z]+)(?P<scope>\([^)]*\))?(?P<bang>!)?:\s*(?P<desc>.*)$")
KNOWN_TYPES = {
    "feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore", "revert",
}  # fmt: skip
DEFINITION = re.compile(
    r"^[+-]\s*(export\s+|pub\s+|async\s+|static\s+)*"
    r"(def|class|function|func|fn|interface|struct|type|enum|impl|trait)\b"
)
SUBJECT_LIMIT = 72


@dataclass(frozen=True, kw_only=True)
class FileChange:
    """One file of a diff: status A/M/D/R, line counts, kind (code/lock/generated/binary)."""

    path: str
    old_path: str = ""
    status: str = "M"
    added: int = 0
    deleted: int = 0
    binary: bool = False
    kind: str = "code"
    hunks: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RepoStyle:
    """How the repository writes subjects."""

    conventional: bool = False
    scopes: bool = False
    lowercase: bool = False
    examples: tuple[str, ...] = ()


# -- parsing -------------------------------------------------------------------------------


def _classify(path: str, binary: bool, hunks: list[str]) -> str:
    name = PurePosixPath(path).name
    if binary:
        return "binary"
    if name in LOCK_FILES:
        return "lock"
    head = "\n".join(hunks[:1])[:2000]
    longest = max((len(line) for hunk in hunks[:3] for line in hunk.splitlines()), default=0)
    if GENERATED.search(path) or GENERATED_MARKERS.search(head) or longest > 1000:
        return "generated"
    return "code"


def _finish(record: dict, out: list[FileChange]) -> None:
    if not record:
        return
    hunks = ["\n".join(h) for h in record["hunks"]]
    path = record.get("new") or record.get("old") or record["header"]
    added = sum(1 for h in record["hunks"] for ln in h[1:] if ln.startswith("+"))
    deleted = sum(1 for h in record["hunks"] for ln in h[1:] if ln.startswith("-"))
    old = record.get("old", "") if record["status"] == "R" else ""
    out.append(
        FileChange(
            path=path,
            old_path=old,
            status=record["status"],
            added=added,
            deleted=deleted,
            binary=record["binary"],
            kind=_classify(path, record["binary"], hunks),
            hunks=tuple(hunks),
        )
    )


def _header_path(line: str) -> str:
    """`diff --git a/x b/x` → x (the two halves are equal unless renamed)."""
    rest = line[len("diff --git ") :]
    half = len(rest) // 2
    if rest[:half].startswith("a/") and rest[half + 1 :].startswith("b/"):
        return rest[half + 3 :]
    return rest.split(" b/", 1)[-1]


def parse_diff(text: str) -> list[FileChange]:
    """Files of a `git diff` (unified, with rename detection) in order."""
    out: list[FileChange] = []
    record: dict = {}
    for line in text.split("\n"):
        if line.startswith("diff --git "):
            _finish(record, out)
            record = {"header": _header_path(line), "status": "M", "binary": False, "hunks": []}
        elif not record:
            continue
        elif record["hunks"] and not line.startswith(("@@", "\\")):
            record["hunks"][-1].append(line)
        elif line.startswith("@@"):
            record["hunks"].append([line])
        elif line.startswith("new file mode"):
            record["status"] = "A"
        elif line.startswith("deleted file mode"):
            record["status"] = "D"
        elif line.startswith("rename from "):
            record["status"], record["old"] = "R", line[len("rename from ") :]
        elif line.startswith("rename to "):
            record["new"] = line[len("rename to ") :]
        elif line.startswith(("Binary files ", "GIT binary patch")):
            record["binary"] = True
        elif line.startswith("--- a/"):
            record["old"] = line[6:]
        elif line.startswith("+++ b/"):
            record["new"] = line[6:]
    _finish(record, out)
    return out


# -- summarising ---------------------------------------------------------------------------


def _file_line(change: FileChange) -> str:
    name = f"{change.old_path} -> {change.path}" if change.old_path else change.path
    if change.binary:
        return f"{change.status} {name} (binary)"
    stats = f"+{change.added} -{change.deleted}"
    if change.kind == "lock":
        return f"{change.status} {name} ({stats}, lock file: dependency versions changed)"
    if change.kind == "generated":
        return f"{change.status} {name} ({stats}, generated or minified, not shown)"
    return f"{change.status} {name} ({stats})"


def _file_list(changes: Sequence[FileChange], max_chars: int) -> str:
    added, deleted = sum(c.added for c in changes), sum(c.deleted for c in changes)
    lines = [f"{len(changes)} file{'s' if len(changes) != 1 else ''} changed, +{added} -{deleted}:"]
    ranked = sorted(changes, key=lambda c: (c.kind != "code", -(c.added + c.deleted)))
    shown = 0
    for change in ranked:
        line = "  " + _file_line(change)
        if sum(len(x) + 1 for x in lines) + len(line) > max_chars:
            break
        lines.append(line)
        shown += 1
    if shown < len(changes):
        lines.append(f"  ... and {len(changes) - shown} more files")
    return "\n".join(lines)


def _hunk_score(hunk: str, path: str) -> float:
    changed = [ln for ln in hunk.split("\n")[1:] if ln[:1] in "+-" and ln[1:].strip()]
    if not changed:
        return 0.0
    plain = [
        ln for ln in changed if not re.match(r"^[+-]\s*(import|from|#include|use|require)\b", ln)
    ]
    score = min(len(plain), 30) + 0.2 * min(len(changed) - len(plain), 10)
    if any(DEFINITION.match(ln) for ln in changed) or DEFINITION.match(
        "+" + hunk.split("@@")[-1].strip()
    ):
        score += 8
    lowered = path.lower()
    if "test" in lowered:
        score *= 0.6
    elif lowered.endswith((".md", ".rst", ".txt")):
        score *= 0.5
    elif lowered.endswith((".json", ".yaml", ".yml", ".toml", ".ini", ".cfg")):
        score *= 0.7
    return score


def _trim_hunk(hunk: str, max_lines: int) -> str:
    lines = hunk.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) <= max_lines:
        return "\n".join(lines)
    return "\n".join(lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"])


def summarize_diff(
    changes: Sequence[FileChange],
    *,
    max_chars: int = 4000,
    hunk_lines: int = 40,
) -> str:
    """The diff in `max_chars`: the file list with stats (binary files named only, lock and
    generated files in one line), then the most informative hunks, best of each file first.
    """
    header = _file_list(changes, max_chars // 3)
    room = max_chars - len(header) - 2
    candidates = []  # (round, -score, file index, hunk index)
    for fi, change in enumerate(changes):
        if change.kind != "code":
            continue
        scored = sorted(
            ((_hunk_score(h, change.path), hi) for hi, h in enumerate(change.hunks)), reverse=True
        )
        for rank, (score, hi) in enumerate(scored):
            if score > 0:
                candidates.append((min(rank, 1), -score, fi, hi))
    chosen: dict[int, list[tuple[int, str]]] = {}
    total = len(candidates)
    for _round, _score, fi, hi in sorted(candidates):
        text = _trim_hunk(changes[fi].hunks[hi], hunk_lines)
        cost = len(text) + 1 + (0 if fi in chosen else len(changes[fi].path) + 6)
        if cost > room:
            continue
        chosen.setdefault(fi, []).append((hi, text))
        room -= cost
    parts = [header]
    for fi in sorted(chosen):
        parts.append(f"--- {changes[fi].path}")
        parts.extend(text for _hi, text in sorted(chosen[fi]))
    shown = sum(len(v) for v in chosen.values())
    if shown < total:
        parts.append(f"({total - shown} more hunks not shown)")
    return "\n".join(parts)


def is_trivial(changes: Sequence[FileChange]) -> bool:
    """A change small enough for a subject alone: one file and a handful of lines."""
    return len(changes) <= 1 and sum(c.added + c.deleted for c in changes) <= 10


# -- style and cleaning --------------------------------------------------------------------


def detect_style(subjects: tuple[str, ...] | list[str]) -> RepoStyle:
    """Conventional Commits when at least half of the recent subjects use a known type."""
    subjects = [s.strip() for s in subjects if s.strip()]
    matches = [
        m for m in (CONVENTIONAL.match(s) for s in subjects) if m and m["type"] in KNOWN_TYPES
    ]
    conventional = bool(subjects) and len(matches) * 2 >= len(subjects)
    descs = [m["desc"] for m in matches] if conventional else subjects
    lower = sum(1 for d in descs if d[:1].islower())
    return RepoStyle(
        conventional=conventional,
        scopes=conventional and sum(1 for m in matches if m["scope"]) * 2 >= len(matches),
        lowercase=bool(descs) and lower * 2 > len(descs),
        examples=tuple(subjects[:3]),
    )


_VERBS = [
    "add", "adjust", "allow", "apply", "avoid", "bump", "cache", "calculate", "change", "check",
    "clean", "clarify", "compute", "configure", "convert", "copy", "correct", "create", "define",
    "delete", "deprecate", "describe", "disable", "document", "drop", "enable", "ensure", "exclude",
    "expose", "extend", "extract", "fetch", "fix", "format", "generate", "handle", "hide", "ignore",
    "implement", "improve", "include", "increase", "initialize", "integrate", "introduce", "limit",
    "load", "log", "make", "merge", "migrate", "modify", "move", "optimize", "parse", "pass",
    "polish", "prepare", "prevent", "print", "refactor", "register", "release", "remove", "rename",
    "reorganize", "replace", "reset", "resolve", "restore", "restructure", "retry", "return",
    "revert", "rework", "rewrite", "save", "show", "simplify", "skip", "sort", "speed", "split",
    "store", "strip", "support", "switch", "test", "tidy", "trim", "tweak", "unify", "update",
    "upgrade", "use", "validate", "wrap", "write",
]  # fmt: skip
_IRREGULAR = {
    "made": "make", "wrote": "write", "written": "write", "ran": "run", "built": "build",
    "split": "split", "set": "set", "reset": "reset", "put": "put", "stripped": "strip",
    "stripping": "strip",
}  # fmt: skip


def _inflections(base: str) -> list[str]:
    double = (
        len(base) <= 4
        and base[-1] not in "aeiouwxy"
        and base[-2] in "aeiou"
        and base[-3:-2] not in "aeiou"
    )
    stem = base + base[-1] if double else base
    if base.endswith("e"):
        return [base + "s", base + "d", base[:-1] + "ing"]
    if base.endswith("y") and base[-2] not in "aeiou":
        return [base[:-1] + "ies", base[:-1] + "ied", base + "ing"]
    plural = base + "es" if base.endswith(("s", "x", "z", "ch", "sh")) else base + "s"
    return [plural, stem + "ed", stem + "ing"]


IMPERATIVE = {form: base for base in _VERBS for form in _inflections(base)} | _IRREGULAR


def imperative(text: str) -> str:
    """Rewrite "Added x" / "Adds x" / "This commit adds x" as "Add x" (case of the first letter kept)."""
    text = re.sub(
        r"^(this (commit|change|patch|pr)|we|i)\s+", "", text.strip(), flags=re.IGNORECASE
    )
    word, _, rest = text.partition(" ")
    base = IMPERATIVE.get(word.lower())
    if base is None:
        return text
    base = base.capitalize() if word[:1].isupper() else base
    return f"{base} {rest}".strip()


_PREAMBLE = re.compile(
    r"(?i)^(sure|certainly|okay|here(?:'s| is| are)\b.*|(suggested |proposed )?commit message[^:]*)"
    r"\s*[:.!]?\s*$"
)
_LABEL = re.compile(  # "Subject: x" → "x"; a label left alone on its line goes entirely
    r"(?i)^\s*(commit message|subject( line)?|title|summary|message|body|description)\s*(:\s*|$)"
)
_DIFF_LINE = re.compile(
    r"^(diff --git |index [0-9a-f]+\.\.|@@ |\+\+\+ |--- |[+-](?![ \t])|-{3,}\s*$)"
)


_LABEL_STUBS = {word[:n] for word in ("SUBJECT", "BODY") for n in range(1, len(word) + 1)}


def _reply_lines(reply: str) -> list[str]:
    quoted = re.search(r"git commit (?:-m|--message)\s+([\"'])(.+?)\1", reply)
    if quoted:
        reply = quoted.group(2)
    lines = []
    for raw in reply.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if (
            line.strip().startswith(("```", "~~~"))
            or _DIFF_LINE.match(line)
            or _PREAMBLE.match(line.strip(" *#`"))
        ):
            continue
        line = _LABEL.sub("", line.replace("**", ""))
        if line.strip().upper() in _LABEL_STUBS:  # a reply cut inside "SUBJECT:" / "BODY:"
            continue
        lines.append(line)
    return lines


def _clean_subject(line: str) -> str:
    line = re.sub(r"^\s*(#+|[-*]|\d+[.)])\s+", "", line).strip()
    line = line.strip("\"'`").strip()
    return line.rstrip(".").strip()


def _shorten(subject: str) -> str:
    if len(subject) <= SUBJECT_LIMIT:
        return subject
    cut = (
        subject[: SUBJECT_LIMIT + 1].rsplit(" ", 1)[0]
        if " " in subject[:SUBJECT_LIMIT]
        else subject[:SUBJECT_LIMIT]
    )
    return cut[:SUBJECT_LIMIT].rstrip(" ,;:-(")


def infer_type(changes: Sequence[FileChange]) -> str:
    """A Conventional Commits type from the paths alone (used when the model gave none)."""
    paths = [c.path.lower() for c in changes]
    if paths and all("test" in p for p in paths):
        return "test"
    if paths and all(p.endswith((".md", ".rst", ".txt")) or p.startswith("docs/") for p in paths):
        return "docs"
    if paths and all(p.startswith((".github/", ".gitlab", ".ci/", ".circleci/")) for p in paths):
        return "ci"
    if paths and all(c.kind == "lock" for c in changes):
        return "build"
    return "feat" if any(c.status == "A" for c in changes) else "fix"


_TYPED = re.compile(r"^(?P<type>[A-Za-z]+)(?P<scope>\([^)]*\))?(?P<bang>!)?:\s*(?P<desc>\S.*)$")


def _case(text: str, lower: bool) -> str:
    """First letter lower or upper; words like `README` or `iOS` are left alone."""
    if not text or (len(text) > 1 and not text[1].islower() and text[1].isalpha()):
        return text
    return text[0].lower() + text[1:] if lower else text[0].upper() + text[1:]


def _styled(subject: str, style: RepoStyle, changes: Sequence[FileChange]) -> str:
    """The subject in the repository's style: a `type:` prefix only where the repo uses them."""
    kind, desc = "", subject
    match = _TYPED.match(subject)
    if match and match["type"].lower() in KNOWN_TYPES:
        kind, desc = (
            match["type"].lower() + (match["scope"] or "") + (match["bang"] or ""),
            match["desc"],
        )
    elif match and match["type"].lower() in IMPERATIVE and not match["scope"]:
        desc = f"{match['type']} {match['desc']}"  # "Update: README" → "Update README"
    desc = _case(imperative(desc), style.lowercase)
    if not style.conventional:
        return desc
    return f"{kind or infer_type(changes)}: {desc}"


def clean_message(
    reply: str, style: RepoStyle, changes: Sequence[FileChange], *, merge_subject: str = ""
) -> str:
    """The model's reply as a commit message: no fences, diff lines, quotes or preambles;
    subject ≤ 72 characters in the imperative and the repository's style; a blank line and a
    wrapped body only when the change is not trivial. Falls back to a message built from the
    file names when the reply is unusable.
    """
    lines = _reply_lines(reply)
    while lines and not _clean_subject(lines[0]):
        lines.pop(0)
    if not lines:
        return fallback_message(changes, style, merge_subject=merge_subject)
    subject = _shorten(_styled(_clean_subject(lines[0]), style, changes))
    body = [ln.strip().strip("\"'`") for ln in lines[1:]]
    body = [ln for ln in body if _clean_subject(ln) != _clean_subject(lines[0])]
    if merge_subject and "merge" not in subject.lower():
        body, subject = [subject] + body, _shorten(merge_subject)
    text = "\n".join(body).strip()
    if not text or (is_trivial(changes) and not merge_subject):
        return subject
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()][:3]
    wrapped = [_wrap_body(p) for p in paragraphs]
    return subject + "\n\n" + "\n\n".join(w for w in wrapped if w)


def _wrap_body(paragraph: str) -> str:
    out = []
    for line in paragraph.split("\n")[:6]:
        bullet = re.match(r"^([-*]|\d+[.)])\s+", line)
        lead = bullet.group(0) if bullet else ""
        out += textwrap.wrap(
            line[len(lead) :],
            72,
            initial_indent=lead.replace("*", "-"),
            subsequent_indent=" " * len(lead),
        )
    return "\n".join(out)


def fallback_message(
    changes: Sequence[FileChange], style: RepoStyle, *, merge_subject: str = ""
) -> str:
    """A subject from the file names alone ("Add logo.png", "Update 3 files in assets/")."""
    if merge_subject:
        return _shorten(merge_subject)
    statuses = {c.status for c in changes}
    verb = (
        {"A": "Add", "D": "Remove", "R": "Rename"}.get(next(iter(statuses)), "Update")
        if len(statuses) == 1
        else "Update"
    )
    if len(changes) == 1:
        what = PurePosixPath(changes[0].path).name
    else:
        parents = {str(PurePosixPath(c.path).parent) for c in changes}
        folder = next(iter(parents)) if len(parents) == 1 else "."
        what = f"{len(changes)} files" + (f" in {folder}/" if folder != "." else "")
    return _shorten(_styled(f"{verb} {what}", style, changes))


# fmt: skip
# fmt: skip
