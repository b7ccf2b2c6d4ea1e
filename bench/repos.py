"""Real repositories for the benchmarks: pinned PyPI sdists and npm tarballs, fetched once,
`git init`ed.

The list is a TOML file (`repos.toml` beside this module by default). Each entry is
downloaded with its registry's own client (`pip download`, no dependencies, source only;
`npm pack NAME@VERSION`), its sha256 checked, unpacked safely, stripped of the folders it
names in `exclude` (built bundles) and committed once, so the repository index and git
signals see a real repository. `languages` says which files the evaluation draws
positions from (empty: all it knows).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LIST = Path(__file__).with_name("repos.toml")
SOURCES = ("pypi", "npm")
LIST_KEYS = {"languages", "exclude"}


class RepoFetchError(RuntimeError):
    """A configured repository could not be fetched or checked."""


@dataclass(frozen=True, kw_only=True)
class RepoSpec:
    """One configured repository: a PyPI sdist or npm tarball at a pinned version, or a
    local path.
    """

    name: str
    version: str = ""
    sha256: str = ""
    path: str = ""
    source: str = "pypi"  # "pypi" or "npm"
    languages: tuple[str, ...] = ()  # languages positions come from (empty: every known one)
    exclude: tuple[str, ...] = ()  # folders removed before the commit (built bundles)

    @property
    def label(self) -> str:
        """`name-version`, or the folder name of a local repository."""
        return (
            f"{self.name}-{self.version}" if self.version else (self.name or Path(self.path).name)
        )


def load_repo_specs(path: Path | None = None) -> list[RepoSpec]:
    """The `[[repo]]` entries of a TOML file; a clear error for a bad one."""
    path = path or DEFAULT_LIST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RepoFetchError(f"cannot read the repository list {path}: {exc}") from exc
    specs = []
    for number, entry in enumerate(data.get("repo", []), start=1):
        unknown = set(entry) - {"name", "version", "sha256", "path", "source", *LIST_KEYS}
        if unknown or not isinstance(entry.get("name", ""), str):
            raise RepoFetchError(f"{path}: repo #{number} has unknown keys {sorted(unknown)}")
        values = {k: str(v) for k, v in entry.items() if k not in LIST_KEYS}
        for key in LIST_KEYS & set(entry):
            if not isinstance(entry[key], list):
                raise RepoFetchError(f"{path}: repo #{number}: `{key}` must be a list")
            values[key] = tuple(str(v) for v in entry[key])
        spec = RepoSpec(**values)
        if not spec.path and not (spec.name and spec.version):
            raise RepoFetchError(f"{path}: repo #{number} needs `name` and `version` (or `path`)")
        if spec.source not in SOURCES:
            raise RepoFetchError(f"{path}: repo #{number}: `source` must be one of {SOURCES}")
        specs.append(spec)
    return specs


def default_cache() -> Path:
    """Where fetched repositories are kept: `$XDG_CACHE_HOME/cove/bench-repos`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cove" / "bench-repos"


def fetch_repo(spec: RepoSpec, cache: Path | None = None) -> Path:
    """The repository's folder, downloading, checking and committing it the first time."""
    if spec.path:
        root = Path(spec.path).expanduser()
        if not root.is_dir():
            raise RepoFetchError(f"repository {spec.label}: {root} is not a folder")
        return root
    cache = cache or default_cache()
    dest = cache / spec.label
    if (dest / ".git").is_dir():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as scratch:
        archive = _download(spec, Path(scratch))
        unpacked = _unpack(archive, Path(scratch) / "src")
        for folder in spec.exclude:
            target = (unpacked / folder).resolve()
            if unpacked.resolve() in target.parents and target.is_dir():
                shutil.rmtree(target)
        _commit(unpacked, spec)
        if dest.exists():
            shutil.rmtree(dest)  # a half-made folder from an interrupted run
        unpacked.rename(dest)
    return dest


def _download(spec: RepoSpec, folder: Path) -> Path:
    """Download the archive with the registry's client and check its sha256."""
    if spec.source == "npm":
        command = ["npm", "pack", f"{spec.name}@{spec.version}", "--silent"]
        command += ["--pack-destination", str(folder)]
        return _run_download(command, spec, folder, ".tgz", "npm")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--quiet",
        "-d",
        str(folder),
        f"{spec.name}=={spec.version}",
    ]
    return _run_download(command, spec, folder, (".gz", ".zip"), "PyPI")


def _run_download(
    command: list[str], spec: RepoSpec, folder: Path, suffixes: str | tuple[str, ...], where: str
) -> Path:
    """Run one download command into `folder`; the archive it left, hash-checked."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)
    except OSError as exc:
        raise RepoFetchError(f"cannot download {spec.label} from {where}: {exc}") from exc
    archives = [p for p in folder.iterdir() if p.name.endswith(suffixes)]
    if done.returncode != 0 or not archives:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no archive"]
        raise RepoFetchError(f"cannot download {spec.label} from {where}: {tail[0]}")
    check_archive(archives[0], spec.sha256)
    return archives[0]


def check_archive(archive: Path, sha256: str) -> None:
    """Raise when the archive's sha256 is not the pinned one (no pin: no check)."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if sha256 and digest != sha256:
        raise RepoFetchError(f"{archive.name}: sha256 {digest} is not the pinned {sha256}")


def _unpack(archive: Path, into: Path) -> Path:
    """Unpack with path checks; the sdist's single top folder."""
    into.mkdir()
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as handle:
            for member in handle.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise RepoFetchError(f"{archive.name}: unsafe path {member}")
            handle.extractall(into)
    else:
        try:
            with tarfile.open(archive) as handle:
                handle.extractall(into, filter="data")
        except tarfile.TarError as exc:
            raise RepoFetchError(f"{archive.name}: {exc}") from exc
    tops = list(into.iterdir())
    return tops[0] if len(tops) == 1 and tops[0].is_dir() else into


def _commit(root: Path, spec: RepoSpec) -> None:
    """One commit of everything, with a fixed author and date (reproducible hashes)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "cove-bench",
        "GIT_AUTHOR_EMAIL": "bench@cove.invalid",
        "GIT_COMMITTER_NAME": "cove-bench",
        "GIT_COMMITTER_EMAIL": "bench@cove.invalid",
        "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    }
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["commit", "-q", "--no-gpg-sign", "-m", f"{spec.label} sdist"],
    ):
        done = subprocess.run(
            ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RepoFetchError(f"git {args[0]} in {spec.label} failed: {done.stderr.strip()}")
