"""Where the scheduler gets the current time from."""

from datetime import datetime, timedelta


class Clock:
    def now(self) -> datetime:
        raise NotImplementedError


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now()


class ManualClock(Clock):
    """A clock that only moves when told to (for tests and simulations)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError("a ManualClock cannot go back in time")
        self._now = when
