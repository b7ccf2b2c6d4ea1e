"""The sample file and the edit helper that the assist tests of both tiers share."""

from __future__ import annotations

from context.assist.actions import TextEdit


def apply(text: str, edit: TextEdit) -> str:
    r"""The text after the edit (lines split on \n, columns as string indices)."""
    lines = text.split("\n")

    def offset(line: int, char: int) -> int:
        return sum(len(x) + 1 for x in lines[:line]) + char

    return (
        text[: offset(edit.start_line, edit.start_character)]
        + edit.new_text
        + text[offset(edit.end_line, edit.end_character) :]
    )


PY = """import json


class Config:
    @staticmethod
    def load(path,
             defaults=None):
        with open(path) as handle:
            data = json.load(handle)
        return {**(defaults or {}), **data}

    def empty(self): return {}
"""
