import pytest

from slugkit import to_ascii
from slugkit.normalize import collapse_whitespace


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Crème brûlée", "Creme brulee"),
        ("Straße", "Strasse"),
        ("Ærøskøbing", "AEroskobing"),
        ("Łódź", "Lodz"),
        ("ﬁve", "five"),
        ("Tom & Jerry", "Tom  and  Jerry"),
        ("日本", ""),
    ],
    ids=["accents", "sharp-s", "ae-ligature", "stroke", "fi-ligature", "ampersand", "cjk"],
)
def test_to_ascii(text, expected):
    assert to_ascii(text) == expected


def test_collapse_whitespace():
    assert collapse_whitespace("  a \t b\n\nc ") == "a b c"
