"""File discovery: git listing, walk fallback, ignore rules, secrets, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from context.index.files import (
    IgnoreRules,
    discover_files,
    find_root,
    is_binary_name,
    is_secret,
    looks_minified,
    read_text,
)
from context.settings import ContextSettings
from tests.conftest import git


def write(root: Path, rel: str, text: str = "x = 1\n") -> Path:
    """Create `root/rel` with `text`."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.log", "a/b/debug.log", False, True),
        ("*.log", "a/b/debug.txt", False, False),
        ("build/", "pkg/build/out.py", False, True),  # a folder anywhere, with its files
        ("build/", "pkg/build", False, False),  # a file named build is not the folder
        ("/top.py", "top.py", False, True),
        ("/top.py", "sub/top.py", False, False),
        ("docs/**/*.md", "docs/a/b/c.md", False, True),
        ("docs/**/*.md", "src/docs/a.md", False, False),
        ("gen_?.py", "gen_1.py", False, True),
        ("gen_[0-9].py", "gen_a.py", False, False),
        ("vendor", "vendor/lib/x.js", False, True),
    ],
)
def test_ignore_rules_follow_gitignore_semantics(pattern, path, is_dir, expected):
    assert IgnoreRules([pattern]).ignores(path, is_dir) is expected


def test_ignore_negation_last_rule_wins():
    rules = IgnoreRules(["*.log", "!keep.log", "# comment", ""])
    assert rules.ignores("x/debug.log")
    assert not rules.ignores("x/keep.log")


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        "config/prod.env",
        "certs/server.pem",
        "tls/server.key",
        "home/.ssh/config",
        "id_rsa",
        "keys/id_ed25519.pub",
        "credentials.json",
        ".aws/credentials",
        ".npmrc",
        ".pypirc",
        "store.p12",
        "client_secret.json",
        "gcp-service-account.json",
        ".git-credentials",
        "infra/terraform.tfstate",
    ],
)
def test_secret_names(path):
    assert is_secret(path)


@pytest.mark.parametrize(
    "path",
    [
        "src/secrets.py",
        "id_utils.py",
        "envs.py",
        "config.json",
        "keyboard.c",
        "credentials_test.go",
        "README.md",
    ],
)
def test_ordinary_names_are_not_secret(path):
    assert not is_secret(path)


def test_binary_names_and_minified_text():
    assert is_binary_name("img/logo.png") and is_binary_name("lib/x.so")
    assert not is_binary_name("bin") and not is_binary_name("src/main.py")
    assert looks_minified("var a=1;" * 1000)
    assert not looks_minified("def f():\n    return 1\n" * 300)


def test_git_listing_holds_gitignore_coveignore_and_exclusions(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    write(root, "src/app.py")
    write(root, "src/untracked_new.py")
    write(root, "build/generated.py")
    write(root, ".gitignore", "build/\n")
    write(root, ".coveignore", "private/\n*.sql\n")
    write(root, "private/notes.py")
    write(root, "db/schema.sql", "create table t(x int);\n")
    write(root, ".env", "TOKEN=abc\n")
    write(root, "big.txt", "y" * 5000)
    (root / "blob.raw").write_bytes(b"\x00\x01\x02")
    (root / "link.py").symlink_to(root / "src" / "app.py")
    git(root, "add", "src/app.py", ".gitignore", ".coveignore", "blob.raw", "link.py")
    git(root, "commit", "-qm", "init")
    found = discover_files(root, ContextSettings(max_file_bytes=4000))
    paths = [f.path for f in found.files]
    assert found.git
    assert paths == [".coveignore", ".gitignore", "blob.raw", "src/app.py", "src/untracked_new.py"]
    assert found.skipped["secret"] == 1 and found.skipped["ignored"] == 2
    assert found.skipped["too_large"] == 1 and found.skipped["symlink"] == 1
    # blob.raw has no binary extension: it is only known binary once read.
    assert read_text(root, "blob.raw")[2] == "binary"


def test_walk_fallback_same_exclusions_and_no_symlink_loop(tmp_path):
    root = tmp_path / "plain"
    write(root, "a.py")
    write(root, "sub/b.py")
    write(root, "node_modules/dep/index.js")
    write(root, "sub/.env.production", "KEY=1\n")
    write(root, ".coveignore", "sub/skip_me.py\n")
    write(root, "sub/skip_me.py")
    write(root, ".gitignore", "*.tmp\n")
    write(root, "scratch.tmp")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    found = discover_files(root, ContextSettings())
    assert not found.git
    assert [f.path for f in found.files] == [".coveignore", ".gitignore", "a.py", "sub/b.py"]
    assert found.skipped["secret"] == 1


def test_nested_repository_is_skipped_and_max_files_caps(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    for i in range(5):
        write(root, f"f{i}.py")
    nested = root / "vendor_sub"
    nested.mkdir()
    git(nested, "init", "-q")
    write(nested, "inner.py")
    git(nested, "add", "-A")
    git(nested, "commit", "-qm", "x")
    found = discover_files(root, ContextSettings(max_files=3))
    assert [f.path for f in found.files] == ["f0.py", "f1.py", "f2.py"]
    assert found.skipped["over_limit"] == 2
    assert not any("inner.py" in f.path for f in found.files)


def test_find_root_inside_git_and_outside(tmp_path):
    root = tmp_path / "repo"
    write(root, "pkg/mod.py")
    git(root, "init", "-q")
    assert find_root(root / "pkg" / "mod.py") == root.resolve()
    plain = tmp_path / "plain"
    write(plain, "x.py")
    assert find_root(plain / "x.py") == plain.resolve()
