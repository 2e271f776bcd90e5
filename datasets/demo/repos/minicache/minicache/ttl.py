"""LRU with per-item expiry."""

import time
from typing import Any, Callable, Dict, Hashable, Iterator

from .lru import LRUCache


class TTLCache(LRUCache):
    """An LRU cache whose items expire ``ttl`` seconds after they were set."""

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic) -> None:
        super().__init__(maxsize)
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.ttl = ttl
        self.timer = timer
        self._expires: Dict[Hashable, float] = {}

    def _expired(self, key: Hashable) -> bool:
        return self._expires[key] <= self.timer()

    def expire(self) -> int:
        """Drop every expired item; returns how many were dropped."""
        dead = [key for key in self._data if self._expired(key)]
        for key in dead:
            del self[key]
        return len(dead)

    def __getitem__(self, key: Hashable) -> Any:
        if key in self._data and self._expired(key):
            del self[key]
        return super().__getitem__(key)

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self.expire()
        super().__setitem__(key, value)
        self._expires[key] = self.timer() + self.ttl

    def __delitem__(self, key: Hashable) -> None:
        super().__delitem__(key)
        del self._expires[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data and not self._expired(key)

    def __iter__(self) -> Iterator[Hashable]:
        return iter([key for key in self._data if not self._expired(key)])

    def __len__(self) -> int:
        return sum(1 for key in self._data if not self._expired(key))

    def popitem(self):
        key, value = super().popitem()
        self._expires.pop(key, None)
        return key, value

    def clear(self) -> None:
        super().clear()
        self._expires.clear()
