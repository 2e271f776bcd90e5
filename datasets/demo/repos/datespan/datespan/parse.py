"""Parse the textual span forms accepted by :func:`parse_span`."""

import re
from datetime import date, timedelta

from .span import DateSpan

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)

RANGE_SEPARATOR = ".."


def parse_date(text: str) -> date:
    """Parse ``YYYY-MM-DD`` into a :class:`datetime.date`."""
    match = _DAY.match(text.strip())
    if not match:
        raise ValueError(f"not a date (expected YYYY-MM-DD): {text!r}")
    year, month, day = (int(part) for part in match.groups())
    return date(year, month, day)


def month_end(year: int, month: int) -> date:
    """The last day of ``month`` in ``year``."""
    if month == 12:
        return date(year, 12, 31)
    return date(year, month + 1, 1) - timedelta(days=1)


def _month(year: int, month: int) -> DateSpan:
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month}")
    return DateSpan(date(year, month, 1), month_end(year, month))


def _quarter(year: int, quarter: int) -> DateSpan:
    first = 3 * (quarter - 1) + 1
    return DateSpan(date(year, first, 1), month_end(year, first + 2))


def _iso_week(year: int, week: int) -> DateSpan:
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ValueError(f"no ISO week {week} in {year}") from exc
    return DateSpan(monday, monday + timedelta(days=7))


def parse_span(text: str) -> DateSpan:
    """Parse a span: a day, a ``start..end`` range, a month, a year, a quarter or an ISO week."""
    text = text.strip()
    if RANGE_SEPARATOR in text:
        left, _, right = text.partition(RANGE_SEPARATOR)
        return DateSpan(parse_date(left), parse_date(right))
    if _DAY.match(text):
        return DateSpan.single(parse_date(text))
    match = _MONTH.match(text)
    if match:
        return _month(int(match.group(1)), int(match.group(2)))
    match = _YEAR.match(text)
    if match:
        year = int(match.group(1))
        return DateSpan(date(year, 1, 1), date(year, 12, 31))
    match = _QUARTER.match(text)
    if match:
        return _quarter(int(match.group(1)), int(match.group(2)))
    match = _WEEK.match(text)
    if match:
        return _iso_week(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"unrecognised span: {text!r}")
