"""In-process periodic job scheduling."""

from .clock import Clock, ManualClock, SystemClock
from .job import Job, ScheduleError
from .scheduler import Scheduler

__all__ = ["Clock", "Job", "ManualClock", "ScheduleError", "Scheduler", "SystemClock"]

__version__ = "0.3.0"
