"""engine/local/memory.py: large blocks given back when freed; whether the model is mapped."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from engine.local.memory import decide_mmap
from lsp.settings import parse_settings

# A fresh process: a 16 MB block freed raises glibc's threshold, then is a 10 MB block
# mapped on its own (given back when freed) or taken from the heap (kept when freed)?
PROBE = """
import json, sys
import numpy as np
from engine.local.memory import return_large_blocks
from tests.lsp.memprobe import mallinfo
if sys.argv[1] == "fixed":
    assert return_large_blocks()
big = np.ones(16 * 2**20, dtype=np.uint8)
del big
before = mallinfo()["hblkhd"]
block = np.ones(10 * 2**20, dtype=np.uint8)
print(json.dumps(mallinfo()["hblkhd"] - before))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
@pytest.mark.parametrize("mode", ["fixed", "default"])
def test_large_blocks_stay_mapped_after_a_larger_one_was_freed(mode):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    mapped = json.loads(done.stdout)
    if mode == "fixed":
        assert mapped >= 10 * 2**20  # its own mapping: freed, it goes back to the system
    else:
        assert mapped == 0  # glibc's default: from the heap, where a freed block stays


def test_the_model_file_is_mapped_for_presets_and_read_for_a_users_file():
    assert decide_mmap("auto", "qwen2.5-coder-0.5b") is True
    assert decide_mmap("auto", "") is False  # model.path: may be rewritten in place
    assert decide_mmap("on", "") is True and decide_mmap("off", "qwen2.5-coder-0.5b") is False


def test_a_bad_mmap_setting_is_one_sentence_and_auto():
    settings, problems = parse_settings({"model": {"mmap": "sometimes"}})
    assert settings.model.mmap == "auto"
    assert problems == ["Setting 'model.mmap' must be one of auto, on, off; got 'sometimes'."]
