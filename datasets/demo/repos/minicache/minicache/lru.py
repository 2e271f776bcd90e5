"""Least-recently-used eviction."""

from typing import Any, Hashable

from .base import Cache


class LRUCache(Cache):
    """Evicts the item that was read or written the longest time ago."""

    def __getitem__(self, key: Hashable) -> Any:
        value = super().__getitem__(key)
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        super().__setitem__(key, value)
        self._data.move_to_end(key)

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Read without counting as a use."""
        return self._data.get(key, default)
