"""The DateSpan value type."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterator, Optional


@dataclass(frozen=True, order=True)
class DateSpan:
    """A range of calendar days; both ``start`` and ``end`` are included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if not isinstance(self.start, date) or not isinstance(self.end, date):
            raise TypeError("DateSpan bounds must be datetime.date objects")
        if self.end < self.start:
            raise ValueError(f"span ends before it starts: {self.start} > {self.end}")

    @classmethod
    def single(cls, day: date) -> "DateSpan":
        return cls(day, day)

    @property
    def days(self) -> int:
        """Number of days in the span (a one-day span has ``days == 1``)."""
        return (self.end - self.start).days + 1

    def __len__(self) -> int:
        return self.days

    def __contains__(self, day: object) -> bool:
        if isinstance(day, DateSpan):
            return self.start <= day.start and day.end <= self.end
        if isinstance(day, date):
            return self.start <= day <= self.end
        return False

    def __iter__(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def overlaps(self, other: "DateSpan") -> bool:
        return self.start <= other.end and other.start <= self.end

    def touches(self, other: "DateSpan") -> bool:
        """True if the spans overlap or one starts the day after the other ends."""
        one = timedelta(days=1)
        return self.start <= other.end + one and other.start <= self.end + one

    def intersection(self, other: "DateSpan") -> Optional["DateSpan"]:
        if not self.overlaps(other):
            return None
        return DateSpan(max(self.start, other.start), min(self.end, other.end))

    def shift(self, days: int) -> "DateSpan":
        delta = timedelta(days=days)
        return DateSpan(self.start + delta, self.end + delta)
