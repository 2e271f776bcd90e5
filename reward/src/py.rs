//! Python `str` semantics the reward depends on: `str.splitlines()`, `str.strip()`,
//! `str.isspace()`, `str.isdecimal()` and the `re` classes `\s` / `\d` as CPython 3.11
//! (Unicode 14.0) defines them. Rust's `str::lines`, `str::trim`, `char::is_whitespace` and the
//! regex crate's `\s` / `\d` all differ from these on some code points. This is the one
//! `splitlines` of the workspace: the pipeline's edit parser uses it too.

/// CPython 3.11 `str.isspace()` (also what `re`'s `\s` and `str.strip()` use): the Unicode
/// `White_Space` set plus the information separators U+001C..U+001F, minus nothing.
pub fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python `s.strip()` with no argument.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// The line boundaries of Python `str.splitlines()` (`\r\n` counts as one).
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Python `s.splitlines()` (without `keepends`): lines without their terminators; a final
/// terminator does not start another line; `""` gives no lines.
pub fn splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_line_break(c) {
            lines.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' && matches!(chars.peek(), Some((_, '\n'))) {
                chars.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// The code points of category `Nd` in Unicode 14.0 come in runs of ten, `0` to `9`; these
/// are the zeros of the runs. CPython's `re` `\d` and `int()` accept exactly these digits.
const DECIMAL_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0,
    0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
    0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of a CPython 3.11 decimal digit (`str.isdecimal()`), or `None`.
pub fn decimal_value(c: char) -> Option<u32> {
    let cp = c as u32;
    if c.is_ascii() {
        return c.to_digit(10);
    }
    let run = DECIMAL_ZEROS.partition_point(|&z| z <= cp).checked_sub(1)?;
    let offset = cp - DECIMAL_ZEROS[run];
    (offset < 10).then_some(offset)
}

/// `int()` refuses decimal strings longer than this (`sys.get_int_max_str_digits()`, 3.11).
pub const INT_MAX_STR_DIGITS: usize = 4300;

/// A non-negative integer parsed from Python decimal digits, kept as its canonical ASCII
/// spelling (what `%d` prints) and a saturating value for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyInt {
    /// `%d` of the value: ASCII digits without leading zeros.
    pub text: String,
    /// The value, or `u64::MAX` when larger (no line count can reach it).
    pub value: u64,
}

impl PyInt {
    /// `int(digits)` for a string of decimal digits (as matched by `\d+`); `None` where
    /// CPython raises `ValueError` (over [`INT_MAX_STR_DIGITS`] digits, or no digits).
    pub fn parse(digits: &str) -> Option<PyInt> {
        let mut count = 0usize;
        let mut text = String::new();
        let mut value: u64 = 0;
        for c in digits.chars() {
            let d = decimal_value(c)?;
            count += 1;
            if text.is_empty() && d == 0 {
                continue;
            }
            text.push(char::from_digit(d, 10)?);
            value = value.saturating_mul(10).saturating_add(u64::from(d));
        }
        if count == 0 || count > INT_MAX_STR_DIGITS {
            return None;
        }
        if text.is_empty() {
            text.push('0');
        }
        Some(PyInt { text, value })
    }

    pub fn from_u64(value: u64) -> PyInt {
        PyInt {
            text: value.to_string(),
            value,
        }
    }
}

/// A regex character class (regex crate syntax) with exactly the characters of
/// [`decimal_value`]: CPython's `\d`.
pub fn decimal_class() -> String {
    let mut class = String::from("[");
    for z in DECIMAL_ZEROS {
        class.push_str(&format!("\\x{{{z:X}}}-\\x{{{:X}}}", z + 9));
    }
    class.push(']');
    class
}

/// A regex character class (regex crate syntax) with exactly the characters of [`is_space`]:
/// CPython's `\s`.
pub const SPACE_CLASS: &str =
    r"[\t-\r\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_matches_python_examples() {
        // Expected values written from CPython 3.11 `str.splitlines()`.
        assert_eq!(splitlines(""), Vec::<&str>::new());
        assert_eq!(splitlines("\n"), vec![""]);
        assert_eq!(splitlines("a\r\nb\rc\nd"), vec!["a", "b", "c", "d"]);
        assert_eq!(splitlines("a\r\r\nb"), vec!["a", "", "b"]);
        assert_eq!(
            splitlines("a\u{2028}b\u{85}c\x0bd\x0ce\x1cf\x1fg"),
            vec!["a", "b", "c", "d", "e", "f\x1fg"]
        );
        assert_eq!(splitlines("x\n\n"), vec!["x", ""]);
        assert_eq!(splitlines("a"), vec!["a"]);
        assert_eq!(splitlines("a\n"), vec!["a"]);
        assert_eq!(
            splitlines("a\r\nb\rc\u{1d}d\u{1e}e\u{2029}"),
            vec!["a", "b", "c", "d", "e"]
        );
        // A lone `\r` at the very end, and `\n\r` (two breaks, not one).
        assert_eq!(splitlines("a\r"), vec!["a"]);
        assert_eq!(splitlines("a\n\rb"), vec!["a", "", "b"]);
    }

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(strip("\x1c\x1f \u{3000}a b\u{85}\u{2028}"), "a b");
        // U+200B and U+FEFF are not whitespace for Python.
        assert_eq!(strip("\u{200b}x\u{feff}"), "\u{200b}x\u{feff}");
        assert_eq!(strip(" \t\n"), "");
    }

    #[test]
    fn python_ints() {
        assert_eq!(PyInt::parse("007").map(|i| i.text), Some("7".into()));
        assert_eq!(PyInt::parse("000").map(|i| i.text), Some("0".into()));
        assert_eq!(PyInt::parse("\u{661}\u{662}").map(|i| i.value), Some(12));
        assert_eq!(PyInt::parse(&"1".repeat(4300)).map(|i| i.value), Some(u64::MAX));
        assert_eq!(PyInt::parse(&"0".repeat(4301)), None);
        assert_eq!(decimal_value('\u{1d7d9}'), Some(1));
        assert_eq!(
            decimal_value('\u{11f50}'),
            None,
            "Kawi digits are Unicode 15, not in CPython 3.11"
        );
        assert_eq!(decimal_value('²'), None);
    }
}
