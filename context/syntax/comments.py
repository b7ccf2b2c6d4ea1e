"""Comments and docstrings as text: syntax per language, wrapping, style detection, rendering.

Pure functions only: text in, text out. The assist service decides where the text goes;
this module decides what it looks like, following the file's own conventions.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from dataclasses import dataclass

LINE_COMMENT = {"python": "#"}  # every other supported language uses `//`
DEFAULT_LINE_LENGTH = {"python": 88}  # every other language: 100
STANDARD_LENGTHS = (79, 80, 88, 100, 120)
STYLES = ("google", "numpy", "rest")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+")
_STYLE_MARKERS = {
    "google": re.compile(
        r"^\s*(Args|Arguments|Returns|Raises|Yields|Attributes|Examples?):\s*$", re.MULTILINE
    ),
    "numpy": re.compile(
        r"^\s*(Parameters|Returns|Raises|Yields|Attributes|Examples)\s*\n\s*-{3,}\s*$", re.MULTILINE
    ),
    "rest": re.compile(r"^\s*:(param|type|returns?|rtype|raises?)\b[^:\n]*:", re.MULTILINE),
}
_DOCSTRING = re.compile(r'("""|\'\'\')(.*?)\1', re.DOTALL)


@dataclass(frozen=True, kw_only=True)
class DocParts:
    """What a docstring says, before it is rendered in a language's convention."""

    summary: str
    details: str = ""
    params: tuple[tuple[str, str], ...] = ()  # (name, description)
    returns: str = ""


def line_comment(language: str | None) -> str:
    """The line-comment marker of `language` (`#` or `//`)."""
    return LINE_COMMENT.get(language or "", "//")


def newline_of(text: str) -> str:
    """The file's line ending, so inserted text does not mix CRLF and LF."""
    return "\r\n" if "\r\n" in text else "\n"


def detect_line_length(text: str, language: str | None) -> int:
    """The file's line length: the smallest common limit its long lines respect.

    A file with few long lines says nothing, so the language default holds (88 for
    Python, 100 otherwise). The longest 1% of lines are ignored as outliers (URLs).
    """
    default = DEFAULT_LINE_LENGTH.get(language or "", 100)
    lengths = sorted((len(line.rstrip()) for line in text.splitlines()), reverse=True)
    long_lines = [n for n in lengths if n > 60]
    if len(long_lines) < 3:
        return default
    longest = lengths[len(lengths) // 100]
    return next((limit for limit in STANDARD_LENGTHS if limit >= longest), STANDARD_LENGTHS[-1])


def plain_text(markdown: str) -> str:
    """Markdown made fit for a code comment: no headings marks, emphasis or fence lines."""
    lines = []
    for line in markdown.splitlines():
        if _FENCE.match(line):
            continue
        line = re.sub(r"^\s*#{1,6}\s+", "", line)
        line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    wrapped = textwrap.wrap(
        " ".join(text.split()),
        width=max(width, len(first) + 20),
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapped or [first.rstrip()]


def _paragraphs(text: str) -> list[tuple[str, str]]:
    """Blocks of text: ("p", paragraph), ("item", list item with marker), ("blank", "")."""
    blocks: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if blocks and blocks[-1][0] != "blank":
                blocks.append(("blank", ""))
        elif _ITEM.match(line):
            blocks.append(("item", line.strip()))
        elif blocks and blocks[-1][0] in ("p", "item"):
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + " " + line.strip())
        else:
            blocks.append(("p", line.strip()))
    while blocks and blocks[-1][0] == "blank":
        blocks.pop()
    return blocks


def wrap_comment(
    text: str, language: str | None, indent: str, width: int, *, newline: str = "\n"
) -> str:
    """`text` as a line-comment block at `indent`, wrapped to `width` columns; each line ends
    with `newline`, so the block inserts at the start of a line as is.
    """
    marker = line_comment(language)
    room = width - len(indent) - len(marker) - 1
    out: list[str] = []
    for kind, body in _paragraphs(plain_text(text)):
        if kind == "blank":
            out.append("")
        elif kind == "item":
            item = _ITEM.match(body)  # _paragraphs made it an item because this matched
            bullet = item.group(0) if item else ""
            out.extend(_wrap(body[len(bullet) :], room, bullet, " " * len(bullet)))
        else:
            out.extend(_wrap(body, room, "", ""))
    return "".join(f"{indent}{marker}{' ' + line if line else ''}{newline}" for line in out)


def detect_docstring_style(text: str) -> str | None:
    """The style ("google", "numpy" or "rest") of the file's existing docstrings; None when unclear."""
    counts: Counter[str] = Counter()
    for _quote, body in _DOCSTRING.findall(text):
        for style, pattern in _STYLE_MARKERS.items():
            counts[style] += len(pattern.findall(body))
    best = counts.most_common(1)
    return best[0][0] if best and best[0][1] > 0 else None


def detect_quote(text: str) -> str:
    """The docstring quote the file uses most (`\"\"\"` by default)."""
    return "'''" if text.count("'''") > text.count('"""') else '"""'


def sentence(text: str) -> str:
    """One clean sentence: no quotes or backticks around it, capitalised, ending in a period."""
    text = " ".join(text.split())
    while len(text) > 1 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()  # only a pair wrapping the whole text: `x` inside stays
    if not text or text in "\"'`":
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _python_sections(
    parts: DocParts, style: str, types: dict[str, str], returns_type: str, room: int
) -> list[str]:
    parts = _sentences(parts)
    lines: list[str] = []
    if style == "rest":
        for name, desc in parts.params:
            lines += _wrap(desc, room, f":param {name.lstrip('*')}: ", "    ")
        if parts.returns:
            lines += _wrap(parts.returns, room, ":returns: ", "    ")
        return lines
    if style == "numpy":
        if parts.params:
            lines += ["Parameters", "----------"]
            for name, desc in parts.params:
                lines.append(f"{name} : {types[name]}" if types.get(name) else name)
                lines += _wrap(desc, room, "    ", "    ")
        if parts.returns:
            lines += (
                ["", "Returns", "-------", returns_type or "object"]
                if lines
                else ["Returns", "-------", returns_type or "object"]
            )
            lines += _wrap(parts.returns, room, "    ", "    ")
        return lines
    if parts.params:
        lines.append("Args:")
        for name, desc in parts.params:
            lines += _wrap(desc, room, f"    {name}: ", "        ")
    if parts.returns:
        lines += (["", "Returns:"] if lines else ["Returns:"]) + _wrap(
            parts.returns, room, "    ", "    "
        )
    return lines


def render_python_docstring(
    parts: DocParts,
    *,
    indent: str,
    width: int,
    style: str | None = None,
    quote: str = '"""',
    types: dict[str, str] | None = None,
    returns_type: str = "",
    newline: str = "\n",
) -> str:
    """A Python docstring at `indent` (the body's), ending with `newline`; a one-liner when
    only a summary fits. `style` defaults to Google.
    """
    room = width - len(indent)
    summary = sentence(parts.summary) or "TODO: describe."
    sections = _python_sections(parts, style or "google", types or {}, returns_type, room)
    if not sections and not parts.details and len(indent) + len(summary) + 2 * len(quote) <= width:
        return f"{indent}{quote}{summary}{quote}{newline}"
    lines = _wrap(summary, room - len(quote), quote, "")
    if parts.details:
        lines += [""] + _wrap(parts.details, room, "", "")
    if sections:
        lines += [""] + sections
    lines.append(quote)
    return "".join(f"{indent}{line}{newline}" if line else newline for line in lines)


def _sentences(parts: DocParts) -> DocParts:
    """Every description as a clean sentence, whoever built the parts."""
    return DocParts(
        summary=sentence(parts.summary),
        details=sentence(parts.details) if parts.details else "",
        params=tuple((name, sentence(desc)) for name, desc in parts.params if desc.strip()),
        returns=sentence(parts.returns) if parts.returns else "",
    )


def _go_summary(name: str, summary: str) -> str:
    """Go doc comments start with the name: "Returns x" becomes "Name returns x"."""
    text = sentence(summary)
    if not name or text.startswith(name + " ") or not text:
        return text
    words = text.split(" ", 1)
    first = words[0] if len(words[0]) > 1 and words[0][1].isupper() else words[0].lower()
    return f"{name} {first}{' ' + words[1] if len(words) > 1 else ''}"


def render_doc_comment(
    parts: DocParts, language: str, *, name: str, indent: str, width: int, newline: str = "\n"
) -> str:
    """A doc comment above a definition: JSDoc/TSDoc, Javadoc, Doxygen-style C/C++, Go `//
    Name ...`, Rust `///`. Ends with `newline`.
    """
    room = width - len(indent) - 3
    parts = _sentences(parts)
    summary = parts.summary or "TODO: describe."
    if language in ("go", "rust"):
        marker = "//" if language == "go" else "///"
        lines = _wrap(_go_summary(name, summary) if language == "go" else summary, room, "", "")
        if parts.details:
            lines += [""] + _wrap(parts.details, room, "", "")
        return "".join(f"{indent}{marker}{' ' + line if line else ''}{newline}" for line in lines)
    lines = _wrap(summary, room, "", "")
    if parts.details:
        lines += [""] + _wrap(parts.details, room, "", "")
    tags: list[str] = []
    dash = " - " if language in ("javascript", "typescript", "tsx") else " "
    for param, desc in parts.params:
        tags += _wrap(desc, room, f"@param {param}{dash}", "    ")
    if parts.returns:
        tags += _wrap(
            parts.returns,
            room,
            "@return " if language in ("java", "c", "cpp") else "@returns ",
            "    ",
        )
    if tags:
        lines += [""] + tags
    body = "".join(f"{indent} *{' ' + line if line else ''}{newline}" for line in lines)
    return f"{indent}/**{newline}{body}{indent} */{newline}"


def parse_doc_reply(reply: str, param_names: list[str]) -> DocParts:
    """Read the model's `SUMMARY:` / `PARAM name:` / `RETURNS:` reply, leniently.

    A reply that ignores the format still gives a summary (its first sentence); parameters
    the model did not describe are left out rather than invented.
    """
    summary, returns, details = "", "", []
    described: dict[str, str] = {}
    wanted = {n.lstrip("*.").lower(): n for n in param_names}
    for raw in reply.replace("```", "\n").splitlines():
        line = raw.replace("**", "").strip().lstrip("-*# ").strip()
        head, _, rest = line.partition(":")
        key = head.strip().upper()
        if key == "SUMMARY":
            summary = summary or rest
        elif key == "RETURNS":
            returns = rest
        elif key.startswith("PARAM"):
            name = head.strip()[5:].strip().strip("`*").lstrip("*.")
            name, rest = (name, rest) if name else _split_param(rest)
            if name.lower() in wanted and rest.strip():
                described[wanted[name.lower()]] = sentence(rest)
        elif line and not summary and ":" not in line[:12]:
            details.append(line)
    if not summary and details:
        summary = re.split(r"(?<=[.!?])\s", " ".join(details), maxsplit=1)[0]
    params = tuple((n, described[n]) for n in param_names if n in described)
    return DocParts(summary=sentence(summary), params=params, returns=sentence(returns))


def _split_param(rest: str) -> tuple[str, str]:
    """`PARAM: x: what` (name after the colon) → ("x", "what")."""
    name, _, desc = rest.strip().partition(":")
    return name.strip().strip("`*"), desc
