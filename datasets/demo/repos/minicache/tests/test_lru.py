from minicache import LRUCache


def test_evicts_least_recently_read():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"]
    cache["c"] = 3
    assert "a" in cache
    assert "b" not in cache


def test_write_counts_as_use():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 11
    cache["c"] = 3
    assert sorted(cache) == ["a", "c"]


def test_peek_does_not_count_as_use():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache.peek("a") == 1
    cache["c"] = 3
    assert "a" not in cache
    assert cache.peek("a", "gone") == "gone"


def test_popitem_returns_lru_item():
    cache = LRUCache(maxsize=3)
    for key in "abc":
        cache[key] = key.upper()
    cache["a"]
    assert cache.popitem() == ("b", "B")
