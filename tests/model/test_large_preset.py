"""The real 1.5B preset: assembled from its 22 packages, loaded, FIM template detected.

Opt-in (COVE_TEST_LARGE=1): it writes 1.1 GB into the cache and loads a second model, which
CI must not pay on every run. The fake package set in tests/unit/test_presets.py covers the
assembly rules on every run.
"""

from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(
        os.environ.get("COVE_TEST_LARGE") != "1", reason="opt-in: COVE_TEST_LARGE=1 (1.1 GB)"
    ),
]


def test_large_preset_assembles_loads_and_completes():
    from engine.local.loading import open_local_backend
    from engine.local.model_store import preset_status
    from engine.local.presets import QWEN_15B
    from engine.settings import ModelSettings
    from engine.types import GenerationRequest

    status = preset_status(QWEN_15B)
    assert status.installed, status.missing or status.broken
    backend = open_local_backend(ModelSettings(name=QWEN_15B.name))
    try:
        assert backend.model_info is not None and backend.model_info.verified
        assert backend.model_path.stat().st_size == QWEN_15B.size
        assert backend.template.name == QWEN_15B.template
        assert backend.template.repo_name and backend.is_special(backend.template.repo_name)
        template = backend.template
        prompt = f"{template.prefix}def add(a, b):\n    return {template.suffix}\n{template.middle}"
        result = backend.generate(GenerationRequest(prompt=prompt, max_tokens=8))
        assert "a + b" in result.text
        assert backend.layout == QWEN_15B.layout  # what generation.layout "auto" means here
    finally:
        backend.close()
