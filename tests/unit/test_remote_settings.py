"""Remote backend settings: the opt-in for another machine, and each broken key reset."""

from __future__ import annotations

import pytest

from engine.remote.backends import check_remote_allowed
from engine.settings import BackendSettings, check_backend_settings
from engine.types import CompletionError


def test_another_machine_needs_the_workspace_opt_in():
    with pytest.raises(CompletionError, match="allowRemote"):
        check_remote_allowed(BackendSettings(type="openai", url="https://gpu-box:8012"))
    assert (
        check_remote_allowed(
            BackendSettings(type="openai", url="https://gpu-box:8012", allow_remote=True)
        ).host
        == "gpu-box"
    )
    assert check_remote_allowed(
        BackendSettings(type="openai", url="http://localhost:8012")
    ).is_loopback


def test_settings_check_resets_each_broken_key():
    fixed, problems = check_backend_settings(
        BackendSettings(
            type="vllm",
            url="http://x:1",
            family="gpt",
            fallback="cloud",
            max_concurrency=0,
            model="m",
        )
    )
    assert len(problems) == 4
    assert fixed == BackendSettings(url="http://x:1", model="m")
    fixed, problems = check_backend_settings(BackendSettings(type="openai"))
    assert fixed.type == "local" and "backend.url" in problems[0]
    assert check_backend_settings(
        BackendSettings(type="llama-server", url="http://127.0.0.1:8012")
    ) == (BackendSettings(type="llama-server", url="http://127.0.0.1:8012"), [])
