"""Retrieval sources on a repository built in tmp_path, and their pure helpers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from context.retrieval.candidates import near_identifiers
from context.retrieval.git_signals import cochange_counts, parse_diff
from context.retrieval.imports import Import, PathTable, parse_imports, resolve_import
from context.retrieval.recent import RecentRing
from context.retrieval.repository import DebouncedUpdates, Repositories, RepositoryContext
from context.settings import ContextSettings
from context.window import BudgetSettings, cursor_window
from tests.conftest import git

PRICING = '''"""Prices."""


def apply_discount(price: float, percent: int) -> float:
    """Lower a price by a percentage."""
    return price * (100 - percent) / 100


class Cart:
    """Items to buy."""

    currency: str = "EUR"

    def __init__(self):
        self.items = []

    def add_item(self, name: str, price: float, quantity: int = 1) -> None:
        self.items.append((name, price, quantity))

    def total(self) -> float:
        return sum(p * q for _, p, q in self.items)
'''

OTHER = "def apply_discount(value):\n    return value\n"

CHECKOUT = (
    """from shop.pricing import Cart, apply_discount


def local_helper_defined_far_above(x):
    return x
"""
    + "\n" * 60
    + """

def checkout(names, prices):
    cart = Cart()
    for name, price in zip(names, prices):
        cart.add_item(name, apply_discount(price, 10))
    local_helper_defined_far_above(cart)
    return cart.total()
"""
)


def write(root: Path, rel: str, text: str) -> None:
    """Create `root/rel` with `text`."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def repo(tmp_path) -> RepositoryContext:
    """An indexed shop repository with two commits (pricing and checkout change together)."""
    root = tmp_path / "shop_repo"
    root.mkdir()
    git(root, "init", "-q")
    write(root, "shop/pricing.py", PRICING)
    write(root, "shop/other.py", OTHER)
    write(root, "shop/checkout.py", CHECKOUT)
    write(
        root,
        "shop/report.py",
        "def sales_report(cart):\n    for name, price, quantity in cart.items:\n        print(name, price * quantity)\n",
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    write(root, "shop/pricing.py", PRICING + "\n\nVAT = 21\n")
    write(root, "shop/checkout.py", CHECKOUT + "\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "two")
    context = RepositoryContext.open(root, ContextSettings(index_dir=str(tmp_path / "cache")))
    context.build()
    yield context
    context.close()


def at(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """0-based (line, column) of `needle` (+offset) in `text`."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1)


def provide(repo: RepositoryContext, path: str, text: str, line: int, col: int, budget: int = 2000):
    window = cursor_window(
        text, line, col, BudgetSettings(prefix_tokens=120, suffix_tokens=60), repo.tokenizer
    )
    return repo.provider(text, str(repo.root / path), window, budget)


def candidates(repo: RepositoryContext, path: str, text: str, line: int, col: int):
    window = cursor_window(
        text, line, col, BudgetSettings(prefix_tokens=120, suffix_tokens=60), repo.tokenizer
    )
    return repo.retriever.candidates(repo.cursor_of(text, str(repo.root / path), window))


def test_definitions_prefer_the_imported_file_and_show_signatures(repo):
    line, col = at(CHECKOUT, "cart.add_item(name")
    chunks = provide(repo, "shop/checkout.py", CHECKOUT, line, col)
    defs = {(c.path, c.text.split("\n")[0]) for c in chunks if c.source == "definition"}
    assert (
        "shop/pricing.py",
        "def apply_discount(price: float, percent: int) -> float: ...",
    ) in defs
    assert not any(c.path == "shop/other.py" and c.source == "definition" for c in chunks)
    cart = next(c for c in chunks if c.text.startswith("class Cart:"))
    assert (
        "    def add_item(self, name: str, price: float, quantity: int = 1) -> None: ..."
        in cart.text
    )
    assert '    currency: str = "EUR"' in cart.text
    assert "self.items.append" not in cart.text  # signatures, not bodies


def test_local_definition_outside_the_window_is_offered(repo):
    line, col = at(CHECKOUT, "    local_helper_defined_far_above(cart)", 4)
    chunks = provide(repo, "shop/checkout.py", CHECKOUT, line, col)
    local = [c for c in chunks if c.path == "shop/checkout.py"]
    assert [c.text for c in local] == ["def local_helper_defined_far_above(x): ..."]
    near = "def near():\n    pass\n\nnear()\n"
    assert not [
        c for c in provide(repo, "shop/checkout.py", near, 3, 0) if c.path == "shop/checkout.py"
    ]


def test_import_outline_candidates(repo):
    line, col = at(CHECKOUT, "    return cart.total()", 4)
    found = [
        c for c in candidates(repo, "shop/checkout.py", CHECKOUT, line, col) if c.source == "import"
    ]
    assert [c.path for c in found] == ["shop/pricing.py"]
    assert "class Cart:" in found[0].text and "def apply_discount(" in found[0].text


def test_recent_ring_regions_come_back(repo):
    repo.note_edit(repo.root / "shop/report.py", 1)  # 0-based, as LSP sends it
    line, col = at(CHECKOUT, "    return cart.total()", 4)
    recent = [
        c for c in candidates(repo, "shop/checkout.py", CHECKOUT, line, col) if c.source == "recent"
    ]
    assert recent and recent[0].path == "shop/report.py" and "sales_report" in recent[0].text


def test_similar_code_by_bm25(repo):
    text = "def summary(cart):\n    for name, price, quantity in cart.items:\n        "
    found = [c for c in candidates(repo, "shop/new.py", text, 2, 8) if c.source == "similar"]
    assert found and found[0].path == "shop/report.py"


def test_git_signals_uncommitted_and_cochange(repo):
    write(repo.root, "shop/report.py", "def sales_report(cart):\n    return 'changed line'\n")
    repo.update_file("shop/report.py")
    repo.git.warm()  # requests read the diff from a cache refreshed in the background
    line, col = at(CHECKOUT, "    return cart.total()", 4)
    found = candidates(repo, "shop/checkout.py", CHECKOUT, line, col)
    assert any(
        c.source == "git" and c.path == "shop/report.py" and "changed line" in c.text for c in found
    )
    assert any(c.source == "cochange" and c.path == "shop/pricing.py" for c in found)


def test_provider_is_deterministic_and_within_budget(repo):
    line, col = at(CHECKOUT, "cart.add_item(name")
    first = provide(repo, "shop/checkout.py", CHECKOUT, line, col, budget=120)
    again = provide(repo, "shop/checkout.py", CHECKOUT, line, col, budget=120)
    assert first == again and sum(c.tokens for c in first) <= 120
    assert provide(repo, "shop/checkout.py", CHECKOUT, line, col, budget=0) == []


def test_a_variant_takes_context_from_the_sources_left_weighted_only(repo):
    line, col = at(CHECKOUT, "cart.add_item(name")
    window = cursor_window(
        CHECKOUT, line, col, BudgetSettings(prefix_tokens=120, suffix_tokens=60), repo.tokenizer
    )
    path = str(repo.root / "shop/checkout.py")
    every = {c.source for c in repo.provider(CHECKOUT, path, window, 2000)}
    assert {"definition", "similar"} <= every
    no_bm25 = repo.variant(weight_similar=0.0)(CHECKOUT, path, window, 2000)
    bm25 = repo.variant(weight_definition=0.0, weight_import=0.0)(CHECKOUT, path, window, 2000)
    assert no_bm25 and "similar" not in {c.source for c in no_bm25}
    assert bm25 and not {"definition", "import"} & {c.source for c in bm25}
    assert {c.source for c in repo.provider(CHECKOUT, path, window, 2000)} == every  # untouched


def test_near_identifiers_weigh_by_distance():
    lines = ["far_name = 1", "", "", "", "mid_name = 2", "close_name(", "    "]
    found = near_identifiers(lines, 6, "    ", above=10, below=2)
    assert found["close_name"] > found["mid_name"] > found["far_name"]


def test_recent_ring_replaces_nearby_and_caps_size():
    ring = RecentRing(size=3)
    ring.note("a.py", 10, "edit")
    ring.note("a.py", 12, "view")  # same place: replaces, keeps "edit"
    ring.note("b.py", 1, "view")
    ring.note("c.py", 1, "view")
    ring.note("d.py", 1, "view")
    entries = ring.entries()
    assert [(e.path, e.kind) for e in entries] == [
        ("d.py", "view"),
        ("c.py", "view"),
        ("b.py", "view"),
    ]
    ring.forget("c.py")
    assert [e.path for e in ring.entries()] == ["d.py", "b.py"]
    other = RecentRing()
    other.note("a.py", 10, "edit")
    other.note("a.py", 12, "view")
    assert [(e.line, e.kind) for e in other.entries()] == [(12, "edit")]


def test_parse_diff_and_cochange_counts():
    diff = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -3,0 +4,2 @@\n+a\n+b\n@@ -10 +12 @@\n-c\n+d\n+++ /dev/null\n@@ -1 +0,0 @@\n"
    assert parse_diff(diff) == {"x.py": [(4, 5), (12, 12)]}
    commits = [["a.py", "b.py"], ["a.py", "c.py"], ["a.py", "b.py"], ["b.py"]]
    assert cochange_counts(commits, "a.py") == {"b.py": 2 / 3, "c.py": 1 / 3}
    assert cochange_counts(commits, "zzz.py") == {}


@pytest.mark.parametrize(
    ("language", "current", "source", "expected"),
    [
        ("python", "pkg/sub/cur.py", "from .sib import thing\n", ["pkg/sub/sib.py"]),
        (
            "python",
            "app.py",
            "from pkg import mod\nimport pkg.sub.sib as s\n",
            ["pkg/__init__.py", "pkg/mod.py", "pkg/sub/sib.py"],
        ),
        (
            "typescript",
            "src/app.ts",
            "import { a } from './utils';\nimport React from 'react';\n",
            ["src/utils.ts"],
        ),
        ("go", "main.go", 'import (\n\tm "example.com/proj/mathx"\n\t"fmt"\n)\n', ["mathx/add.go"]),
        ("rust", "src/main.rs", "use crate::geo::{Point, Line as L};\n", ["src/geo.rs"]),
        ("java", "App.java", "import com.x.geo.Point;\n", ["com/x/geo/Point.java"]),
        ("c", "src/a.c", '#include "geo/point.h"\n#include <stdio.h>\n', ["include/geo/point.h"]),
    ],
)
def test_imports_resolve_to_repository_files(language, current, source, expected):
    table = PathTable(
        [
            "pkg/__init__.py",
            "pkg/mod.py",
            "pkg/sub/sib.py",
            "src/utils.ts",
            "mathx/add.go",
            "mathx/add_test.go",
            "src/geo.rs",
            "com/x/geo/Point.java",
            "include/geo/point.h",
        ]
    )
    files = [
        f
        for imp in parse_imports(language, source)
        for f in resolve_import(language, current, imp, table)
    ]
    assert files == expected


def test_import_names_and_aliases():
    py = parse_imports("python", "from a.b import (x,\n    y as z)\nimport numpy as np\n")
    assert py == [
        Import(module="a.b", names=(("x", "x"), ("y", "z"))),
        Import(module="numpy", alias="np"),
    ]
    js = parse_imports(
        "javascript", "import Def, { a as b } from './m';\nimport * as ns from './n';\n"
    )
    assert js[0].names == (("a", "b"), ("default", "Def")) and js[1].alias == "ns"


def test_repositories_open_once_and_debounced_updates_keep_the_newest_text(repo, tmp_path):
    repos = Repositories(ContextSettings(index_dir=str(tmp_path / "cache")))
    first, fresh = repos.for_path(repo.root / "shop" / "pricing.py")
    again, fresh_again = repos.for_path(repo.root / "shop")
    assert fresh and not fresh_again and first is again and first.root == repo.root
    updates = DebouncedUpdates(delay_s=0.01)
    updates.schedule(first, "shop/draft.py", "def first_draft():\n    pass\n")
    updates.schedule(first, "shop/draft.py", "def second_draft():\n    pass\n")
    for _ in range(500):  # wait for the timer thread, whatever the machine's load
        if first.index.definitions(["second_draft"]):
            break
        time.sleep(0.01)
    assert [r.path for r in first.index.definitions(["second_draft"])] == ["shop/draft.py"]
    assert first.index.definitions(["first_draft"]) == []
    updates.cancel_all()
    repos.close()


def test_repositories_provider_opens_once_and_shows_relative_paths(repo, tmp_path):
    opened: list[RepositoryContext] = []
    repos = Repositories(ContextSettings(index_dir=str(tmp_path / "cache")), on_open=opened.append)
    path = repo.root / "shop" / "checkout.py"
    assert repos.display_path(path) == "shop/checkout.py"
    line, col = at(CHECKOUT, "cart.add_item(name")
    window = cursor_window(CHECKOUT, line, col, BudgetSettings(), repos.for_path(path)[0].tokenizer)
    chunks = repos.provider(CHECKOUT, str(path), window, 400)
    assert len(opened) == 1 and opened[0].root == repo.root
    assert any(c.path == "shop/pricing.py" for c in chunks)  # the shared index was built
    repos.close()


def test_a_new_file_is_found_by_imports_after_update_without_rebuild(repo):
    repo.path_table()  # built once, then kept in step by updates
    write(
        repo.root,
        "shop/shipping.py",
        "def shipping_cost(weight_kg: float) -> float:\n    return 1.0\n",
    )
    assert repo.update_file("shop/shipping.py") == "indexed"
    text = (
        "from shop.shipping import shipping_cost\n\n\ndef total(w):\n    return shipping_cost(w)\n"
    )
    found = candidates(repo, "shop/new.py", text, 4, 11)
    assert any(c.source == "definition" and c.path == "shop/shipping.py" for c in found)
    assert "shop/shipping.py" in repo.path_table().paths
    assert repo.remove_file(repo.root / "shop/shipping.py")
    assert "shop/shipping.py" not in repo.path_table().paths


def test_eval_positions_are_code_lines_using_imported_names(repo):
    from bench.evaluate import choose_positions

    positions = choose_positions(repo, 10, seed=1)
    assert positions and all(p.path == "shop/checkout.py" for p in positions)
    for pos in positions:
        assert set(pos.names) <= {"Cart", "apply_discount"}
        assert not pos.target.startswith(("from ", "import ", "#"))
        line = (repo.root / pos.path).read_text().split("\n")[pos.line]
        assert line.strip() == pos.target and pos.column == len(line) - len(line.lstrip())


def test_names_in_strings_comments_and_docstrings_are_not_uses():
    from context.retrieval.candidates import code_only

    lines = [
        'x = f("Command", y)  # Command here',
        '    """Doc about Command',
        "    more Command",
        '    """',
        "z = Cart()",
        'a: t.Optional["Command"] = None',
    ]
    assert "Command" not in " ".join(code_only(lines))
    assert "Cart" in code_only(lines)[4] and "Optional" in code_only(lines)[5]
