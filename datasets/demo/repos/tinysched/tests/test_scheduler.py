from datetime import datetime

import pytest

from tinysched import ManualClock, Scheduler


@pytest.fixture
def clock():
    return ManualClock(datetime(2024, 6, 3, 8, 0, 0))


@pytest.fixture
def sched(clock):
    return Scheduler(clock=clock)


def test_nothing_due_at_start(sched):
    calls = []
    sched.every(10).minutes.do(calls.append, "poll")
    assert sched.run_pending() == []
    assert calls == []


def test_interval_jobs_run_when_due(sched, clock):
    calls = []
    sched.every(10).minutes.do(calls.append, "poll")
    clock.advance(minutes=10)
    sched.run_pending()
    clock.advance(minutes=5)
    sched.run_pending()
    clock.advance(minutes=5)
    sched.run_pending()
    assert calls == ["poll", "poll"]


def test_due_jobs_run_earliest_first(sched, clock):
    order = []
    sched.every(3).minutes.do(order.append, "slow")
    sched.every(1).minute.do(order.append, "fast")
    clock.advance(minutes=3)
    sched.run_pending()
    assert order == ["fast", "slow"]


def test_daily_job_runs_once_a_day(sched, clock):
    calls = []
    sched.every().day.at("09:30").do(calls.append, "report")
    clock.set(datetime(2024, 6, 3, 9, 30))
    sched.run_pending()
    clock.advance(hours=12)
    sched.run_pending()
    clock.set(datetime(2024, 6, 4, 9, 30))
    sched.run_pending()
    assert calls == ["report", "report"]


def test_idle_seconds_and_next_run(sched, clock):
    assert sched.idle_seconds() is None
    sched.every(15).minutes.do(lambda: None)
    sched.every().hour.do(lambda: None)
    assert sched.next_run == datetime(2024, 6, 3, 8, 15)
    assert sched.idle_seconds() == 15 * 60


def test_clear_by_tag_and_cancel(sched):
    a = sched.every(1).minute.tag("net").do(lambda: None)
    b = sched.every(1).minute.tag("disk").do(lambda: None)
    sched.clear("net")
    assert sched.jobs == [b]
    sched.cancel(b)
    sched.cancel(a)
    assert sched.jobs == []


def test_run_all_ignores_schedule(sched):
    calls = []
    sched.every().day.at("23:00").do(calls.append, 1)
    sched.run_all()
    assert calls == [1]


def test_manual_clock_cannot_go_back(clock):
    with pytest.raises(ValueError):
        clock.set(datetime(2024, 1, 1))
