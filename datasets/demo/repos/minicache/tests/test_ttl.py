import pytest

from minicache import TTLCache


class FakeTimer:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def timer():
    return FakeTimer()


def test_rejects_bad_ttl(timer):
    with pytest.raises(ValueError):
        TTLCache(maxsize=2, ttl=0, timer=timer)


def test_items_expire(timer):
    cache = TTLCache(maxsize=4, ttl=10, timer=timer)
    cache["a"] = 1
    timer.now = 9.9
    assert cache["a"] == 1
    timer.now = 10
    assert "a" not in cache
    assert cache.get("a") is None
    assert len(cache) == 0


def test_rewrite_extends_life(timer):
    cache = TTLCache(maxsize=4, ttl=10, timer=timer)
    cache["a"] = 1
    timer.now = 8
    cache["a"] = 2
    timer.now = 15
    assert cache["a"] == 2


def test_expire_drops_dead_items(timer):
    cache = TTLCache(maxsize=4, ttl=5, timer=timer)
    cache["a"] = 1
    timer.now = 3
    cache["b"] = 2
    timer.now = 6
    assert cache.expire() == 1
    assert list(cache) == ["b"]


def test_lru_eviction_still_applies(timer):
    cache = TTLCache(maxsize=2, ttl=100, timer=timer)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"]
    cache["c"] = 3
    assert sorted(cache) == ["a", "c"]
