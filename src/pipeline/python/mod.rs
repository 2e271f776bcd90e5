//! Python source helpers the pipeline needs without running Python: CPython's
//! `str.splitlines()` ([`splitlines`]), a tokenizer ([`tokenize`]), the syntax check that stands
//! in for `ast.parse` ([`syntax`]), and the normalization that makes patches differing only in
//! comments, docstrings or formatting compare equal ([`normalize`]).

pub mod normalize;
pub mod syntax;
pub mod tokenize;

/// The line breaks of CPython's `str.splitlines()` (besides `\r\n`, which counts as one).
pub fn is_py_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// CPython `str.splitlines()` (no `keepends`): splits on every Unicode line break CPython
/// knows, `\r\n` counting as one; a trailing break does not make an empty last line.
pub fn splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_py_line_break(c) {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some(&(_, '\n')) = iter.peek()
            {
                iter.next();
                end += 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_like_cpython() {
        assert_eq!(splitlines(""), Vec::<&str>::new());
        assert_eq!(splitlines("a"), vec!["a"]);
        assert_eq!(splitlines("a\n"), vec!["a"]);
        assert_eq!(splitlines("a\n\n"), vec!["a", ""]);
        assert_eq!(
            splitlines("a\r\nb\rc\u{0b}d\u{0c}e\u{1c}f\u{85}g\u{2028}h\u{2029}"),
            vec!["a", "b", "c", "d", "e", "f", "g", "h"]
        );
        assert_eq!(splitlines("\n"), vec![""]);
        assert_eq!(splitlines("a\r\r\nb"), vec!["a", "", "b"]);
    }
}
