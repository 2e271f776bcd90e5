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
        let root = tree.root_node();
        if !root.has_error() {
            check_blocks(&tokens)?;
            return check_tree(root);
        }
        Err(first_error(root).unwrap_or(SyntaxError {
            line: 1,
            message: "invalid syntax".into(),
        }))
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
        let root = tree.root_node();
        if !root.has_error() {
            check_blocks(&tokens)?;
            return check_tree(root);
        }
        Err(first_error(root).unwrap_or(SyntaxError {
            line: 1,
            message: "invalid syntax".into(),
        }))
    })
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
}
