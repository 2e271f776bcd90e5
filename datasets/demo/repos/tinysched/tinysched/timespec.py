"""Parsing of the small time notations used by jobs."""

import re
from datetime import time

_AT_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")

UNITS = ("seconds", "minutes", "hours", "days")


def parse_at(text: str) -> time:
    """``"9:30"``, ``"09:30"`` or ``"09:30:15"`` as a :class:`datetime.time`."""
    match = _AT_RE.match(text.strip())
    if not match:
        raise ValueError(f"invalid time of day {text!r} (expected HH:MM or HH:MM:SS)")
    hour, minute = int(match.group(1)), int(match.group(2))
    second = int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"invalid time of day {text!r}")
    return time(hour, minute, second)


def unit_name(unit: str) -> str:
    """Accept singular unit names as well (``minute`` -> ``minutes``)."""
    plural = unit if unit.endswith("s") else unit + "s"
    if plural not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    return plural
