from engine.postprocess import align_to_cursor, postprocess


def pp(text, line_prefix="", suffix="", previous_line=""):
    return postprocess(text, line_prefix=line_prefix, suffix=suffix, previous_line=previous_line)


def test_trailing_whitespace_dropped():
    assert pp("x = 1   \n  ") == "x = 1"


def test_empty_and_whitespace_results_dropped():
    assert pp("") == ""
    assert pp("   \n\t") == ""


def test_trims_repeat_of_rest_of_line():
    # The cursor sits before an existing ")"; the model wrote it again.
    assert pp("a, b)", line_prefix="print(", suffix=")\nnext()") == "a, b"


def test_trims_repeat_of_following_lines():
    suffix = "\n    return total\n"
    text = "total = sum(xs)\n    return total"
    assert pp(text, line_prefix="    ", suffix=suffix) == "total = sum(xs)"


def test_repeat_of_previous_line_dropped():
    assert pp("x = compute()", line_prefix="    ", previous_line="    x = compute()") == ""


def test_unmatched_closer_cut():
    # Nothing on the line opened a bracket: a stray ")" would break the code.
    assert pp("value) + 1", line_prefix="x = ") == "value"


def test_closer_matching_line_opener_kept():
    assert pp("a, b)", line_prefix="f(", suffix="") == "a, b)"


def test_brackets_inside_strings_ignored():
    assert pp("print(')')", line_prefix="") == "print(')')"


def test_leaked_special_token_removed():
    out = postprocess(
        "pi<|endoftext|>junk", line_prefix="", suffix="", special_tokens=("<|endoftext|>",)
    )
    assert out == "pi"


def test_completion_that_equals_next_line_dropped():
    assert pp("return x", line_prefix="    ", suffix="\n    return x\n") == ""


def test_align_cuts_what_the_line_already_holds():
    # The prompt ended "\n    x =" (the blank after `=` healed); the model wrote " 5".
    assert align_to_cursor("5", "    x = ", "    x = ") == "5"  # the psm layout: the whole line
    assert align_to_cursor(" 5", "    x =", "    x = ") == "5"
    assert align_to_cursor(" False", "        return", "        return Fal") == "se"
    # An indentation-only line: the model writes the indentation itself.
    assert align_to_cursor("    return y", "", "    ") == "return y"
    assert align_to_cursor("        return y", "", "    ") == "    return y"  # deeper: kept
    assert align_to_cursor("return y", "", "    ") == "return y"  # shallower: at the cursor
    assert align_to_cursor("  return y\n  z", "", "") == "  return y\n  z"  # column 0
    # A backend that could not force the healed word wrote another: no suggestion.
    assert align_to_cursor(" True", "        return", "        return Fal") == ""
