"""Throwaway git repositories for the commit tests of both tiers (identity and editor fixed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "T",
       "GIT_COMMITTER_EMAIL": "t@e", "GIT_EDITOR": "true", "HOME": os.environ.get("HOME", "/tmp")}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` (no global config surprises: identity and editor are fixed)."""
    return subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    ).stdout


def make_repo(tmp_path: Path, subjects: tuple[str, ...] = ("Initial commit",)) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for index, subject in enumerate(subjects):
        (repo / "notes.txt").write_text(f"note {index}\n")
        git(repo, "add", "notes.txt")
        git(repo, "commit", "-q", "-m", subject)
    return repo
