"""Memoize functions with any of the caches."""

import functools
from typing import Any, Callable, Hashable, Tuple

from .base import Cache

_MISSING = object()
_KWARGS_MARK = (object(),)


def hashkey(*args: Hashable, **kwargs: Hashable) -> Tuple[Hashable, ...]:
    """A cache key for a call; keyword order does not matter."""
    if not kwargs:
        return args
    return args + _KWARGS_MARK + tuple(sorted(kwargs.items()))


def memoize(cache: Cache, key: Callable[..., Hashable] = hashkey) -> Callable[[Callable], Callable]:
    """Decorator: remember results in ``cache``; exposes ``cache_info()`` and ``cache_clear()``."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key(*args, **kwargs)
            value = cache.get(k, _MISSING)
            if value is not _MISSING:
                return value
            value = func(*args, **kwargs)
            cache[k] = value
            return value

        wrapper.cache = cache
        wrapper.cache_info = cache.info
        wrapper.cache_clear = cache.clear
        return wrapper

    return decorator
