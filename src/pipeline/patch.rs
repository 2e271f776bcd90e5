//! Normalized patches: the key under which candidate patches vote together
//! (`normalize_patch` in swe-rl's Agentless Mini). For each edited file, the old and new contents
//! are normalized ([`super::python::normalize`]: no comments, docstrings or formatting), and
//! diffed; when the change only inserts lines and adds a function, only the `+`/`-` lines are
//! kept, so the insertion point does not matter (swe-rl's `is_just_new_function`,
//! approximated on normalized text). The per-file diffs are concatenated and trimmed. If a
//! file does not tokenize, its raw contents are diffed instead (swe-rl falls back the
//! same way when `ast.parse` fails).

use super::diff::file_diff;
use super::python::normalize::normalize;
use super::python::tokenize::TokenizeError;

/// One edited file of a candidate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileChange {
    pub path: String,
    pub old: String,
    pub new: String,
}

/// The normalized patch of a candidate's edits (empty when nothing but comments, docstrings or
/// formatting changed).
pub fn normalized_patch(changes: &[FileChange]) -> String {
    let mut out = String::new();
    for ch in changes {
        let (old, new) = match (normalize_original(&ch.old), normalize(&ch.new)) {
            (Ok(o), Ok(n)) => (o + "\n", n + "\n"),
            _ => (ch.old.clone(), ch.new.clone()),
        };
        let mut diff = String::new();
        file_diff(&mut diff, &ch.path, &old, &new);
        if just_new_function(&diff) {
            diff = diff
                .lines()
                .filter(|l| l.starts_with('+') || l.starts_with('-'))
                .collect::<Vec<_>>()
                .join("\n");
            diff.push('\n');
        }
        out.push_str(&diff);
    }
    out.trim().to_owned()
}

type NormalizedCache = Vec<(std::sync::Arc<str>, Result<String, TokenizeError>)>;

thread_local! {
    /// Normalized originals: every sample of an instance edits the same few files.
    static ORIGINALS: std::cell::RefCell<NormalizedCache> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn normalize_original(src: &str) -> Result<String, TokenizeError> {
    ORIGINALS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some((_, r)) = cache.iter().find(|(s, _)| &**s == src) {
            return r.clone();
        }
        let r = normalize(src);
        if cache.len() >= 8 {
            drop(cache.remove(0));
        }
        cache.push((std::sync::Arc::from(src), r.clone()));
        r
    })
}

/// Only insertions, and one of them defines a function.
fn just_new_function(diff: &str) -> bool {
    let body = diff.lines().filter(|l| !l.starts_with("---") && !l.starts_with("+++"));
    let mut adds_def = false;
    for l in body {
        if l.starts_with('-') {
            return false;
        }
        if let Some(added) = l.strip_prefix('+') {
            let t = added.trim_start();
            if t.starts_with("def ") || t.starts_with("async def ") {
                adds_def = true;
            }
        }
    }
    adds_def
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(old: &str, new: &str) -> Vec<FileChange> {
        vec![FileChange {
            path: "m.py".into(),
            old: old.into(),
            new: new.into(),
        }]
    }

    #[test]
    fn formatting_and_comments_vote_together() {
        let old = "def f(a):\n    return g(a, 7)\n";
        let a = normalized_patch(&fc(old, "def f(a):\n    return g(a, 6)\n"));
        let b = normalized_patch(&fc(
            old,
            "def f(a):\n    # fixed\n    return g(\n        a,\n        6,\n    )\n",
        ));
        assert!(!a.is_empty());
        assert_eq!(a, b);
        let c = normalized_patch(&fc(old, "def f(a):\n    return g(a, 5)\n"));
        assert_ne!(a, c);
    }

    #[test]
    fn comment_only_changes_normalize_to_nothing() {
        assert_eq!(normalized_patch(&fc("x = 1\n", "x = 1  # one\n\n")), "");
        assert_eq!(
            normalized_patch(&fc(
                "def f():\n    pass\n",
                "def f():\n    \"\"\"Doc.\"\"\"\n    pass\n"
            )),
            ""
        );
    }

    #[test]
    fn new_functions_ignore_where_they_were_inserted() {
        let old = "def a():\n    pass\n\n\ndef b():\n    pass\n";
        let top = "def n():\n    return 1\n\n\ndef a():\n    pass\n\n\ndef b():\n    pass\n";
        let end = "def a():\n    pass\n\n\ndef b():\n    pass\n\n\ndef n():\n    return 1\n";
        assert_eq!(normalized_patch(&fc(old, top)), normalized_patch(&fc(old, end)));
    }

    #[test]
    fn untokenizable_files_fall_back_to_raw_text() {
        let p = normalized_patch(&fc("x = '\n", "x = 'a\n"));
        assert!(p.contains("+x = 'a"));
    }
}
