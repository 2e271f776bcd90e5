from datetime import datetime, time

import pytest

from tinysched import Job, ScheduleError

NOON = datetime(2024, 6, 3, 12, 0, 0)


def noop():
    return "done"


def test_interval_job_next_run():
    job = Job(5).minutes.do(noop)
    job.schedule_next_run(NOON)
    assert job.next_run == datetime(2024, 6, 3, 12, 5)
    assert not job.should_run(datetime(2024, 6, 3, 12, 4, 59))
    assert job.should_run(datetime(2024, 6, 3, 12, 5))


def test_run_records_and_reschedules():
    job = Job(1).hour.do(noop)
    assert job.run(NOON) == "done"
    assert job.last_run == NOON
    assert job.runs == 1
    assert job.next_run == datetime(2024, 6, 3, 13, 0)


def test_daily_at_later_today():
    job = Job(1).day.at("18:30").do(noop)
    job.schedule_next_run(NOON)
    assert job.next_run == datetime(2024, 6, 3, 18, 30)


def test_daily_at_after_a_run():
    job = Job(1).day.at("18:30").do(noop)
    job.run(datetime(2024, 6, 3, 18, 30, 2))
    assert job.next_run == datetime(2024, 6, 4, 18, 30)


def test_every_two_days_at():
    job = Job(2).days.at("06:00").do(noop)
    job.run(datetime(2024, 6, 3, 6, 0))
    assert job.next_run == datetime(2024, 6, 5, 6, 0)


def test_do_passes_arguments():
    seen = []
    job = Job(1).second.do(seen.append, "x")
    job.run(NOON)
    assert seen == ["x"]
    assert "append" in repr(job)


def test_configuration_errors():
    with pytest.raises(ScheduleError):
        Job(0)
    with pytest.raises(ScheduleError):
        Job(2).minute
    with pytest.raises(ScheduleError):
        Job(1).hour.at("10:00")
    with pytest.raises(ScheduleError):
        Job(1).do(noop)


def test_at_parses_seconds():
    assert Job(1).day.at("07:15:30").at_time == time(7, 15, 30)
