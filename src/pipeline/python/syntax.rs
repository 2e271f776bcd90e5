//! The syntax check of edited files, standing in for swe-rl's `ast.parse`: the
//! tokenizer's errors (strings, brackets, indentation) and then the tree-sitter Python grammar
//! (a node in error or missing). Decision: a Rust-side check rather than `python3 -m
//! py_compile` in the container, because it runs for every repair sample (500 per instance)
//! and must cost well under a millisecond, not a container exec. tree-sitter accepts a few
//! constructs CPython rejects at parse time (for example some invalid assignment targets); such
//! a patch is kept and fails later when its tests run.

use std::cell::RefCell;

use super::tokenize::{TokKind, Token, tokenize};

/// Why a source is not valid Python.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

thread_local! {
    static PARSER: RefCell<Option<tree_sitter::Parser>> = const { RefCell::new(None) };
    /// Trees of recently parsed originals, so an edited copy re-parses incrementally.
    static TREES: RefCell<Vec<(std::sync::Arc<str>, tree_sitter::Tree)>> = const { RefCell::new(Vec::new()) };
}

const TREE_CACHE: usize = 8;

/// Check `new`, an edited copy of `old`: the same verdict as [`check`]`(new)`, but the
/// grammar pass re-parses only around the edit (tree-sitter's incremental parsing, from a
/// cached tree of `old`), which is what makes checking hundreds of samples of a large file
/// cheap.
pub fn check_edited(old: &str, new: &str) -> Result<(), SyntaxError> {
    let tokens = match tokenize(new) {
        Ok(t) => t,
        Err(e) => {
            return Err(SyntaxError {
                line: e.line(),
                message: e.to_string(),
            });
        }
    };
    with_parser(|parser| {
        let old_tree = TREES.with(|cell| {
            let mut trees = cell.borrow_mut();
            if let Some(pos) = trees.iter().position(|(src, _)| &**src == old) {
                let entry = trees.remove(pos);
                let tree = entry.1.clone();
                trees.push(entry);
                return Some(tree);
            }
            let tree = parser.parse(old, None)?;
            if trees.len() >= TREE_CACHE {
                trees.remove(0);
            }
            trees.push((std::sync::Arc::from(old), tree.clone()));
            Some(tree)
        });
        let tree = match old_tree {
            Some(mut t) => {
                t.edit(&input_edit(old, new));
                parser.parse(new, Some(&t))
            }
            None => parser.parse(new, None),
        };
        let Some(tree) = tree else {
            return Err(SyntaxError {
                line: 0,
                message: "the parser gave up".into(),
            });
        };
        judge(parser, &tree, new, &tokens)
    })
}

/// The edit turning `old` into `new`: everything between their common prefix and suffix.
fn input_edit(old: &str, new: &str) -> tree_sitter::InputEdit {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let point = |bytes: &[u8], at: usize| {
        let before = &bytes[..at];
        let row = before.iter().filter(|&&c| c == b'\n').count();
        let col = at - before.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        tree_sitter::Point { row, column: col }
    };
    tree_sitter::InputEdit {
        start_byte: prefix,
        old_end_byte: a.len() - suffix,
        new_end_byte: b.len() - suffix,
        start_position: point(a, prefix),
        old_end_position: point(a, a.len() - suffix),
        new_end_position: point(b, b.len() - suffix),
    }
}

fn with_parser<T>(f: impl FnOnce(&mut tree_sitter::Parser) -> Result<T, SyntaxError>) -> Result<T, SyntaxError> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut p = tree_sitter::Parser::new();
            p.set_language(&tree_sitter_python::LANGUAGE.into())
                .map_err(|e| SyntaxError {
                    line: 0,
                    message: format!("the Python grammar does not load: {e}"),
                })?;
            *slot = Some(p);
        }
        match slot.as_mut() {
            Some(parser) => f(parser),
            None => Err(SyntaxError {
                line: 0,
                message: "no parser".into(),
            }),
        }
    })
}

/// Check that `src` is syntactically valid Python.
pub fn check(src: &str) -> Result<(), SyntaxError> {
    let tokens = match tokenize(src) {
        Ok(t) => t,
        Err(e) => {
            return Err(SyntaxError {
                line: e.line(),
                message: e.to_string(),
            });
        }
    };
    with_parser(|parser| {
        let Some(tree) = parser.parse(src, None) else {
            return Err(SyntaxError {
                line: 0,
                message: "the parser gave up".into(),
            });
        };
        judge(parser, &tree, src, &tokens)
    })
}

/// The verdict on a parsed source. Where the grammar reports an error, the source gets a
/// second parse with the grammar's known false alarms taken out ([`without_grammar_gaps`]);
/// the error stands unless that copy parses cleanly.
fn judge(
    parser: &mut tree_sitter::Parser,
    tree: &tree_sitter::Tree,
    src: &str,
    tokens: &[Token<'_>],
) -> Result<(), SyntaxError> {
    let root = tree.root_node();
    if !root.has_error() {
        check_blocks(tokens)?;
        return check_tree(root);
    }
    let error = first_error(root).unwrap_or(SyntaxError {
        line: 1,
        message: "invalid syntax".into(),
    });
    if let Some(copy) = without_grammar_gaps(src, tokens)
        && let Some(second) = parser.parse(&copy, None)
        && !second.root_node().has_error()
    {
        check_blocks(tokens)?;
        return check_tree(second.root_node());
    }
    Err(error)
}

/// A copy of `src`, same lines, without two things valid in CPython that the tree-sitter
/// grammar rejects (found by `scripts/python-parity.py` on real files), or None when it has
/// neither:
/// - a line inside brackets indented less than its block after a binary operator
///   (`if a:\n    y = (x %\n h)`: the grammar's scanner reads a dedent there); such lines get
///   the indentation of the line that opened the bracket in front of their own;
/// - `{expr:=}` in an f-string (a format spec `=`, not a walrus, which needs parentheses
///   there); the `=` becomes `0`, another valid spec of the same length.
fn without_grammar_gaps(src: &str, tokens: &[Token<'_>]) -> Option<String> {
    let original: Vec<&str> = src.split('\n').collect();
    let lead = |line: &str| line.len() - line.trim_start_matches([' ', '\t', '\x0c']).len();
    // f-string specs are replaced in place (same length, so lines keep their offsets); the
    // re-indented lines are collected and prefixed at the end.
    let mut text = src.to_owned();
    let mut reindent: Vec<(usize, &str)> = Vec::new();
    let mut depth = 0usize;
    let mut opener_lead = "";
    let mut covered = 0usize; // the last line a token so far reaches
    for t in tokens {
        if matches!(t.kind, TokKind::Indent | TokKind::Dedent) || t.text.is_empty() {
            continue;
        }
        if depth > 0 && t.line > covered && !opener_lead.is_empty() && !matches!(t.kind, TokKind::Nl | TokKind::Newline)
        {
            reindent.push((t.line - 1, opener_lead));
        }
        match (t.kind, t.text) {
            (TokKind::Op, "(" | "[" | "{") => {
                if depth == 0 {
                    let line = original.get(t.line - 1)?;
                    opener_lead = &line[..lead(line)];
                }
                depth += 1;
            }
            (TokKind::Op, ")" | "]" | "}") => depth = depth.saturating_sub(1),
            (TokKind::String, token) => {
                if let Some(fixed) = fstring_walrus_specs(token) {
                    let at = byte_offset(&text, t.line, token)?;
                    text.replace_range(at..at + token.len(), &fixed);
                }
            }
            _ => {}
        }
        let end = t.line
            + if t.kind == TokKind::String {
                t.text.matches('\n').count()
            } else {
                0
            };
        covered = covered.max(end);
    }
    if reindent.is_empty() && text == src {
        return None;
    }
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    for (i, prefix) in reindent {
        lines.get_mut(i)?.insert_str(0, prefix);
    }
    Some(lines.join("\n"))
}

/// Where `text` starts in `src`, searching from the start of 1-based `line`.
fn byte_offset(src: &str, line: usize, text: &str) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        src.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)?
    };
    src[line_start..].find(text).map(|i| line_start + i)
}

/// An f-string token with each `:=` that opens a format spec (a `:` at the top level of a
/// replacement field, followed by `=`) turned into `:0`; None when it has none.
fn fstring_walrus_specs(text: &str) -> Option<String> {
    let prefix_len = text.find(['\'', '"'])?;
    if !text[..prefix_len].contains(['f', 'F']) {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = text.as_bytes().to_vec();
    let (mut field, mut parens, mut changed) = (0usize, 0usize, false);
    let mut i = prefix_len;
    while i < bytes.len() {
        let c = bytes[i];
        if field == 0 {
            if c == b'{' {
                if bytes.get(i + 1) == Some(&b'{') {
                    i += 2;
                    continue;
                }
                field = 1;
                parens = 0;
            }
        } else {
            match c {
                b'(' | b'[' | b'{' => parens += 1,
                b')' | b']' => parens = parens.saturating_sub(1),
                b'}' if parens > 0 => parens -= 1,
                b'}' => field = 0,
                b':' if parens == 0 => {
                    if bytes.get(i + 1) == Some(&b'=') {
                        out[i + 1] = b'0';
                        changed = true;
                    }
                    // The rest of the field is its format spec.
                    while i < bytes.len() && bytes[i] != b'}' {
                        i += 1;
                    }
                    field = 0;
                }
                _ => {}
            }
        }
        i += 1;
    }
    if changed { String::from_utf8(out).ok() } else { None }
}

/// What tree-sitter accepts and CPython does not: a line ending in `:` must be followed by an
/// indented block, a block may only start after such a line, and there are no Python 2
/// `print` / `exec` statements.
fn check_blocks(tokens: &[Token<'_>]) -> Result<(), SyntaxError> {
    let significant: Vec<&Token<'_>> = tokens
        .iter()
        .filter(|t| !matches!(t.kind, TokKind::Nl | TokKind::Comment))
        .collect();
    for (i, t) in significant.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| significant[j]);
        let prev2 = i.checked_sub(2).map(|j| significant[j]);
        let after_header = prev.is_some_and(|p| p.kind == TokKind::Newline)
            && prev2.is_some_and(|p| p.kind == TokKind::Op && p.text == ":");
        if t.kind == TokKind::Indent && !after_header {
            return Err(SyntaxError {
                line: t.line,
                message: "unexpected indent".into(),
            });
        }
        if after_header && t.kind != TokKind::Indent {
            return Err(SyntaxError {
                line: t.line,
                message: "expected an indented block".into(),
            });
        }
        // Python 2 statements, which the tree-sitter grammar still accepts.
        let starts_statement =
            prev.is_none_or(|p| matches!(p.kind, TokKind::Newline | TokKind::Indent | TokKind::Dedent));
        if starts_statement
            && t.kind == TokKind::Name
            && (t.text == "print" || t.text == "exec")
            && significant
                .get(i + 1)
                .is_some_and(|n| matches!(n.kind, TokKind::String | TokKind::Name | TokKind::Number))
        {
            return Err(SyntaxError {
                line: t.line,
                message: format!("Missing parentheses in call to '{}'", t.text),
            });
        }
    }
    if significant.last().is_some_and(|t| t.kind == TokKind::Newline)
        && significant.len() >= 2
        && significant[significant.len() - 2].kind == TokKind::Op
        && significant[significant.len() - 2].text == ":"
    {
        return Err(SyntaxError {
            line: significant[significant.len() - 1].line,
            message: "expected an indented block".into(),
        });
    }
    Ok(())
}

/// Rules of CPython's parser that the tree-sitter grammar does not enforce (found by
/// `scripts/python-parity.py` on mutated real code): a `try` needs an `except` or `finally`
/// clause, and a positional argument may not follow a keyword argument or `**` unpacking.
fn check_tree(root: tree_sitter::Node<'_>) -> Result<(), SyntaxError> {
    let mut cursor = root.walk();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        let err = |message: &str| SyntaxError {
            line: node.start_position().row + 1,
            message: message.to_owned(),
        };
        match node.kind() {
            "try_statement" => {
                let handled = node
                    .children(&mut cursor)
                    .any(|c| matches!(c.kind(), "except_clause" | "except_group_clause" | "finally_clause"));
                if !handled {
                    return Err(err("expected 'except' or 'finally' block"));
                }
            }
            "argument_list" => {
                let mut keyword_seen = false;
                for c in node.named_children(&mut cursor) {
                    match c.kind() {
                        _ if c.is_extra() => {}
                        "keyword_argument" | "dictionary_splat" => keyword_seen = true,
                        "list_splat" => {}
                        _ if keyword_seen => return Err(err("positional argument follows keyword argument")),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        stack.extend(node.named_children(&mut cursor));
    }
    Ok(())
}

fn first_error(node: tree_sitter::Node<'_>) -> Option<SyntaxError> {
    if node.is_error() {
        return Some(SyntaxError {
            line: node.start_position().row + 1,
            message: "invalid syntax".into(),
        });
    }
    if node.is_missing() {
        return Some(SyntaxError {
            line: node.start_position().row + 1,
            message: format!("invalid syntax: expected {}", node.kind()),
        });
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.has_error()
            && let Some(e) = first_error(child)
        {
            return Some(e);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_python_passes() {
        for src in [
            "",
            "x = 1\n",
            "def f(a, *, b=2, **kw) -> int:\n    return a if b else kw\n",
            "class A(B, metaclass=M):\n    @property\n    def x(self):\n        yield from y\n",
            "match p:\n    case [x, *rest]:\n        pass\n    case _:\n        pass\n",
            "async def f():\n    async with a as b:\n        await c\n",
            "x = f'{a!r:>{w}} {b[\"k\"]}'\n",
            "try:\n    pass\nexcept* ValueError:\n    pass\n",
        ] {
            assert_eq!(check(src), Ok(()), "{src}");
        }
    }

    #[test]
    fn incremental_checks_agree_with_full_ones() {
        let old = "def f(x):\n    return x + 1\n\n\nclass A:\n    def g(self):\n        return [1, 2]\n";
        let edits = [
            old.replace("x + 1", "x + 2"),
            old.replace("x + 1", "(x + 1"),
            old.replace("    return x + 1\n", ""),
            old.replace("[1, 2]", "[1, 2"),
            old.replace("class A:", "class A"),
            old.replace("def g(self):", "def g(self):\n        '''doc'''"),
            String::new(),
            format!("{old}x = 1\n"),
            format!("import os\n{old}"),
        ];
        for _ in 0..2 {
            for new in &edits {
                assert_eq!(check_edited(old, new), check(new), "{new}");
            }
        }
    }

    #[test]
    fn invalid_python_fails_with_a_line() {
        assert_eq!(check("def f(:\n    pass\n").map_err(|e| e.line), Err(1));
        assert_eq!(check("x = 1\nif x\n    y = 2\n").map_err(|e| e.line), Err(2));
        assert!(check("x = 'abc\n").is_err());
        assert!(check("def f():\nreturn 1\n").is_err());
        assert!(check("x = = 2\n").is_err());
        assert_eq!(
            check("  x = 1\n").map_err(|e| e.message),
            Err("unexpected indent".to_owned())
        );
        assert_eq!(
            check("if x:\n").map_err(|e| e.message),
            Err("expected an indented block".to_owned())
        );
        assert_eq!(check("if x:\n    # c\n\ny = 1\n").map_err(|e| e.line), Err(4));
        assert!(check("if x:\n        a\n    b\n").is_err());
        assert!(check("print 'hello'\n").is_err());
        assert!(check("try:\n    x = 1\ny = 2\n").is_err());
        assert!(check("f(a=1, b)\n").is_err());
        assert!(check("f(**k, b)\n").is_err());
        assert_eq!(check("f(a=1,\\\n  b=2, # c\n  **k)\n"), Ok(()));
        assert_eq!(
            check("f(a, *b, c=1, *d, **e)\nclass A(B, metaclass=M):\n    pass\n"),
            Ok(())
        );
    }

    /// Valid Python the grammar rejects, found on real files by `scripts/python-parity.py`
    /// (SymPy 1.1.1 `sets.py`, matplotlib 3.7.5 `axis.py`), and their invalid neighbours.
    #[test]
    fn the_grammar_gaps_found_on_real_files_are_valid_and_errors_around_them_stay() {
        // A bracketed continuation indented less than its block, after a binary operator.
        assert_eq!(check("if a:\n    y = (x %\n h)\n"), Ok(()));
        assert_eq!(
            check("if a:\n    pass\nelse:\n    raise T(g(\'\'\'\nx \\'%s\\'\'\'\' %\n    h(f)))\n\n    r = 1\n"),
            Ok(())
        );
        assert_eq!(
            check_edited("if a:\n    y = (x %\n    h)\n", "if a:\n    y = (x %\n h)\n"),
            Ok(())
        );
        assert!(check("if a:\n    y = (x %\n h) +\n").is_err());
        assert!(check("if a:\n    y = (x %\n h = )\n").is_err());
        // `{expr:=}`: a format spec, not a walrus; a walrus in parentheses stays valid.
        assert_eq!(check("x = f\"{y:=}\" + f\"{(z:=3)}\" + f\"{w!r:=^10}\"\n"), Ok(()));
        assert!(check("x = f\"{y:=}\" +\n").is_err());
        assert!(check("x = f\"{y z}\"\n").is_err());
    }
}
