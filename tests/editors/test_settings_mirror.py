"""The VS Code extension's settings mirror the server's settings tree one to one.

Every key of `CoveSettings` (camelCase on the wire) must be a `cove.<section>.<key>` setting
in editors/vscode/package.json with the same default and a matching type, and the
extension must contribute no server key the server does not read. Editor-only keys live
under `cove.server.*` and `cove.trace.*`.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

from engine.settings import camel_case
from lsp.settings import LOG_LEVELS, MULTILINE, CoveSettings

PACKAGE_JSON = Path(__file__).resolve().parents[2] / "editors" / "vscode" / "package.json"
EDITOR_ONLY = ("cove.server.", "cove.trace.")
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def server_keys(
    cls: type = CoveSettings, prefix: str = "cove"
) -> dict[str, tuple[typing.Any, typing.Any]]:
    """Every leaf of the settings tree: wire key → (type, default)."""
    leaves: dict[str, tuple[typing.Any, typing.Any]] = {}
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for field in dataclasses.fields(cls):
        key = f"{prefix}.{camel_case(field.name)}"
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            leaves.update(server_keys(kind, key))
        else:
            leaves[key] = (kind, getattr(defaults, field.name))
    return leaves


def contributed() -> dict[str, dict]:
    """The extension's `cove.*` settings, editor-only ones left out."""
    properties = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    return {key: spec for key, spec in properties.items() if not key.startswith(EDITOR_ONLY)}


def test_every_server_key_is_a_vscode_setting_and_nothing_else():
    assert sorted(contributed()) == sorted(server_keys())


def test_defaults_and_types_match_the_server():
    settings = contributed()
    for key, (kind, default) in server_keys().items():
        spec = settings[key]
        wire_default = list(default) if isinstance(default, tuple) else default
        assert spec["default"] == wire_default, key
        if typing.get_origin(kind) in (tuple, list):
            assert spec["type"] == "array", key
        else:
            assert spec["type"] == JSON_TYPES[kind], key
        assert spec.get("description") or spec.get("markdownDescription"), (
            f"{key} has no description"
        )


def test_choices_match_the_server():
    settings = contributed()
    assert tuple(settings["cove.generation.multiline"]["enum"]) == MULTILINE
    assert tuple(settings["cove.features.logLevel"]["enum"]) == LOG_LEVELS


def test_editor_only_settings_are_the_documented_ones():
    properties = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    editor_only = sorted(key for key in properties if key.startswith(EDITOR_ONLY))
    assert editor_only == [
        "cove.server.args",
        "cove.server.path",
        "cove.server.pythonPath",
        "cove.trace.server",
    ]
