from engine.templates import CODEGEMMA, CODELLAMA, DEEPSEEK, PLAIN, QWEN, STARCODER, detect_template, render_prompt
from engine.types import ContextChunk, FimInput


def vocab(*tokens):
    known = set(tokens)
    return lambda text: text in known


def test_detects_qwen_from_its_markers():
    is_special = vocab("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>")
    assert detect_template("<|fim_prefix|>", is_special) is QWEN


def test_codegemma_shares_markers_but_not_repo_tokens():
    is_special = vocab("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>")
    assert detect_template("<|fim_prefix|>", is_special) is CODEGEMMA


def test_other_families():
    assert detect_template("", vocab("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<repo_name>", "<file_sep>")) is STARCODER
    assert detect_template("", vocab("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>")) is DEEPSEEK
    assert detect_template("<PRE>", vocab("<PRE>", "<SUF>", "<MID>")) is CODELLAMA


def test_no_fim_tokens_falls_back_to_prefix_only():
    assert detect_template("", vocab()) is PLAIN


FIM = FimInput(prefix="def f():\n", line_prefix="    return ", suffix="\n\nprint(f())\n", path="a.py")


def test_keystroke_stable_layout():
    prompt = render_prompt(QWEN, FIM)
    assert prompt == (
        "<|fim_prefix|>def f():\n<|fim_suffix|>\n\nprint(f())\n<|fim_middle|>    return "
    )
    typed = render_prompt(QWEN, FimInput(prefix=FIM.prefix, line_prefix="    return x", suffix=FIM.suffix, path="a.py"))
    # Typing on the line only extends the prompt: everything before stays identical.
    assert typed.startswith(prompt)


def test_repo_level_format_uses_real_paths():
    chunk = ContextChunk(path="pkg/shapes.py", text="PI = 3.14\n")
    fim = FimInput(prefix="", line_prefix="x = ", suffix="", path="pkg/main.py", repo_name="demo", chunks=(chunk,))
    prompt = render_prompt(QWEN, fim)
    assert prompt.startswith("<|repo_name|>demo\n<|file_sep|>pkg/shapes.py\nPI = 3.14\n<|file_sep|>pkg/main.py\n<|fim_prefix|>")


def test_path_comment_headers_without_file_markers():
    chunk = ContextChunk(path="lib/util.js", text="export const PI = 3.14;")
    fim = FimInput(prefix="", line_prefix="", suffix="", path="main.js", chunks=(chunk,))
    assert render_prompt(DEEPSEEK, fim).startswith("// lib/util.js\nexport const PI = 3.14;\n")


def test_prefix_only_continuation():
    assert render_prompt(PLAIN, FIM) == "def f():\n    return "
