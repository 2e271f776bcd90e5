//! Which paths a unified diff touches, and the refusal of patches that would write outside
//! the repository: absolute paths, `..` components, anything inside `.git`, symbolic links
//! whose target leaves the repository (absolute, or `..` past the root, or into `.git`), and
//! `diff --git` headers whose two names are not `a/…` and `b/…` (git and GNU `patch` would read
//! a name from them that the other checks never saw; this check does not rely on either tool
//! refusing it).
//!
//! A symbolic link that stays inside the repository (`docs/latest -> v2`, `a/b -> ../c`) is
//! applied, as both official harness versions apply it; its target is read from the link's
//! added line (git writes a link as mode `120000` whose content is the target). A link whose
//! target cannot be read from the patch is refused. The refusal names the link itself.
//! Not covered: a new link whose path goes through a link already in the repository (the
//! check reads the patch, not the repository).
//!
//! Every header that `git apply` or GNU `patch` reads a file name from is examined
//! (`diff --git`, `---`, `+++`, `rename from/to`, `copy from/to`, `Index:`, context-diff
//! `***`), and hunk bodies are skipped by their line counts so that content lines are not
//! mistaken for headers.

use std::sync::LazyLock;

use regex::Regex;

/// Why a patch is refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RefusalReason {
    AbsolutePath,
    ParentTraversal,
    GitDirectory,
    /// A symbolic link whose target is absolute or leaves the repository (or enters `.git`).
    SymlinkOutside {
        target: String,
    },
    /// A symbolic link whose target the patch does not show (binary or no hunk).
    SymlinkUnreadable,
    /// A `diff --git` header that is not `diff --git a/<path> b/<path>`.
    MalformedGitHeader,
}

/// A refused patch: the first offending path and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PatchRefusal {
    pub path: String,
    #[serde(flatten)]
    pub reason: RefusalReason,
}

impl std::fmt::Display for PatchRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match &self.reason {
            RefusalReason::AbsolutePath => "is an absolute path".to_owned(),
            RefusalReason::ParentTraversal => "leaves the repository through '..'".to_owned(),
            RefusalReason::GitDirectory => "is inside the .git directory".to_owned(),
            RefusalReason::SymlinkOutside { target } => {
                format!("is a symbolic link to {target:?}, outside the repository")
            }
            RefusalReason::SymlinkUnreadable => "is a symbolic link whose target the patch does not show".to_owned(),
            RefusalReason::MalformedGitHeader => {
                "is a diff --git header whose names are not a/<path> and b/<path> inside the repository".to_owned()
            }
        };
        write!(f, "patch refused: {:?} {why}", self.path)
    }
}

static HUNK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@").expect("static regex"));

/// Lines that name a file in a patch, and whether the name carries a `a/`-style prefix to strip.
const FILE_HEADERS: [(&str, bool); 8] = [
    ("--- ", true),
    ("+++ ", true),
    ("*** ", true),
    ("rename from ", false),
    ("rename to ", false),
    ("copy from ", false),
    ("copy to ", false),
    ("Index: ", false),
];

/// Every path named in the patch's headers, as written (quoted names unquoted), and whether
/// any file mode is a symbolic link.
pub fn patch_paths(patch: &str) -> (Vec<String>, bool) {
    let files = parse(patch).files;
    let symlink = files.iter().any(|f| f.symlink);
    (files.into_iter().flat_map(|f| f.paths).collect(), symlink)
}

/// The two names of a `diff --git` header (the text after `diff --git `), unquoted and
/// without their `a/` and `b/` prefixes; None unless they are `a/<path>` and `b/<path>` (each
/// possibly quoted). The one reader of these headers in the workspace (the integrity checks
/// use it too); the 4.x eval-script port keeps `unidiff`'s own regex on purpose.
pub(crate) fn git_header_names(rest: &str) -> Option<(String, String)> {
    let (first, second) = if rest.starts_with('"') {
        let end = quoted_end(rest)?;
        (unquote(&rest[..end]), rest[end..].strip_prefix(' ')?.to_owned())
    } else {
        // Unquoted names may hold spaces: prefer the split where both names agree (git's
        // rule), else the first ` b/` or ` "`.
        let splits: Vec<usize> = rest
            .match_indices(' ')
            .map(|(i, _)| i)
            .filter(|&i| rest[i + 1..].starts_with("b/") || rest[i + 1..].starts_with('"'))
            .collect();
        let pick = splits
            .iter()
            .copied()
            .find(|&i| {
                rest[..i]
                    .strip_prefix("a/")
                    .is_some_and(|a| Some(a) == rest[i + 1..].strip_prefix("b/"))
            })
            .or_else(|| splits.first().copied())?;
        (rest[..pick].to_owned(), rest[pick + 1..].to_owned())
    };
    let second = if second.starts_with('"') {
        let end = quoted_end(&second)?;
        if end != second.len() {
            return None;
        }
        unquote(&second)
    } else {
        second
    };
    let a = first.strip_prefix("a/")?;
    let b = second.strip_prefix("b/")?;
    if a.is_empty() || b.is_empty() {
        return None;
    }
    Some((a.to_owned(), b.to_owned()))
}

/// The byte index just past the closing quote of the quoted name `s` starts with.
fn quoted_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// One file of a patch, as its headers and hunks describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchFile {
    /// Every path its headers name, as written (quoted names unquoted, `a/` `b/` taken off).
    pub paths: Vec<String>,
    /// The path the file has after the patch (the new side; the old one for a deletion).
    pub path: String,
    /// One of its modes is a symbolic link (`120000`).
    pub symlink: bool,
    /// The patch deletes it.
    pub deleted: bool,
    /// Its hunks' added lines joined with `\n` (for a link: the new target), if any.
    pub added: Option<String>,
}

/// The files of a patch, in order. A file starts at `diff --git`, or at a `---` header after
/// the previous file's `+++` (plain unified diffs). A malformed `diff --git` header starts a
/// file with no paths from that line ([`check_patch_paths`] refuses such a patch).
pub fn patch_files(patch: &str) -> Vec<PatchFile> {
    parse(patch).files
}

/// A patch read once: its files, and the first `diff --git` line whose names are not `a/…`
/// and `b/…`.
struct Parsed {
    files: Vec<PatchFile>,
    malformed_git_header: Option<String>,
}

/// The one pass over a patch's lines: headers name paths, hunk bodies are skipped by their
/// line counts (so content lines are never read as headers) and their added lines kept.
fn parse(patch: &str) -> Parsed {
    let mut files: Vec<PatchFile> = Vec::new();
    let mut malformed_git_header = None;
    let mut cur: Option<PatchFile> = None;
    let mut saw_new_header = false;
    let lines: Vec<&str> = patch.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].strip_suffix('\r').unwrap_or(lines[i]);
        i += 1;
        if let Some(c) = HUNK.captures(line) {
            let mut old: usize = c.get(1).map_or(Some(1), |m| m.as_str().parse().ok()).unwrap_or(0);
            let mut new: usize = c.get(2).map_or(Some(1), |m| m.as_str().parse().ok()).unwrap_or(0);
            let file = cur.get_or_insert_with(PatchFile::default);
            while (old > 0 || new > 0) && i < lines.len() {
                let body = lines[i];
                match body.as_bytes().first() {
                    Some(b' ') | None => {
                        old = old.saturating_sub(1);
                        new = new.saturating_sub(1);
                    }
                    Some(b'-') => old = old.saturating_sub(1),
                    Some(b'+') => {
                        new = new.saturating_sub(1);
                        let text = body[1..].strip_suffix('\r').unwrap_or(&body[1..]);
                        match &mut file.added {
                            Some(a) => {
                                a.push('\n');
                                a.push_str(text);
                            }
                            None => file.added = Some(text.to_owned()),
                        }
                    }
                    Some(b'\\') => {}
                    // A malformed hunk: stop skipping and read headers again.
                    _ => break,
                }
                i += 1;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("diff --git ") {
            files.extend(cur.take());
            cur = Some(match git_header_names(rest) {
                Some((old, new)) => PatchFile {
                    path: new.clone(),
                    paths: vec![old, new],
                    ..PatchFile::default()
                },
                None => {
                    malformed_git_header.get_or_insert_with(|| line.to_owned());
                    PatchFile::default()
                }
            });
            saw_new_header = false;
            continue;
        }
        if line.starts_with("--- ") && saw_new_header {
            files.extend(cur.take());
            saw_new_header = false;
        }
        for (prefix, strip) in FILE_HEADERS {
            if let Some(rest) = line.strip_prefix(prefix) {
                let file = cur.get_or_insert_with(PatchFile::default);
                let name = rest.split('\t').next().unwrap_or("").trim_end();
                let name = unquote(name);
                if prefix == "+++ " {
                    saw_new_header = true;
                }
                if name == "/dev/null" || name.is_empty() {
                    break;
                }
                let name = if strip { strip_git_prefix(&name) } else { name };
                if file.path.is_empty() || matches!(prefix, "+++ " | "rename to " | "copy to ") {
                    file.path = name.clone();
                }
                file.paths.push(name);
                break;
            }
        }
        if line.starts_with("deleted file mode ") {
            cur.get_or_insert_with(PatchFile::default).deleted = true;
        }
        for prefix in [
            "new file mode ",
            "deleted file mode ",
            "old mode ",
            "new mode ",
            "index ",
        ] {
            if let Some(rest) = line.strip_prefix(prefix)
                && rest.trim_end().ends_with("120000")
            {
                cur.get_or_insert_with(PatchFile::default).symlink = true;
            }
        }
    }
    files.extend(cur);
    Parsed {
        files,
        malformed_git_header,
    }
}

/// Whether a link at `link` (repository-relative) with `target` resolves outside the
/// repository or into `.git`. Targets are resolved as the kernel does, from the link's folder.
fn link_leaves_repository(link: &str, target: &str) -> bool {
    if target.starts_with('/') || target.starts_with('~') {
        return true;
    }
    let mut at: Vec<&str> = link.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    at.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if at.pop().is_none() {
                    return true;
                }
            }
            c => at.push(c),
        }
    }
    at.first().is_some_and(|c| c.eq_ignore_ascii_case(".git"))
}

/// `a/x` → `x` (also `b/`); an absolute path is kept as is so it is refused.
fn strip_git_prefix(p: &str) -> String {
    p.strip_prefix("a/")
        .or_else(|| p.strip_prefix("b/"))
        .unwrap_or(p)
        .to_owned()
}

/// Git's C-style quoting: `"a/x\ty"` → `a/x<TAB>y`; a name without quotes is returned as is.
pub(crate) fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut out = Vec::new();
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let c = bytes[i + 1];
            let simple = match c {
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'r' => Some(b'\r'),
                b'v' => Some(11),
                _ => None,
            };
            if let Some(b) = simple {
                out.push(b);
                i += 2;
                continue;
            }
            if i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v =
                    (bytes[i + 1] - b'0') as u32 * 64 + (bytes[i + 2] - b'0') as u32 * 8 + (bytes[i + 3] - b'0') as u32;
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Refuse a patch that names a path outside the repository, inside `.git`, or a symlink.
pub fn check_patch_paths(patch: &str) -> Result<(), PatchRefusal> {
    let Parsed {
        files,
        malformed_git_header,
    } = parse(patch);
    if let Some(line) = malformed_git_header {
        return Err(PatchRefusal {
            path: line,
            reason: RefusalReason::MalformedGitHeader,
        });
    }
    for p in files.iter().flat_map(|f| &f.paths) {
        let refuse = |reason| {
            Err(PatchRefusal {
                path: p.clone(),
                reason,
            })
        };
        if p.starts_with('/') || p.starts_with('~') || p.starts_with('\\') {
            return refuse(RefusalReason::AbsolutePath);
        }
        let components: Vec<&str> = p.split(['/', '\\']).collect();
        if components.contains(&"..") {
            return refuse(RefusalReason::ParentTraversal);
        }
        // GNU patch -p1 strips the first component; check what it would write too.
        let effective: Vec<&str> = components
            .iter()
            .copied()
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if effective.first().is_some_and(|c| c.eq_ignore_ascii_case(".git")) {
            return refuse(RefusalReason::GitDirectory);
        }
    }
    for f in files.iter().filter(|f| f.symlink && !f.deleted) {
        let refuse = |reason| {
            Err(PatchRefusal {
                path: f.path.clone(),
                reason,
            })
        };
        match &f.added {
            None => return refuse(RefusalReason::SymlinkUnreadable),
            Some(t) if t.is_empty() => return refuse(RefusalReason::SymlinkUnreadable),
            Some(target) if link_leaves_repository(&f.path, target) => {
                return refuse(RefusalReason::SymlinkOutside { target: target.clone() });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "diff --git a/src/x.py b/src/x.py\n--- a/src/x.py\n+++ b/src/x.py\n@@ -1,3 +1,3 @@\n a\n--- not a header\n+++ nor this\n c\n";

    #[test]
    fn ordinary_patches_pass_and_hunk_bodies_are_not_headers() {
        assert_eq!(check_patch_paths(OK), Ok(()));
        let (paths, link) = patch_paths(OK);
        assert_eq!(paths, vec!["src/x.py", "src/x.py", "src/x.py", "src/x.py"]);
        assert!(!link);
        assert_eq!(check_patch_paths(""), Ok(()));
    }

    #[test]
    fn a_removed_line_that_looks_like_a_header_is_content() {
        let p = "--- a/x\n+++ b/x\n@@ -1,2 +1,1 @@\n--- ../../etc/passwd\n keep\n";
        assert_eq!(check_patch_paths(p), Ok(()));
    }

    #[test]
    fn traversal_absolute_git_and_symlinks_are_refused() {
        let cases = [
            ("diff --git a/../evil b/../evil\n", RefusalReason::ParentTraversal),
            (
                "--- a/x\n+++ b/sub/../../evil\n@@ -1 +1 @@\n-a\n+b\n",
                RefusalReason::ParentTraversal,
            ),
            (
                "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
                RefusalReason::AbsolutePath,
            ),
            (
                "diff --git a/x b/y\nrename from x\nrename to ../y\n",
                RefusalReason::ParentTraversal,
            ),
            (
                "diff --git a/.git/hooks/post-checkout b/.git/hooks/post-checkout\n",
                RefusalReason::GitDirectory,
            ),
            (
                "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc\n",
                RefusalReason::SymlinkOutside { target: "/etc".into() },
            ),
            ("diff --git \"a/x\" \"b/..\\057evil\"\n", RefusalReason::ParentTraversal),
            ("Index: ../evil\n", RefusalReason::ParentTraversal),
        ];
        for (patch, reason) in cases {
            let r = check_patch_paths(patch).expect_err(patch);
            assert_eq!(r.reason, reason, "{patch}");
        }
    }

    #[test]
    fn git_headers_must_name_a_and_b_paths() {
        for patch in [
            "diff --git a/x c/../../../tmp/f\n",
            "diff --git a/x b\n",
            "diff --git x y\n",
            "diff --git a/x\n",
            "diff --git a/ b/\n",
            "diff --git \"a/x\" \"c/../../tmp/f\"\n",
            "diff --git \"a/x b/x\n",
            "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/y c/../../tmp/f\n",
        ] {
            let r = check_patch_paths(patch).expect_err(patch);
            assert_eq!(r.reason, RefusalReason::MalformedGitHeader, "{patch}");
        }
        for ok in [
            "diff --git a/my file.py b/my file.py\n",
            "diff --git \"a/t\\tx\" \"b/t\\tx\"\n",
            "diff --git a/b/c b/b/c\n",
            "diff --git a/x b/y\nrename from x\nrename to y\n",
        ] {
            assert_eq!(check_patch_paths(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            patch_paths("diff --git a/my file.py b/my file.py\n").0,
            ["my file.py", "my file.py"]
        );
        // Inside the repository after the prefix, still checked: the prefix is not a pass.
        let r = check_patch_paths("diff --git a/x b/../../tmp/f\n").expect_err("traversal");
        assert_eq!(r.reason, RefusalReason::ParentTraversal);
    }

    #[test]
    fn new_and_deleted_files_use_dev_null() {
        let p = "diff --git a/n.py b/n.py\nnew file mode 100644\n--- /dev/null\n+++ b/n.py\n@@ -0,0 +1 @@\n+x\n";
        assert_eq!(check_patch_paths(p), Ok(()));
    }

    /// A git-format patch adding a link `link` → `target`, after an ordinary file change.
    fn link_patch(link: &str, target: &str) -> String {
        format!(
            "diff --git a/src/x.py b/src/x.py\n--- a/src/x.py\n+++ b/src/x.py\n@@ -1 +1 @@\n-a\n+b\n\
             diff --git a/{link} b/{link}\nnew file mode 120000\nindex 0000000..1234567\n--- /dev/null\n+++ b/{link}\n\
             @@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
        )
    }

    #[test]
    fn links_inside_the_repository_apply_and_outside_ones_are_refused_by_name() {
        for (link, target) in [
            ("docs/latest", "v2"),
            ("docs/latest", "../README.rst"),
            ("a/b/c", "../../d/e"),
            ("l", "./x"),
        ] {
            assert_eq!(
                check_patch_paths(&link_patch(link, target)),
                Ok(()),
                "{link} -> {target}"
            );
        }
        for (link, target) in [
            ("docs/latest", "/etc/passwd"),
            ("docs/latest", "../../outside"),
            ("l", ".."),
            ("a/l", "../.git/config"),
            ("l", "~/x"),
        ] {
            let r = check_patch_paths(&link_patch(link, target)).expect_err(target);
            assert_eq!(r.path, link, "the refusal names the link, not the first file");
            assert_eq!(r.reason, RefusalReason::SymlinkOutside { target: target.into() });
            assert!(r.to_string().contains(link), "{r}");
        }
    }

    #[test]
    fn a_link_without_a_readable_target_is_refused_and_a_deleted_link_is_not() {
        let p = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n\
                 diff --git a/l b/l\nnew file mode 120000\nindex 0000000..1234567\nBinary files /dev/null and b/l differ\n";
        let r = check_patch_paths(p).expect_err("unreadable");
        assert_eq!((r.path.as_str(), r.reason), ("l", RefusalReason::SymlinkUnreadable));
        let del = "diff --git a/l b/l\ndeleted file mode 120000\nindex 1234567..0000000\n--- a/l\n+++ /dev/null\n@@ -1 +0,0 @@\n-/etc\n\\ No newline at end of file\n";
        assert_eq!(check_patch_paths(del), Ok(()));
        // A link changed to point outside (mode line on `index`).
        let changed = "diff --git a/l b/l\nindex 1234567..89abcde 120000\n--- a/l\n+++ b/l\n@@ -1 +1 @@\n-v1\n\\ No newline at end of file\n+/etc\n\\ No newline at end of file\n";
        let r = check_patch_paths(changed).expect_err("changed");
        assert_eq!(r.path, "l");
    }

    #[test]
    fn files_are_split_at_each_header() {
        let plain = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-c\n+d\n";
        let files = patch_files(plain);
        assert_eq!(files.len(), 2);
        assert_eq!((files[0].path.as_str(), files[1].path.as_str()), ("x", "y"));
        assert_eq!(files[1].added.as_deref(), Some("d"));
    }

    #[test]
    fn git_header_names_read_quoted_spaced_and_ambiguous_names() {
        let names = git_header_names;
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(names("a/x.py b/x.py"), pair("x.py", "x.py"));
        assert_eq!(names("a/old.py b/new.py"), pair("old.py", "new.py"));
        assert_eq!(names("a/my file.py b/my file.py"), pair("my file.py", "my file.py"));
        // Where several ` b/` splits exist, the one whose names agree wins (git's rule).
        assert_eq!(names("a/x b/y b/x b/y"), pair("x b/y", "x b/y"));
        assert_eq!(names("a/b/c b/b/c"), pair("b/c", "b/c"));
        assert_eq!(
            names("\"a/with space.py\" \"b/with space.py\""),
            pair("with space.py", "with space.py")
        );
        assert_eq!(names("\"a/t\\tx\" b/u"), pair("t\tx", "u"));
        assert_eq!(names("a/x \"b/\\303\\251\""), pair("x", "\u{e9}"));
        for bad in [
            "a/x c/y",
            "x y",
            "a/x",
            "a/ b/",
            "\"a/x b/x",
            "\"a/x\" \"b/y\" z",
            "a/x \"b/y",
        ] {
            assert_eq!(names(bad), None, "{bad}");
        }
    }

    #[test]
    fn unquote_follows_git_c_style_quoting() {
        assert_eq!(unquote("plain name"), "plain name");
        assert_eq!(unquote("\"a\\tb\\nc\\\"d\\\\e\""), "a\tb\nc\"d\\e");
        assert_eq!(unquote("\"\\a\\b\\f\\r\\v\""), "\u{7}\u{8}\u{c}\r\u{b}");
        assert_eq!(unquote("\"caf\\303\\251\""), "caf\u{e9}");
        // An unknown escape keeps its backslash.
        assert_eq!(unquote("\"a\\qb\""), "a\\qb");
    }

    #[test]
    fn paths_and_files_come_from_one_reading() {
        let p = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n--- a/not-a-header\n+++ b/nor-this\n\
                 diff --git a/old b/new\nsimilarity index 90%\nrename from old\nrename to new\n\
                 diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+target\n";
        let (paths, symlink) = patch_paths(p);
        assert_eq!(paths, ["x", "x", "x", "x", "old", "new", "old", "new", "l", "l", "l"]);
        assert!(symlink);
        let files = patch_files(p);
        let flat: Vec<String> = files.iter().flat_map(|f| f.paths.clone()).collect();
        assert_eq!(flat, paths);
        assert_eq!(
            files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["x", "new", "l"]
        );
        assert_eq!(files[2].added.as_deref(), Some("target"));
        assert!(files[2].symlink && !files[0].symlink);
        // A malformed header starts a file with no paths and is what the check names.
        let bad = "diff --git a/x c/y\n--- a/x\n+++ b/x\n";
        assert_eq!(patch_files(bad)[0].paths, ["x", "x"]);
        assert_eq!(
            check_patch_paths(bad).expect_err("malformed").path,
            "diff --git a/x c/y"
        );
    }
}
