"""The open-buffer `Document`: incremental edits keep its lines, text and tree right."""

from __future__ import annotations

import random
import re

import pytest

from context.document import Document, Snapshot
from context.syntax.languages import parse
from context.window import split_lines

PYTHON = 'def größe(x):\n    """Ünïcödé 😀 docs."""\n    return x\n\n\nclass A:\n    pass\n'


def _apply(source: str, start: tuple[int, int], end: tuple[int, int], text: str) -> str:
    r"""The reference: splice the raw text at LSP positions (lines end at \r\n, \r, \n)."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", source)]
    lines = split_lines(source)

    def offset(line: int, column: int) -> int:
        if line >= len(lines):
            return len(source)
        return starts[line] + min(column, len(lines[line]))

    a, b = sorted((offset(*start), offset(*end)))
    return source[:a] + text + source[b:]


def _check(doc: Document, source: str) -> None:
    assert doc.source == source
    assert doc.lines == split_lines(source)
    snapshot = doc.snapshot()
    assert snapshot.text == "\n".join(split_lines(source))
    fresh = parse(snapshot.text, doc.language)
    kept = snapshot.tree
    if fresh is None:
        assert kept is None
    else:
        assert str(kept.root_node) == str(fresh.root_node)
        assert _nodes(kept.root_node) == _nodes(fresh.root_node)


def _nodes(root) -> list[tuple]:
    """Every node's type, bytes, points and text: a reused node in the wrong place shows."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append((node.type, node.start_byte, node.end_byte, node.start_point,
                      node.end_point, node.text))  # fmt: skip
        stack.extend(node.children)
    return found


def _edit(doc: Document, source: str, start, end, text: str) -> str:
    doc.apply_change(start, end, text)
    source = _apply(source, start, end, text)
    _check(doc, source)
    return source


def test_typing_in_multibyte_text_keeps_lines_and_tree():
    doc = Document("file:///a.py", PYTHON, path="/a.py", version=1)
    assert doc.language == "python"
    source = PYTHON
    _check(doc, source)
    source = _edit(doc, source, (0, 10), (0, 10), "y, ")  # after "größe(": multi-byte before
    source = _edit(doc, source, (1, 18), (1, 18), "!")  # after the emoji (one code point)
    source = _edit(doc, source, (2, 12), (2, 12), " + 1")  # at a line's end
    source = _edit(doc, source, (2, 16), (2, 16), "\n    ä = 'ß'")  # a new line at the end
    source = _edit(doc, source, (1, 0), (2, 0), "")  # delete a whole line
    source = _edit(doc, source, (0, 4), (0, 9), "size")  # replace the multi-byte name
    assert doc.lines[0] == "def size(y, x):"
    assert doc.version == 7


def test_edits_across_lines_and_at_the_end():
    doc = Document("u", "a\nb\nc", path="x.py")
    source = "a\nb\nc"
    source = _edit(doc, source, (0, 1), (2, 0), "")  # join three lines
    source = _edit(doc, source, (0, 2), (0, 2), "\n")  # at the very end
    source = _edit(doc, source, (5, 0), (9, 9), "tail")  # past the end: clamped to the end
    source = _edit(doc, source, (0, 99), (0, 99), "!")  # past a line's end: the line's end
    assert doc.lines == ["ac!", "tail"]


def test_crlf_and_lone_cr_line_ends():
    source = "x = 1\r\ny = 2\r\n"
    doc = Document("u", source, path="w.py")
    assert doc.lines == ["x = 1", "y = 2", ""]
    source = _edit(doc, source, (0, 5), (0, 5), "\r\n")  # Enter in a CRLF file
    source = _edit(doc, source, (1, 0), (1, 0), "z = 3")
    source = _edit(doc, source, (0, 5), (1, 5), "")  # delete across the \r\n
    source = _edit(doc, source, (0, 5), (0, 5), "\r")  # a lone \r ...
    source = _edit(doc, source, (1, 0), (1, 0), "\nq")  # ... then \n after it: one line end
    assert doc.source == "x = 1\r\nq\r\ny = 2\r\n" and doc.lines[:2] == ["x = 1", "q"]
    source = _edit(doc, source, (0, 5), (0, 5), "k\r")  # a \r meeting the line's \r\n
    source = _edit(doc, source, (2, 5), (2, 5), "\r")
    source = _edit(doc, source, (3, 0), (3, 0), "")  # no-op
    assert doc.lines == split_lines(source)


def test_full_replace_and_unknown_language():
    doc = Document("u", "one", path="notes.txt")
    assert doc.language is None and doc.snapshot().tree is None
    doc.apply_change((0, 3), (0, 3), " two")
    assert doc.text == "one two"
    doc.replace("fresh\ntext", version=9)
    assert (doc.lines, doc.version) == (["fresh", "text"], 9)
    py = Document("u", "x = 1\n", path="a.txt", language_id="python")  # languageId wins
    assert py.language == "python"
    py.replace("def f():\n    pass\n")
    _check(py, "def f():\n    pass\n")


def test_a_stale_snapshot_gets_no_tree_and_keeps_its_lines():
    doc = Document("u", "a = 1\n", path="a.py")
    old = doc.snapshot()
    assert doc.snapshot() is old  # the same version: one snapshot, one join, one parse
    doc.apply_change((0, 5), (0, 5), "0")
    assert old.lines == ["a = 1", ""] and old.text == "a = 1\n"
    assert old.tree is None  # a newer change came: that request is stale
    assert doc.snapshot().tree.root_node.text == b"a = 10\n"


def test_plain_text_snapshot_parses_on_demand():
    snapshot = Snapshot.of("def f():\r\n    return 1\r\n", "a.py")
    assert snapshot.lines == ["def f():", "    return 1", ""]
    assert snapshot.text == "def f():\n    return 1\n"
    assert snapshot.tree.root_node.type == "module"
    assert Snapshot.of("x", "a.txt").tree is None


_PIECES = ["x", "ä", "😀", " ", "(", ")", ":", "\n", "\r\n", "\r", "    ", "def ", "'", "#", ""]


@pytest.mark.parametrize("seed", range(12))
def test_random_edits_keep_the_tree_equal_to_a_fresh_parse(seed):
    rng = random.Random(seed)
    source = PYTHON * 3 if seed % 2 else PYTHON.replace("\n", "\r\n") * 3
    doc = Document("u", source, path="r.py")
    for step in range(60):
        lines = split_lines(source)
        line = rng.randrange(len(lines) + 1)
        column = rng.randrange(len(lines[min(line, len(lines) - 1)]) + 2)
        end_line = min(line + rng.choice([0, 0, 0, 1, 2]), len(lines))
        end_column = rng.randrange(len(lines[min(end_line, len(lines) - 1)]) + 2)
        text = "".join(rng.choice(_PIECES) for _ in range(rng.choice([0, 1, 1, 2, 5])))
        doc.apply_change((line, column), (end_line, end_column), text)
        source = _apply(source, (line, column), (end_line, end_column), text)
        if step % 3 == 0 or step == 59:  # several edits between re-parses, too
            _check(doc, source)


def _utf16(text: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


@pytest.mark.parametrize("seed", range(6))
def test_server_changes_match_pygls_text_document(seed):
    """The server's didChange (UTF-16 positions) keeps the Document equal to pygls' text."""
    from lsprotocol import types
    from pygls.workspace import TextDocument

    from lsp.server import _apply_changes

    rng = random.Random(seed)
    source = "a😀b = 'ä'\r\n" * 3 if seed % 2 else "def f(x):\n    return '😀' + x\n"
    ours = Document("file:///t.py", source, path="/t.py")
    theirs = TextDocument("file:///t.py", source)
    for version in range(2, 40):
        lines = ours.lines
        line = rng.randrange(len(lines))
        end_line = min(line + rng.choice([0, 0, 1]), len(lines) - 1)
        cut = rng.randrange(len(lines[line]) + 1)
        end_cut = rng.randrange(len(lines[end_line]) + 1)
        if (end_line, end_cut) < (line, cut):
            end_line, end_cut = line, cut
        change = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=line, character=_utf16(lines[line][:cut])),
                end=types.Position(line=end_line, character=_utf16(lines[end_line][:end_cut])),
            ),
            text="".join(rng.choice(["x", "😀", "\n", "é", " "]) for _ in range(rng.randrange(3))),
        )
        params = types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri="file:///t.py", version=version
            ),
            content_changes=[change],
        )
        _apply_changes(ours, params, "utf-16")
        theirs.apply_change(change)
        assert ours.source == theirs.source
        assert ours.version == version
    _check(ours, ours.source)
