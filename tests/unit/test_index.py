"""The repository index on repositories built in tmp_path, and the tags queries."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
import types
from pathlib import Path

import pytest

from context.index import files as files_module
from context.index import index as index_module
from context.index.chunking import blob_hash, index_terms, split_chunks
from context.index.index import RepositoryIndex, database_path
from context.index.tags import extract_symbols
from context.settings import ContextSettings
from context.syntax.languages import language_for
from tests.conftest import git, opened_paths

GEOMETRY = '''"""Geometry."""


class Vector:
    """A vector."""

    x: float = 0.0

    def scaled(self, factor: float) -> "Vector":
        return Vector(self.x * factor)


def distance_between(a, b):
    return abs(a.x - b.x)
'''


def write(root: Path, rel: str, text: str) -> Path:
    """Create `root/rel` with `text`."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def repo(tmp_path):
    """A committed git repository with two Python files."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    write(root, "pkg/geometry.py", GEOMETRY)
    write(
        root, "pkg/app.py", "from pkg.geometry import Vector\n\n\ndef run():\n    return Vector()\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


@pytest.fixture
def settings(tmp_path):
    """Settings whose index lives in tmp_path/cache (outside the repository)."""
    return ContextSettings(index_dir=str(tmp_path / "cache"))


def names(index: RepositoryIndex, name: str) -> list[tuple[str, int]]:
    """(path, line) of every symbol called `name`."""
    return [(r.path, r.start_line) for r in index.definitions([name])]


def test_build_then_second_build_parses_nothing(repo, settings):
    index = RepositoryIndex(repo, settings)
    first = index.build()
    assert (first.files, first.parsed) == (2, 2)
    assert names(index, "distance_between") == [("pkg/geometry.py", 13)]
    second = index.build()
    assert (second.files, second.parsed, second.touched, second.removed) == (2, 0, 0, 0)


def test_changed_file_is_reparsed_and_touched_file_is_not(repo, settings):
    index = RepositoryIndex(repo, settings)
    index.build()
    write(repo, "pkg/app.py", "def run_again():\n    pass\n")
    os.utime(repo / "pkg/geometry.py", ns=(1, 1))  # new mtime, same content
    stats = index.build()
    assert (stats.parsed, stats.touched) == (1, 1)
    assert names(index, "run_again") == [("pkg/app.py", 1)]
    assert names(index, "run") == []


def test_delete_and_rename_leave_the_index(repo, settings):
    index = RepositoryIndex(repo, settings)
    index.build()
    git(repo, "mv", "pkg/geometry.py", "pkg/shapes.py")
    (repo / "pkg/app.py").unlink()
    stats = index.build()
    assert stats.removed == 2
    assert index.paths() == ["pkg/shapes.py"]
    assert names(index, "Vector") == [("pkg/shapes.py", 4)]
    assert index.search(["run"], 5) == []


def test_update_file_reindexes_one_file_from_disk_or_buffer(repo, settings):
    index = RepositoryIndex(repo, settings)
    index.build()
    write(repo, "pkg/app.py", "def fresh_name():\n    pass\n")
    assert index.update_file(repo / "pkg/app.py") == "indexed"
    assert names(index, "fresh_name") == [("pkg/app.py", 1)]
    assert index.update_file("pkg/app.py") == "unchanged"
    assert index.update_file("pkg/app.py", text="def typed_not_saved():\n    pass\n") == "indexed"
    assert (
        names(index, "typed_not_saved") == [("pkg/app.py", 1)] and names(index, "fresh_name") == []
    )
    # The next build sees the disk again (the buffer was never saved).
    assert index.build().parsed == 1
    assert names(index, "fresh_name") == [("pkg/app.py", 1)]
    (repo / "pkg/app.py").unlink()
    assert index.update_file("pkg/app.py") == "removed"
    assert index.update_file("/elsewhere/x.py") == "skipped:outside"


def test_new_untracked_file_added_by_update_and_ignored_one_refused(repo, settings):
    index = RepositoryIndex(repo, settings)
    index.build()
    write(repo, ".gitignore", "generated/\n")
    write(repo, "generated/out.py", "def generated_thing():\n    pass\n")
    write(repo, "pkg/new.py", "def brand_new():\n    pass\n")
    assert index.update_file("generated/out.py") == "skipped:ignored"
    assert index.update_file("pkg/new.py") == "indexed"
    assert names(index, "brand_new") == [("pkg/new.py", 1)]
    index.build()
    assert "generated/out.py" not in index.paths() and "pkg/new.py" in index.paths()


def test_secrets_are_never_opened_nor_stored(repo, settings):
    write(repo, ".env", "API_TOKEN=sekrit-value-123\n")
    write(repo, "deploy/server.key", "sekrit-value-123\n")
    write(repo, "credentials.json", '{"token": "sekrit-value-123"}\n')
    with opened_paths() as opened:
        index = RepositoryIndex(repo, settings)
        stats = index.build()
        assert index.update_file(repo / ".env") == "skipped:secret"
    assert stats.skipped["secret"] == 3
    assert not [p for p in opened if p.endswith((".env", ".key", "credentials.json"))]
    index.close()
    stored = b"".join(p.read_bytes() for p in Path(settings.index_dir).iterdir())
    assert b"sekrit-value-123" not in stored


def test_database_lives_in_cache_dir_not_in_repo(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    index = RepositoryIndex(repo, ContextSettings())
    index.build()
    assert index.db_path.parent == tmp_path / "xdg" / "cove" / "index"
    assert index.db_path == database_path(repo, ContextSettings())
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    journal = index._query("PRAGMA journal_mode")[0][0]
    assert journal == "wal"


def test_corrupt_database_is_rebuilt_with_a_log_line(repo, settings, caplog):
    index = RepositoryIndex(repo, settings)
    index.build()
    index.close()
    index.db_path.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{index.db_path}{suffix}").unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING, logger="context.index.index"):
        again = RepositoryIndex(repo, settings)
    assert "rebuilding" in caplog.text
    assert again.build().parsed == 2
    assert names(again, "Vector") == [("pkg/geometry.py", 4)]


def test_bad_input_files(repo, settings):
    write(repo, "broken.py", "def ok(a):\n    return a\n\ndef broken(:\n    x = \n")
    write(repo, "huge_generated.py", "x = 1\n" * (10 * 1024 * 1024 // 6))  # ~10 MB
    write(repo, "bundle.js", "var a=function(){return 1};" * 200)
    write(repo, "notes.txt", "plain words about distance\n")
    (repo / "image.dat").write_bytes(b"\x89PNG\x00\x00binary")
    index = RepositoryIndex(repo, settings)
    stats = index.build()
    assert names(index, "ok") == [("broken.py", 1)]
    assert (
        stats.skipped["too_large"] == 1
        and stats.skipped["minified"] == 1
        and stats.skipped["binary"] == 1
    )
    assert "notes.txt" in index.paths() and index.search(["distance"], 5)


def test_file_deleted_while_indexing(repo, settings, monkeypatch):
    for i in range(5):
        write(repo, f"later/m{i}.py", f"def func_{i}():\n    pass\n")
    index = RepositoryIndex(repo, settings)
    victim = repo / "pkg" / "geometry.py"
    listed = files_module.discover_files

    def discover_then_delete(root, settings):  # listed and stat'ed, gone when read
        found = listed(root, settings)
        victim.unlink()
        return found

    monkeypatch.setattr(files_module, "discover_files", discover_then_delete)
    stats = index.build()
    assert "pkg/geometry.py" not in index.paths()
    assert stats.skipped["missing"] == 1
    assert names(index, "func_4") == [("later/m4.py", 1)]


def test_empty_repo_detached_head_and_plain_folder(tmp_path, settings):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert RepositoryIndex(empty, settings).build().files == 0
    detached = tmp_path / "detached"
    detached.mkdir()
    git(detached, "init", "-q")
    write(detached, "a.py", "def first():\n    pass\n")
    git(detached, "add", "-A")
    git(detached, "commit", "-qm", "one")
    git(detached, "checkout", "-q", "--detach")
    assert RepositoryIndex(detached, settings).build().files == 1
    plain = tmp_path / "plain"
    write(plain, "lib/util.py", "def util_fn():\n    pass\n")
    index = RepositoryIndex(plain, settings)
    assert index.build().files == 1 and names(index, "util_fn") == [("lib/util.py", 1)]


def test_cancel_stops_after_a_batch(repo, settings):
    for i in range(200):
        write(repo, f"many/m{i:03}.py", f"def f{i}():\n    pass\n")
    cancel = threading.Event()
    cancel.set()
    index = RepositoryIndex(repo, settings)
    index.build(cancel=cancel)
    assert 0 < index.file_count() < 202
    assert index.build().files == 202


def test_git_blob_ids_spare_reading_files_git_knows_unchanged(repo, settings):
    write(repo, "pkg/app.py", "def edited():\n    pass\n")  # modified, not committed
    write(repo, "pkg/extra.py", "def untracked():\n    pass\n")
    found = files_module.discover_files(repo, settings)
    assert found.blobs == {"pkg/geometry.py": blob_hash(GEOMETRY.encode())}  # git's own id
    index = RepositoryIndex(repo, settings)
    assert index.build().parsed == 3
    for path in ("pkg/geometry.py", "pkg/app.py", "pkg/extra.py"):
        os.utime(repo / path, ns=(5_000_000_000, 5_000_000_000))  # a checkout, a touch
    git(repo, "status", "--porcelain")  # git refreshes its index: stat changed, content not
    with opened_paths() as opened:
        stats = index.build()
    assert (stats.parsed, stats.touched) == (0, 3)
    # Only the files git cannot vouch for (modified, untracked) were read to compare hashes.
    assert sorted(Path(p).name for p in opened if p.endswith(".py")) == ["app.py", "extra.py"]
    assert index.known()["pkg/geometry.py"][1] == 5_000_000_000  # the new stat is kept
    assert index.build().touched == 0


def test_changed_deleted_and_committed_files_between_builds(repo, settings):
    index = RepositoryIndex(repo, settings)
    index.build()
    write(repo, "pkg/geometry.py", GEOMETRY.replace("distance_between", "gap_between"))
    git(repo, "commit", "-qam", "rename a function")
    write(repo, "pkg/fresh.py", "def fresh():\n    pass\n")
    (repo / "pkg/app.py").unlink()
    stats = index.build()
    assert (stats.parsed, stats.removed) == (2, 1)
    assert names(index, "gap_between") == [("pkg/geometry.py", 13)]
    assert names(index, "distance_between") == [] and names(index, "run") == []
    assert index.search(["gap_between"], 3)[0].path == "pkg/geometry.py"
    assert index.search(["distance_between"], 3) == []


class Crash(BaseException):
    """A build killed mid-way (not an Exception: nothing may swallow it)."""


def test_crash_mid_build_leaves_a_usable_index(repo, settings, monkeypatch):
    for i in range(3 * index_module.BATCH_FILES):
        write(repo, f"many/m{i:03}.py", f"def crash_fn_{i}():\n    return {i}\n")
    real_parse = index_module.parse_file
    calls = itertools.count()

    def parse_then_crash(*args, **kwargs):
        if next(calls) == 2 * index_module.BATCH_FILES:
            raise Crash
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(index_module, "parse_file", parse_then_crash)
    in_process = dataclasses.replace(settings, index_workers=0)  # parse_file runs here
    with pytest.raises(Crash):
        RepositoryIndex(repo, in_process).build(threads=2)
    monkeypatch.undo()
    index = RepositoryIndex(repo, settings)  # a new process opening what the crash left
    kept = index.file_count()
    assert index_module.BATCH_FILES <= kept < 3 * index_module.BATCH_FILES + 2
    orphans = index._query(
        "SELECT COUNT(*) FROM chunks WHERE file_id NOT IN (SELECT id FROM files)"
    )[0][0]
    bare = index._query("SELECT COUNT(*) FROM files WHERE id NOT IN (SELECT file_id FROM chunks)")
    assert orphans == 0 and bare[0][0] == 0
    index._conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
    assert names(index, "crash_fn_0") == [("many/m000.py", 1)]
    stats = index.build()
    assert stats.parsed == 3 * index_module.BATCH_FILES + 2 - kept
    assert index.file_count() == 3 * index_module.BATCH_FILES + 2


def test_build_holds_off_while_a_completion_waits(repo, settings):
    from lsp.features.index import completion_waiting

    class Session:  # busy for its first four answers, as while a completion is answered
        asked = itertools.count()

        def busy(self) -> bool:
            return next(self.asked) < 4

    server = types.SimpleNamespace(session=Session())
    index = RepositoryIndex(repo, settings)
    stats = index.build(pause=lambda: completion_waiting(server))
    assert stats.parsed == 2 and stats.phases["paused"] > 0
    assert not completion_waiting(types.SimpleNamespace(session=None))


def test_a_completion_that_never_ends_slows_a_build_but_does_not_stop_it(
    repo, settings, monkeypatch
):
    monkeypatch.setattr(index_module, "PAUSE_MAX_S", 0.05)
    stats = RepositoryIndex(repo, settings).build(pause=lambda: True)
    assert stats.parsed == 2 and stats.phases["paused"] >= 0.05


def test_lines_and_search_read_back_the_file(repo, settings):
    index = RepositoryIndex(repo, settings)
    index.build()
    assert index.lines("pkg/geometry.py", 13, 14) == [
        "def distance_between(a, b):",
        "    return abs(a.x - b.x)",
    ]
    hits = index.search(["distance_between"], 3)
    assert hits[0].path == "pkg/geometry.py" and hits[0].score > 0


def test_large_files_in_no_known_language_stay_out_and_source_goes_in(repo, tmp_path):
    # Docs and HTML are most of a repository's bytes and little of a code model's context:
    # past max_text_bytes only files in a language Cove parses are indexed.
    settings = ContextSettings(index_dir=str(tmp_path / "cache"), max_text_bytes=2000)
    big_source = "".join(f"def function_{n}(x):\n    return x + {n}\n\n\n" for n in range(200))
    write(repo, "pkg/big.py", big_source)
    write(repo, "docs/page.html", "<p>distance_between</p>\n" * 200)
    write(repo, "docs/note.txt", "distance_between is short prose\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    index = RepositoryIndex(repo, settings)
    stats = index.build()
    assert sorted(index.paths()) == ["docs/note.txt", "pkg/app.py", "pkg/big.py", "pkg/geometry.py"]
    assert stats.skipped["large_text"] == 1
    assert names(index, "function_199") == [("pkg/big.py", 797)]
    assert {hit.path for hit in index.search(["distance_between"], 5)} == {
        "pkg/geometry.py",
        "docs/note.txt",
    }
    # An editor buffer follows the same rule, and a file that grows past it leaves.
    assert index.update_file(repo / "docs/other.md", "word\n" * 1000) == "skipped:large_text"
    write(repo, "docs/note.txt", "prose\n" * 1000)
    assert index.update_file(repo / "docs/note.txt") == "removed"
    assert not index.has_file("docs/note.txt")


def test_pure_helpers():
    assert blob_hash(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object
    assert index_terms("getUserName = user_id(self)") == ["getusername", "user_id"]
    lines = ["import x", "", "def a():", "    pass", "", "def b():", "    pass"]
    ranges = split_chunks(lines, 4)
    assert ranges[0][0] == 1 and ranges[-1][1] == len(lines)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert split_chunks([], 4) == []


TAG_SAMPLES = {
    "a.py": (
        "class Point:\n    def dist(self, o):\n        return 0\n\ndef helper(a, b):\n    return a\n",
        {"Point", "dist", "helper"},
    ),
    "a.js": (
        "class Foo {\n  bar(x) { return x; }\n}\nfunction helper(a) { return a; }\nconst arrow = (a) => a;\n",
        {"Foo", "bar", "helper", "arrow"},
    ),
    "a.ts": (
        "export interface Shape { area(): number }\nexport type Id = string;\nexport function make(id: Id): Shape { return null!; }\n",
        {"Shape", "Id", "make"},
    ),
    "a.tsx": (
        "export function App(props: Props) { return <div>{props.x}</div>; }\ninterface Props { x: number }\n",
        {"App", "Props"},
    ),
    "a.go": (
        "package m\ntype Point struct {\n X int\n}\nfunc (p *Point) Dist() int { return 0 }\nfunc Helper() {}\n",
        {"Point", "Dist", "Helper"},
    ),
    "a.rs": (
        "pub struct Point { x: i32 }\nimpl Point {\n    pub fn dist(&self) -> i32 { 0 }\n}\ntrait Shape { fn area(&self); }\n",
        {"Point", "dist", "Shape"},
    ),
    "A.java": (
        "public class A {\n  public int dist(int o) { return 0; }\n}\ninterface Shape { double area(); }\n",
        {"A", "dist", "Shape", "area"},
    ),
    "a.c": (
        "struct point { int x; };\nstatic int helper(int a) {\n  return a;\n}\ntypedef int myint;\n",
        {"point", "helper", "myint"},
    ),
    "a.cpp": (
        "namespace ns {\nclass Point {\n public:\n  int dist() const;\n};\n}\nint free_fn(int a) { return a; }\n",
        {"Point", "dist", "free_fn"},
    ),
}


@pytest.mark.parametrize("path", sorted(TAG_SAMPLES))
def test_tags_for_every_language(path):
    source, expected = TAG_SAMPLES[path]
    symbols = extract_symbols(language_for(path), source.encode())
    assert expected <= {s.name for s in symbols}
    assert all(s.signature and s.start_line >= 1 and s.end_line >= s.start_line for s in symbols)


def test_signature_is_header_only_and_short_types_whole():
    source = b"def f(a,\n      b) -> int:\n    return a + b\n\nclass Small:\n    x: int = 0\n"
    by_name = {s.name: s for s in extract_symbols("python", source)}
    assert by_name["f"].signature == "def f(a,\n      b) -> int:"
    assert by_name["Small"].signature == "class Small:\n    x: int = 0"
    go = {
        s.name: s
        for s in extract_symbols("go", b"package m\nfunc Add(a, b int) int {\n\treturn a + b\n}\n")
    }
    assert go["Add"].signature == "func Add(a, b int) int {"
