"""Prompt templates for the chat tasks (explain, docstring, commit), kept as data.

A template is a text file with `### system` and `### user` sections and `$name`
placeholders (string.Template, so code with braces needs no escaping).
"""

from __future__ import annotations

import functools
import importlib.resources
import string


@functools.cache
def load_prompt(name: str) -> str:
    """The raw text of the template `name` (e.g. "commit")."""
    return importlib.resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")


def render_messages(template: str, /, **values: str) -> list[dict[str, str]]:
    """Chat messages from the template called `template` with `$placeholders` filled.

    A missing value is a KeyError (a template bug the tests catch), never an empty hole.
    """
    messages: list[dict[str, str]] = []
    for section in load_prompt(template).split("### ")[1:]:
        role, _, body = section.partition("\n")
        content = string.Template(body.strip("\n")).substitute(values)
        messages.append({"role": role.strip(), "content": content.strip()})
    return messages
