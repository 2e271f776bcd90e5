"""A periodic job and its fluent builder API."""

from datetime import datetime, time, timedelta
from typing import Any, Callable, Optional, Set

from .timespec import parse_at, unit_name


class ScheduleError(Exception):
    """A job was configured in a way that cannot be scheduled."""


class Job:
    def __init__(self, interval: int, scheduler: Optional[Any] = None) -> None:
        if interval < 1:
            raise ScheduleError("interval must be at least 1")
        self.interval = interval
        self.unit: Optional[str] = None
        self.at_time: Optional[time] = None
        self.func: Optional[Callable[[], Any]] = None
        self.tags: Set[str] = set()
        self.last_run: Optional[datetime] = None
        self.next_run: Optional[datetime] = None
        self.runs = 0
        self._scheduler = scheduler

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", repr(self.func))
        at = f" at {self.at_time}" if self.at_time else ""
        return f"<Job every {self.interval} {self.unit}{at} do {name}() next {self.next_run}>"

    # -- fluent configuration ------------------------------------------------

    def _set_unit(self, unit: str) -> "Job":
        singular = not unit.endswith("s")
        if singular and self.interval != 1:
            raise ScheduleError(f"use .{unit}s with an interval of {self.interval}")
        self.unit = unit_name(unit)
        return self

    second = property(lambda self: self._set_unit("second"))
    seconds = property(lambda self: self._set_unit("seconds"))
    minute = property(lambda self: self._set_unit("minute"))
    minutes = property(lambda self: self._set_unit("minutes"))
    hour = property(lambda self: self._set_unit("hour"))
    hours = property(lambda self: self._set_unit("hours"))
    day = property(lambda self: self._set_unit("day"))
    days = property(lambda self: self._set_unit("days"))

    def at(self, when: str) -> "Job":
        if self.unit != "days":
            raise ScheduleError(".at() is only supported for daily jobs")
        self.at_time = parse_at(when)
        return self

    def tag(self, *tags: str) -> "Job":
        self.tags.update(tags)
        return self

    def do(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> "Job":
        if self.unit is None:
            raise ScheduleError("no unit given (e.g. .minutes) before .do()")
        self.func = (lambda: func(*args, **kwargs)) if args or kwargs else func
        if hasattr(func, "__name__"):
            self.func.__name__ = func.__name__  # type: ignore[union-attr]
        if self._scheduler is not None:
            self._scheduler.add(self)
        return self

    # -- scheduling ------------------------------------------------------------

    @property
    def period(self) -> timedelta:
        return timedelta(**{self.unit: self.interval})

    def schedule_next_run(self, now: datetime) -> None:
        """Set ``next_run``: one period after ``now``, or the next ``at_time`` for daily jobs."""
        if self.at_time is None:
            self.next_run = now + self.period
            return
        if self.last_run is None:
            self.next_run = datetime.combine(now.date(), self.at_time)
        else:
            self.next_run = datetime.combine(now.date() + self.period, self.at_time)

    def should_run(self, now: datetime) -> bool:
        return self.next_run is not None and now >= self.next_run

    def run(self, now: datetime) -> Any:
        result = self.func() if self.func else None
        self.last_run = now
        self.runs += 1
        self.schedule_next_run(now)
        return result
