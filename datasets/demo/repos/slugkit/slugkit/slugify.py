"""The slugify function."""

import re
from typing import Iterable, Tuple

from .normalize import collapse_whitespace, to_ascii

_DISALLOWED_RE = re.compile(r"[^a-zA-Z0-9]+")
_QUOTES_RE = re.compile(r"['\u2019]")


def _truncate(slug: str, max_length: int, word_boundary: bool, separator: str) -> str:
    if not max_length or len(slug) <= max_length:
        return slug
    if not word_boundary:
        return slug[:max_length].strip(separator)
    kept = ""
    for word in slug.split("-"):
        candidate = f"{kept}{separator}{word}" if kept else word
        if len(candidate) > max_length:
            break
        kept = candidate
    # a first word longer than the limit is cut rather than dropped
    return kept or slug[:max_length].strip(separator)


def slugify(
    text: str,
    separator: str = "-",
    lowercase: bool = True,
    max_length: int = 0,
    word_boundary: bool = False,
    stopwords: Iterable[str] = (),
    replacements: Iterable[Tuple[str, str]] = (),
) -> str:
    """Make a URL slug out of ``text``."""
    if not isinstance(text, str):
        text = str(text)
    for old, new in replacements:
        text = text.replace(old, new)
    text = to_ascii(collapse_whitespace(text))
    text = _QUOTES_RE.sub("", text)
    if lowercase:
        text = text.lower()
    words = [word for word in _DISALLOWED_RE.split(text) if word]
    if stopwords:
        stop = {word.lower() for word in stopwords}
        words = [word for word in words if word.lower() not in stop]
    slug = separator.join(words)
    return _truncate(slug, max_length, word_boundary, separator)
