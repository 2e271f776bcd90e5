"""Hand out slugs that have not been used yet."""

from typing import Iterable, Optional, Set

from .slugify import slugify


class UniqueSlugger:
    """``slug("Title")`` gives ``title``, then ``title-2``, ``title-3``, ..."""

    def __init__(self, used: Iterable[str] = (), separator: str = "-", max_length: int = 0, **options) -> None:
        self._used: Set[str] = set(used)
        self.separator = separator
        self.max_length = max_length
        self.options = options

    def __contains__(self, slug: str) -> bool:
        return slug in self._used

    def __len__(self) -> int:
        return len(self._used)

    def slug(self, text: str, fallback: Optional[str] = "item") -> str:
        base = slugify(text, separator=self.separator, max_length=self.max_length, **self.options)
        if not base:
            if fallback is None:
                raise ValueError(f"{text!r} gives an empty slug")
            base = fallback
        candidate, counter = base, 1
        while candidate in self._used:
            counter += 1
            suffix = f"{self.separator}{counter}"
            if self.max_length and len(base) + len(suffix) > self.max_length:
                trimmed = base[: self.max_length - len(suffix)].rstrip(self.separator)
                candidate = f"{trimmed}{suffix}"
            else:
                candidate = f"{base}{suffix}"
        self._used.add(candidate)
        return candidate

    def release(self, slug: str) -> None:
        self._used.discard(slug)
