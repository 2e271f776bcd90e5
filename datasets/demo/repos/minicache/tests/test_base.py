import pytest

from minicache import Cache


def test_rejects_bad_maxsize():
    with pytest.raises(ValueError):
        Cache(0)


def test_mapping_behaviour():
    cache = Cache(maxsize=3)
    cache["a"] = 1
    cache["b"] = 2
    assert cache["a"] == 1
    assert "b" in cache and "z" not in cache
    assert len(cache) == 2
    assert sorted(cache) == ["a", "b"]
    del cache["a"]
    assert "a" not in cache


def test_evicts_oldest_insert():
    cache = Cache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"]
    cache["c"] = 3
    assert list(cache) == ["b", "c"]


def test_overwrite_does_not_evict():
    cache = Cache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 10
    assert dict(cache.items()) == {"a": 10, "b": 2}


def test_get_default():
    cache = Cache(maxsize=2)
    cache["a"] = 1
    assert cache.get("a") == 1
    assert cache.get("missing") is None
    assert cache.get("missing", 0) == 0


def test_popitem_on_empty_cache():
    with pytest.raises(KeyError):
        Cache(maxsize=1).popitem()


def test_info_counts_subscript_hits_and_misses():
    cache = Cache(maxsize=2)
    cache["a"] = 1
    cache["a"]
    with pytest.raises(KeyError):
        cache["b"]
    info = cache.info()
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (1, 1, 2, 1)
