from datetime import time

import pytest

from tinysched.timespec import parse_at, unit_name


@pytest.mark.parametrize(
    "text, expected",
    [("9:30", time(9, 30)), ("09:30", time(9, 30)), ("23:59:58", time(23, 59, 58)), (" 00:00 ", time(0, 0))],
)
def test_parse_at(text, expected):
    assert parse_at(text) == expected


@pytest.mark.parametrize("text", ["24:00", "12:60", "12", "noon", "12:00:61", "1:2"])
def test_parse_at_rejects(text):
    with pytest.raises(ValueError):
        parse_at(text)


def test_unit_name():
    assert unit_name("minute") == "minutes"
    assert unit_name("days") == "days"
    with pytest.raises(ValueError):
        unit_name("fortnight")
