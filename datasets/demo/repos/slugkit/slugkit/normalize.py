"""Unicode to ASCII transliteration used before slugging."""

import re
import unicodedata

# Letters that do not decompose into ASCII base letter + combining marks.
SPECIAL = {
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ł": "l",
    "Ł": "L",
    "þ": "th",
    "Þ": "TH",
    "&": " and ",
}

_SPECIAL_RE = re.compile("|".join(re.escape(key) for key in SPECIAL))
_WHITESPACE_RE = re.compile(r"\s+")


def to_ascii(text: str) -> str:
    """Best-effort ASCII version of ``text`` (accents dropped, a few letters spelled out)."""
    text = _SPECIAL_RE.sub(lambda match: SPECIAL[match.group(0)], text)
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii")


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE_RE.sub(" ", text).strip()
