"""Bounded caches and memoization."""

from .base import Cache, CacheInfo
from .lru import LRUCache
from .memo import hashkey, memoize
from .ttl import TTLCache

__all__ = ["Cache", "CacheInfo", "LRUCache", "TTLCache", "hashkey", "memoize"]

__version__ = "0.9.2"
