"""Token healing of blanks (held indentation) over a toy vocabulary: no model needed."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")
from engine.local.healing import HealingIndex  # noqa: E402

VOCAB = [
    b" ", b"  ", b"   ", b"    ", b"     ", b"        ", b"    \n", b" return", b"  x", b"\t",
    b"\t\t", b"\treturn", b"\t\t\t", b"return", b"\n", b" \t", b"    x",
]  # fmt: skip


@pytest.fixture()
def toy():
    """The healing index of VOCAB."""
    return HealingIndex(lambda: ((text, token) for token, text in enumerate(VOCAB)))


def texts(ids) -> set[bytes]:
    return {VOCAB[i] for i in ids}


def test_a_word_heal_allows_any_token_that_continues_it(toy):
    assert texts(toy.matching(b" ")) >= {b" return", b"  x", b"     "}


def test_held_blanks_allow_no_further_blank(toy):
    assert texts(toy.matching(b"    ", exact=True)) == {
        b" ", b"  ", b"   ", b"    ", b"    x", b"    \n",
    }  # fmt: skip
    assert texts(toy.matching(b" ", exact=True)) == {b" ", b" return"}
    assert texts(toy.matching(b"\t", exact=True)) == {b"\t", b"\treturn"}
    assert texts(toy.matching(b"\t\t", exact=True)) == {b"\t", b"\t\t"}


def test_after_held_blanks_every_blank_start_is_banned(toy):
    banned = texts(toy.blanks())
    assert b"return" not in banned and b"\n" not in banned
    assert {b" return", b"\t", b"    x", b" \t"} <= banned
