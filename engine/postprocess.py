"""Post-processing of a raw suggestion: a pure function, so every rule is unit-tested."""

from __future__ import annotations

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {")": "(", "]": "[", "}": "{"}
QUOTES = ("'", '"', "`")


def _bracket_stack(text: str, stack: list[str] | None = None) -> tuple[list[str], int | None]:
    """Scan `text` for brackets outside simple string literals.

    Returns the stack of unclosed openers and the index of the first closer that closes
    nothing (None when every closer matches).
    """
    stack = list(stack or [])
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote or char == "\n":
                quote = ""
            continue
        if char in QUOTES:
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            # A comment to the end of the line: brackets in it do not count.
            end = text.find("\n", index)
            if end < 0:
                break
            quote = "\n"  # skip until the newline
        elif char in OPENERS:
            stack.append(char)
        elif char in CLOSERS:
            if stack and stack[-1] == CLOSERS[char]:
                stack.pop()
            else:
                return stack, index
    return stack, None


def _trim_suffix_overlap(text: str, suffix: str) -> str:
    """Drop the end of `text` where it repeats what already follows the cursor.

    Whole lines that repeat the suffix's first lines go; on the last line, the longest
    ending that equals the start of the rest of the cursor's line goes (so `foo(a)` typed
    before an existing `)` becomes `foo(a`).
    """
    suffix_lines = suffix.split("\n")
    text_lines = text.split("\n")
    # Repeated lines: the suggestion's tail equals the start of the following text.
    following = [line.rstrip() for line in suffix_lines[1:] if line.strip()]
    while len(text_lines) > 1 and following:
        tail = [line.rstrip() for line in text_lines[1:] if line.strip()]
        if not tail:
            break
        n = len(tail)
        if tail == following[:n]:
            text_lines = text_lines[:1]
            break
        if tail[-1] and tail[-1] == following[0]:
            text_lines = text_lines[:-1]
            continue
        break
    text = "\n".join(text_lines)
    rest_of_line = suffix_lines[0].rstrip()
    if not rest_of_line.strip():
        return text
    last = text.rsplit("\n", 1)[-1]
    for size in range(min(len(last), len(rest_of_line)), 0, -1):
        if last.endswith(rest_of_line[:size]):
            return text[: len(text) - size]
    return text


def _balance_brackets(text: str, line_prefix: str) -> str:
    """Cut the suggestion before a closer that matches nothing opened on the line or in it."""
    open_on_line, _ = _bracket_stack(line_prefix)
    _, bad = _bracket_stack(text, open_on_line)
    return text if bad is None else text[:bad]


def align_to_cursor(text: str, continued: str, line_prefix: str) -> str:
    """The model's text, which continues the line text `continued`
    (`engine.templates.continued_line`), as the text to insert at the cursor, where the
    line holds `line_prefix`.

    The prompt may lack the line's last word (token healing): the model writes it again
    and it is cut here. On a line of indentation only, the code goes where the cursor is
    whatever indentation the model chose. A text that does not continue what the line
    holds (a backend that cannot force the healed word) is no suggestion.
    """
    line = continued + text
    if line.startswith(line_prefix):
        return line[len(line_prefix) :]
    if not line_prefix.strip():
        return line.lstrip(" \t")
    return ""


def postprocess(
    text: str,
    *,
    line_prefix: str,
    suffix: str,
    previous_line: str = "",
    special_tokens: tuple[str, ...] = (),
) -> str:
    """Clean a raw suggestion; return "" when nothing worth showing is left.

    Rules, in order: drop leaked special tokens; trim trailing whitespace; trim text that
    repeats the start of the suffix; cut at a closing bracket that opens nowhere; drop a
    result that is empty or repeats the previous line.
    """
    for token in special_tokens:
        if token and token in text:
            text = text[: text.index(token)]
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    text = _trim_suffix_overlap(text, suffix).rstrip()
    text = _balance_brackets(text, line_prefix).rstrip()
    if not text.strip():
        return ""
    first_line = (line_prefix + text.split("\n", 1)[0]).strip()
    if previous_line.strip() and first_line == previous_line.strip():
        return ""
    next_line = next((line for line in suffix.split("\n")[1:] if line.strip()), "")
    if "\n" not in text and line_prefix.strip() == "" and first_line == next_line.strip():
        return ""
    return text
