"""Saved and watched files reached through a symlink are not read (lsp/features/index.py)."""

from __future__ import annotations

from types import SimpleNamespace

from lsprotocol import types

from lsp.features.index import note_open, provider_outside_symlinks, through_symlink


def server(root):
    """A stand-in for the server: just its workspace root."""
    return SimpleNamespace(workspace=SimpleNamespace(root_path=str(root), folders={}))


def test_only_paths_through_a_symlink_inside_the_workspace_count(tmp_path):
    root, outside = tmp_path / "repo", tmp_path / "outside"
    (root / "src").mkdir(parents=True)
    (outside / "dir").mkdir(parents=True)
    (root / "src" / "a.py").write_text("a = 1\n")
    (root / "link.py").symlink_to(outside / "secret.py")
    (root / "vendor").symlink_to(outside / "dir")
    (tmp_path / "alias").symlink_to(root)  # the workspace itself opened through a symlink
    ls = server(root)
    assert not through_symlink(ls, str(root / "src" / "a.py"))
    assert not through_symlink(ls, str(root / "src" / "new.py"))  # not created yet
    assert through_symlink(ls, str(root / "link.py"))
    assert through_symlink(ls, str(root / "vendor" / "mod.py"))
    assert through_symlink(ls, str(root / "src" / ".." / "vendor" / "mod.py"))
    assert not through_symlink(server(tmp_path / "alias"), str(tmp_path / "alias" / "src" / "a.py"))
    assert through_symlink(
        ls, str(tmp_path / "alias" / "src" / "a.py")
    )  # outside, resolves elsewhere


class RecordingRepositories:
    """Stands in for `Repositories`: records which paths were asked for context or opened."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def provider(self, text, path, window, budget_tokens):
        self.asked.append(path)
        return ["chunk"]

    def for_path(self, path):
        self.asked.append(str(path))
        return SimpleNamespace(note_view=lambda *_: None), False


def test_a_document_opened_through_a_symlink_gets_no_context_and_opens_no_repository(tmp_path):
    # Repositories.for_path resolves the path: opening link.py would open, and index from
    # disk, the folder its target lies in. The editor's own text of it is not context either.
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.py").write_text("TOKEN = 'canary'\n")
    (root / "a.py").write_text("a = 1\n")
    (root / "link.py").symlink_to(outside / "secret.py")
    ls = server(root)
    ls.repos = repos = RecordingRepositories()
    provider = provider_outside_symlinks(ls, repos)
    assert provider("x", str(root / "link.py"), None, 64) == []
    assert provider("x", str(root / "a.py"), None, 64) == ["chunk"]
    for name in ("link.py", "a.py"):
        doc = types.TextDocumentItem(
            uri=(root / name).as_uri(), language_id="python", version=1, text=""
        )
        note_open(ls, types.DidOpenTextDocumentParams(text_document=doc))
    assert repos.asked == [str(root / "a.py")] * 2
