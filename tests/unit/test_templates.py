import pytest

from engine.templates import (
    CODEGEMMA,
    CODELLAMA,
    DEEPSEEK,
    PLAIN,
    QWEN,
    STARCODER,
    continued_line,
    detect_template,
    healed_tail,
    middle_seed,
    render_prompt,
    resolve_layout,
    split_cursor_line,
)
from engine.types import ContextChunk, FimInput


def vocab(*tokens):
    known = set(tokens)
    return lambda text: text in known


def test_detects_qwen_from_its_markers():
    is_special = vocab(
        "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>"
    )
    assert detect_template("<|fim_prefix|>", is_special) is QWEN


def test_codegemma_shares_markers_but_not_repo_tokens():
    is_special = vocab("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>")
    assert detect_template("<|fim_prefix|>", is_special) is CODEGEMMA


def test_other_families():
    assert (
        detect_template(
            "", vocab("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<repo_name>", "<file_sep>")
        )
        is STARCODER
    )
    assert (
        detect_template("", vocab("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>")) is DEEPSEEK
    )
    assert detect_template("<PRE>", vocab("<PRE>", "<SUF>", "<MID>")) is CODELLAMA


def test_no_fim_tokens_falls_back_to_prefix_only():
    assert detect_template("", vocab()) is PLAIN


FIM = FimInput(
    prefix="def f():\n", line_prefix="    return ", suffix="\n\nprint(f())\n", path="a.py"
)


def test_keystroke_stable_layout():
    prompt = render_prompt(QWEN, FIM)
    # The newline before the cursor's line opens the middle; the trailing blank is left
    # for the model to write (it belongs to the next word's token).
    assert (
        prompt == "<|fim_prefix|>def f():<|fim_suffix|>\n\nprint(f())\n<|fim_middle|>\n    return"
    )
    typed = render_prompt(
        QWEN,
        FimInput(prefix=FIM.prefix, line_prefix="    return x", suffix=FIM.suffix, path="a.py"),
    )
    # Typing on the line only extends the prompt: everything before stays identical.
    # Within a word nothing changes at all (the word is healed); the next word extends it.
    assert typed == prompt
    assert render_prompt(
        QWEN, FimInput(prefix=FIM.prefix, line_prefix="    return x + 1", suffix=FIM.suffix)
    ).startswith(prompt)
    indent_only = FimInput(prefix=FIM.prefix, line_prefix="    ", suffix=FIM.suffix)
    assert render_prompt(QWEN, indent_only).endswith("<|fim_middle|>\n")
    assert middle_seed(QWEN, indent_only) == "\n" and middle_seed(QWEN, FIM, "psm") == ""


def test_healing_leaves_the_last_word_to_the_model():
    assert split_cursor_line("        return Fal") == ("        return", " Fal")
    assert split_cursor_line("    x = ") == ("    x =", " ")
    assert split_cursor_line("    foo.ba") == ("    foo", ".ba")
    assert split_cursor_line("    x = foo(") == ("    x = foo", "(")
    assert split_cursor_line("    retu") == ("", "    retu")
    assert split_cursor_line("    ") == ("", "") and split_cursor_line("") == ("", "")
    fim = FimInput(prefix="a\n", line_prefix="    return Fal", suffix="")
    assert (continued_line(QWEN, fim), healed_tail(QWEN, fim)) == ("    return", " Fal")
    assert (continued_line(QWEN, fim, "psm"), healed_tail(QWEN, fim, "psm")) == (
        "    return Fal",
        "",
    )


def test_classic_psm_layout_keeps_the_line_in_the_prefix():
    assert render_prompt(QWEN, FIM, "psm") == (
        "<|fim_prefix|>def f():\n    return <|fim_suffix|>\n\nprint(f())\n<|fim_middle|>"
    )


def test_hybrid_layout_is_psm_on_a_line_of_indentation_only_and_stable_on_a_line_with_text():
    blank = FimInput(prefix="def f():\n", line_prefix="    ", suffix="\n\nprint(f())\n")
    assert resolve_layout("hybrid", blank) == "psm"
    assert render_prompt(QWEN, blank, resolve_layout("hybrid", blank)) == (
        "<|fim_prefix|>def f():\n    <|fim_suffix|>\n\nprint(f())\n<|fim_middle|>"
    )
    assert continued_line(QWEN, blank, "psm") == "    "  # the model's text starts at the cursor
    assert resolve_layout("hybrid", FIM) == "stable"  # `    return ` : typing keeps the cache
    assert resolve_layout("hybrid", FimInput(prefix="", line_prefix="", suffix="")) == "psm"
    assert resolve_layout("stable", blank) == "stable"
    assert resolve_layout("psm", FIM) == "psm"


def test_auto_layout_is_the_models_own():
    blank = FimInput(prefix="def f():\n", line_prefix="    ", suffix="")
    assert resolve_layout("auto", blank) == "stable"  # a model without a measured choice
    assert resolve_layout("auto", blank, "hybrid") == "psm"
    assert resolve_layout("auto", FIM, "hybrid") == "stable"
    assert resolve_layout("auto", blank, "auto") == "stable"  # never a loop


def test_first_line_of_a_file_has_no_newline_to_move():
    fim = FimInput(prefix="", line_prefix="import ", suffix="\n")
    assert render_prompt(QWEN, fim) == "<|fim_prefix|><|fim_suffix|>\n<|fim_middle|>import"
    assert (
        render_prompt(QWEN, FimInput(prefix="", line_prefix="imp", suffix=""))
        == "<|fim_prefix|><|fim_suffix|><|fim_middle|>"
    )


def test_repo_level_format_uses_real_paths():
    chunk = ContextChunk(path="pkg/shapes.py", text="PI = 3.14\n")
    fim = FimInput(
        prefix="",
        line_prefix="x = ",
        suffix="",
        path="pkg/main.py",
        repo_name="demo",
        chunks=(chunk,),
    )
    prompt = render_prompt(QWEN, fim)
    assert prompt.startswith(
        "<|repo_name|>demo\n<|file_sep|>pkg/shapes.py\nPI = 3.14\n<|file_sep|>pkg/main.py\n<|fim_prefix|>"
    )


def test_path_comment_headers_without_file_markers():
    chunk = ContextChunk(path="lib/util.js", text="export const PI = 3.14;")
    fim = FimInput(prefix="", line_prefix="", suffix="", path="main.js", chunks=(chunk,))
    assert render_prompt(DEEPSEEK, fim).startswith("// lib/util.js\nexport const PI = 3.14;\n")


def test_prefix_only_continuation():
    assert render_prompt(PLAIN, FIM) == "def f():\n    return"  # the blank is the model's to write


def test_held_indentation_is_healed_like_a_word():
    # The last blank is the tail: the tokenizer writes "\n", "   ", " return".
    assert split_cursor_line("    ", "hold") == ("   ", " ")
    assert split_cursor_line("\t\t", "hold") == ("\t", "\t")
    assert split_cursor_line("", "hold") == ("", "")
    assert split_cursor_line("    return Fal", "hold") == ("    return", " Fal")  # code: as before
    free = FimInput(prefix="def f():\n", line_prefix="        ", suffix="\n")
    held = FimInput(prefix="def f():\n", line_prefix="        ", suffix="\n", indentation="hold")
    assert healed_tail(QWEN, free) == "" and middle_seed(QWEN, free) == "\n"
    assert healed_tail(QWEN, held) == " " and middle_seed(QWEN, held) == "\n       "
    assert render_prompt(QWEN, held).endswith("<|fim_middle|>\n       ")
    assert healed_tail(QWEN, held, "psm") == ""  # the classic prompt holds the line
    # The model's text continues the kept indentation: the suggestion starts at the cursor.
    assert continued_line(QWEN, held) + " return 1" == "        return 1"


CHUNK = ContextChunk(path="pkg/util.py", text="def helper():\n    return 1\n")
WITH_CONTEXT = FimInput(
    prefix="import os\n",
    line_prefix="    ",
    suffix="\nprint(1)\n",
    path="pkg/main.py",
    repo_name="demo",
    chunks=(CHUNK,),
)
BLOCK = "# Path: pkg/util.py\n# def helper():\n#     return 1\n"


def test_context_placement_prefix_puts_comment_blocks_after_the_prefix_marker():
    prompt = render_prompt(QWEN, WITH_CONTEXT, placement="prefix")
    assert prompt == (f"<|fim_prefix|>{BLOCK}import os<|fim_suffix|>\nprint(1)\n<|fim_middle|>\n")
    psm = render_prompt(QWEN, WITH_CONTEXT, "psm", placement="prefix")
    assert psm.startswith(f"<|fim_prefix|>{BLOCK}import os\n    <|fim_suffix|>")


def test_context_placement_suffix_keeps_the_no_context_prompt_start():
    prompt = render_prompt(QWEN, WITH_CONTEXT, placement="suffix")
    assert prompt == f"<|fim_prefix|>import os<|fim_suffix|>\nprint(1)\n{BLOCK}<|fim_middle|>\n"
    bare = render_prompt(
        QWEN, FimInput(prefix="import os\n", line_prefix="    ", suffix="\nprint(1)\n")
    )
    assert prompt.startswith(bare.split("<|fim_middle|>")[0])  # prefix and suffix reused
    unended = FimInput(prefix="", line_prefix="x = ", suffix="y", path="a.ts", chunks=(CHUNK,))
    assert "y\n// Path: pkg/util.py\n// def helper():\n" in render_prompt(
        QWEN, unended, placement="suffix"
    )


def test_context_placement_repo_is_the_repo_level_header_and_unknown_is_refused():
    assert render_prompt(QWEN, WITH_CONTEXT, placement="repo") == render_prompt(QWEN, WITH_CONTEXT)
    assert render_prompt(QWEN, WITH_CONTEXT).startswith(
        "<|repo_name|>demo\n<|file_sep|>pkg/util.py"
    )
    bare = FimInput(prefix="a\n", line_prefix="", suffix="")
    assert render_prompt(QWEN, bare, placement="prefix") == render_prompt(QWEN, bare)
    with pytest.raises(ValueError, match="placement"):
        render_prompt(QWEN, WITH_CONTEXT, placement="middle")


def test_context_when_api_asks_for_context_while_completing_a_member_or_a_call():
    from context.retrieval.gate import wants_context

    for line in ("    x = self.", "    x = self.bu", "foo(", "    return parse(ar", "a.b.c"):
        assert wants_context("api", line), line
    for line in ("", "    ", "    return ", "x = 1", "foo(a, ", "x = 1."):
        assert not wants_context("api", line), line
        assert wants_context("always", line)
