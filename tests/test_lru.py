"""The weighted least-recently-used cache behind the search cache and the rendered cards."""

from __future__ import annotations

from app.lru import WeightedLRU


def by_length(key, value) -> int:
    return len(value)


def test_the_least_recently_used_go_first_once_the_weights_pass_the_size():
    cache = WeightedLRU(10, by_length)
    cache.put("a", "aaaa")
    cache.put("b", "bbbb")
    assert cache.get("a") == "aaaa"  # now the most recently used
    cache.put("c", "cccc")  # 12 > 10: "b" goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("aaaa", None, "cccc")
    assert cache.weight == 8


def test_a_replaced_entry_counts_once_and_a_value_larger_than_the_cache_is_not_kept():
    cache = WeightedLRU(10, by_length)
    cache.put("a", "aaaa")
    cache.put("a", "aaaaaa")
    assert cache.weight == 6 and len(cache) == 1
    cache.put("huge", "h" * 11)
    assert cache.get("huge") is None and cache.get("a") == "aaaaaa"
    cache.clear()
    assert cache.get("a") is None and cache.weight == 0


def test_get_or_make_makes_a_missing_value_once_and_keeps_it():
    cache = WeightedLRU(10, lambda key, value: 1)
    made = []

    def make() -> str:
        made.append("x")
        return "value"

    assert cache.get_or_make("k", make) == "value"
    assert cache.get_or_make("k", make) == "value"
    assert made == ["x"]
