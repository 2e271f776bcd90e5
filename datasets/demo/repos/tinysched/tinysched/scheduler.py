"""The scheduler: a list of jobs and a clock."""

from datetime import datetime
from typing import Any, List, Optional

from .clock import Clock, SystemClock
from .job import Job


class Scheduler:
    def __init__(self, clock: Optional[Clock] = None) -> None:
        self.clock = clock or SystemClock()
        self.jobs: List[Job] = []

    def every(self, interval: int = 1) -> Job:
        return Job(interval, scheduler=self)

    def add(self, job: Job) -> Job:
        job.schedule_next_run(self.clock.now())
        self.jobs.append(job)
        return job

    def run_pending(self) -> List[Any]:
        """Run every due job, earliest first; returns their results."""
        now = self.clock.now()
        due = sorted((job for job in self.jobs if job.should_run(now)), key=lambda job: job.next_run)
        return [job.run(now) for job in due]

    def run_all(self) -> List[Any]:
        now = self.clock.now()
        return [job.run(now) for job in list(self.jobs)]

    def cancel(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)

    def clear(self, tag: Optional[str] = None) -> None:
        if tag is None:
            self.jobs.clear()
        else:
            self.jobs = [job for job in self.jobs if tag not in job.tags]

    @property
    def next_run(self) -> Optional[datetime]:
        runs = [job.next_run for job in self.jobs if job.next_run is not None]
        return min(runs) if runs else None

    def idle_seconds(self) -> Optional[float]:
        """Seconds until the next job is due (0 when one is due already)."""
        nxt = self.next_run
        if nxt is None:
            return None
        return max(0.0, (nxt - self.clock.now()).total_seconds())
