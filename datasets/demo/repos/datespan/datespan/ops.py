"""Operations on collections of spans."""

from datetime import date, timedelta
from typing import Iterable, List

from .parse import month_end
from .span import DateSpan


def merge(spans: Iterable[DateSpan]) -> List[DateSpan]:
    """Combine overlapping or back-to-back spans; the result is sorted."""
    ordered = sorted(spans)
    merged: List[DateSpan] = []
    for span in ordered:
        if merged and merged[-1].touches(span):
            last = merged[-1]
            merged[-1] = DateSpan(last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return merged


def total_days(spans: Iterable[DateSpan]) -> int:
    """Number of distinct days covered by ``spans``."""
    return sum(span.days for span in merge(spans))


def gaps(spans: Iterable[DateSpan], within: DateSpan) -> List[DateSpan]:
    """The parts of ``within`` that no span covers."""
    one = timedelta(days=1)
    result: List[DateSpan] = []
    cursor = within.start
    for span in merge(spans):
        if span.end < within.start or span.start > within.end:
            continue
        if span.start > cursor:
            result.append(DateSpan(cursor, span.start - one))
        cursor = max(cursor, span.end + one)
    if cursor <= within.end:
        result.append(DateSpan(cursor, within.end))
    return result


def split_by_month(span: DateSpan) -> List[DateSpan]:
    """Cut ``span`` at month boundaries."""
    pieces: List[DateSpan] = []
    start = span.start
    while start <= span.end:
        end = min(month_end(start.year, start.month), span.end)
        pieces.append(DateSpan(start, end))
        start = end + timedelta(days=1)
    return pieces


def days_between(first: date, last: date) -> int:
    """Days from ``first`` to ``last`` counting both ends."""
    return DateSpan(min(first, last), max(first, last)).days
