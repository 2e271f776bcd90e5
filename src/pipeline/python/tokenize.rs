//! A Python tokenizer in the manner of CPython's `tokenize` module: names, numbers, strings
//! (prefixes, triple quotes, f-strings with nested quotes), operators, comments, `NEWLINE` /
//! `NL`, `INDENT` / `DEDENT`. It reports the errors `tokenize` and the compiler's tokenizer
//! report (unterminated strings, unbalanced brackets, inconsistent dedents, end of file inside
//! a statement, characters Python does not accept), and is used by the normalization and the
//! syntax check.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Name,
    Number,
    String,
    Op,
    Comment,
    /// End of a logical line.
    Newline,
    /// A line break that does not end a logical line (blank line, inside brackets).
    Nl,
    Indent,
    Dedent,
}

/// One token: its kind, its text (empty for INDENT/DEDENT/NEWLINE at end of file) and the
/// 1-based line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokKind,
    pub text: &'a str,
    pub line: usize,
}

/// Why a source does not tokenize.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    #[error("line {line}: unterminated string literal")]
    UnterminatedString { line: usize },
    #[error("line {line}: unterminated triple-quoted string literal")]
    UnterminatedTripleQuoted { line: usize },
    #[error("line {line}: unmatched '{close}'")]
    Unmatched { line: usize, close: char },
    #[error("line {line}: closing '{close}' does not match opening '{open}'")]
    Mismatched { line: usize, open: char, close: char },
    #[error("line {line}: unindent does not match any outer indentation level")]
    InconsistentDedent { line: usize },
    #[error("line {line}: unexpected end of file inside a statement")]
    EofInStatement { line: usize },
    #[error("line {line}: invalid character {ch:?}")]
    BadCharacter { line: usize, ch: char },
}

impl TokenizeError {
    pub fn line(&self) -> usize {
        match self {
            TokenizeError::UnterminatedString { line }
            | TokenizeError::UnterminatedTripleQuoted { line }
            | TokenizeError::Unmatched { line, .. }
            | TokenizeError::Mismatched { line, .. }
            | TokenizeError::InconsistentDedent { line }
            | TokenizeError::EofInStatement { line }
            | TokenizeError::BadCharacter { line, .. } => *line,
        }
    }
}

const OPS3: [&str; 6] = ["**=", "//=", ">>=", "<<=", "...", "!=="];
const OPS2: [&str; 21] = [
    "**", "//", ">>", "<<", "<=", ">=", "==", "!=", "->", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", ":=",
    "<>", "=>",
];
const OPS1: &str = "+-*/%@&|^~<>()[]{},:.;=!";

/// Tokenize `src`. Line breaks are `\n`, `\r\n` and `\r`.
pub fn tokenize(src: &str) -> Result<Vec<Token<'_>>, TokenizeError> {
    Tokenizer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        line: 1,
        out: Vec::new(),
    }
    .run()
}

struct Tokenizer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    out: Vec<Token<'a>>,
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_alphabetic() || (!c.is_ascii() && !c.is_whitespace() && !is_py_space(c))
}

fn is_name_continue(c: char) -> bool {
    is_name_start(c) || c.is_numeric() || (!c.is_ascii() && c.is_alphanumeric())
}

fn is_py_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{0c}')
}

impl<'a> Tokenizer<'a> {
    fn push(&mut self, kind: TokKind, start: usize, end: usize, line: usize) {
        self.out.push(Token {
            kind,
            text: &self.src[start..end],
            line,
        });
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// Length of the line break at `pos` (0 if none).
    fn newline_len(&self, pos: usize) -> usize {
        match self.bytes.get(pos) {
            Some(b'\n') => 1,
            Some(b'\r') => {
                if self.bytes.get(pos + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                }
            }
            _ => 0,
        }
    }

    fn run(mut self) -> Result<Vec<Token<'a>>, TokenizeError> {
        let mut indents: Vec<usize> = vec![0];
        let mut brackets: Vec<(char, usize)> = Vec::new();
        let mut at_line_start = true;
        let mut continued = false;
        // Whether the current logical line has produced a token (so a break is a NEWLINE).
        let mut in_logical = false;
        while self.pos < self.bytes.len() {
            if at_line_start {
                at_line_start = false;
                if brackets.is_empty() && !continued {
                    // Measure the indentation.
                    let mut col = 0usize;
                    let mut p = self.pos;
                    while let Some(&b) = self.bytes.get(p) {
                        match b {
                            b' ' => col += 1,
                            b'\t' => col = (col / 8 + 1) * 8,
                            0x0c => col = 0,
                            _ => break,
                        }
                        p += 1;
                    }
                    let next = self.bytes.get(p).copied();
                    let blank = matches!(next, None | Some(b'#' | b'\n' | b'\r'));
                    self.pos = p;
                    if !blank {
                        let top = indents.last().copied().unwrap_or(0);
                        if col > top {
                            indents.push(col);
                            self.push(TokKind::Indent, p, p, self.line);
                        } else if col < top {
                            while indents.last().is_some_and(|&t| t > col) {
                                indents.pop();
                                self.push(TokKind::Dedent, p, p, self.line);
                            }
                            if indents.last().copied().unwrap_or(0) != col {
                                return Err(TokenizeError::InconsistentDedent { line: self.line });
                            }
                        }
                    }
                }
                continued = false;
                continue;
            }
            let start = self.pos;
            let Some(c) = self.peek_char() else { break };
            // Line break.
            let nl = self.newline_len(start);
            if nl > 0 {
                let kind = if brackets.is_empty() && in_logical {
                    TokKind::Newline
                } else {
                    TokKind::Nl
                };
                if kind == TokKind::Newline {
                    in_logical = false;
                }
                self.push(kind, start, start + nl, self.line);
                self.pos += nl;
                self.line += 1;
                at_line_start = true;
                continue;
            }
            if is_py_space(c) {
                self.pos += c.len_utf8();
                continue;
            }
            if c == '#' {
                let end = self.src[start..]
                    .find(['\n', '\r'])
                    .map_or(self.src.len(), |i| start + i);
                self.push(TokKind::Comment, start, end, self.line);
                self.pos = end;
                continue;
            }
            if c == '\\' {
                let nl = self.newline_len(start + 1);
                if nl > 0 {
                    self.pos = start + 1 + nl;
                    self.line += 1;
                    at_line_start = true;
                    continued = true;
                    if self.pos >= self.bytes.len() {
                        return Err(TokenizeError::EofInStatement { line: self.line });
                    }
                    continue;
                }
                return Err(TokenizeError::BadCharacter { line: self.line, ch: c });
            }
            in_logical = true;
            // Strings (with an optional prefix).
            if let Some(len) = self.string_at(start)? {
                let line = self.line;
                let text = &self.src[start..start + len];
                self.line += text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
                self.push(TokKind::String, start, start + len, line);
                self.pos = start + len;
                continue;
            }
            if is_name_start(c) {
                let mut end = start;
                for (i, ch) in self.src[start..].char_indices() {
                    if is_name_continue(ch) {
                        end = start + i + ch.len_utf8();
                    } else {
                        break;
                    }
                }
                self.push(TokKind::Name, start, end, self.line);
                self.pos = end;
                continue;
            }
            if c.is_ascii_digit() || (c == '.' && self.bytes.get(start + 1).is_some_and(u8::is_ascii_digit)) {
                let end = self.number_end(start);
                self.push(TokKind::Number, start, end, self.line);
                self.pos = end;
                continue;
            }
            let rest = &self.src[start..];
            let op_len = OPS3
                .iter()
                .chain(OPS2.iter())
                .find(|op| rest.starts_with(**op))
                .map(|op| op.len())
                .or_else(|| OPS1.contains(c).then_some(1));
            let Some(op_len) = op_len else {
                return Err(TokenizeError::BadCharacter { line: self.line, ch: c });
            };
            match c {
                '(' | '[' | '{' if op_len == 1 => brackets.push((c, self.line)),
                ')' | ']' | '}' if op_len == 1 => {
                    let want = match c {
                        ')' => '(',
                        ']' => '[',
                        _ => '{',
                    };
                    match brackets.pop() {
                        None => {
                            return Err(TokenizeError::Unmatched {
                                line: self.line,
                                close: c,
                            });
                        }
                        Some((open, _)) if open != want => {
                            return Err(TokenizeError::Mismatched {
                                line: self.line,
                                open,
                                close: c,
                            });
                        }
                        Some(_) => {}
                    }
                }
                _ => {}
            }
            self.push(TokKind::Op, start, start + op_len, self.line);
            self.pos = start + op_len;
        }
        if let Some(&(_, line)) = brackets.last() {
            return Err(TokenizeError::EofInStatement { line });
        }
        let end = self.src.len();
        if in_logical {
            self.push(TokKind::Newline, end, end, self.line);
        }
        while indents.len() > 1 {
            indents.pop();
            self.push(TokKind::Dedent, end, end, self.line);
        }
        Ok(self.out)
    }

    fn number_end(&self, start: usize) -> usize {
        let b = self.bytes;
        let mut p = start;
        let hex = b.get(p) == Some(&b'0') && matches!(b.get(p + 1), Some(b'x' | b'X'));
        while let Some(&ch) = b.get(p) {
            if ch.is_ascii_alphanumeric() || ch == b'_' || ch == b'.' {
                p += 1;
                if !hex && matches!(ch, b'e' | b'E') && matches!(b.get(p), Some(b'+' | b'-')) {
                    p += 1;
                }
            } else {
                break;
            }
        }
        p
    }

    /// If a string literal starts at `start`, its length in bytes.
    fn string_at(&self, start: usize) -> Result<Option<usize>, TokenizeError> {
        let b = self.bytes;
        let mut p = start;
        while p < b.len() && p - start < 3 && b[p].is_ascii_alphabetic() {
            p += 1;
        }
        let prefix = &self.src[start..p];
        if !matches!(b.get(p), Some(b'\'' | b'"')) {
            return Ok(None);
        }
        let lower = prefix.to_ascii_lowercase();
        let valid = matches!(
            lower.as_str(),
            "" | "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf" | "t" | "tr" | "rt"
        );
        if !valid {
            return Ok(None);
        }
        let fstring = lower.contains('f') || lower.contains('t');
        let end = self.scan_string_body(p, fstring)?;
        Ok(Some(end - start))
    }

    /// Scan a string literal whose opening quote is at `q`; returns the end offset.
    fn scan_string_body(&self, q: usize, fstring: bool) -> Result<usize, TokenizeError> {
        let b = self.bytes;
        let quote = b[q];
        let triple = b.get(q + 1) == Some(&quote) && b.get(q + 2) == Some(&quote);
        let mut p = if triple { q + 3 } else { q + 1 };
        let mut brace_depth = 0usize;
        while p < b.len() {
            let ch = b[p];
            if ch == b'\\' {
                p += 2;
                continue;
            }
            if fstring && ch == b'{' {
                if brace_depth == 0 && b.get(p + 1) == Some(&b'{') {
                    p += 2;
                    continue;
                }
                brace_depth += 1;
                p += 1;
                continue;
            }
            if fstring && ch == b'}' {
                if brace_depth == 0 {
                    p += if b.get(p + 1) == Some(&b'}') { 2 } else { 1 };
                    continue;
                }
                brace_depth -= 1;
                p += 1;
                continue;
            }
            if fstring && brace_depth > 0 && (ch == b'\'' || ch == b'"') {
                // A string inside a replacement field (PEP 701 allows even the same quote).
                p = self.scan_string_body(p, false)?;
                continue;
            }
            if ch == b'\n' || ch == b'\r' {
                if !triple {
                    return Err(TokenizeError::UnterminatedString { line: self.line });
                }
                p += 1;
                continue;
            }
            if ch == quote {
                if !triple {
                    return Ok(p + 1);
                }
                if b.get(p + 1) == Some(&quote) && b.get(p + 2) == Some(&quote) {
                    return Ok(p + 3);
                }
            }
            p += 1;
        }
        if triple {
            Err(TokenizeError::UnterminatedTripleQuoted { line: self.line })
        } else {
            Err(TokenizeError::UnterminatedString { line: self.line })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokKind, String)> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.text.to_owned()))
            .collect()
    }

    #[test]
    fn basic_tokens() {
        use TokKind::*;
        let k = kinds("def f(a, b=1):\n    return a ** b  # hi\n");
        let texts: Vec<&str> = k.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "def", "f", "(", "a", ",", "b", "=", "1", ")", ":", "\n", "", "return", "a", "**", "b", "# hi", "\n",
                ""
            ]
        );
        assert_eq!(k[11].0, Indent);
        assert_eq!(k[16].0, Comment);
        assert_eq!(k[18].0, Dedent);
    }

    #[test]
    fn strings_and_continuations() {
        let k = kinds("x = (1,\n  2)\ny = '''a\nb''' + r'\\'' + f\"{d[\"k\"]}\"\nz = 1 + \\\n  2\n");
        let strings: Vec<&str> = k
            .iter()
            .filter(|(k, _)| *k == TokKind::String)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(strings, ["'''a\nb'''", "r'\\''", "f\"{d[\"k\"]}\""]);
        let newlines = k.iter().filter(|(k, _)| *k == TokKind::Newline).count();
        assert_eq!(newlines, 3);
        assert!(!k.iter().any(|(k, _)| *k == TokKind::Indent));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            tokenize("x = 'abc\n"),
            Err(TokenizeError::UnterminatedString { line: 1 })
        ));
        assert!(matches!(
            tokenize("x = '''abc\n"),
            Err(TokenizeError::UnterminatedTripleQuoted { .. })
        ));
        assert!(matches!(
            tokenize("x = (1, 2]\n"),
            Err(TokenizeError::Mismatched { .. })
        ));
        assert!(matches!(tokenize("x = 1)\n"), Err(TokenizeError::Unmatched { .. })));
        assert!(matches!(
            tokenize("x = (1,\n"),
            Err(TokenizeError::EofInStatement { .. })
        ));
        assert!(matches!(
            tokenize("if x:\n        a\n    b\n"),
            Err(TokenizeError::InconsistentDedent { line: 3 })
        ));
        assert!(matches!(tokenize("x = $\n"), Err(TokenizeError::BadCharacter { .. })));
    }

    #[test]
    fn blank_and_comment_lines_do_not_indent() {
        let k = kinds("if x:\n    a\n\n        # c\n    b\n");
        assert_eq!(k.iter().filter(|(k, _)| *k == TokKind::Indent).count(), 1);
    }
}
