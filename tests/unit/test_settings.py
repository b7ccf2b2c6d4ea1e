from lsp.settings import CoveSettings, parse_settings


def test_camel_case_keys_fill_the_tree():
    settings, problems = parse_settings(
        {
            "model": {"path": "/m.gguf", "contextSize": 2048},
            "generation": {"maxTokens": 32, "multiline": "never"},
            "budget": {"prefixTokens": 512},
            "features": {"disabledLanguages": ["markdown"]},
        }
    )
    assert problems == []
    assert settings.model.path == "/m.gguf" and settings.model.context_size == 2048
    assert settings.generation.max_tokens == 32 and settings.generation.multiline == "never"
    assert settings.budget.prefix_tokens == 512
    assert settings.features.disabled_languages == ("markdown",)


def test_wrapped_in_cove_section():
    settings, problems = parse_settings({"cove": {"generation": {"maxTokens": 10}}})
    assert settings.generation.max_tokens == 10 and problems == []


def test_bad_and_unknown_keys_keep_defaults_and_are_reported():
    defaults = CoveSettings()
    settings, problems = parse_settings(
        {
            "generation": {"maxTokens": "many", "deadlineMs": -5, "multiline": "sometimes"},
            "nonsense": True,
            "model": 3,
        }
    )
    assert settings.generation.max_tokens == defaults.generation.max_tokens
    assert settings.generation.deadline_ms == defaults.generation.deadline_ms
    assert settings.generation.multiline == "auto"
    text = " ".join(problems)
    for word in ("maxTokens", "deadline_ms", "multiline", "nonsense", "model"):
        assert word in text, text


def test_updates_apply_on_top_of_current_settings():
    first, _ = parse_settings({"generation": {"maxTokens": 10}})
    second, _ = parse_settings({"budget": {"suffixTokens": 100}}, first)
    assert second.generation.max_tokens == 10 and second.budget.suffix_tokens == 100


def test_booleans_are_not_numbers():
    settings, problems = parse_settings(
        {"generation": {"maxTokens": True}, "features": {"completion": 1}}
    )
    assert settings.generation.max_tokens == CoveSettings().generation.max_tokens
    assert settings.features.completion is True and len(problems) == 2
