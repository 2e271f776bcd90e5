//! SWE-RL's `calculate_reward_unidiff` and the `unidiff` 0.7.5 parser it relies on.
//!
//! The parser reproduces `unidiff.PatchSet(text)` of unidiff 0.7.5 for what the reward reads
//! (files, their source/target names, binary flags and `str(hunk)`), quirks included: lines
//! come from `io.StringIO` (split on `\n` only, so `\r` stays in names and lines); hunk headers
//! are re-rendered as `@@ -a,b +c,d @@[ section]`; a blank line before the first hunk is an
//! error; `c/`/`w/` prefixes are kept; `is_rename` compares `source[2:]` with `target[2:]`.
//! Anything upstream catches as a parse failure (`UnidiffParseError`, and the
//! `UnboundLocalError`/`AttributeError`/`ValueError` it also catches) makes the whole patch
//! text contribute nothing.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::py::{PyInt, SPACE_CLASS, decimal_class, strip};
use crate::similarity::{Score, compare_patches};

const DEV_NULL: &str = "/dev/null";
const NO_NEWLINE_MARKER: &str = "\\ No newline at end of file";

struct Patterns {
    git_header: Regex,
    git_header_uri: Regex,
    git_header_no_prefix: Regex,
    new_file: Regex,
    deleted_file: Regex,
    hunk_header: Regex,
    binary: Regex,
}

/// unidiff 0.7.5's `constants.py` regexes, with `\d` and `\s` spelled as CPython's classes and
/// `$` as "end, or before a final newline".
static RE: LazyLock<Patterns> = LazyLock::new(|| {
    let d = decimal_class();
    let s = SPACE_CLASS;
    let re = |p: &str| Regex::new(p).expect("static regex");
    Patterns {
        git_header: re(r"^diff --git (a/[^\t\n]+) (b/[^\t\n]+)"),
        git_header_uri: re(r"^diff --git (.*://[^\t\n]+) (.*://[^\t\n]+)"),
        git_header_no_prefix: re(r"^diff --git ([^\t\n]+) ([^\t\n]+)"),
        new_file: re(&format!(r"^new file mode {d}+\n?$")),
        deleted_file: re(&format!(r"^deleted file mode {d}+\n?$")),
        hunk_header: re(&format!(r"^@@ -({d}+)(?:,({d}+))? \+({d}+)(?:,({d}+))? @@[ ]?(.*)")),
        binary: re(&format!(
            r"^Binary files? (?:[^\t]+?)(?:\t(?:[{s}0-9:\+-]+))?(?: and (?:[^\t]+?)(?:\t(?:[{s}0-9:\+-]+))?)? (?:differ|has changed)",
            s = &s[1..s.len() - 1]
        )),
    }
});

/// Why unidiff (or upstream's use of it) gives up on a patch text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A `UnidiffParseError`, with unidiff's message.
    #[error("{0}")]
    Unidiff(&'static str),
    /// `+++` before any `---` (an `UnboundLocalError` inside unidiff).
    #[error("target file header without a source file header")]
    TargetBeforeSource,
    /// `GIT binary patch` outside a file (an `AttributeError` inside unidiff).
    #[error("binary patch outside a file")]
    BinaryOutsideFile,
    /// A hunk header number `int()` refuses (over 4300 digits: a `ValueError`).
    #[error("hunk header number too long")]
    NumberTooLong,
}

/// One file of a parsed patch, as far as the reward reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchedFile {
    pub source_file: String,
    /// `None` only for a `Binary files ...` line without a target.
    pub target_file: Option<String>,
    pub is_binary_file: bool,
    /// `str(hunk)` of every hunk.
    pub hunks: Vec<String>,
}

impl PatchedFile {
    fn new(source: String, target: Option<String>) -> Self {
        PatchedFile {
            source_file: source,
            target_file: target,
            is_binary_file: false,
            hunks: Vec::new(),
        }
    }

    /// unidiff's `is_rename` (note: the first two characters of both names are ignored).
    pub fn is_rename(&self) -> bool {
        let target = self.target_file.as_deref().unwrap_or_default();
        self.source_file != DEV_NULL && target != DEV_NULL && skip_chars(&self.source_file, 2) != skip_chars(target, 2)
    }

    /// unidiff's `path`.
    pub fn path(&self) -> &str {
        let target = self.target_file.as_deref();
        let path = if self.source_file == DEV_NULL || (self.is_rename() && target.is_some_and(|t| t != DEV_NULL)) {
            target.unwrap_or_default()
        } else {
            &self.source_file
        };
        path.strip_prefix("a/")
            .or_else(|| path.strip_prefix("b/"))
            .unwrap_or(path)
    }
}

/// Python `s[n:]` on code points.
fn skip_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or("", |(i, _)| &s[i..])
}

/// `unidiff.PatchSet(text)` of unidiff 0.7.5.
pub fn parse_patch_set(text: &str) -> Result<Vec<PatchedFile>, ParseError> {
    let re = &*RE;
    let mut files: Vec<PatchedFile> = Vec::new();
    let mut current: Option<usize> = None;
    let mut patch_info = false;
    // The parser's local `source_file` (None: never assigned) and whether `source_timestamp`
    // was ever assigned; `+++` without a file reads both.
    let mut source_file: Option<String> = None;
    let mut source_timestamp_bound = false;
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        if line.starts_with("diff --git ") {
            let caps = re
                .git_header
                .captures(line)
                .or_else(|| re.git_header_uri.captures(line))
                .or_else(|| re.git_header_no_prefix.captures(line));
            if let Some(caps) = caps {
                let (source, target) = (caps[1].to_owned(), caps[2].to_owned());
                patch_info = true;
                source_file = Some(source.clone());
                files.push(PatchedFile::new(source, Some(target)));
                current = Some(files.len() - 1);
                continue;
            }
        }
        if re.new_file.is_match(line) {
            match (current, patch_info) {
                (Some(cur), true) => files[cur].source_file = DEV_NULL.to_owned(),
                _ => return Err(ParseError::Unidiff("Unexpected new file found")),
            }
            continue;
        }
        if re.deleted_file.is_match(line) {
            match (current, patch_info) {
                (Some(cur), true) => files[cur].target_file = Some(DEV_NULL.to_owned()),
                _ => return Err(ParseError::Unidiff("Unexpected deleted file found")),
            }
            continue;
        }
        if let Some(name) = file_header(line, "--- ") {
            source_timestamp_bound = true;
            if let Some(cur) = current
                && files[cur].source_file != name
            {
                current = None;
            }
            source_file = Some(name.to_owned());
            continue;
        }
        if let Some(name) = file_header(line, "+++ ") {
            match current {
                Some(cur) => {
                    if files[cur].target_file.as_deref() != Some(name) {
                        return Err(ParseError::Unidiff("Target without source"));
                    }
                }
                None => {
                    let Some(source) = source_file.clone().filter(|_| source_timestamp_bound) else {
                        return Err(ParseError::TargetBeforeSource);
                    };
                    files.push(PatchedFile::new(source, Some(name.to_owned())));
                    current = Some(files.len() - 1);
                    patch_info = false;
                }
            }
            continue;
        }
        if let Some(caps) = re.hunk_header.captures(line) {
            patch_info = false;
            let Some(cur) = current else {
                return Err(ParseError::Unidiff("Unexpected hunk found"));
            };
            let hunk = parse_hunk(&caps, &mut lines)?;
            files[cur].hunks.push(hunk);
            continue;
        }
        if line.starts_with(NO_NEWLINE_MARKER) {
            let hunk = current.and_then(|cur| files[cur].hunks.last_mut());
            let Some(hunk) = hunk else {
                return Err(ParseError::Unidiff("Unexpected marker"));
            };
            hunk.push_str(NO_NEWLINE_MARKER);
            hunk.push('\n');
            continue;
        }
        if line == "\n"
            && let Some(cur) = current
        {
            let Some(hunk) = files[cur].hunks.last_mut() else {
                return Err(ParseError::Unidiff("Unexpected trailing newline character"));
            };
            hunk.push('\n');
            continue;
        }
        // Anything else is patch info; it ends the current file unless info is being collected.
        if !patch_info {
            current = None;
            patch_info = true;
        }
        if re.binary.is_match(line) {
            // unidiff assigns its `source_file` from the line in both cases.
            source_file = Some(binary_source(line));
            match current {
                Some(cur) => files[cur].is_binary_file = true,
                None => files.push(PatchedFile {
                    is_binary_file: true,
                    ..PatchedFile::new(String::new(), None)
                }),
            }
            patch_info = false;
            current = None;
            continue;
        }
        if line == "GIT binary patch\n" {
            let Some(cur) = current else {
                return Err(ParseError::BinaryOutsideFile);
            };
            files[cur].is_binary_file = true;
            patch_info = false;
            current = None;
        }
    }
    Ok(files)
}

/// `^--- (?P<filename>[^\t\n]+)` (and the same for `+++ `): the file name, if the line is one.
fn file_header<'l>(line: &'l str, prefix: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(prefix)?;
    let end = rest.find(['\t', '\n']).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The `source_filename` group of unidiff's binary regex (lazy up to the first place the
/// rest matches). Only used to keep the parser's `source_file` variable faithful.
fn binary_source(line: &str) -> String {
    static SRC: LazyLock<Regex> = LazyLock::new(|| {
        let s = &SPACE_CLASS[1..SPACE_CLASS.len() - 1];
        Regex::new(&format!(
            r"^Binary files? ([^\t]+?)(?:\t(?:[{s}0-9:\+-]+))?(?: and (?:[^\t]+?)(?:\t(?:[{s}0-9:\+-]+))?)? (?:differ|has changed)"
        ))
        .expect("static regex")
    });
    SRC.captures(line)
        .and_then(|c| c.get(1))
        .map_or_else(String::new, |m| m.as_str().to_owned())
}

/// `PatchedFile._parse_hunk`: read the hunk's lines from `lines` and return `str(hunk)`.
fn parse_hunk<'t>(caps: &regex::Captures<'_>, lines: &mut impl Iterator<Item = &'t str>) -> Result<String, ParseError> {
    let number = |i: usize| -> Result<PyInt, ParseError> {
        match caps.get(i) {
            None => Ok(PyInt::from_u64(1)),
            Some(m) => PyInt::parse(m.as_str()).ok_or(ParseError::NumberTooLong),
        }
    };
    let (src_start, src_len, tgt_start, tgt_len) = (number(1)?, number(2)?, number(3)?, number(4)?);
    let section = caps.get(5).map_or("", |m| m.as_str());
    let mut out = format!(
        "@@ -{},{} +{},{} @@",
        src_start.text, src_len.text, tgt_start.text, tgt_len.text
    );
    if !section.is_empty() {
        out.push(' ');
        out.push_str(section);
    }
    out.push('\n');
    let (mut src, mut tgt) = (0u64, 0u64);
    for line in lines.by_ref() {
        let first = line.as_bytes()[0];
        match first {
            b'+' => tgt += 1,
            b'-' => src += 1,
            b' ' => {
                src += 1;
                tgt += 1;
            }
            b'\\' => {}
            b'\r' | b'\n' => {
                // RE_HUNK_EMPTY_BODY_LINE: a context line whose value is the leading one or
                // two `\r`/`\n` characters (anything after them is dropped).
                src += 1;
                tgt += 1;
            }
            _ => return Err(ParseError::Unidiff("Hunk diff line expected")),
        }
        if src > src_len.value || tgt > tgt_len.value {
            return Err(ParseError::Unidiff("Hunk is longer than expected"));
        }
        if first == b'\r' || first == b'\n' {
            let n = line.bytes().take(2).take_while(|b| matches!(b, b'\r' | b'\n')).count();
            out.push(' ');
            out.push_str(&line[..n]);
        } else {
            out.push_str(line);
        }
        if src == src_len.value && tgt == tgt_len.value {
            break;
        }
    }
    if src < src_len.value || tgt < tgt_len.value {
        return Err(ParseError::Unidiff("Hunk is shorter than expected"));
    }
    Ok(out)
}

/// `get_filelevel_diff(patch_text)`: path → the file's hunks (each `str(hunk).strip()`) joined
/// by newlines, with a `rename from A to B` header for renames; binary files are left out,
/// and an unparsable text gives nothing.
pub fn filelevel_diff(patch_text: &str) -> Vec<(String, String)> {
    let Ok(files) = parse_patch_set(patch_text) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(files.len());
    for file in &files {
        if file.is_binary_file {
            continue;
        }
        let (header, path) = if file.is_rename() {
            let source = file.source_file.strip_prefix("a/").unwrap_or(&file.source_file);
            let target = file.target_file.as_deref().unwrap_or_default();
            let target = target.strip_prefix("b/").unwrap_or(target);
            (format!("rename from {source} to {target}"), source.to_owned())
        } else {
            (String::new(), file.path().to_owned())
        };
        let mut content = header;
        content.push('\n');
        for (i, hunk) in file.hunks.iter().enumerate() {
            if i > 0 {
                content.push('\n');
            }
            content.push_str(strip(hunk));
        }
        out.push((path, strip(&content).to_owned()));
    }
    out
}

/// `calculate_reward_unidiff(oracle_patches, pred_patches)`: later patches override earlier
/// ones for the same path (upstream's `dict.update`), then the per-file comparison.
pub fn unidiff_reward<O: AsRef<str>, P: AsRef<str>>(oracle_patches: &[O], pred_patches: &[P]) -> Score {
    let collect = |patches: &mut dyn Iterator<Item = &str>| {
        let mut map = BTreeMap::new();
        for text in patches {
            map.extend(filelevel_diff(text));
        }
        map
    };
    let oracle = collect(&mut oracle_patches.iter().map(AsRef::as_ref));
    let pred = collect(&mut pred_patches.iter().map(AsRef::as_ref));
    compare_patches(&pred, &oracle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIT: &str =
        "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@ def f():\n a\n-b\n+c\n";

    #[test]
    fn plain_git_patch() {
        let files = parse_patch_set(GIT).map_err(|e| e.to_string());
        let files = files.as_deref().unwrap_or_default();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path(), "x.py");
        assert_eq!(
            files[0].hunks,
            vec!["@@ -1,2 +1,2 @@ def f():\n a\n-b\n+c\n".to_string()]
        );
        assert_eq!(unidiff_reward(&[GIT], &[GIT]).reward, 1.0);
    }

    #[test]
    fn quirks() {
        // A blank line between the file header and the first hunk fails the whole patch.
        let blank = GIT.replace("+++ b/x.py\n", "+++ b/x.py\n\n");
        assert!(parse_patch_set(&blank).is_err());
        // `+++` first: an UnboundLocalError upstream.
        assert_eq!(
            parse_patch_set("+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"),
            Err(ParseError::TargetBeforeSource)
        );
        // Header numbers re-rendered with explicit lengths.
        let short = "--- a/x\n+++ b/x\n@@ -01 +1 @@\n-a\n+b\n";
        assert_eq!(
            filelevel_diff(short),
            vec![("x".to_string(), "@@ -1,1 +1,1 @@\n-a\n+b".to_string())]
        );
        // Only the target differs in its first two characters: a rename.
        let ren = "--- a/x\n+++ c/y\n@@ -1 +1 @@\n-a\n+b\n";
        assert_eq!(
            filelevel_diff(ren)[0],
            (
                "x".to_string(),
                "rename from x to c/y\n@@ -1,1 +1,1 @@\n-a\n+b".to_string()
            )
        );
    }
}
