"""The `context` settings section: what the repository index reads and how context is chosen.

Frozen, keyword-only, every key documented beside its default. On the wire the keys are
camelCase (`context.maxFileBytes`); `engine.settings.load_settings` fills this class.
"""

from __future__ import annotations

from dataclasses import dataclass

# Generated or vendored text that only adds noise to BM25 and costs indexing time.
DEFAULT_IGNORE: tuple[str, ...] = (
    "*.lock",
    "package-lock.json",
    "pnpm-lock.yaml",
    "*.min.*",
    "*.map",
    "*.svg",
    "node_modules/",
    "__pycache__/",
    ".venv/",
    "venv/",
    ".tox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
)


@dataclass(frozen=True, kw_only=True)
class ContextSettings:
    """Repository index and cross-file context."""

    enabled: bool = True  # index the repository and add cross-file context to prompts
    max_file_bytes: int = 1_000_000  # larger files are never read (generated data, dumps)
    # A file in no language Cove parses (docs, HTML, data) is indexed only up to this size:
    # such text held 41 of SQLAlchemy's 61 MB and gives a code model little context.
    max_text_bytes: int = 32_000
    max_files: int = 30_000  # index at most this many files (the first in path order)
    ignore: tuple[str, ...] = DEFAULT_IGNORE  # gitignore-style patterns, on top of .coveignore
    index_dir: str = ""  # where index databases live; empty: $XDG_CACHE_HOME/cove/index
    # Processes that parse a build of many files (64 or more to parse), at most one per
    # core: tree-sitter holds the GIL, so only processes parse in parallel. 0: parse in
    # the server's own process (on threads).
    index_workers: int = 4
    chunk_lines: int = 24  # target lines of one BM25 chunk (chunks break at blank/top-level lines)
    near_lines: int = 12  # lines above the cursor whose identifiers ask for definitions
    max_definitions: int = 8  # definitions looked up per request
    class_members: int = 8  # members shown in a class outline (names near the cursor first)
    body_lines: int = 0  # lines of a function body shown after its signature (0: signature only)
    recent_size: int = 32  # edited/viewed positions remembered by the ring
    recent_lines: int = 8  # lines shown around a recent position (each side)
    similar_chunks: int = 4  # BM25 hits considered per request
    cochange_commits: int = 200  # commits read for co-change statistics
    git_ttl_s: float = 10.0  # seconds git signals are cached between requests
    # Source weights: a candidate's score is weight × its own relevance in [0, 1].
    weight_definition: float = 1.0  # a name used near the cursor, defined in another file
    weight_imported: float = 1.3  # bonus factor when the current file imports that name
    weight_import: float = 0.55  # outline of a file the current file imports
    weight_recent: float = 0.6  # a region the user edited or viewed lately
    weight_similar: float = 0.45  # BM25 neighbour of the cursor window
    weight_git: float = 0.35  # uncommitted change in another file
    weight_cochange: float = 0.25  # file that often changes together with this one
    min_score: float = 0.05  # candidates scoring below this are dropped
