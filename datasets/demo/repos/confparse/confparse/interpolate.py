"""Expand ``${option}`` and ``${section:option}`` references in values."""

import re
from typing import Callable, Optional

from .errors import InterpolationError

REFERENCE_RE = re.compile(r"\$\{([^}:]+)(?::([^}]+))?\}")
MAX_DEPTH = 10

# lookup(section, option) -> raw value, or None when there is no such option
Lookup = Callable[[str, str], Optional[str]]


def interpolate(section: str, option: str, value: str, lookup: Lookup, depth: int = 0) -> str:
    """Expand every reference in ``value``; ``$$`` stands for a literal ``$``."""
    if depth > MAX_DEPTH:
        raise InterpolationError(section, option, f"references nested deeper than {MAX_DEPTH} (a cycle?)")
    if "$" not in value:
        return value

    def expand(match: "re.Match[str]") -> str:
        if match.group(2) is None:
            ref_section, ref_option = section, match.group(1).strip()
        else:
            ref_section, ref_option = match.group(1).strip(), match.group(2).strip()
        raw = lookup(ref_section, ref_option)
        if raw is None:
            raise InterpolationError(section, option, f"bad reference {match.group(0)}")
        return interpolate(ref_section, ref_option, raw, lookup, depth + 1)

    parts = value.split("$$")
    return "$".join(REFERENCE_RE.sub(expand, part) for part in parts)
