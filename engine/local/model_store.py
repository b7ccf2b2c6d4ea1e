"""Preset models: assembled from PyPI data packages into the user cache, hash-checked.

Each preset (`engine.local.presets`) names distributions that each carry one part file;
in order they form one GGUF. We only read their data files through package metadata,
never import them. Assembly happens when a preset is first used: parts are checked
(size first, then sha256 while copying), written to a temporary file and renamed into
place; a marker keyed on size and mtime saves hashing the result on every start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from engine.local.presets import DEFAULT_PRESET, PRESET_NAMES, Preset, find_preset
from engine.types import CompletionError

if TYPE_CHECKING:
    from hashlib import _Hash

log = logging.getLogger(__name__)

# The embedded default, under the names older callers use.
MODEL_NAME = DEFAULT_PRESET.file_name
MODEL_SHA256 = DEFAULT_PRESET.sha256
MODEL_SIZE = DEFAULT_PRESET.size
PART_DISTRIBUTIONS = DEFAULT_PRESET.distributions
GGUF_MAGIC = b"GGUF"
OTHER_MODEL = "or choose another model (model.name, `cove model use`)"


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """Where the model is, whether its content was verified, and why it was chosen."""

    path: Path
    embedded: bool  # a preset assembled from the data packages
    verified: bool
    preset: str = ""  # the preset's name; empty for a user's GGUF
    reason: str = ""  # which setting chose it, e.g. "model.path", "auto: ..."
    notes: tuple[str, ...] = ()  # things worth a log line (auto's measurement, ...)


@dataclass(frozen=True, kw_only=True)
class PresetStatus:
    """What is installed of a preset, without assembling or hashing anything big."""

    preset: Preset
    parts: tuple[Path, ...] = ()  # found part files, in order (all of them when installed)
    missing: tuple[str, ...] = ()  # distributions not installed
    broken: tuple[str, ...] = ()  # one sentence per part present but wrong
    assembled: Path | None = None  # the cache copy, when one exists with the right size
    verified: bool = False  # the cache copy's marker records a full hash check

    @property
    def installed(self) -> bool:
        """Every part is there with the right size."""
        return not self.missing and not self.broken


def cache_dir() -> Path:
    """Cove's cache directory (`$XDG_CACHE_HOME/cove`, default `~/.cache/cove`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cove"


def config_dir() -> Path:
    """Cove's user configuration directory (`$XDG_CONFIG_HOME/cove`, default `~/.config/cove`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "cove"


def models_dir() -> Path:
    """Where assembled presets live."""
    return cache_dir() / "models"


def install_hint(preset: Preset, distributions: tuple[str, ...] = ()) -> str:
    """The pip command for the named (default: all) part packages of `preset`."""
    wanted = distributions or preset.distributions
    if wanted == preset.distributions and len(wanted) > 6:
        stem = preset.distribution.replace("{n}", "")
        return f"pip install {stem}{{1..{len(wanted)}}}=={preset.version}"
    return preset.install_command(wanted)


def _part_path(preset: Preset, number: int, dist: metadata.Distribution) -> Path | None:
    wanted = preset.part_file(number)
    for file in dist.files or []:
        if str(file).replace("\\", "/") == wanted:
            return Path(str(dist.locate_file(file)))
    return None


def preset_status(preset: Preset, target_dir: Path | None = None) -> PresetStatus:
    """Which of `preset`'s packages are installed and whether their parts have the right size."""
    parts: list[Path] = []
    missing: list[str] = []
    broken: list[str] = []
    for number, (dist_name, part) in enumerate(
        zip(preset.distributions, preset.parts, strict=True), start=1
    ):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        path = _part_path(preset, number, dist)
        fix = f"pip install --force-reinstall {dist_name}=={preset.version}"
        if path is None or not path.is_file():
            broken.append(f"{dist_name} has no {preset.part_file(number)}: {fix}")
            continue
        size = path.stat().st_size
        if size != part.size:
            broken.append(
                f"part {number} of {preset.name} ({path}) has {size} bytes, not {part.size}: {fix}"
            )
            continue
        parts.append(path)
    target = (target_dir or models_dir()) / preset.file_name
    assembled = target if target.is_file() and target.stat().st_size == preset.size else None
    return PresetStatus(
        preset=preset,
        parts=tuple(parts),
        missing=tuple(missing),
        broken=tuple(broken),
        assembled=assembled,
        verified=assembled is not None and _marker_matches(assembled, preset),
    )


def locate_parts(preset: Preset = DEFAULT_PRESET) -> list[Path]:
    """Paths of the preset's part files, in order, or a one-sentence error saying what to do."""
    status = preset_status(preset)
    if status.missing:
        some = len(status.missing) < len(preset.parts)
        which = f" (missing: {', '.join(status.missing)})" if some else ""
        hint = install_hint(preset, status.missing if some else ())
        raise CompletionError(
            f"Model {preset.name} is {'half' if some else 'not'} installed{which}: {hint}, {OTHER_MODEL}."
        )
    if status.broken:
        raise CompletionError(f"{status.broken[0]}; nothing was assembled.")
    return list(status.parts)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _marker_text(path: Path, preset: Preset) -> str:
    stat = path.stat()
    return f"{preset.sha256} {stat.st_size} {stat.st_mtime_ns}"


def _marker_matches(path: Path, preset: Preset) -> bool:
    marker = _verified_marker(path)
    return marker.is_file() and marker.read_text().strip() == _marker_text(path, preset)


def _read_only(path: Path) -> None:
    """Make the file read-only (0444): servers map it, and a write in place (truncation) would kill them
    with SIGBUS; Cove itself only ever replaces it by rename, which the mode does not stop.
    """
    with contextlib.suppress(OSError):  # someone else's file: leave it as it is
        if path.stat().st_mode & 0o222:
            path.chmod(0o444)


def _is_verified(path: Path, preset: Preset = DEFAULT_PRESET) -> bool:
    """A copy counts as verified when its size matches and its marker records the hash.

    The marker saves hashing the whole model on every start; it is written only after a
    full check and is keyed on size and mtime, so a truncated or replaced file is checked again.
    """
    if not path.is_file() or path.stat().st_size != preset.size:
        return False
    if _marker_matches(path, preset):
        return True
    if sha256_file(path) != preset.sha256:
        return False
    _verified_marker(path).write_text(_marker_text(path, preset) + "\n")
    return True


def _copy_checked(preset: Preset, parts: list[Path], out: BinaryIO, digest: _Hash) -> None:
    """Append every part to `out`, checking each part's sha256 as it goes."""
    for number, (path, part) in enumerate(zip(parts, preset.parts, strict=True), start=1):
        piece = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(4 << 20):
                piece.update(block)
                digest.update(block)
                out.write(block)
        if piece.hexdigest() != part.sha256:
            dist = preset.distributions[number - 1]
            raise CompletionError(
                f"Part {number} of {preset.name} ({path}) has the wrong sha256 "
                f"({piece.hexdigest()[:12]}…): pip install --force-reinstall "
                f"{dist}=={preset.version}; nothing was assembled."
            )


def assemble_preset(preset: Preset, target_dir: Path | None = None) -> ModelInfo:
    """Return the verified preset, concatenating its parts into the cache first if needed.

    Written atomically: parts go to a temporary file in the target directory, each part's
    hash and the whole file's are checked, then the file is renamed into place. Any
    mismatch removes the temporary file and raises with what to do.
    """
    directory = target_dir or models_dir()
    target = directory / preset.file_name
    if _is_verified(target, preset):
        _read_only(target)
        return ModelInfo(path=target, embedded=True, verified=True, preset=preset.name)
    parts = locate_parts(preset)
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < preset.size + (64 << 20):
        raise CompletionError(
            f"Assembling {preset.name} needs {preset.size >> 20} MiB in {directory} but "
            f"{free >> 20} MiB are free: free some space, {OTHER_MODEL}."
        )
    log.info("assembling %s into %s (once)", preset.name, target)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_checked(preset, parts, out, digest)
        if digest.hexdigest() != preset.sha256:
            raise CompletionError(
                f"The assembled {preset.name} has the wrong sha256 ({digest.hexdigest()[:12]}…): "
                f"reinstall it ({install_hint(preset)} --force-reinstall), {OTHER_MODEL}."
            )
        os.replace(tmp_name, target)
        _read_only(target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _verified_marker(target).write_text(_marker_text(target, preset) + "\n")
    return ModelInfo(path=target, embedded=True, verified=True, preset=preset.name)


def assemble_embedded_model(target_dir: Path | None = None) -> ModelInfo:
    """The embedded default model (the 0.5B), assembled if needed."""
    return assemble_preset(DEFAULT_PRESET, target_dir)


def check_gguf(path: Path, setting: str = "model.path") -> None:
    """Raise a one-sentence error unless `path` is a readable GGUF file."""
    if not path.exists():
        raise CompletionError(f"Model file {path} does not exist: set {setting} to a GGUF file.")
    if path.is_dir():
        raise CompletionError(f"Model path {path} is a directory: point {setting} at a .gguf file.")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise CompletionError(f"{path} is not a GGUF model file: point {setting} at a .gguf file.")


def user_choice_file() -> Path:
    """The file `cove model use` writes: the user's default model."""
    return config_dir() / "model.json"


def read_user_choice() -> str:
    """The model `cove model use` chose (a preset name or a path); empty when none."""
    try:
        data = json.loads(user_choice_file().read_text())
    except (OSError, ValueError):
        return ""
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else ""


def write_user_choice(name: str) -> Path:
    """Record the user's default model; "auto" removes the choice. Returns the file."""
    path = user_choice_file()
    if name == "auto":
        path.unlink(missing_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".model-", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        json.dump({"name": name}, out)
        out.write("\n")
    os.replace(tmp_name, path)
    return path


def open_named(name: str, reason: str, setting: str = "model.name") -> ModelInfo:
    """A preset by name (assembled if needed) or a GGUF path."""
    preset = find_preset(name)
    if preset is not None:
        info = assemble_preset(preset)
        return ModelInfo(
            path=info.path, embedded=True, verified=True, preset=preset.name, reason=reason
        )
    if not looks_like_path(name) and not Path(name).exists():
        raise CompletionError(
            f"Unknown model {name!r} in {setting}: use auto, {', '.join(PRESET_NAMES)}, "
            "or the path of a .gguf file."
        )
    path = Path(name).expanduser()
    check_gguf(path, setting)
    return ModelInfo(path=path, embedded=False, verified=False, reason=reason)


def looks_like_path(name: str) -> bool:
    """A model name that is meant as a file: it has a directory part or ends in .gguf."""
    return "/" in name or os.sep in name or name.lower().endswith(".gguf") or name.startswith("~")


def resolve_model(path: str | None) -> ModelInfo:
    """The model to load: an explicit path (config, flag or COVE_MODEL) or the embedded one."""
    chosen = path or os.environ.get("COVE_MODEL") or ""
    if chosen:
        return open_named(chosen, "model.path" if path else "$COVE_MODEL", "model.path")
    info = assemble_embedded_model()
    return ModelInfo(
        path=info.path, embedded=True, verified=True, preset=DEFAULT_PRESET.name, reason="default"
    )
