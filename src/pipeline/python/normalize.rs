//! Normalized Python source: the grouping key that makes code differing only in comments,
//! docstrings or formatting compare equal, standing in for swe-rl's
//! `ast.unparse(ast.parse(x))` followed by comment and docstring removal.
//!
//! From the token stream: comments, blank lines and line breaks inside brackets or after `\`
//! disappear; a statement made only of string literals (a docstring, or any bare string
//! statement) is dropped; `a; b` becomes two statements and `if x: y` a header and an indented
//! body; simple string literals are written in one quoting style and adjacent ones joined;
//! `_` in numbers and case in number prefixes are dropped; a trailing comma before a closing
//! bracket is dropped when the group has another comma; redundant parentheses around the
//! whole right-hand side of an assignment, `return` / `yield` value or `if` / `elif` / `while`
//! condition are dropped. Each statement is then written as its tokens joined by single
//! spaces, indented by four spaces per block level.
//!
//! Known differences from `ast.unparse`: other redundant parentheses and other spellings of
//! the same literal (`0x10` vs `16`, `'\x41'` vs `'A'`) are not unified, and source that does
//! not tokenize is returned as an error (callers fall back to the raw text, as swe-rl
//! falls back when `ast.parse` fails).

use super::tokenize::{TokKind, TokenizeError, tokenize};

/// A normalized token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tok {
    kind: TokKind,
    text: String,
}

impl Tok {
    fn is_op(&self, op: &str) -> bool {
        self.kind == TokKind::Op && self.text == op
    }
    fn is_name(&self, name: &str) -> bool {
        self.kind == TokKind::Name && self.text == name
    }
}

/// Options of [`normalize_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NormalizeOptions {
    /// Rename module-level functions to `_f0`, `_f1`, … in order of definition (with every
    /// use), so that two tests differing only in their functions' names vote together (the
    /// reference's reproduction-test normalization renames the final call's target).
    pub rename_top_level_functions: bool,
}

/// Normalize Python source (see the module docs).
pub fn normalize(src: &str) -> Result<String, TokenizeError> {
    normalize_with(src, NormalizeOptions::default())
}

/// Normalize Python source with options.
pub fn normalize_with(src: &str, opts: NormalizeOptions) -> Result<String, TokenizeError> {
    let tokens = tokenize(src)?;
    let mut lines: Vec<(usize, Vec<Tok>)> = Vec::new();
    let mut depth = 0usize;
    let mut current: Vec<Tok> = Vec::new();
    for t in tokens {
        match t.kind {
            TokKind::Comment | TokKind::Nl => {}
            TokKind::Indent => depth += 1,
            TokKind::Dedent => depth = depth.saturating_sub(1),
            TokKind::Newline => {
                if !current.is_empty() {
                    lines.push((depth, std::mem::take(&mut current)));
                }
            }
            kind => current.push(Tok {
                kind,
                text: canonical_token(kind, t.text),
            }),
        }
    }
    if !current.is_empty() {
        lines.push((depth, current));
    }
    let mut statements: Vec<(usize, Vec<Tok>)> = Vec::new();
    for (depth, toks) in lines {
        for (d, stmt) in split_statement(depth, toks) {
            let stmt = merge_strings(stmt);
            if stmt.iter().all(|t| t.kind == TokKind::String) {
                continue;
            }
            let stmt = drop_redundant_parens(drop_trailing_commas(stmt));
            statements.push((d, stmt));
        }
    }
    if opts.rename_top_level_functions {
        rename_functions(&mut statements);
    }
    let mut out = String::new();
    for (d, stmt) in statements {
        if !out.is_empty() {
            out.push('\n');
        }
        for _ in 0..d {
            out.push_str("    ");
        }
        let texts: Vec<&str> = stmt.iter().map(|t| t.text.as_str()).collect();
        out.push_str(&texts.join(" "));
    }
    Ok(out)
}

fn canonical_token(kind: TokKind, text: &str) -> String {
    match kind {
        TokKind::Number => text.replace('_', "").to_ascii_lowercase(),
        TokKind::String => canonical_string(text).unwrap_or_else(|| text.to_owned()),
        _ => text.to_owned(),
    }
}

/// A simple literal (no `f`/`t` prefix, no backslash) written as `"…"` or `b"…"`.
fn canonical_string(text: &str) -> Option<String> {
    let (value, bytes) = simple_string_value(text)?;
    Some(quote_value(value, bytes))
}

/// `(body, is_bytes)` of a literal without `f`/`t` prefix and without backslashes.
fn simple_string_value(text: &str) -> Option<(&str, bool)> {
    let q = text.find(['\'', '"'])?;
    let prefix = &text[..q];
    let lower = prefix.to_ascii_lowercase();
    if lower.contains('f') || lower.contains('t') {
        return None;
    }
    let rest = &text[q..];
    let qc = rest.as_bytes()[0];
    let triple = rest.len() >= 6 && rest.as_bytes()[..3].iter().all(|&c| c == qc);
    let ql = if triple { 3 } else { 1 };
    if rest.len() < 2 * ql {
        return None;
    }
    let body = &rest[ql..rest.len() - ql];
    if body.contains('\\') {
        return None;
    }
    Some((body, lower.contains('b')))
}

fn quote_value(value: &str, bytes: bool) -> String {
    let mut s = String::with_capacity(value.len() + 3);
    if bytes {
        s.push('b');
    }
    s.push('"');
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Join adjacent simple literals of the same kind (`"a" "b"` → `"ab"`).
fn merge_strings(toks: Vec<Tok>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    for t in toks {
        if t.kind == TokKind::String
            && let Some(prev) = out.last_mut()
            && prev.kind == TokKind::String
            && let (Some(a), Some(b)) = (canonical_parts(&prev.text), canonical_parts(&t.text))
            && a.1 == b.1
        {
            prev.text = quote_value(&(unescape_canonical(a.0) + &unescape_canonical(b.0)), a.1);
            continue;
        }
        out.push(t);
    }
    out
}

/// The quoted body and bytes-ness of a literal in canonical form (`"…"` / `b"…"`).
fn canonical_parts(text: &str) -> Option<(&str, bool)> {
    if let Some(rest) = text.strip_prefix("b\"") {
        return rest.strip_suffix('"').map(|b| (b, true));
    }
    text.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .map(|b| (b, false))
}

fn unescape_canonical(body: &str) -> String {
    body.replace("\\\"", "\"").replace("\\n", "\n").replace("\\r", "\r")
}

const COMPOUND: [&str; 12] = [
    "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class", "async",
];

/// Split one logical line into statements: at top-level `;`, and a compound header with an
/// inline body into the header and body statements one level deeper.
fn split_statement(depth: usize, toks: Vec<Tok>) -> Vec<(usize, Vec<Tok>)> {
    let mut out = Vec::new();
    let first_is_compound = toks
        .first()
        .is_some_and(|t| t.kind == TokKind::Name && COMPOUND.contains(&t.text.as_str()));
    if first_is_compound
        && let Some(colon) = top_level_header_colon(&toks)
        && colon + 1 < toks.len()
    {
        let mut header = toks;
        let body = header.split_off(colon + 1);
        out.push((depth, header));
        for stmt in split_semicolons(body) {
            out.push((depth + 1, stmt));
        }
        return out;
    }
    for stmt in split_semicolons(toks) {
        out.push((depth, stmt));
    }
    out
}

/// The first `:` at bracket depth 0 that is not a `lambda`'s.
fn top_level_header_colon(toks: &[Tok]) -> Option<usize> {
    let mut depth = 0i32;
    let mut lambdas = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if t.kind == TokKind::Op {
            match t.text.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                ":" if depth == 0 => {
                    if lambdas > 0 {
                        lambdas -= 1;
                    } else {
                        return Some(i);
                    }
                }
                _ => {}
            }
        } else if depth == 0 && t.is_name("lambda") {
            lambdas += 1;
        }
    }
    None
}

fn split_semicolons(toks: Vec<Tok>) -> Vec<Vec<Tok>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut depth = 0i32;
    for t in toks {
        if t.kind == TokKind::Op {
            match t.text.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                ";" if depth == 0 => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    continue;
                }
                _ => {}
            }
        }
        cur.push(t);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Drop a comma right before a closing bracket when its group has another comma.
fn drop_trailing_commas(toks: Vec<Tok>) -> Vec<Tok> {
    // For each open bracket: the number of top-level commas seen in it.
    let mut commas: Vec<usize> = Vec::new();
    let mut drop = vec![false; toks.len()];
    for (i, t) in toks.iter().enumerate() {
        if t.kind != TokKind::Op {
            continue;
        }
        match t.text.as_str() {
            "(" | "[" | "{" => commas.push(0),
            "," => {
                if let Some(c) = commas.last_mut() {
                    *c += 1;
                }
            }
            ")" | "]" | "}" => {
                let n = commas.pop().unwrap_or(0);
                if n >= 2 && i > 0 && toks[i - 1].is_op(",") {
                    drop[i - 1] = true;
                }
            }
            _ => {}
        }
    }
    toks.into_iter().zip(drop).filter(|(_, d)| !d).map(|(t, _)| t).collect()
}

const ASSIGN_OPS: [&str; 14] = [
    "=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", ">>=", "<<=", "&=", "|=", "^=", "@=",
];

/// Drop parentheses around a whole assignment value, `return`/`yield` value, or
/// `if`/`elif`/`while` condition.
fn drop_redundant_parens(mut toks: Vec<Tok>) -> Vec<Tok> {
    let (start, end) = if toks
        .first()
        .is_some_and(|t| t.is_name("if") || t.is_name("elif") || t.is_name("while"))
    {
        if !toks.last().is_some_and(|t| t.is_op(":")) {
            return toks;
        }
        (1, toks.len() - 1)
    } else if toks.first().is_some_and(|t| t.is_name("return") || t.is_name("yield")) {
        (1, toks.len())
    } else {
        // The last top-level assignment operator.
        let mut depth = 0i32;
        let mut at = None;
        for (i, t) in toks.iter().enumerate() {
            if t.kind == TokKind::Op {
                match t.text.as_str() {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => depth -= 1,
                    op if depth == 0 && ASSIGN_OPS.contains(&op) => at = Some(i),
                    _ => {}
                }
            }
        }
        match at {
            Some(i) => (i + 1, toks.len()),
            None => return toks,
        }
    };
    let (mut s, mut e) = (start, end);
    while e >= s + 3 && toks[s].is_op("(") && toks[e - 1].is_op(")") && matching_close(&toks, s) == Some(e - 1) {
        let inner = &toks[s + 1..e - 1];
        if inner.first().is_some_and(|t| t.is_name("yield")) || has_top_level_for(inner) {
            break;
        }
        s += 1;
        e -= 1;
    }
    if s == start {
        return toks;
    }
    let suffix = toks.split_off(end);
    let inner = toks.split_off(s).into_iter().take(e - s);
    toks.truncate(start);
    toks.extend(inner);
    toks.extend(suffix);
    toks
}

fn matching_close(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if t.kind == TokKind::Op {
            match t.text.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
    }
    None
}

fn has_top_level_for(toks: &[Tok]) -> bool {
    let mut depth = 0i32;
    for t in toks {
        if t.kind == TokKind::Op {
            match t.text.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                _ => {}
            }
        } else if depth == 0 && t.is_name("for") {
            return true;
        }
    }
    false
}

fn rename_functions(statements: &mut [(usize, Vec<Tok>)]) {
    let mut names: Vec<String> = Vec::new();
    for (d, stmt) in statements.iter() {
        if *d != 0 {
            continue;
        }
        let mut it = stmt.iter();
        let mut first = it.next();
        if first.is_some_and(|t| t.is_name("async")) {
            first = it.next();
        }
        if first.is_some_and(|t| t.is_name("def"))
            && let Some(name) = it.next()
            && name.kind == TokKind::Name
            && !names.contains(&name.text)
        {
            names.push(name.text.clone());
        }
    }
    if names.is_empty() {
        return;
    }
    for (_, stmt) in statements.iter_mut() {
        for t in stmt.iter_mut() {
            if t.kind == TokKind::Name
                && let Some(k) = names.iter().position(|n| *n == t.text)
            {
                t.text = format!("_f{k}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).unwrap()
    }

    #[test]
    fn comments_docstrings_blank_lines_and_spacing_vanish() {
        let a = "def f(x):\n    \"\"\"Doc.\"\"\"\n    # why\n\n    return x+1  # inc\n";
        let b = "def f( x ):\n    return x + 1\n";
        assert_eq!(n(a), n(b));
        assert_eq!(n(b), "def f ( x ) :\n    return x + 1");
        assert_eq!(n("'''module doc'''\nimport os\n"), "import os");
    }

    #[test]
    fn line_breaks_inside_brackets_and_inline_bodies() {
        let a = "x = f(a,\n      b)\nif x: y = 1; z = 2\n";
        let b = "x = f(a, b)\nif x:\n    y = 1\n    z = 2\n";
        assert_eq!(n(a), n(b));
        assert_eq!(n("d = {'a': 1}\nl = lambda: 1\n"), "d = { \"a\" : 1 }\nl = lambda : 1");
        assert_eq!(n("if f(lambda: 1): pass\n"), "if f ( lambda : 1 ) :\n    pass");
    }

    #[test]
    fn quotes_trailing_commas_and_parens() {
        assert_eq!(n("x = 'a' \"b\"\n"), n("x = \"ab\"\n"));
        assert_eq!(n("x = [1, 2,]\n"), n("x = [1, 2]\n"));
        assert_ne!(n("x = (1,)\n"), n("x = (1)\n"));
        assert_eq!(n("a, b = (c.d(), e(f))\n"), n("a, b = c.d(), e(f)\n"));
        assert_eq!(n("return (x)\n"), "return x");
        assert_eq!(n("if (a and b):\n    pass\n"), n("if a and b:\n    pass\n"));
        assert_eq!(n("x = (a) + (b)\n"), "x = ( a ) + ( b )");
        assert_eq!(n("x = (i for i in y)\n"), "x = ( i for i in y )");
        assert_eq!(n("x = 1_000\n"), "x = 1000");
        assert_eq!(n("x = r'\\d'\n"), "x = r'\\d'");
    }

    #[test]
    fn renaming_functions() {
        let o = NormalizeOptions {
            rename_top_level_functions: true,
        };
        let a = normalize_with("def test_a():\n    pass\ntest_a()\n", o).unwrap();
        let b = normalize_with("def test_b():\n    pass\ntest_b()\n", o).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn errors_are_reported() {
        assert!(normalize("x = (\n").is_err());
    }
}
