from datetime import date

import pytest

from datespan import DateSpan, parse_date, parse_span


def test_parse_date():
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(ValueError):
        parse_date("2024/02/29")


def test_parse_single_day():
    assert parse_span("2023-07-04") == DateSpan.single(date(2023, 7, 4))


def test_parse_range():
    assert parse_span(" 2024-01-05..2024-02-10 ") == DateSpan(date(2024, 1, 5), date(2024, 2, 10))


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2023-02", date(2023, 2, 1), date(2023, 2, 28)),
        ("2023-12", date(2023, 12, 1), date(2023, 12, 31)),
        ("2024-04", date(2024, 4, 1), date(2024, 4, 30)),
    ],
)
def test_parse_month(text, start, end):
    assert parse_span(text) == DateSpan(start, end)


def test_parse_year():
    span = parse_span("2024")
    assert span == DateSpan(date(2024, 1, 1), date(2024, 12, 31))
    assert span.days == 366


def test_parse_quarter():
    assert parse_span("2024-Q1") == DateSpan(date(2024, 1, 1), date(2024, 3, 31))
    assert parse_span("2024-q4") == DateSpan(date(2024, 10, 1), date(2024, 12, 31))


def test_parse_rejects_garbage():
    for text in ["", "2024-13", "2024-W60", "yesterday", "2024-Q5"]:
        with pytest.raises(ValueError):
            parse_span(text)
