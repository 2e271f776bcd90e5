from datetime import date

from datespan import DateSpan, gaps, merge, parse_span, split_by_month, total_days


def d(text):
    return parse_span(text)


def test_merge_overlapping_and_adjacent():
    spans = [d("2024-01-15..2024-01-20"), d("2024-01-01..2024-01-10"), d("2024-01-11..2024-01-12")]
    assert merge(spans) == [d("2024-01-01..2024-01-12"), d("2024-01-15..2024-01-20")]


def test_merge_nested():
    assert merge([d("2024-01"), d("2024-01-05..2024-01-06")]) == [d("2024-01")]


def test_merge_empty():
    assert merge([]) == []


def test_total_days_counts_each_day_once():
    assert total_days([d("2024-01-01..2024-01-10"), d("2024-01-05..2024-01-14")]) == 14


def test_gaps_inside_window():
    busy = [d("2024-03-03..2024-03-05"), d("2024-03-08")]
    assert gaps(busy, d("2024-03-01..2024-03-10")) == [
        d("2024-03-01..2024-03-02"),
        d("2024-03-06..2024-03-07"),
        d("2024-03-09..2024-03-10"),
    ]


def test_gaps_none_when_covered():
    assert gaps([d("2024-03")], d("2024-03-05..2024-03-09")) == []


def test_split_by_month():
    assert split_by_month(d("2023-11-20..2024-01-03")) == [
        d("2023-11-20..2023-11-30"),
        d("2023-12"),
        d("2024-01-01..2024-01-03"),
    ]


def test_split_single_month_is_identity():
    span = DateSpan(date(2024, 2, 3), date(2024, 2, 9))
    assert split_by_month(span) == [span]
