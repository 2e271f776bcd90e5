"""Turn INI text into ``{section: {option: raw value}}``."""

import re
from typing import Dict

from .errors import ParseError

SECTION_RE = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")
OPTION_RE = re.compile(r"^(?P<key>[^=:\s][^=:]*?)\s*(?P<sep>[=:])\s*(?P<value>.*)$")
COMMENT_PREFIXES = ("#", ";")
INLINE_COMMENT_RE = re.compile(r"\s[#;].*$")

DEFAULT_SECTION = "DEFAULT"


def normalize_key(key: str) -> str:
    """Option names are case-insensitive: they are stored in lower case."""
    return key.strip().lower()


def _strip_inline_comment(value: str) -> str:
    return INLINE_COMMENT_RE.sub("", value).rstrip()


def parse(text: str) -> Dict[str, Dict[str, str]]:
    """Parse ``text``; options before the first section header go to ``DEFAULT``."""
    sections: Dict[str, Dict[str, str]] = {}
    current = None
    last_key = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith(COMMENT_PREFIXES):
            continue
        if raw[:1].isspace() and last_key is not None and current is not None:
            # continuation line: appended to the previous value
            continued = _strip_inline_comment(stripped)
            previous = current[last_key]
            current[last_key] = f"{previous}\n{continued}" if previous else continued
            continue
        match = SECTION_RE.match(stripped)
        if match:
            name = match.group("name").strip()
            if name in sections and name != DEFAULT_SECTION:
                raise ParseError(lineno, f"duplicate section {name!r}")
            current = sections.setdefault(name, {})
            last_key = None
            continue
        match = OPTION_RE.match(stripped)
        if not match:
            raise ParseError(lineno, "expected 'key = value' or '[section]'", raw)
        if current is None:
            current = sections.setdefault(DEFAULT_SECTION, {})
        key = normalize_key(match.group("key"))
        if key in current:
            raise ParseError(lineno, f"duplicate option {key!r}")
        current[key] = _strip_inline_comment(match.group("value"))
        last_key = key
    return sections
