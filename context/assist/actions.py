"""Assist services: explain code, write docstrings, and say which of them fit a position.

Model calls go through `backend.chat` with the prompt templates in `engine/prompts/`.
Edit functions are pure over the text they are given (the server checks the document
version before applying), and every model reply is cleaned defensively: the embedded
model is small, so prompts are short and the reply format is spelled out.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from context.syntax import comments
from context.syntax.definitions import Definition, enclosing_definition, language_for, outline
from context.syntax.languages import end_row, parse
from engine.backend import Backend
from engine.prompts import render_messages
from engine.types import CompletionError, ContextChunk

log = logging.getLogger(__name__)

EXPLAIN, DOCSTRING, REPLACE_DOCSTRING = "explain", "docstring", "replace_docstring"


@dataclass(frozen=True, kw_only=True)
class AssistSettings:
    """Budgets of the assist tasks (tokens of the model's tokenizer, milliseconds)."""

    code_tokens: int = 1200  # code shown to the model; more is summarised as an outline
    context_tokens: int = 300  # repository context added to an explanation
    explain_max_tokens: int = 220  # Markdown explanation (cove.explain, `cove explain`)
    comment_max_tokens: int = 120  # explanation inserted as a comment
    docstring_max_tokens: int = 160
    deadline_ms: int = 30000


@dataclass(frozen=True, kw_only=True)
class TextEdit:
    """Replace the range (0-based lines, string-index columns) with `new_text`."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    new_text: str


@dataclass(frozen=True, kw_only=True)
class Target:
    """The code an action works on: inclusive lines, and the definition when there is one."""

    start_line: int
    end_line: int
    definition: Definition | None = None


def ask(
    backend: Backend,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    deadline_ms: int,
    cancel: threading.Event | None,
) -> str:
    """The model's reply, "" when cancelled. CompletionError when the prompt does not fit
    the context or no answer came before the deadline: both are the user's to act on.
    """
    if cancel is not None and cancel.is_set():
        return ""
    try:
        reply = backend.chat(
            messages, max_tokens=max_tokens, deadline_ms=deadline_ms, cancel=cancel
        ).result()
    except ValueError as error:  # llama.cpp: "Requested tokens exceed context window"
        raise CompletionError(
            f"The request does not fit the model's context ({error}); raise model.contextSize."
        ) from error
    if cancel is not None and cancel.is_set():
        return ""
    if not (reply or "").strip():  # the deadline passed during the (uninterruptible) prefill
        raise CompletionError(
            f"The model gave no answer within {deadline_ms / 1000:.0f} s (a busy machine, or a large "
            "request); try again, or select less code."
        )
    return reply


def find_target(
    text: str, language: str | None, start_line: int, end_line: int | None
) -> Target | None:
    """What to work on: a selection (blank edges trimmed), or with `end_line` None the
    definition at `start_line`, else the top-level statement there; None on blank ground.
    """
    lines = text.split("\n")
    if not lines or start_line < 0 or start_line >= len(lines):
        return None
    if end_line is not None:
        end = min(max(end_line, start_line), len(lines) - 1)
        start = start_line
        while start <= end and not lines[start].strip():
            start += 1
        while end >= start and not lines[end].strip():
            end -= 1
        return Target(start_line=start, end_line=end) if start <= end else None
    definition = enclosing_definition(text, language, start_line)
    if definition is not None:
        return Target(
            start_line=definition.start_line, end_line=definition.end_line, definition=definition
        )
    if not lines[start_line].strip():
        return None
    tree = parse(text, language)
    for node in tree.root_node.named_children if tree is not None else ():
        if node.start_point.row <= start_line <= end_row(node):
            return Target(start_line=node.start_point.row, end_line=end_row(node))
    return Target(start_line=start_line, end_line=start_line)


def fit_code(
    backend: Backend, text: str, language: str | None, target: Target, budget: int
) -> tuple[str, bool]:
    """The target's code if it fits `budget` tokens, else its outline (signatures with line
    numbers), else its head and tail; the flag says whether the code was summarised.
    """
    code = "\n".join(text.split("\n")[target.start_line : target.end_line + 1])
    # Characters first: counting the tokens of a 10k-line file would cost seconds.
    if len(code) <= budget * 6 and backend.count_tokens(code) <= budget:
        return code, False
    budget //= 2  # an overview needs fewer tokens, and a huge selection must still be quick
    for chars in (budget * 3, budget * 2, budget):  # outline lines are dense: shrink until they fit
        shape = outline(text, language, target.start_line, target.end_line, max_chars=chars)
        if not shape:
            break
        if backend.count_tokens(shape) <= budget:
            return shape, True
    lines = code.split("\n")
    head = "\n".join(lines[:40])[: budget * 2]
    tail = "\n".join(lines[-20:])[:budget]
    return f"{head}\n... ({len(lines) - 60} lines omitted) ...\n{tail}", True


def context_block(
    backend: Backend, chunks: list[ContextChunk] | tuple[ContextChunk, ...], budget: int
) -> str:
    """Repository context for a prompt, in the given (stable) order, cut to `budget` tokens."""
    parts, used = [], 0
    for chunk in chunks:
        piece = f"`{chunk.path}`:\n```\n{chunk.text.strip()}\n```\n"
        cost = chunk.tokens or backend.count_tokens(piece)
        if used + cost > budget:
            continue
        parts.append(piece)
        used += cost
    return "Related code from the repository:\n\n" + "\n".join(parts) + "\n" if parts else ""


def drop_cut_sentence(text: str) -> str:
    """Without a last sentence the deadline cut off mid-way (kept when it is all there is)."""
    text = text.rstrip()
    if not text or re.search(r"[.!?:;)`*\]]$", text):
        return text
    head, _, last = text.rpartition("\n")
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", last)]
    if ends:
        return (head + "\n" if head else "") + last[: ends[-1]]
    return head.rstrip() if head.strip() else text


def clean_markdown(reply: str) -> str:
    """The reply without a wrapping code fence, an "Explanation:" preamble or a heading line."""
    text = reply.strip()
    fenced = re.fullmatch(r"```[\w-]*\n(.*?)\n?```", text, re.DOTALL)
    if fenced and not re.search(r"[;{}()=]\s*$", fenced.group(1), re.MULTILINE):
        text = fenced.group(1).strip()  # prose wrapped in a fence, not code
    text = re.sub(
        r"^(#+\s*)?(explanation|answer|sure[^\n]*)\s*:?\s*\n", "", text, flags=re.IGNORECASE
    )
    return drop_cut_sentence(text.strip())


def _explain_messages(
    backend, text, path, target, language, chunks, settings, *, short: bool
) -> list[dict[str, str]]:
    code, summarised = fit_code(backend, text, language, target, settings.code_tokens)
    d = target.definition
    span = f"lines {target.start_line + 1}-{target.end_line + 1} of `{path}`"
    if summarised:
        intro = (
            f"The {span} are too long to show; these are the definitions in them (line: signature)"
        )
        subject = "this part of the file"
    elif d is not None:
        intro, subject = (
            f"Here is the {d.kind} `{d.name}` from `{path}`",
            f"the {d.kind} `{d.name}`",
        )
    else:
        intro, subject = f"Here are {span}", "this code"
    length = (
        "Two or three sentences." if short else "At most a short paragraph and a few bullet points."
    )
    return render_messages(
        "explain",
        context_block=context_block(backend, chunks, settings.context_tokens),
        intro=intro,
        subject=subject,
        language=language or "text",
        fence=language or "",
        code=code,
        length=length,
    )


def _explanation(
    backend: Backend,
    text: str,
    path: str,
    start_line: int,
    end_line: int | None,
    language_id: str,
    chunks: list[ContextChunk] | tuple[ContextChunk, ...],
    cancel: threading.Event | None,
    settings: AssistSettings,
    *,
    short: bool,
) -> tuple[str | None, Target, str] | None:
    """(language, target, cleaned Markdown) for `explain` and `explain_edit`; None when
    there is nothing to explain.
    """
    language = language_for(path, language_id)
    target = find_target(text, language, start_line, end_line)
    if target is None:
        return None
    messages = _explain_messages(
        backend, text, path, target, language, chunks, settings, short=short
    )
    reply = ask(
        backend,
        messages,
        max_tokens=settings.comment_max_tokens if short else settings.explain_max_tokens,
        deadline_ms=settings.deadline_ms,
        cancel=cancel,
    )
    return language, target, clean_markdown(reply)


def explain(
    backend: Backend,
    text: str,
    path: str,
    start_line: int,
    end_line: int | None = None,
    *,
    language_id: str = "",
    chunks: list[ContextChunk] | tuple[ContextChunk, ...] = (),
    cancel: threading.Event | None = None,
    settings: AssistSettings = AssistSettings(),
) -> str:
    """Markdown explaining lines `start_line..end_line` (0-based, inclusive), or with
    `end_line` None the definition at `start_line`; "" when there is nothing to explain or
    it was cancelled; CompletionError when no answer came in time.
    """
    found = _explanation(
        backend,
        text,
        path,
        start_line,
        end_line,
        language_id,
        chunks,
        cancel,
        settings,
        short=False,
    )
    return found[2] if found is not None else ""


def explanation_edit(
    text: str, language: str | None, target: Target, explanation: str
) -> TextEdit | None:
    """Insert `explanation` as a comment block above the target (above its doc comment and
    decorators), at its indentation, wrapped to the file's line length. Pure.
    """
    if not explanation.strip():
        return None
    lines = text.split("\n")
    line = target.start_line
    d = target.definition
    if d is not None and d.doc_lines and d.doc_lines[0] < line:
        line = d.doc_lines[0]
    first = lines[line] if line < len(lines) else ""
    indent = first[: len(first) - len(first.lstrip())]
    width = comments.detect_line_length(text, language)
    block = comments.wrap_comment(
        explanation, language, indent, width, newline=comments.newline_of(text)
    )
    return TextEdit(
        start_line=line, start_character=0, end_line=line, end_character=0, new_text=block
    )


def explain_edit(
    backend: Backend,
    text: str,
    path: str,
    start_line: int,
    end_line: int | None = None,
    *,
    language_id: str = "",
    chunks: list[ContextChunk] | tuple[ContextChunk, ...] = (),
    cancel: threading.Event | None = None,
    settings: AssistSettings = AssistSettings(),
) -> TextEdit | None:
    """An edit inserting a short explanation as a comment above the code; None when there
    is nothing to explain (or cancelled); CompletionError when no answer came in time.
    """
    found = _explanation(
        backend, text, path, start_line, end_line, language_id, chunks, cancel, settings, short=True
    )
    if found is None:
        return None
    language, target, explanation = found
    return explanation_edit(text, language, target, explanation)


def docstring_target(
    text: str, language: str | None, line: int, *, replace: bool = False
) -> Definition | None:
    """The definition a docstring action at `line` documents; None on a blank line, outside
    definitions, or where one exists and `replace` is False.
    """
    lines = text.split("\n")
    if language is None or not 0 <= line < len(lines) or not lines[line].strip():
        return None
    definition = enclosing_definition(text, language, line)
    if definition is None or (definition.doc_lines is not None and not replace):
        return None
    return definition


def _doc_format_lines(d: Definition) -> tuple[list[str], str]:
    """The PARAM/RETURNS lines the model fills in, and the parameter names asked for."""
    if d.language in ("go", "rust") or d.kind not in ("function", "method", "constructor"):
        return [], ""
    names = [name for name, _type in d.params[:8]]
    lines = [f"PARAM {name}: <what {name} is>" for name in names]
    if d.returns is not None:
        lines.append("RETURNS: <what it returns>")
    return names, "\n".join(lines)


def docstring_edit(
    backend: Backend,
    text: str,
    path: str,
    line: int,
    *,
    replace: bool = False,
    language_id: str = "",
    cancel: threading.Event | None = None,
    settings: AssistSettings = AssistSettings(),
) -> TextEdit | None:
    """An edit adding (or with `replace`, rewriting) the docstring of the definition at
    `line`, in the language's convention and the file's style; None where it makes no sense.
    """
    language = language_for(path, language_id)
    d = docstring_target(text, language, line, replace=replace)
    if d is None or language is None:  # docstring_target finds nothing without a language
        return None
    target = Target(start_line=d.header_line, end_line=d.end_line, definition=d)
    code, _summarised = fit_code(backend, text, language, target, settings.code_tokens)
    names, format_lines = _doc_format_lines(d)
    messages = render_messages(
        "docstring",
        language=language,
        kind=d.kind,
        name=d.name,
        fence=language,
        code=code,
        format_lines=format_lines,
    )
    reply = ask(
        backend,
        messages,
        max_tokens=settings.docstring_max_tokens,
        deadline_ms=settings.deadline_ms,
        cancel=cancel,
    )
    parts = comments.parse_doc_reply(reply, list(names))
    if not parts.summary:
        return None
    return docstring_text_edit(text, d, parts)


def _python_body_indent(text: str, d: Definition) -> str:
    lines = text.split("\n")
    if d.body_start_line is not None and d.body_start_line > d.header_end_line:
        body = lines[d.body_start_line]
        return body[: len(body) - len(body.lstrip())]
    unit = (
        "\t"
        if re.search(r"^\t+\S", text, re.MULTILINE)
        and not re.search(r"^ {2,}\S", text, re.MULTILINE)
        else "    "
    )
    return d.indent + unit


def docstring_text_edit(text: str, d: Definition, parts: comments.DocParts) -> TextEdit:
    """Where and what to write for a docstring: Python inside the body after the header,
    other languages as a doc comment above the definition (replacing the old one). Pure.
    """
    newline = comments.newline_of(text)
    width = comments.detect_line_length(text, d.language)
    if d.language != "python":
        block = comments.render_doc_comment(
            parts, d.language, name=d.name, indent=d.indent, width=width, newline=newline
        )
        first, last = d.doc_lines if d.doc_lines else (d.start_line, d.start_line - 1)
        return TextEdit(
            start_line=first, start_character=0, end_line=last + 1, end_character=0, new_text=block
        )
    indent = _python_body_indent(text, d)
    block = comments.render_python_docstring(
        parts,
        indent=indent,
        width=width,
        style=comments.detect_docstring_style(text),
        quote=comments.detect_quote(text),
        types=dict(d.params),
        returns_type=d.returns or "",
        newline=newline,
    )
    lines = text.split("\n")
    if d.doc_span is not None:
        line0, col0, line1, col1 = d.doc_span
        return TextEdit(
            start_line=line0,
            start_character=col0,
            end_line=line1,
            end_character=col1,
            new_text=block.strip(),
        )
    if d.one_line_body:  # `def f(): pass` → the docstring and the body each on their own line
        header = lines[d.header_end_line].rstrip("\r")
        colon = len(header[: d.body_start_character].rstrip())
        return TextEdit(
            start_line=d.header_end_line,
            start_character=colon,
            end_line=d.header_end_line,
            end_character=d.body_start_character,
            new_text=newline + block + indent,
        )
    if d.header_end_line + 1 < len(lines):
        line = d.header_end_line + 1
        return TextEdit(
            start_line=line, start_character=0, end_line=line, end_character=0, new_text=block
        )
    end = len(lines[d.header_end_line].rstrip("\r"))
    return TextEdit(
        start_line=d.header_end_line,
        start_character=end,
        end_line=d.header_end_line,
        end_character=end,
        new_text=newline + block[: -len(newline)],
    )


def actions_at(
    text: str,
    path: str,
    line: int,
    start: int | None = None,
    end: int | None = None,
    *,
    language_id: str = "",
) -> list[str]:
    """Which assist actions make sense at the cursor `line`, with the selection's first and
    last lines (`start`/`end`, None without a selection): "explain", "docstring" (none yet),
    "replace_docstring" (one exists; offered separately so nothing is replaced unasked).
    """
    language = language_for(path, language_id)
    lines = text.split("\n")
    found: list[str] = []
    if start is not None and end is not None:
        if find_target(text, language, start, end) is not None:
            found.append(EXPLAIN)
    elif find_target(text, language, line, None) is not None:
        found.append(EXPLAIN)
    if language is None or not 0 <= line < len(lines) or not lines[line].strip():
        return found
    definition = enclosing_definition(text, language, line)
    if definition is not None:
        found.append(REPLACE_DOCSTRING if definition.doc_lines is not None else DOCSTRING)
    return found
