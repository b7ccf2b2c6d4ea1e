"""Commit messages: git reading on real repositories in tmp_path, diff summaries, reply
cleaning, the prepare-commit-msg hook (a scripted backend, no model).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
from pathlib import Path

import pytest

from context.assist.commit import (
    SCISSORS,
    CommitError,
    commit_buffer_repo,
    draft_commit_message,
    install_hook,
    needs_model,
    offers_commit_draft,
    open_repo,
    prepare_commit,
    read_staged,
    write_commit_message,
)
from context.assist.diffsummary import (
    FileChange,
    clean_message,
    detect_style,
    fallback_message,
    imperative,
    parse_diff,
    summarize_diff,
)
from tests.commit_repo import ENV, git, make_repo


class FakeBackend:
    """Counts tokens as characters/3 and answers every chat with `reply` (or fails)."""

    model_name = "fake"

    def __init__(self, reply: str | None = "Add things") -> None:
        self.reply = reply
        self.calls: list[list[dict[str, str]]] = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 3

    def chat(self, messages, *, max_tokens, deadline_ms, cancel=None):
        if self.reply is None:
            raise AssertionError("the model must not be called here")
        self.calls.append(messages)
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        future.set_result(self.reply)
        return future


# -- git -----------------------------------------------------------------------------------


def test_parse_diff_agrees_with_numstat(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("".join(f"line {i}\n" for i in range(30)))
    (repo / "gone.txt").write_text("bye\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add app")
    (repo / "src" / "app.py").write_text(
        "".join(f"line {i}{'!' if i % 7 == 0 else ''}\n" for i in range(33))
    )
    (repo / "gone.txt").unlink()
    (repo / "logo.png").write_bytes(bytes(range(256)))
    git(repo, "mv", "notes.txt", "NOTES.md")
    git(repo, "add", "-A")
    changes = {c.path: c for c in read_staged(open_repo(repo)).changes}
    numstat = git(repo, "diff", "--cached", "-M", "--numstat").splitlines()
    assert len(changes) == len(numstat)
    for row in numstat:
        added, deleted, path = row.split("\t")
        path = re.sub(r"\{?(\S*) => (\S*)\}?", r"\2", path)
        change = changes[path]
        assert change.binary == (added == "-")
        if not change.binary:
            assert (change.added, change.deleted) == (int(added), int(deleted))
    assert changes["gone.txt"].status == "D" and changes["logo.png"].status == "A"
    assert (changes["NOTES.md"].status, changes["NOTES.md"].old_path) == ("R", "notes.txt")
    assert changes["logo.png"].kind == "binary"


def test_not_a_repository_is_exit_2(tmp_path):
    with pytest.raises(CommitError) as error:
        draft_commit_message(FakeBackend(None), tmp_path)
    assert error.value.exit_code == 2 and "not inside a git repository" in str(error.value)


def test_nothing_staged_is_exit_1(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "notes.txt").write_text("changed but not staged\n")
    with pytest.raises(CommitError) as error:
        draft_commit_message(FakeBackend(None), repo)
    assert error.value.exit_code == 1 and "Nothing staged" in str(error.value)


def test_all_includes_unstaged_changes(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "notes.txt").write_text("changed but not staged\n")
    backend = FakeBackend("Update notes")
    assert draft_commit_message(backend, repo, include_unstaged=True) == "Update notes"
    assert "notes.txt" in backend.calls[0][-1]["content"]


def test_empty_repository_with_no_commits(tmp_path):
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "main.go").write_text("package main\n\nfunc main() {}\n")
    git(repo, "add", "main.go")
    staged = read_staged(open_repo(repo))
    assert staged.first_commit and staged.subjects == ()
    assert [(c.path, c.status, c.added) for c in staged.changes] == [("main.go", "A", 3)]
    backend = FakeBackend("Add main")
    assert draft_commit_message(backend, repo) == "Add main"
    assert "first commit" in backend.calls[0][-1]["content"]


def test_binary_only_change_names_the_file_without_the_model(tmp_path):
    repo = make_repo(tmp_path, ("feat: start", "fix: things"))
    (repo / "logo.png").write_bytes(bytes(range(256)) * 4)
    git(repo, "add", "logo.png")
    staged = prepare_commit(repo)
    assert not needs_model(staged) and write_commit_message(None, staged) == "feat: add logo.png"
    assert draft_commit_message(FakeBackend(None), repo) == "feat: add logo.png"


def test_merge_in_progress_mentions_the_merge(tmp_path):
    repo = make_repo(tmp_path)
    git(repo, "checkout", "-q", "-b", "topic")
    (repo / "topic.txt").write_text("topic\n")
    git(repo, "add", "topic.txt")
    git(repo, "commit", "-q", "-m", "Add topic")
    git(repo, "checkout", "-q", "main")
    (repo / "main.txt").write_text("main\n")
    git(repo, "add", "main.txt")
    git(repo, "commit", "-q", "-m", "Add main")
    git(repo, "merge", "--no-commit", "--no-ff", "topic")
    staged = read_staged(open_repo(repo))
    assert staged.merge_subject == "Merge branch 'topic'"
    backend = FakeBackend("Add topic file")
    message = draft_commit_message(backend, repo)
    assert message.startswith("Merge branch 'topic'")
    assert "concludes a merge" in backend.calls[0][-1]["content"]


def test_commit_buffer_drafts_only_on_an_empty_first_line(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "notes.txt").write_text("more\n")
    git(repo, "add", "notes.txt")
    buffer = str(repo / ".git" / "COMMIT_EDITMSG")
    assert commit_buffer_repo(buffer) == repo / ".git"
    assert commit_buffer_repo(str(repo / "notes.txt")) is None
    assert (
        draft_commit_message(FakeBackend("Extend notes"), commit_buffer_repo(buffer))
        == "Extend notes"
    )
    template = "\n# Please enter the commit message.\n#\n"
    assert offers_commit_draft(template, 0)
    assert offers_commit_draft(template + SCISSORS + "\ndiff --git a/x b/x\n+added\n", 0)
    assert not offers_commit_draft(template, 1)
    assert not offers_commit_draft("Fix it\n" + template, 0)
    assert not offers_commit_draft("\nBody already written\n" + template, 0)


# -- summaries -----------------------------------------------------------------------------


def _hunk(path_word: str, lines: int, definition: bool = False) -> str:
    body = [f"+    {path_word}_value_{i} = compute({i})" for i in range(lines)]
    if definition:
        body.insert(0, f"+def {path_word}_handler(request):")
    return "\n".join([f"@@ -1,0 +1,{lines} @@"] + body)


def test_huge_diff_fits_the_budget_and_prefers_informative_hunks():
    source = FileChange(
        path="src/server.py",
        added=25000,
        hunks=tuple(_hunk("server", 50, i == 3) for i in range(500)),
    )
    tests = FileChange(
        path="tests/test_server.py", added=25000, hunks=tuple(_hunk("test", 50) for i in range(500))
    )
    lock = FileChange(
        path="poetry.lock", added=4000, deleted=3000, kind="lock", hunks=(_hunk("lock", 10),)
    )
    png = FileChange(path="img/logo.png", status="A", binary=True, kind="binary")
    summary = summarize_diff([tests, source, lock, png], max_chars=4000)
    assert len(summary) <= 4000
    first = summary.split("\n")[0]
    assert first == "4 files changed, +54000 -3000:"
    assert "  M poetry.lock (+4000 -3000, lock file: dependency versions changed)" in summary
    assert "  A img/logo.png (binary)" in summary
    assert "lock_value" not in summary  # lock files are one line only
    assert "def server_handler(request):" in summary  # the definition hunk ranks first
    assert summary.index("--- src/server.py") > 0 and "more hunks not shown" in summary


def test_generated_and_minified_files_are_one_line():
    diff = (
        "diff --git a/dist/app.min.js b/dist/app.min.js\nnew file mode 100644\n--- /dev/null\n+++ b/dist/app.min.js\n"
        "@@ -0,0 +1 @@\n+" + "var a=1;" * 300 + "\n"
        "diff --git a/api_pb2.py b/api_pb2.py\n--- a/api_pb2.py\n+++ b/api_pb2.py\n@@ -1 +1 @@\n-# old\n+# Generated by the protocol buffer compiler.  DO NOT EDIT!\n"
    )
    changes = parse_diff(diff)
    assert [(c.path, c.kind, c.status) for c in changes] == [
        ("dist/app.min.js", "generated", "A"),
        ("api_pb2.py", "generated", "M"),
    ]
    summary = summarize_diff(changes)
    assert "var a=1" not in summary and "generated or minified, not shown" in summary


# -- style and cleaning --------------------------------------------------------------------


def test_detect_style():
    conventional = detect_style(["feat(api): add x", "fix: y", "docs: z", "Merge stuff"])
    assert conventional.conventional and conventional.lowercase and not conventional.scopes
    plain = detect_style(["Add x", "Fix the y", "feat: z"])
    assert not plain.conventional and not plain.lowercase
    assert not detect_style([]).conventional


@pytest.mark.parametrize(
    ("word", "base"),
    [("Added", "Add"), ("Adds", "Add"), ("adding", "add"), ("Fixed", "Fix"), ("Fixes", "Fix"), ("Updated", "Update"),
     ("Applied", "Apply"), ("Dropped", "Drop"), ("Made", "Make"), ("Refactors", "Refactor"), ("Add", "Add")],
)  # fmt: skip
def test_imperative(word, base):
    assert imperative(f"{word} the parser") == f"{base} the parser"


def test_imperative_leaves_unknown_words_and_drops_this_commit():
    assert imperative("Parser handles empty input") == "Parser handles empty input"
    assert imperative("This commit adds a cache") == "add a cache"


CODE = (
    FileChange(path="src/parse.py", added=30, deleted=4, hunks=("@@ -1 +1 @@\n+x",)),
    FileChange(path="src/cli.py", added=3),
)


PLAIN = detect_style(["Add x", "Fix y"])


CONVENTIONAL = detect_style(["feat: add x", "fix: y"])


@pytest.mark.parametrize(
    "reply",
    [
        "Here is the commit message:\n\n```\nAdded empty input handling to the parser\n\nThe parser crashed on empty files.\n```",
        'Commit message: "Added empty input handling to the parser."\n\nThe parser crashed on empty files.',
        "**Subject:** Added empty input handling to the parser\n**Body:** The parser crashed on empty files.",
        "diff --git a/src/parse.py b/src/parse.py\n+x\nAdded empty input handling to the parser\n\nThe parser crashed on empty files.",
        "git commit -m 'Added empty input handling to the parser'",
    ],
)
def test_clean_message_strips_wrappers(reply):
    message = clean_message(reply, PLAIN, CODE)
    subject, _, body = message.partition("\n\n")
    assert subject == "Add empty input handling to the parser"
    assert body in ("", "The parser crashed on empty files.")


def test_clean_message_style_and_length():
    long = "Adds " + "a very long description of everything " * 5
    subject = clean_message(long, PLAIN, CODE).split("\n")[0]
    assert (
        len(subject) <= 72 and subject.startswith("Add a very long") and not subject.endswith(" ")
    )
    assert clean_message("Added parser", CONVENTIONAL, CODE) == "fix: add parser"  # type from paths
    assert (
        clean_message("feat(parse): Added parser", CONVENTIONAL, CODE) == "feat(parse): add parser"
    )
    assert clean_message("feat: added parser", PLAIN, CODE) == "Add parser"
    assert clean_message("", PLAIN, CODE) == "Update 2 files in src/"
    cut = {
        "SUBJECT": "Update 2 files in src/",
        "SUB": "Update 2 files in src/",
        "SUBJECT: Fix parser\nBO": "Fix parser",
    }
    for reply, message in cut.items():  # replies the deadline cut short
        assert clean_message(reply, PLAIN, CODE) == message


def test_clean_message_drops_body_of_trivial_change_and_wraps_others():
    trivial = (FileChange(path="a.py", added=1, deleted=1),)
    assert clean_message("Fix typo\n\nA long explanation.", PLAIN, trivial) == "Fix typo"
    message = clean_message("Fix parser\n\n" + "word " * 40, PLAIN, CODE)
    subject, blank, *body = message.split("\n")
    assert (
        subject == "Fix parser"
        and blank == ""
        and len(body) >= 2
        and all(len(ln) <= 72 for ln in body)
    )


def test_fallback_message():
    one = (FileChange(path="a/b/logo.png", status="A", binary=True),)
    assert fallback_message(one, PLAIN) == "Add logo.png"
    many = tuple(FileChange(path=f"img/{i}.png", status="D", binary=True) for i in range(3))
    assert fallback_message(many, CONVENTIONAL) == "fix: remove 3 files in img/"


# -- hook ----------------------------------------------------------------------------------


def _last_message(repo: Path) -> str:
    return git(repo, "log", "-1", "--format=%B").strip()


def test_hook_fills_only_an_empty_message(tmp_path):
    repo = make_repo(tmp_path)
    hook = install_hook(repo, "echo 'feat: x'")
    assert hook == repo / ".git" / "hooks" / "prepare-commit-msg" and os.access(hook, os.X_OK)
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q")  # GIT_EDITOR=true keeps what the hook wrote
    assert _last_message(repo) == "feat: x"
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt")
    git(repo, "commit", "-q", "-m", "mine")
    assert _last_message(repo) == "mine"
    git(repo, "commit", "-q", "--amend", "--no-edit")
    assert _last_message(repo) == "mine"


def test_hook_survives_a_failing_command(tmp_path):
    repo = make_repo(tmp_path)
    install_hook(repo, "exit 3")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    result = subprocess.run(
        ["git", "commit", "-q"], cwd=repo, env=ENV, capture_output=True, text=True, check=False
    )
    assert (
        result.returncode != 0 and "empty commit message" in result.stderr.lower()
    )  # git's own refusal


def test_hook_never_replaces_a_foreign_hook(tmp_path):
    repo = make_repo(tmp_path)
    install_hook(repo, "echo one")
    install_hook(repo, "echo two")  # ours: replaced
    assert "echo two" in (repo / ".git" / "hooks" / "prepare-commit-msg").read_text()
    (repo / ".git" / "hooks" / "prepare-commit-msg").write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(CommitError):
        install_hook(repo, "echo three")
