from context.cache import ResultCache, ShownSuggestion, TypedAheadCache, text_key


def test_typed_ahead_returns_the_rest():
    cache = TypedAheadCache()
    cache.remember(
        "u",
        ShownSuggestion(
            line=3,
            line_prefix="    return ",
            text="math.pi * r ** 2",
            before_key="b",
            after_key="a",
        ),
    )
    assert cache.lookup("u", 3, "    return ma", "b", "a") == "th.pi * r ** 2"


def test_typed_ahead_misses_when_text_differs():
    cache = TypedAheadCache()
    cache.remember(
        "u",
        ShownSuggestion(line=3, line_prefix="x = ", text="foo()", before_key="b", after_key="a"),
    )
    assert cache.lookup("u", 3, "x = fx", "b", "a") is None  # typed something else
    assert cache.lookup("u", 3, "x = f", "B", "a") is None  # the text above changed
    assert cache.lookup("u", 4, "x = f", "b", "a") is None  # another line
    assert cache.lookup("u", 3, "x = foo()", "b", "a") is None  # fully typed: nothing left
    assert cache.lookup("v", 3, "x = f", "b", "a") is None  # another document


def test_result_cache_is_lru():
    cache = ResultCache(size=2)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"
    cache.put("c", "3")
    assert cache.get("b") is None and cache.get("a") == "1" and len(cache) == 2


def test_text_key_separates_parts():
    assert text_key("ab", "c") != text_key("a", "bc")
