"""Which files of a repository Cove may read.

Files come from git (tracked plus untracked-not-ignored, so `.gitignore` holds); a folder
that is not a git work tree is walked with the same exclusions. Never read: `.coveignore`
patterns, secret-looking files (checked by name, before any read), files over the size
limit, large files in no language Cove parses (docs, HTML, data), binaries, minified
files, symlinks (they may point outside the repo or loop).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from context.settings import ContextSettings
from context.syntax.languages import language_for

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 60
VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", ".jj"})

# Secret-looking names: matched on the file name (lowercased), before the file is opened.
SECRET_NAMES = frozenset(
    """.npmrc .pypirc .netrc _netrc .git-credentials .pgpass .htpasswd .dockercfg .s3cfg .boto
    credentials kubeconfig terraform.tfvars""".split()  # noqa: SIM905
)
SECRET_SUFFIXES = tuple(
    """.pem .key .p12 .pfx .jks .keystore .kdbx .crt .cer .der .gpg .ovpn .tfstate
    .tfstate.backup""".split()  # noqa: SIM905
)
SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker"})
DATA_SUFFIXES = ("", ".json", ".yml", ".yaml", ".toml", ".ini", ".xml", ".txt", ".cfg", ".conf")
SSH_KEY = re.compile(r"^id_[a-z0-9_]+(\.pub)?$")

BINARY_SUFFIXES = frozenset(
    """png jpg jpeg gif bmp ico webp tif tiff psd pdf zip gz tgz bz2 xz zst 7z rar tar jar war
    ear class so dll dylib exe o a lib obj pyc pyo pyd whl egg woff woff2 ttf otf eot mp3 mp4
    wav ogg flac avi mov mkv webm sqlite sqlite3 db bin dat npy npz pkl pickle h5 hdf5 parquet
    onnx gguf pt pth safetensors ckpt wasm iso dmg deb rpm apk""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class FileEntry:
    """One readable file: path relative to the root (POSIX), size and mtime."""

    path: str
    size: int
    mtime_ns: int


@dataclass
class Discovery:
    """The files found under a root, and how many were left out and why."""

    files: list[FileEntry]
    skipped: Counter = field(default_factory=Counter)
    git: bool = False
    blobs: dict[str, str] = field(default_factory=dict)  # path → git blob id, where known


def _translate(pattern: str) -> str:
    """One gitignore glob (without `!`, anchoring or trailing slash) → a regex body."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        elif c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


class IgnoreRules:
    """Gitignore-style patterns (`.coveignore`, settings): last matching rule wins."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._rules: list[_Rule] = []
        self._folders: dict[str, bool] = {}  # folder → ignored: thousands of files share few
        self._any: tuple[re.Pattern[str], re.Pattern[str]] | None = None
        for raw in patterns:
            self.add(raw)

    def add(self, raw: str) -> None:
        """Add one pattern line; blanks and `#` comments are skipped."""
        line = raw.rstrip("\n").rstrip()
        if not line or line.startswith("#"):
            return
        negate = line.startswith("!")
        line = line[1:] if negate else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            return
        anchored = "/" in line
        body = _translate(line.lstrip("/"))
        regex = re.compile(body if anchored else "(?:.*/)?" + body)
        self._rules.append(_Rule(regex, negate, dir_only))
        self._folders.clear()
        self._any = None

    @classmethod
    def for_root(cls, root: Path, settings: ContextSettings) -> IgnoreRules:
        """The settings' patterns plus the root's `.coveignore` (if any)."""
        rules = cls(settings.ignore)
        rules.add_file(root / ".coveignore")
        return rules

    def add_file(self, path: Path) -> None:
        """Add every pattern of an ignore file (a missing one adds nothing)."""
        try:
            if path.is_file() and not path.is_symlink():
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                    self.add(line)
        except OSError as error:
            log.warning("cannot read %s: %s", path, error)

    def _combined(self) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        """Without negations the last-match-wins walk is one alternation (files, folders)."""
        if self._any is None and not any(r.negate for r in self._rules):
            files = [r.regex.pattern for r in self._rules if not r.dir_only] or ["(?!)"]
            folders = [r.regex.pattern for r in self._rules] or ["(?!)"]
            self._any = (
                re.compile("|".join(f"(?:{p})" for p in files)),
                re.compile("|".join(f"(?:{p})" for p in folders)),
            )
        return self._any

    def _match(self, path: str, is_dir: bool) -> bool | None:
        combined = self._combined()
        if combined is not None:
            return bool(combined[1 if is_dir else 0].fullmatch(path)) or None
        verdict = None
        for rule in self._rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.fullmatch(path):
                verdict = not rule.negate
        return verdict

    def ignores(self, path: str, is_dir: bool = False) -> bool:
        """True when `path` (relative, POSIX) or one of its parent folders is ignored."""
        folder, _, _ = path.rpartition("/")
        if folder and self._folder_ignored(folder):
            return True
        return bool(self._match(path, is_dir))

    def _folder_ignored(self, folder: str) -> bool:
        known = self._folders.get(folder)
        if known is None:
            parent = folder.rpartition("/")[0]
            known = (bool(parent) and self._folder_ignored(parent)) or bool(
                self._match(folder, True)
            )
            self._folders[folder] = known
        return known


def is_secret(path: str) -> bool:
    """True for names that usually hold credentials: such files are never opened."""
    parts = path.lower().split("/")
    name = parts[-1]
    if any(part in SECRET_DIRS for part in parts[:-1]):
        return True
    if name in SECRET_NAMES or name.startswith(".env") or name.endswith(".env"):
        return True
    if name.endswith(SECRET_SUFFIXES) or SSH_KEY.match(name):
        return True
    stem, dot, suffix = name.rpartition(".")
    base, ext = (stem, dot + suffix) if dot else (name, "")
    words = ("credential", "secret", "private_key", "service-account", "service_account")
    return ext in DATA_SUFFIXES and any(word in base for word in words)


def is_binary_name(path: str) -> bool:
    """True when the extension says binary, so the file need not be opened to know."""
    return path.rpartition(".")[2].lower() in BINARY_SUFFIXES and "." in path.rsplit("/", 1)[-1]


def looks_binary(data: bytes) -> bool:
    """A NUL byte in the first 8 KiB: git's own test for binary content."""
    return b"\x00" in data[:8192]


def looks_minified(text: str) -> bool:
    """Minified or machine-written text: very long lines on average or at the extreme."""
    if len(text) < 2000:
        return False
    lines = text.count("\n") + 1
    return len(text) / lines > 200 or max(map(len, text.split("\n"))) > 3000


def git_toplevel(path: Path) -> Path | None:
    """The work tree root containing `path`, or None outside git (or without git)."""
    folder = path if path.is_dir() else path.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    top = out.stdout.strip()
    return Path(top) if out.returncode == 0 and top else None


def find_root(path: str | Path) -> Path:
    """The repository a file belongs to: its git work tree, else its folder."""
    target = Path(path).resolve()
    top = git_toplevel(target)
    if top is not None:
        return top.resolve()
    return target if target.is_dir() else target.parent


def _git(root: Path, *args: str) -> list[str] | None:
    """NUL-separated output of one git command in `root`, or None when git can't say."""
    command = ["git", "-C", str(root), "-c", "core.quotepath=off", *args]
    try:
        out = subprocess.run(command, capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        log.info("git %s failed in %s: %s; walking the folder", args[0], root, error)
        return None
    if out.returncode != 0:
        return None
    return [n for n in out.stdout.decode("utf-8", errors="surrogateescape").split("\0") if n]


def _git_paths(root: Path) -> tuple[list[str], dict[str, str]] | None:
    """Tracked and untracked-not-ignored files under `root`, and the git blob id of every
    tracked file whose work-tree copy git knows to be unchanged; None when git can't say.

    Three git calls for the whole tree, none per file: the staged entries with their ids,
    the untracked files, and the tracked files that differ from the index (their ids are
    not the content's, so those are hashed when read).
    """
    staged = _git(root, "ls-files", "-z", "--stage")
    others = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    modified = _git(root, "diff-files", "-z", "--name-only", "--no-renames")
    if staged is None or others is None:
        return None
    blobs: dict[str, str] = {}
    paths = set(others)
    for line in staged:
        info, _, path = line.partition("\t")
        _, blob, stage = (info.split(" ") + ["", ""])[:3]
        paths.add(path)
        if stage == "0":  # a conflicted path has stages 1-3 and no single id
            blobs[path] = blob
    for path in modified if modified is not None else list(blobs):
        blobs.pop(path, None)
    return sorted(paths), blobs


def _walk_paths(root: Path, rules: IgnoreRules, limit: int) -> list[str]:
    """Every file under `root` without following symlinks, pruning ignored folders."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        dirs[:] = sorted(
            d for d in dirs if d not in VCS_DIRS and not rules.ignores(prefix + d, True)
        )
        found.extend(prefix + name for name in sorted(files))
        if len(found) > limit * 2:  # a huge folder (a home directory): stop early
            break
    return sorted(found)


def skip_reason(path: str, rules: IgnoreRules) -> str | None:
    """Why a path is left out by name alone (None when it may be read)."""
    if is_secret(path):
        return "secret"
    if rules.ignores(path):
        return "ignored"
    if is_binary_name(path):
        return "binary"
    return None


def fits_text_limit(path: str, size: int, settings: ContextSettings) -> bool:
    """False for a file in no language Cove parses that is over `max_text_bytes`."""
    return size <= settings.max_text_bytes or language_for(path) is not None


def stat_entry(root: Path, path: str, settings: ContextSettings) -> tuple[FileEntry | None, str]:
    """Stat one candidate: an entry, or None and why (missing, symlink, too large...)."""
    try:
        info = os.lstat(os.path.join(root, path))
    except OSError:
        return None, "missing"
    if stat.S_ISLNK(info.st_mode):
        return None, "symlink"
    if not stat.S_ISREG(info.st_mode):
        return None, "not_file"  # a submodule's folder, a socket...
    if info.st_size > settings.max_file_bytes:
        return None, "too_large"
    if not fits_text_limit(path, info.st_size, settings):
        return None, "large_text"
    return FileEntry(path=path, size=info.st_size, mtime_ns=info.st_mtime_ns), ""


def discover_files(root: Path, settings: ContextSettings) -> Discovery:
    """The files of `root` Cove may read, sorted by path, at most `settings.max_files`."""
    rules = IgnoreRules.for_root(root, settings)
    found = _git_paths(root)
    listed, blobs = found if found is not None else ([], {})
    discovery = Discovery(files=[], git=found is not None)
    if found is None:
        # No git to ask (not a work tree, or git refuses it): its root .gitignore still helps.
        rules.add_file(root / ".gitignore")
        listed = _walk_paths(root, rules, settings.max_files)
    for path in listed:
        reason = skip_reason(path, rules)
        entry = None
        if reason is None:
            entry, reason = stat_entry(root, path, settings)
        if entry is None:
            discovery.skipped[reason] += 1
            continue
        if len(discovery.files) >= settings.max_files:
            discovery.skipped["over_limit"] += 1
            continue
        discovery.files.append(entry)
        if path in blobs:
            discovery.blobs[path] = blobs[path]
    if discovery.skipped["over_limit"]:
        log.warning("%s has more than %d files; the rest are not indexed", root, settings.max_files)
    return discovery


def read_bytes(root: Path, path: str) -> tuple[bytes | None, str]:
    """Read a file for indexing: (raw bytes, "") or (None, why not). Binary content is
    refused here; whether the text is minified is `text_of`'s question.
    """
    try:
        with open(root / path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None, "missing"
    except OSError as error:
        log.info("cannot read %s: %s", path, error)
        return None, "unreadable"
    return (None, "binary") if looks_binary(data) else (data, "")


def text_of(data: bytes) -> tuple[str | None, str]:
    """The text of a file's bytes: (text, "") or (None, "minified")."""
    text = data.decode("utf-8", errors="replace")
    return (None, "minified") if looks_minified(text) else (text, "")


def read_text(root: Path, path: str) -> tuple[str | None, bytes | None, str]:
    """Read a file for indexing: (text, raw bytes, "") or (None, bytes or None, why not)."""
    data, reason = read_bytes(root, path)
    if data is None:
        return None, None, reason
    text, reason = text_of(data)
    return text, data, reason
