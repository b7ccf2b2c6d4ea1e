"""FIM templates as data, chosen from the model's own vocabulary, and prompt rendering.

The prompt is rendered as text and tokenized with `special=True`; llama-cpp-python's
`suffix=` path uses placeholder token ids and is not used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.types import ContextChunk, FimInput


@dataclass(frozen=True, kw_only=True)
class FimTemplate:
    """How one model family spells fill-in-the-middle."""

    name: str
    prefix: str = ""
    suffix: str = ""
    middle: str = ""
    order: str = "psm"  # "psm": prefix, suffix, middle; "none": prefix-only continuation
    repo_name: str = ""  # repo-level tokens, empty when the family has none
    file_sep: str = ""
    stops: tuple[str, ...] = ()

    @property
    def has_fim(self) -> bool:
        """True when the model can fill a hole rather than only continue."""
        return self.order != "none"

    @property
    def special_tokens(self) -> tuple[str, ...]:
        """Every special marker of the template; none may appear in generated text."""
        marks = (self.prefix, self.suffix, self.middle, self.repo_name, self.file_sep)
        return tuple(m for m in marks if m) + self.stops


QWEN = FimTemplate(
    name="qwen2.5-coder",
    prefix="<|fim_prefix|>",
    suffix="<|fim_suffix|>",
    middle="<|fim_middle|>",
    repo_name="<|repo_name|>",
    file_sep="<|file_sep|>",
    stops=("<|endoftext|>", "<|im_end|>", "<|fim_pad|>"),
)
STARCODER = FimTemplate(
    name="starcoder",
    prefix="<fim_prefix>",
    suffix="<fim_suffix>",
    middle="<fim_middle>",
    repo_name="<repo_name>",
    file_sep="<file_sep>",
    stops=("<|endoftext|>", "<fim_pad>"),
)
DEEPSEEK = FimTemplate(
    name="deepseek-coder",
    prefix="<｜fim▁begin｜>",
    suffix="<｜fim▁hole｜>",
    middle="<｜fim▁end｜>",
    stops=("<｜end▁of▁sentence｜>", "<|EOT|>"),
)
CODELLAMA = FimTemplate(
    name="codellama",
    prefix="<PRE> ",
    suffix=" <SUF>",
    middle=" <MID>",
    stops=("<EOT>", "</s>"),
)
CODEGEMMA = FimTemplate(
    name="codegemma",
    prefix="<|fim_prefix|>",
    suffix="<|fim_suffix|>",
    middle="<|fim_middle|>",
    file_sep="<|file_separator|>",
    stops=("<end_of_turn>", "<eos>"),
)
PLAIN = FimTemplate(name="prefix-only", order="none")

# Ordered: the first whose markers all exist in the vocabulary wins. CodeGemma shares
# Qwen's three FIM markers, so the repo-level marker tells them apart.
TEMPLATES: tuple[FimTemplate, ...] = (QWEN, CODEGEMMA, STARCODER, DEEPSEEK, CODELLAMA)
TEMPLATES_BY_NAME = {t.name: t for t in (*TEMPLATES, PLAIN)}

# Where context chunks go in the prompt (`render_prompt`), and who writes the indentation of
# a line of indentation only (`split_cursor_line`): settings `generation.contextPlacement`
# and `generation.indentation`.
PLACEMENTS = ("repo", "prefix", "suffix")
INDENTATIONS = ("model", "hold")
LAYOUTS = ("auto", "stable", "psm", "hybrid")
HASH_COMMENTS = (".py", ".pyi", ".rb", ".sh", ".toml", ".yaml", ".yml", ".r", ".pl")


def detect_template(fim_prefix_token: str, is_special: Callable[[str], bool]) -> FimTemplate:
    """Choose the template from the model's vocabulary.

    `fim_prefix_token` is the text of the GGUF's declared FIM-prefix token (empty when the
    model declares none); `is_special(text)` says whether `text` is a single special token
    of the vocabulary. Models whose GGUF lacks FIM metadata are still recognised by their
    marker tokens; a model with neither falls back to prefix-only continuation.
    """
    declared = fim_prefix_token.strip()
    for template in TEMPLATES:
        markers = [template.prefix.strip(), template.suffix.strip(), template.middle.strip()]
        if declared and declared != markers[0]:
            continue
        if not all(is_special(m) for m in markers):
            continue
        if template.repo_name and not is_special(template.repo_name):
            continue
        if template.file_sep and not is_special(template.file_sep):
            continue
        return template
    return PLAIN


def _repo_header(template: FimTemplate, fim: FimInput) -> str:
    """Context chunks in repo-level format, or as path-comment headers."""
    if template.repo_name and template.file_sep:
        parts = [f"{template.repo_name}{fim.repo_name or 'repo'}\n"]
        for chunk in fim.chunks:
            parts.append(f"{template.file_sep}{chunk.path}\n{chunk.text.rstrip()}\n")
        parts.append(f"{template.file_sep}{fim.path or 'untitled'}\n")
        return "".join(parts)
    if template.file_sep:
        parts = [f"{template.file_sep}{c.path}\n{c.text.rstrip()}\n" for c in fim.chunks]
        return "".join(parts)
    return "".join(_comment_chunk(c) for c in fim.chunks)


def _comment_chunk(chunk: ContextChunk) -> str:
    """A chunk preceded by a comment naming its file, for families without file markers."""
    return f"{comment_mark(chunk.path)} {chunk.path}\n{chunk.text.rstrip()}\n\n"


def comment_mark(path: str) -> str:
    """The line-comment mark of the file's language (`#` or `//`)."""
    return "#" if path.endswith(HASH_COMMENTS) else "//"


def comment_blocks(fim: FimInput) -> str:
    """Context chunks as comment blocks in the language of the file being completed
    (`# Path: a/b.py` then each line commented), the shape Tabby, Copilot and Continue put
    inside the prefix; placement "prefix" and "suffix" use it.
    """
    mark = comment_mark(fim.path)
    parts = []
    for chunk in fim.chunks:
        lines = chunk.text.rstrip().split("\n")
        body = "".join(f"{mark} {line}".rstrip() + "\n" for line in lines)
        parts.append(f"{mark} Path: {chunk.path}\n{body}")
    return "".join(parts)


def render_prompt(
    template: FimTemplate, fim: FimInput, layout: str = "stable", placement: str = "repo"
) -> str:
    """Render the FIM prompt.

    "stable" (default): [context][prefix marker + file up to the end of the line before the
    cursor's][suffix marker + rest of the cursor's line and after][middle marker + newline +
    cursor line up to the cursor] (see `middle_seed`). Typing inside a line changes only the
    tail, so the KV cache keeps everything before it. "psm": the classic layout, the cursor
    line's text ends the prefix (every keystroke then re-evaluates the suffix).

    `placement` says where context chunks go (`PLACEMENTS`): "repo", the repo-level header
    before the prefix marker; "prefix", comment blocks right after the prefix marker; "suffix",
    comment blocks after the suffix, just before the middle marker.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown context placement {placement!r}")
    header = _repo_header(template, fim) if fim.chunks and placement == "repo" else ""
    before = after = ""
    if fim.chunks and placement == "prefix":
        before = comment_blocks(fim)
    elif fim.chunks and placement == "suffix":
        after = ("\n" if fim.suffix and not fim.suffix.endswith("\n") else "") + comment_blocks(fim)
    if not template.has_fim:
        return header + before + fim.prefix + middle_seed(template, fim, layout)
    if layout == "psm":
        return (
            f"{header}{template.prefix}{before}{fim.prefix}{fim.line_prefix}{template.suffix}"
            f"{fim.suffix}{after}{template.middle}"
        )
    prefix = fim.prefix.removesuffix("\n")
    return (
        f"{header}{template.prefix}{before}{prefix}{template.suffix}{fim.suffix}{after}"
        f"{template.middle}{middle_seed(template, fim, layout)}"
    )


HEALED_TAIL = re.compile(r"\s*[^\s\w]?\w*$")


def resolve_layout(layout: str, fim: FimInput, model_layout: str = "stable") -> str:
    """The layout this prompt is rendered in: "auto" is the model's own (`model_layout`);
    "hybrid" is "psm" on a line of indentation only (the user's indentation ends the prefix,
    as a plain FIM plugin has it) and "stable" on a line with text (typing inside it keeps
    the KV cache).
    """
    if layout == "auto":
        layout = model_layout if model_layout != "auto" else "stable"
    if layout != "hybrid":
        return layout
    return "psm" if not fim.line_prefix.strip() else "stable"


def split_cursor_line(line_prefix: str, indentation: str = "model") -> tuple[str, str]:
    """(what the prompt keeps of the cursor's line, the tail left for the model to write).

    The tail is the line's last word with the blank or mark before it (` Fal`, `.ba`,
    `(`): in the finished line it belongs to a longer token, and a prompt that ends in
    the middle of one makes the model treat the word as complete (`return Fal`).

    A line of indentation only: with `indentation` "model" it is left out whole and the
    model writes an indentation of its choice; with "hold" the user's indentation stays and
    only its last blank is the tail, healed like a word. That is how the tokenizer splits an
    indented line (a newline, `"   "`, `" return"`: the last blank starts the first word's
    token), and the backend then writes exactly that blank and no further one, so the
    suggestion starts at the cursor.
    """
    if not line_prefix.strip():
        if indentation == "hold":
            return line_prefix[:-1], line_prefix[-1:]
        return "", ""
    match = HEALED_TAIL.search(line_prefix)
    start = match.start() if match else len(line_prefix)
    return line_prefix[:start], line_prefix[start:]


def middle_seed(template: FimTemplate, fim: FimInput, layout: str = "stable") -> str:
    """The text the prompt ends with on the cursor's line; the model continues from there.

    Measured on the embedded model (SantaCoder FIM rows cut as an editor sees them): a
    prefix that ends with a newline makes the model skip or repeat lines, so the newline
    before the cursor's line moves after the middle marker; and the line's last word is
    left for the model to write (`split_cursor_line`, token healing). `align_to_cursor`
    turns the model's text back into an insertion at the cursor. "" for the psm layout,
    whose prompt ends with the middle marker.
    """
    if template.has_fim and layout == "psm":
        return ""
    newline = "\n" if template.has_fim and fim.prefix.endswith("\n") else ""
    kept = split_cursor_line(fim.line_prefix, fim.indentation)[0]
    return newline + (fim.line_prefix if fim.healed else kept)


def healed_tail(template: FimTemplate, fim: FimInput, layout: str = "stable") -> str:
    """The text the generation must start with: the cursor line's tail `middle_seed` left out
    (with `fim.indentation` "hold", the last blank of a line of indentation only).
    """
    if (template.has_fim and layout == "psm") or fim.healed:
        return ""
    return split_cursor_line(fim.line_prefix, fim.indentation)[1]


def continued_line(template: FimTemplate, fim: FimInput, layout: str = "stable") -> str:
    """The cursor line's text that the model's output continues (for `align_to_cursor`)."""
    if template.has_fim and layout == "psm":
        return fim.line_prefix  # the classic prompt holds the whole line up to the cursor
    return middle_seed(template, fim, layout).removeprefix("\n")
