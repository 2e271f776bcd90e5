from minicache import Cache, LRUCache, hashkey, memoize


def test_hashkey_ignores_keyword_order():
    assert hashkey(1, b=2, c=3) == hashkey(1, c=3, b=2)
    assert hashkey(1, 2) != hashkey(1, b=2)


def test_results_are_cached():
    calls = []

    @memoize(Cache(maxsize=8))
    def square(x):
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]


def test_none_results_are_cached():
    calls = []

    @memoize(LRUCache(maxsize=8))
    def nothing(x):
        calls.append(x)

    nothing(1)
    nothing(1)
    assert calls == [1]


def test_cache_clear():
    calls = []

    @memoize(LRUCache(maxsize=8))
    def ident(x):
        calls.append(x)
        return x

    ident(1)
    ident.cache_clear()
    ident(1)
    assert calls == [1, 1]
    assert ident.cache_info().misses == 2


def test_wraps_metadata():
    @memoize(LRUCache(maxsize=1))
    def documented():
        """Docs."""

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Docs."
