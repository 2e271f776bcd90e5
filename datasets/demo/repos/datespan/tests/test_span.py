from datetime import date

import pytest

from datespan import DateSpan


def test_days_counts_both_ends():
    assert DateSpan(date(2024, 1, 1), date(2024, 1, 1)).days == 1
    assert DateSpan(date(2024, 1, 1), date(2024, 1, 31)).days == 31
    assert len(DateSpan(date(2024, 2, 1), date(2024, 2, 29))) == 29


def test_rejects_reversed_bounds():
    with pytest.raises(ValueError):
        DateSpan(date(2024, 1, 2), date(2024, 1, 1))


def test_rejects_non_dates():
    with pytest.raises(TypeError):
        DateSpan("2024-01-01", date(2024, 1, 2))


def test_contains_day_and_span():
    span = DateSpan(date(2024, 3, 1), date(2024, 3, 10))
    assert date(2024, 3, 1) in span
    assert date(2024, 3, 10) in span
    assert date(2024, 3, 11) not in span
    assert DateSpan(date(2024, 3, 2), date(2024, 3, 4)) in span
    assert "2024-03-02" not in span


def test_iteration_yields_every_day():
    days = list(DateSpan(date(2024, 2, 27), date(2024, 3, 1)))
    assert days == [date(2024, 2, 27), date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]


def test_overlaps_and_intersection():
    a = DateSpan(date(2024, 1, 1), date(2024, 1, 10))
    b = DateSpan(date(2024, 1, 10), date(2024, 1, 20))
    c = DateSpan(date(2024, 1, 11), date(2024, 1, 20))
    assert a.overlaps(b)
    assert a.intersection(b) == DateSpan.single(date(2024, 1, 10))
    assert not a.overlaps(c)
    assert a.intersection(c) is None
    assert a.touches(c)


def test_str_and_shift():
    span = DateSpan(date(2024, 1, 30), date(2024, 2, 2))
    assert str(span) == "2024-01-30..2024-02-02"
    assert str(DateSpan.single(date(2024, 5, 5))) == "2024-05-05"
    assert span.shift(2) == DateSpan(date(2024, 2, 1), date(2024, 2, 4))
