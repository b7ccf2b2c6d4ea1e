"""Commit messages drafted by the real model: a subject that names the change and follows
the repository's own style.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from context.assist.commit import CommitSettings, draft_commit_message
from tests.commit_repo import git, make_repo


def _stage_feature(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src" / "slugify.py").write_text(
        'import re\n\n\ndef slugify(title: str) -> str:\n    """Lower-case, hyphen-separated form of a title."""\n'
        '    words = re.findall(r"[a-z0-9]+", title.lower())\n    return "-".join(words)\n'
    )
    (repo / "tests").mkdir()
    (repo / "tests" / "test_slugify.py").write_text(
        "from src.slugify import slugify\n\n\ndef test_slugify():\n    assert slugify('Hello, World!') == 'hello-world'\n"
    )
    git(repo, "add", ".")


SLOW = CommitSettings(
    deadline_ms=180000
)  # the format is under test, not the speed of a busy machine


def _check_subject(message: str) -> str:
    subject = message.split("\n")[0]
    assert subject.strip() and len(subject) <= 72
    assert "```" not in message and not re.search(
        r"^(diff --git|@@|\+\+\+|---)", message, re.MULTILINE
    )
    return subject


@pytest.mark.model
def test_model_commit_message_names_the_change(backend, tmp_path):
    repo = make_repo(tmp_path, ("Initial commit", "Add README", "Fix typo in notes"))
    _stage_feature(repo)
    subject = _check_subject(draft_commit_message(backend, repo, settings=SLOW))
    assert re.search(r"slug|title|test", subject, re.IGNORECASE)
    assert not re.match(r"^[a-z]+(\(.*\))?: ", subject)  # this repository does not use types


@pytest.mark.model
def test_model_commit_message_follows_conventional_commits(backend, tmp_path):
    repo = make_repo(tmp_path, ("feat: add notes", "fix: typo in notes", "docs: describe notes"))
    _stage_feature(repo)
    subject = _check_subject(draft_commit_message(backend, repo, settings=SLOW))
    assert re.match(
        r"^(feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(\([^)]*\))?!?: \S",
        subject,
    )
