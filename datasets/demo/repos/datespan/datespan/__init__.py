"""Inclusive calendar date spans."""

from .ops import gaps, merge, split_by_month, total_days
from .parse import parse_date, parse_span
from .span import DateSpan

__all__ = [
    "DateSpan",
    "gaps",
    "merge",
    "parse_date",
    "parse_span",
    "split_by_month",
    "total_days",
]

__version__ = "0.4.1"
