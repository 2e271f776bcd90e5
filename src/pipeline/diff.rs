//! Unified diffs in `git diff` format, made in process with `similar` (swe-rl's Agentless Mini
//! writes the files into a throw-away git repository and runs `git diff`, one process per sample).
//!
//! Per changed file: `diff --git a/P b/P`, `index <old>..<new> 100644` (abbreviated blob ids,
//! as git computes them), `--- a/P`, `+++ b/P`, then hunks with three lines of context and
//! git's range notation (`-5` for one line, `-4,0` for none). As upstream, no
//! `\ No newline at end of file` line is written. Unlike git, hunk headers carry no function
//! context after the second `@@` (it is informational; `git apply` ignores it). Hunks come
//! from Myers' algorithm, as git's default.

use similar::{Algorithm, DiffOp, capture_diff_slices, group_diff_ops};

/// A whole-patch diff of several files (`(path, old, new)`, in order). Unchanged files are
/// left out.
pub fn git_diff(files: &[(&str, &str, &str)]) -> String {
    let mut out = String::new();
    for (path, old, new) in files {
        file_diff(&mut out, path, old, new);
    }
    out
}

fn blob_id(content: &str) -> String {
    match git2::Oid::hash_object(git2::ObjectType::Blob, content.as_bytes()) {
        Ok(oid) => oid.to_string()[..7].to_owned(),
        Err(_) => "0000000".to_owned(),
    }
}

fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

fn push_line(out: &mut String, prefix: char, line: &str) {
    out.push(prefix);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push('\n');
    }
}

/// Append the diff of one file (nothing when `old == new`).
pub fn file_diff(out: &mut String, path: &str, old: &str, new: &str) {
    if old == new {
        return;
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = capture_diff_slices(Algorithm::Myers, &a, &b);
    let groups = group_diff_ops(ops, 3);
    if groups.is_empty() {
        return;
    }
    out.push_str(&format!(
        "diff --git a/{path} b/{path}\nindex {}..{} 100644\n--- a/{path}\n+++ b/{path}\n",
        blob_id(old),
        blob_id(new)
    ));
    for group in groups {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_start = first.old_range().start;
        let new_start = first.new_range().start;
        let old_len = last.old_range().end - old_start;
        let new_len = last.new_range().end - new_start;
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_start, old_len),
            range(new_start, new_len)
        ));
        for op in &group {
            match *op {
                DiffOp::Equal { old_index, len, .. } => {
                    for line in &a[old_index..old_index + len] {
                        push_line(out, ' ', line);
                    }
                }
                DiffOp::Delete { old_index, old_len, .. } => {
                    for line in &a[old_index..old_index + old_len] {
                        push_line(out, '-', line);
                    }
                }
                DiffOp::Insert { new_index, new_len, .. } => {
                    for line in &b[new_index..new_index + new_len] {
                        push_line(out, '+', line);
                    }
                }
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    for line in &a[old_index..old_index + old_len] {
                        push_line(out, '-', line);
                    }
                    for line in &b[new_index..new_index + new_len] {
                        push_line(out, '+', line);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_change() {
        let d = git_diff(&[("p/m.py", "a\nb\nc\n", "a\nB\nc\n")]);
        assert_eq!(
            d,
            "diff --git a/p/m.py b/p/m.py\nindex de98044..7be73ce 100644\n--- a/p/m.py\n+++ b/p/m.py\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    #[test]
    fn ranges_follow_git() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replacen("10\n", "", 1);
        let d = git_diff(&[("f", &old, &new)]);
        assert!(d.contains("@@ -7,7 +7,6 @@\n"), "{d}");
        let d = git_diff(&[("f", "", "x\n")]);
        assert!(d.contains("@@ -0,0 +1 @@\n+x\n"), "{d}");
        assert_eq!(git_diff(&[("f", "same\n", "same\n")]), "");
    }

    #[test]
    fn no_newline_marker_is_not_written() {
        let d = git_diff(&[("f", "a\nb", "a\nc")]);
        assert!(d.ends_with("-b\n+c\n"), "{d}");
        assert!(!d.contains("No newline"));
    }

    #[test]
    fn matches_git_on_a_real_edit() {
        // The same diff `git diff` prints (checked against git 2.39 when written).
        let old = "def f(x):\n    return x\n\n\ndef g(y):\n    return y\n";
        let new = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y\n";
        let d = git_diff(&[("m.py", old, new)]);
        assert!(
            d.contains("@@ -1,5 +1,5 @@\n def f(x):\n-    return x\n+    return x + 1\n \n \n def g(y):\n"),
            "{d}"
        );
    }
}
