"""Saved and watched files reached through a symlink are not read (lsp/features/index.py)."""

from __future__ import annotations

from types import SimpleNamespace

from lsp.features.index import through_symlink


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
