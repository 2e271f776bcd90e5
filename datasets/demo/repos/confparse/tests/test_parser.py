import pytest

from confparse import ParseError, parse


def test_sections_and_options():
    text = "[a]\nx = 1\ny: two words\n\n[b]\nz=3\n"
    assert parse(text) == {"a": {"x": "1", "y": "two words"}, "b": {"z": "3"}}


def test_option_names_are_lowercased():
    assert parse("[s]\nMixedCase = v\n") == {"s": {"mixedcase": "v"}}


def test_options_before_first_section_go_to_default():
    assert parse("a = 1\n[s]\nb = 2\n") == {"DEFAULT": {"a": "1"}, "s": {"b": "2"}}


def test_comments_and_inline_comments():
    text = "# full line\n; also\n[s]\nkey = value ; trailing\nurl = http://x/#anchor\n"
    assert parse(text) == {"s": {"key": "value", "url": "http://x/#anchor"}}


def test_continuation_lines():
    text = "[s]\nitems =\n    one\n    two  # comment\nnext = 1\n"
    assert parse(text) == {"s": {"items": "one\ntwo", "next": "1"}}


def test_empty_value():
    assert parse("[s]\nempty =\n") == {"s": {"empty": ""}}


@pytest.mark.parametrize(
    "text, lineno",
    [
        ("[s]\njust text\n", 2),
        ("[s]\na = 1\nA = 2\n", 3),
        ("[s]\n[t]\n[s]\n", 3),
    ],
    ids=["no-separator", "duplicate-option", "duplicate-section"],
)
def test_errors_name_the_line(text, lineno):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.lineno == lineno
