"""Secret scrubber: text that is about to leave the machine loses its secrets first.

A pure function over text. Each rule names a kind of secret and which part of its match
is the secret; only that part is replaced by `PLACEHOLDER`, so the surrounding code keeps
its shape (`password = "<redacted>"`) and the model still sees an assignment. The same
text always scrubs to the same result, which keeps remote prompt caches stable.

Used in remote mode only (backend.type "openai" or "llama-server"): the lead wires
`scrub_text` into the remote backend, which applies it to every prompt, infill piece
and chat message before sending.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.types import ContextChunk

PLACEHOLDER = "<redacted>"

# Words that make an assignment's value a secret: `DB_PASSWORD=`, `apiKey:`, `client_secret =`.
_SECRET_NAME = (
    r"[A-Za-z0-9_.\-]*?"
    r"(?:passw(?:or)?d|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key"
    r"|auth[_\-]?key|credentials?|client[_\-]?secret|signing[_\-]?key|encryption[_\-]?key)"
    r"[A-Za-z0-9_\-]*"
)
# Values that are references or placeholders, not secrets: `${DB_PASSWORD}`, `{{ token }}`,
# `<your key>`, `os.environ[...]`, `None`. Replacing them would only cost context.
_NOT_A_SECRET = re.compile(
    r"^(?:\$\{?[\w.]+\}?|\{\{.*\}\}|<[^>]*>|%\([\w]+\)s|%[\w]+%|\*+|x+|X+|\.{3}|"
    r"none|null|nil|true|false|str|string|bytes|int|bool|optional\b.*|undefined|"
    r"changeme|secret|password|token|redacted)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SecretRule:
    """One kind of secret: a pattern and the group that holds the secret itself."""

    kind: str
    pattern: re.Pattern[str]
    group: int = 0
    hints: tuple[str, ...] = ()  # lower-case text one of which must occur for the rule to run


def _rule(
    kind: str, pattern: str, group: int = 0, flags: int = 0, hints: tuple[str, ...] = ()
) -> SecretRule:
    return SecretRule(kind, re.compile(pattern, flags), group, hints)


# Scrubbing runs on every remote keystroke: a rule whose hint (a fixed piece of every match)
# is absent from the text is skipped, and the assignment rules only look at lines that
# mention a secret-ish word. A 3,000-character prompt without secrets costs well under 1 ms.


# Order matters: whole blocks first, then well-known token shapes (which need no context),
# then, line by line, connection strings and assignments (values may already be placeholders).
RULES: tuple[SecretRule, ...] = (
    # PEM / OpenSSH / PGP private key blocks, also inside JSON strings with literal "\n";
    # a block cut off by a chunk boundary is removed up to the end of the text.
    _rule(
        "private-key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        flags=re.DOTALL,
        hints=("private key",),
    ),
    _rule(
        "putty-private-key",
        r"(Private-Lines: \d+\r?\n)((?:[A-Za-z0-9+/=]+\r?\n?)+)",
        2,
        hints=("private-lines",),
    ),
    _rule(
        "aws-access-key-id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b",
        hints=(
            "akia",
            "asia",
            "abia",
            "acca",
            "agpa",
            "aida",
            "aroa",
            "aipa",
            "anpa",
            "anva",
            "apka",
        ),
    ),
    _rule("gcp-api-key", r"\bAIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])", hints=("aiza",)),
    _rule("gcp-oauth-token", r"\bya29\.[0-9A-Za-z_\-]{20,}", hints=("ya29.",)),
    _rule("gcp-client-secret", r"\bGOCSPX-[0-9A-Za-z_\-]{20,}", hints=("gocspx-",)),
    _rule(
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        hints=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _rule(
        "gitlab-token",
        r"\bgl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent)-[A-Za-z0-9_\-]{20,}",
        hints=(
            "glpat-",
            "gldt-",
            "glrt-",
            "glptt-",
            "glcbt-",
            "glsoat-",
            "glft-",
            "glimt-",
            "glagent-",
        ),
    ),
    _rule("slack-token", r"\bxox[abposre]-[A-Za-z0-9\-]{10,}", hints=("xox",)),
    _rule(
        "slack-webhook",
        r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+",
        hints=("hooks.slack",),
    ),
    _rule("openai-key", r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", hints=("sk-",)),
    _rule(
        "stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}", hints=("_live_", "_test_")
    ),
    _rule("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}", hints=("hf_",)),
    _rule("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b", hints=("npm_",)),
    _rule(
        "jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", hints=("eyj",)
    ),
    # scheme://user:password@host — the user name stays, the password goes.
    _rule(
        "url-password",
        r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@'\"]+:)([^@\s/'\"]+)(?=@)",
        2,
        hints=("://",),
    ),
)

# Rules that need a secret-ish word on the line; they run only on lines that have one.
LINE_HINT = re.compile(r"pass|pwd|secret|token|key|credential|auth|sig")
LINE_HINT_ANY_CASE = re.compile(LINE_HINT.pattern, re.IGNORECASE)
LINE_RULES: tuple[SecretRule, ...] = (
    _rule(
        "aws-secret-access-key",
        r"(?i)(aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?)([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
        2,
    ),
    _rule(
        "bearer-token",
        r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?\s*(?:bearer|token|basic)\s+)([A-Za-z0-9\-._~+/]{8,}=*)",
        2,
    ),
    # key=value pairs inside connection strings and query strings.
    _rule(
        "connection-secret",
        r"(?i)((?:^|[?&;\s\"'])(?:password|pwd|passwd|accountkey|sharedaccesskey|sharedaccesssignature"
        r"|sig|access_token|api_key|apikey|client_secret)\s*=\s*)([^;&\s'\"(),]{3,})(?=[;&'\"\s]|$)",
        2,
    ),
    # `password = "hunter2"`, `"apiKey": "..."`, `token: '...'` in any language.
    _rule(
        "assignment",
        r"(?i)(\b" + _SECRET_NAME + r"[\"']?\s*(?::=|=>|[:=])\s*)([\"'`])([^\"'`\n]{3,})\2",
        3,
    ),
    # .env / shell / ini / yaml lines: `export DB_PASSWORD=hunter2`, `password: hunter2`.
    _rule(
        "env-assignment",
        r"(?im)^(\s*(?:export\s+)?"
        + _SECRET_NAME
        + r"\s*[=:]\s*)([^\s\"'`#()\[\]{},;]+)[ \t]*(?=#|$)",
        2,
    ),
)


@dataclass(frozen=True)
class SecretMatch:
    """Where a secret was found (never the secret itself: safe to log)."""

    kind: str
    start: int
    end: int


_UNQUOTED = ("env-assignment", "connection-secret")


def _is_reference(kind: str, value: str, whole: str) -> bool:
    """True when an assignment's value is a name or placeholder rather than a secret."""
    value = value.strip()
    if PLACEHOLDER in value or _NOT_A_SECRET.match(value):
        return True
    if kind not in _UNQUOTED:
        return False  # a quoted literal is data: it goes
    # `self.token = token`, `password = password`: code passing a variable along.
    name = (
        re.split(r"[\s:=]", whole.strip(" \t\n\"'?&;"), maxsplit=1)[0]
        .split(".")[-1]
        .strip("\"'")
        .lower()
    )
    if value.lower() == name:
        return True
    # `api_key = settings.api_key`: attribute access is code, not a value.
    return bool(re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", value))


def _replace(rule: SecretRule, found: list[SecretMatch]) -> Callable[[re.Match[str]], str]:
    def substitute(match: re.Match[str]) -> str:
        start, end = match.span(rule.group)
        if rule.kind in ("assignment", *_UNQUOTED) and _is_reference(
            rule.kind, match.group(rule.group), match.group(0)
        ):
            return match.group(0)
        found.append(SecretMatch(rule.kind, start, end))
        head = match.string[match.start() : start]
        tail = match.string[end : match.end()]
        return head + PLACEHOLDER + tail

    return substitute


def scrub(text: str) -> tuple[str, list[SecretMatch]]:
    """Replace every secret in `text` by `PLACEHOLDER`; return the text and what was found.

    Positions in the returned matches refer to the text as it was when that rule ran
    (rules run in order); they are for counting and logging, not for slicing.
    """
    found: list[SecretMatch] = []
    if not text:
        return text, found
    lowered = text.lower()
    for rule in RULES:
        if not rule.hints or any(hint in lowered for hint in rule.hints):
            text = rule.pattern.sub(_replace(rule, found), text)
    marked = _hinted_lines(text)
    if marked:
        lines = text.splitlines(keepends=True)
        text = "".join(
            _scrub_line(line, found) if n in marked else line for n, line in enumerate(lines)
        )
    return text, found


def _hinted_lines(text: str) -> set[int]:
    """Numbers of the lines (as `splitlines` counts them) that mention a secret-ish word."""
    lowered = text.lower()
    if len(lowered) == len(text):  # one regex pass over lower-cased text is the fast path
        positions = [m.start() for m in LINE_HINT.finditer(lowered)]
    else:  # a few characters change length when lower-cased: search case-insensitively
        positions = [m.start() for m in LINE_HINT_ANY_CASE.finditer(text)]
    if not positions:
        return set()
    ends = list(itertools.accumulate(len(line) for line in text.splitlines(keepends=True)))
    return {bisect.bisect_right(ends, at) for at in positions}


def _scrub_line(line: str, found: list[SecretMatch]) -> str:
    for rule in LINE_RULES:
        line = rule.pattern.sub(_replace(rule, found), line)
    return line


def scrub_text(text: str) -> str:
    """`text` with every secret replaced by `PLACEHOLDER` (the function remote backends call)."""
    return scrub(text)[0]


def scrub_chunk(chunk: ContextChunk) -> ContextChunk:
    """A context chunk whose text has been scrubbed (path and scores unchanged)."""
    cleaned = scrub_text(chunk.text)
    return chunk if cleaned == chunk.text else dataclasses.replace(chunk, text=cleaned)
