from engine.stops import block_indent, check_stop, indent_width
from engine.types import StopPolicy


def test_single_line_stops_at_newline():
    decision = check_stop("math.pi * r ** 2\n    x = 1", StopPolicy(multiline=False))
    assert decision.reason == "newline"
    assert decision.keep == len("math.pi * r ** 2")


def test_single_line_goes_on_without_newline():
    assert check_stop("math.pi", StopPolicy()).reason == ""


def test_multiline_stops_at_dedent_below_block():
    text = "total = 0\n    for x in xs:\n        total += x\ndef other():"
    decision = check_stop(text, StopPolicy(multiline=True, indent=4))
    assert decision.reason == "dedent"
    assert text[: decision.keep] == "total = 0\n    for x in xs:\n        total += x"


def test_multiline_keeps_lines_at_block_indent():
    text = "a = 1\n    b = 2\n    c = 3"
    assert check_stop(text, StopPolicy(multiline=True, indent=4)).reason == ""


def test_multiline_stops_at_blank_line_pair():
    text = "a = 1\n    b = 2\n\n\n    c"
    decision = check_stop(text, StopPolicy(multiline=True, indent=4))
    assert decision.reason == "blank_lines"
    assert text[: decision.keep] == "a = 1\n    b = 2"


def test_multiline_max_lines():
    text = "a\n    b\n    c\n    d\n"
    decision = check_stop(text, StopPolicy(multiline=True, indent=4, max_lines=3))
    assert decision.reason == "max_lines"
    assert text[: decision.keep] == "a\n    b\n    c"


def test_stop_string_cuts():
    decision = check_stop("foo<|file_sep|>bar", StopPolicy(stop_strings=("<|file_sep|>",)))
    assert decision.reason == "stop_string" and decision.keep == 3


def test_block_indent_after_opener_is_deeper():
    assert block_indent("def f():") == 1
    assert block_indent("    ", "def f():") == 4
    assert block_indent("", "    if x:") == 5
    assert block_indent("    return ") == 4
    assert indent_width("\tx") == 4
