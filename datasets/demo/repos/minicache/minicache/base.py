"""The base cache: a bounded mapping with hit/miss statistics."""

from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Any, Hashable, Iterator, NamedTuple, Tuple

_MISSING = object()


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


class Cache(MutableMapping):
    """A mapping that holds at most ``maxsize`` items.

    When full, inserting a new key evicts an item chosen by :meth:`popitem`
    (here: the oldest inserted one; subclasses change the policy).
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: "OrderedDict[Hashable, Any]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._data)!r}, maxsize={self.maxsize})"

    def __getitem__(self, key: Hashable) -> Any:
        try:
            value = self._data[key]
        except KeyError:
            self.misses += 1
            raise
        self.hits += 1
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        if key not in self._data:
            while len(self._data) >= self.maxsize:
                self.popitem()
        self._data[key] = value

    def __delitem__(self, key: Hashable) -> None:
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable, default: Any = None) -> Any:
        if key in self:
            return self._data[key]
        self.misses += 1
        return default

    def popitem(self) -> Tuple[Hashable, Any]:
        """Remove and return the item that should be evicted next."""
        try:
            return self._data.popitem(last=False)
        except KeyError:
            raise KeyError(f"{type(self).__name__} is empty") from None

    def clear(self) -> None:
        self._data.clear()

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.maxsize, len(self._data))
