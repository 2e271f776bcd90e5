import pytest

from slugkit import slugify


def test_basic():
    assert slugify("Hello, World!") == "hello-world"


def test_accents_and_quotes():
    assert slugify("Crème Brûlée: a how-to") == "creme-brulee-a-how-to"
    assert slugify("Don't stop") == "dont-stop"
    assert slugify("It\u2019s here") == "its-here"


def test_separator():
    assert slugify("The Quick Brown Fox", separator="_") == "the_quick_brown_fox"
    assert slugify("a b", separator="") == "ab"


def test_keep_case():
    assert slugify("Hello World", lowercase=False) == "Hello-World"


def test_stopwords():
    assert slugify("The Quick Brown Fox", stopwords=["the", "BROWN"]) == "quick-fox"


def test_replacements():
    assert slugify("C++ & C#", replacements=[("++", "pp"), ("#", "sharp")]) == "cpp-and-csharp"


def test_non_string_input():
    assert slugify(2024) == "2024"


def test_empty():
    assert slugify("   !!! ") == ""


def test_max_length_cuts_mid_word():
    assert slugify("A very long title indeed", max_length=9) == "a-very-lo"
    assert slugify("A very long title indeed", max_length=7) == "a-very"


def test_max_length_word_boundary():
    assert slugify("A very long title indeed", max_length=12, word_boundary=True) == "a-very-long"
    assert slugify("A very long title indeed", max_length=100, word_boundary=True) == "a-very-long-title-indeed"


def test_word_boundary_first_word_too_long():
    assert slugify("Supercalifragilistic words", max_length=5, word_boundary=True) == "super"
