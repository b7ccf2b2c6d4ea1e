"""Which repositories `cove.draftCommitMessage` may read (lsp/features/assist.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from context.assist.commit import CommitError
from lsp.features.assist import _repo_for


def server(root: Path | None, open_files: tuple[Path, ...] = ()):
    """A stand-in for the server: its workspace root and open documents."""
    documents = {f.as_uri(): None for f in open_files}
    workspace = SimpleNamespace(
        root_path=str(root) if root else None, folders={}, text_documents=documents
    )
    return SimpleNamespace(workspace=workspace)


def test_a_repository_inside_or_holding_the_workspace_is_allowed(tmp_path):
    (tmp_path / "repo" / "src").mkdir(parents=True)
    ls = server(tmp_path / "repo" / "src")  # a workspace opened on a subfolder
    assert _repo_for(ls, {"repo": str(tmp_path / "repo")}) == tmp_path / "repo"
    assert _repo_for(ls, {"repo": str(tmp_path / "repo" / "src")}) == tmp_path / "repo" / "src"
    assert _repo_for(server(None), {"repo": "/elsewhere"}) == Path("/elsewhere")  # no workspace


def test_a_repository_beside_the_workspace_is_refused_unless_a_file_there_is_open(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "other").mkdir()
    climb = {"repo": f"{tmp_path}/repo/../other"}
    with pytest.raises(CommitError, match="outside the workspace"):
        _repo_for(server(tmp_path / "repo"), climb)
    opened = server(tmp_path / "repo", (tmp_path / "other" / "x.py",))
    assert _repo_for(opened, climb) == Path(climb["repo"])
