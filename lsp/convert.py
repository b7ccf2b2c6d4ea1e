"""Conversions between lsprotocol types and Cove's plain values."""

from __future__ import annotations

from lsprotocol import types
from pygls.uris import to_fs_path

from context.completion import Completion


def path_of(uri: str) -> str:
    """The file path a `file:` uri names; any other uri (untitled:, git:) as it is."""
    return to_fs_path(uri) or uri


def _utf16_to_index(line: str, units: int) -> int:
    """Code-point index of a UTF-16 column."""
    count = 0
    for index, char in enumerate(line):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    if count >= units:
        return len(line)
    raise ValueError(f"character {units} is past the end of the line ({count} UTF-16 units)")


def _index_to_utf16(line: str, index: int) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in line[:index])


def to_server_position(
    lines: list[str], position: types.Position, encoding: str = "utf-16"
) -> tuple[int, int]:
    """Client position → (line, code-point column). Raises ValueError when out of range."""
    if position.line < 0 or position.line >= len(lines):
        raise ValueError(f"line {position.line} is outside the document ({len(lines)} lines)")
    line = lines[position.line]
    if encoding == "utf-32":
        if position.character > len(line):
            raise ValueError(
                f"character {position.character} is past the end of line {position.line}"
            )
        return position.line, position.character
    if encoding == "utf-8":
        data = line.encode("utf-8")
        if position.character > len(data):
            raise ValueError(
                f"character {position.character} is past the end of line {position.line}"
            )
        return position.line, len(data[: position.character].decode("utf-8", errors="ignore"))
    return position.line, _utf16_to_index(line, position.character)


def to_client_position(
    lines: list[str], line: int, index: int, encoding: str = "utf-16"
) -> types.Position:
    """(line, code-point column) → client position."""
    text = lines[line] if 0 <= line < len(lines) else ""
    if encoding == "utf-32":
        return types.Position(line=line, character=index)
    if encoding == "utf-8":
        return types.Position(line=line, character=len(text[:index].encode("utf-8")))
    return types.Position(line=line, character=_index_to_utf16(text, index))


def inline_items(
    completion: Completion, position: types.Position, accept_args: dict
) -> types.InlineCompletionList:
    """The suggestions as ghost text (plain-string insertText at the cursor), the greedy
    answer first: one for an automatic request, up to 1 + `generation.alternatives` for an explicit one.
    """
    items = [
        types.InlineCompletionItem(
            insert_text=choice.text,
            range=types.Range(start=position, end=position),
            command=types.Command(
                title="Cove: accepted",
                command="cove.accepted",
                arguments=[{**accept_args, "text": choice.text}],
            ),
        )
        for choice in completion.choices()
    ]
    return types.InlineCompletionList(items=items)


def completion_items(completion: Completion, position: types.Position) -> types.CompletionList:
    """The suggestions as completion-menu items (the fallback every client has)."""
    items = []
    for rank, choice in enumerate(completion.choices()):
        text = choice.text
        first_line = text.split("\n", 1)[0].strip() or text.strip().split("\n", 1)[0]
        items.append(
            types.CompletionItem(
                label=first_line[:80],
                kind=types.CompletionItemKind.Text,
                detail="Cove" if rank == 0 else "Cove (alternative)",
                documentation=types.MarkupContent(
                    kind=types.MarkupKind.Markdown, value=f"```\n{text}\n```"
                ),
                text_edit=types.TextEdit(
                    range=types.Range(start=position, end=position), new_text=text
                ),
                insert_text_format=types.InsertTextFormat.PlainText,
                sort_text=str(rank),
                preselect=rank == 0,
            )
        )
    return types.CompletionList(is_incomplete=True, items=items)
