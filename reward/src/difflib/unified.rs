//! `difflib.unified_diff` and its hunk-range formatting, line for line as CPython 3.11 writes
//! them (`SequenceMatcher(None, a, b)` with the default `autojunk=True` over whole lines).

use super::{Opcode, SequenceMatcher, Tag};

/// `difflib._format_range_unified(start, stop)`: `"l"` for one line, `"l,0"` (one line
/// before) for none, `"l,n"` otherwise.
pub fn format_range_unified(start: usize, stop: usize) -> String {
    let mut beginning = start + 1;
    let length = stop - start;
    if length == 1 {
        return beginning.to_string();
    }
    if length == 0 {
        beginning -= 1;
    }
    format!("{beginning},{length}")
}

/// `list(difflib.unified_diff(a, b, fromfile, tofile, fromfiledate, tofiledate, n, lineterm))`.
#[expect(clippy::too_many_arguments, reason = "mirrors the Python signature")]
pub fn unified_diff(
    a: &[&str],
    b: &[&str],
    fromfile: &str,
    tofile: &str,
    fromfiledate: &str,
    tofiledate: &str,
    n: usize,
    lineterm: &str,
) -> Vec<String> {
    let groups = SequenceMatcher::new(a, b, true).get_grouped_opcodes(n);
    let mut out = Vec::new();
    if groups.is_empty() {
        return out;
    }
    let date = |d: &str| if d.is_empty() { String::new() } else { format!("\t{d}") };
    out.push(format!("--- {fromfile}{}{lineterm}", date(fromfiledate)));
    out.push(format!("+++ {tofile}{}{lineterm}", date(tofiledate)));
    for group in &groups {
        out.push(format!("{}{lineterm}", hunk_header(group)));
        for_each_line(group, a, b, |prefix, line| out.push(format!("{prefix}{line}")));
    }
    out
}

/// `"\n".join` of `unified_diff(a, b, n=n, lineterm="")` without its two header lines (what
/// SWE-RL's `generate_unified_diff` returns); `""` when the sequences are equal.
pub fn unified_diff_body(a: &[&str], b: &[&str], n: usize) -> String {
    let groups = SequenceMatcher::new(a, b, true).get_grouped_opcodes(n);
    let mut out = String::new();
    for group in &groups {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&hunk_header(group));
        for_each_line(group, a, b, |prefix, line| {
            out.push('\n');
            out.push(prefix);
            out.push_str(line);
        });
    }
    out
}

fn hunk_header(group: &[Opcode]) -> String {
    let (first, last) = (group[0], group[group.len() - 1]);
    format!(
        "@@ -{} +{} @@",
        format_range_unified(first.i1, last.i2),
        format_range_unified(first.j1, last.j2)
    )
}

fn for_each_line<'s>(group: &[Opcode], a: &[&'s str], b: &[&'s str], mut emit: impl FnMut(char, &'s str)) {
    for op in group {
        if op.tag == Tag::Equal {
            a[op.i1..op.i2].iter().for_each(|l| emit(' ', l));
            continue;
        }
        if matches!(op.tag, Tag::Replace | Tag::Delete) {
            a[op.i1..op.i2].iter().for_each(|l| emit('-', l));
        }
        if matches!(op.tag, Tag::Replace | Tag::Insert) {
            b[op.j1..op.j2].iter().for_each(|l| emit('+', l));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(format_range_unified(3, 4), "4");
        assert_eq!(format_range_unified(3, 3), "3,0");
        assert_eq!(format_range_unified(0, 0), "0,0");
        assert_eq!(format_range_unified(2, 7), "3,5");
    }

    #[test]
    fn python_doc_example() {
        // From the CPython documentation of difflib.unified_diff.
        let a = ["bacon\n", "eggs\n", "ham\n", "guido\n"];
        let b = ["python\n", "eggy\n", "hamster\n", "guido\n"];
        let got = unified_diff(&a, &b, "before.py", "after.py", "", "", 3, "\n").concat();
        let want =
            "--- before.py\n+++ after.py\n@@ -1,4 +1,4 @@\n-bacon\n-eggs\n-ham\n+python\n+eggy\n+hamster\n guido\n";
        assert_eq!(got, want);
        assert!(unified_diff(&a, &a, "x", "y", "", "", 3, "").is_empty());
        assert_eq!(unified_diff_body(&a, &a, 3), "");
    }
}
