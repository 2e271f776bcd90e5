//! SEARCH/REPLACE edits exactly as Agentless Mini's repair reads and applies them
//! (`extract_python_blocks`, `split_edit_multifile_commands`, `parse_diff_edit_commands` in
//! swe-rl's `agentless_mini/utils/data.py`, as swe-rl's Agentless Mini parses them):
//!
//! - only fenced blocks opened with exactly `` ```python\n `` and closed by `\n``` ` count;
//! - inside a block, the text is split on `>>>>>>> REPLACE` (the piece after the last marker
//!   is ignored); each piece is trimmed; the file name is what precedes `<<<<<<< SEARCH` with
//!   leading `#` and whitespace removed, and a piece without one inherits the last name seen
//!   in the same block; a piece must hold exactly one `<<<<<<< SEARCH`;
//! - identical edits to the same file count once; files keep the order of first appearance;
//! - an edit is the lines between the marker lines (CPython `splitlines`, so the text on the
//!   SEARCH marker's line and the REPLACE marker line are dropped) split on `\n=======\n`,
//!   which must give exactly two parts — so an empty SEARCH or an empty REPLACE (a pure
//!   deletion) is not an edit, as upstream;
//! - the edits whose SEARCH text occurs in the **original** file are applied in order with
//!   `str.replace` semantics (every occurrence); the others are dropped silently.

use std::sync::LazyLock;

use regex::Regex;

use super::python::splitlines;

const SEARCH: &str = "<<<<<<< SEARCH";
const REPLACE: &str = ">>>>>>> REPLACE";
const DIVIDER: &str = "\n=======\n";

static PYTHON_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)```python\n(.*?)\n```").expect("static regex"));

/// The contents of every `` ```python `` block, in order.
pub fn extract_python_blocks(text: &str) -> Vec<&str> {
    PYTHON_BLOCK
        .captures_iter(text)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect()
}

/// Edit commands per file, in order of first appearance. A command is the normalized text
/// `<<<<<<< SEARCH…\n>>>>>>> REPLACE` as upstream builds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCommands {
    pub files: Vec<(String, Vec<String>)>,
}

impl FileCommands {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// `split_edit_multifile_commands`: group the edit commands of `blocks` by file.
pub fn split_edit_commands(blocks: &[&str]) -> FileCommands {
    let mut out = FileCommands::default();
    for block in blocks {
        let mut file_name: Option<String> = None;
        let pieces: Vec<&str> = block.split(REPLACE).collect();
        for piece in &pieces[..pieces.len().saturating_sub(1)] {
            let piece = py_strip(piece);
            if let Some((before, _)) = piece.split_once(SEARCH) {
                let name = py_strip(before.trim_start_matches('#'));
                if !name.is_empty() {
                    file_name = Some(name.to_owned());
                }
            }
            let parts: Vec<&str> = piece.split(SEARCH).collect();
            if parts.len() != 2 {
                continue;
            }
            let command = format!("{SEARCH}{}\n{REPLACE}", parts[1]);
            let Some(name) = &file_name else { continue };
            match out.files.iter_mut().find(|(f, _)| f == name) {
                Some((_, cmds)) => {
                    if !cmds.contains(&command) {
                        cmds.push(command);
                    }
                }
                None => out.files.push((name.clone(), vec![command])),
            }
        }
    }
    out
}

/// Python's `str.strip()` with no argument (Unicode whitespace).
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}'))
}

/// One SEARCH/REPLACE pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchReplace {
    pub search: String,
    pub replace: String,
}

/// The SEARCH/REPLACE pair of a command, or None when it is not one (no divider, or more
/// than one, or an empty side — see the module docs).
pub fn parse_command(command: &str) -> Option<SearchReplace> {
    let lines = splitlines(command);
    if lines.len() < 2 {
        return None;
    }
    let body = lines[1..lines.len() - 1].join("\n");
    let parts: Vec<&str> = body.split(DIVIDER).collect();
    if parts.len() != 2 {
        return None;
    }
    Some(SearchReplace {
        search: parts[0].to_owned(),
        replace: parts[1].to_owned(),
    })
}

/// What applying a file's commands did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub content: String,
    /// Commands that were edits at all.
    pub parsed: usize,
    /// Edits whose SEARCH text was found in the original content (and were applied).
    pub matched: usize,
}

/// `parse_diff_edit_commands`: apply the commands whose SEARCH text occurs in `content`.
pub fn apply_commands(commands: &[String], content: &str) -> Applied {
    let edits: Vec<SearchReplace> = commands.iter().filter_map(|c| parse_command(c)).collect();
    let parsed = edits.len();
    let applicable: Vec<&SearchReplace> = edits.iter().filter(|e| content.contains(e.search.as_str())).collect();
    let matched = applicable.len();
    let mut out = content.to_owned();
    for e in applicable {
        if out.contains(e.search.as_str()) {
            out = out.replace(e.search.as_str(), &e.replace);
        }
    }
    Applied {
        content: out,
        parsed,
        matched,
    }
}

/// The answer part of a completion (`parse_thinking_output`): with `thinking`, the text
/// between the answer tags (or everything after the start tag, or the whole text when the
/// tags are missing); always stripped.
pub fn answer_text<'a>(raw: &'a str, thinking: bool, start_tag: &str, end_tag: &str) -> &'a str {
    if !thinking {
        return py_strip(raw);
    }
    let after = raw.split_once(start_tag).map_or(raw, |(_, a)| a);
    let inside = after.split_once(end_tag).map_or(after, |(i, _)| i);
    py_strip(inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(text: &str) -> FileCommands {
        split_edit_commands(&extract_python_blocks(text))
    }

    #[test]
    fn one_edit_per_block() {
        let out = "x\n```python\n### a/b.py\n<<<<<<< SEARCH\nfoo()\n=======\nbar()\n>>>>>>> REPLACE\n```\n";
        let fc = edits(out);
        assert_eq!(fc.files.len(), 1);
        assert_eq!(fc.files[0].0, "a/b.py");
        let applied = apply_commands(&fc.files[0].1, "x = 1\nfoo()\nfoo()\n");
        assert_eq!(applied.content, "x = 1\nbar()\nbar()\n", "every occurrence is replaced");
        assert_eq!((applied.parsed, applied.matched), (1, 1));
    }

    #[test]
    fn several_edits_per_block_inherit_the_file_name() {
        let out = "```python\n### m.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```";
        let fc = edits(out);
        assert_eq!(fc.files.len(), 1);
        assert_eq!(fc.files[0].1.len(), 2);
        assert_eq!(apply_commands(&fc.files[0].1, "a\nc\n").content, "b\nd\n");
    }

    #[test]
    fn only_python_fences_count() {
        assert!(edits("```\n### m.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```").is_empty());
        assert!(edits("```py\n### m.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```").is_empty());
        // Unclosed fence.
        assert!(edits("```python\n### m.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n").is_empty());
    }

    #[test]
    fn duplicate_edits_count_once_and_files_keep_order() {
        let block = "```python\n### m.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n";
        let other = "```python\n# n.py\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```\n";
        let fc = edits(&format!("{block}{other}{block}"));
        assert_eq!(
            fc.files.iter().map(|(f, c)| (f.as_str(), c.len())).collect::<Vec<_>>(),
            [("m.py", 1), ("n.py", 1)]
        );
    }

    #[test]
    fn empty_sides_and_extra_dividers_are_not_edits() {
        // Deletion (empty REPLACE): the stripped piece loses the divider's newline.
        assert_eq!(parse_command("<<<<<<< SEARCH\na\n=======\n>>>>>>> REPLACE"), None);
        let fc = edits("```python\n### m.py\n<<<<<<< SEARCH\na\n=======\n>>>>>>> REPLACE\n```");
        assert_eq!(apply_commands(&fc.files[0].1, "a\n").parsed, 0);
        // Empty SEARCH.
        assert_eq!(parse_command("<<<<<<< SEARCH\n=======\nb\n>>>>>>> REPLACE"), None);
        // Two dividers.
        assert_eq!(
            parse_command("<<<<<<< SEARCH\na\n=======\nb\n=======\nc\n>>>>>>> REPLACE"),
            None
        );
        // No divider (the malformed demo sample).
        assert_eq!(parse_command("<<<<<<< SEARCH\na\nb\n>>>>>>> REPLACE"), None);
    }

    #[test]
    fn text_after_the_search_marker_is_dropped_and_replace_is_trimmed() {
        let fc = edits("```python\n### m.py\n<<<<<<< SEARCH extra\na\n=======\nb\n\n\n>>>>>>> REPLACE\n```");
        let e = parse_command(&fc.files[0].1[0]).unwrap();
        assert_eq!(
            e,
            SearchReplace {
                search: "a".into(),
                replace: "b".into()
            }
        );
    }

    #[test]
    fn unmatched_search_is_dropped_silently_and_matching_is_against_the_original() {
        let cmds = vec![
            "<<<<<<< SEARCH\nzzz\n=======\nyyy\n>>>>>>> REPLACE".to_owned(),
            "<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE".to_owned(),
            // Matches only after the previous edit: not applied (not in the original).
            "<<<<<<< SEARCH\nb2\n=======\nc\n>>>>>>> REPLACE".to_owned(),
        ];
        let applied = apply_commands(&cmds, "a2\n");
        assert_eq!(applied.content, "b2\n");
        assert_eq!((applied.parsed, applied.matched), (3, 1));
    }

    #[test]
    fn exotic_line_breaks_follow_splitlines() {
        // A form feed inside the edit is a line break for splitlines: the divider line
        // becomes its own line and the edit still parses.
        let e = parse_command("<<<<<<< SEARCH\na\u{0c}x\n=======\nb\n>>>>>>> REPLACE").unwrap();
        assert_eq!(e.search, "a\nx");
        // CRLF edits match LF content.
        let e = parse_command("<<<<<<< SEARCH\r\na\r\n=======\r\nb\r\n>>>>>>> REPLACE").unwrap();
        assert_eq!(
            e,
            SearchReplace {
                search: "a".into(),
                replace: "b".into()
            }
        );
    }

    #[test]
    fn answer_extraction() {
        assert_eq!(answer_text("  x \n", false, "<solution>", "</solution>"), "x");
        assert_eq!(
            answer_text(
                "<think>t</think><solution> y </solution>",
                true,
                "<solution>",
                "</solution>"
            ),
            "y"
        );
        assert_eq!(answer_text("no tags", true, "<solution>", "</solution>"), "no tags");
    }
}
