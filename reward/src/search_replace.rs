//! SWE-RL's `calculate_search_replace_reward` and `calculate_reward`: find the answer in the
//! model output, parse its SEARCH/REPLACE edits (one per fenced block, upstream's regex),
//! apply them the way upstream does (replace-all, anchored at a line start by a leading
//! newline), turn old and new contents into normalized unified diffs, and compare those.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::LazyLock;

use regex::Regex;

use crate::difflib::unified_diff_body;
use crate::py::{splitlines, strip};
use crate::similarity::{Score, compare_patches};

pub const THINK_START: &str = "<think>";
pub const THINK_END: &str = "</think>";
pub const ANSWER_START: &str = "<solution>";
pub const ANSWER_END: &str = "</solution>";

/// Upstream's `SEARCH_REPLACE_REGEX`, unchanged (`.` stops at `\n`, `[\s\S]` takes anything).
pub const SEARCH_REPLACE_REGEX: &str =
    r"```.*?\n### (.*)\n<<<<<<< SEARCH\n([\s\S]*?)\n=======\n([\s\S]*?)\n>>>>>>> REPLACE\n```";

static EDIT_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(SEARCH_REPLACE_REGEX).expect("static regex"));

/// Why an output is malformed; its reward is [`FormatError::REWARD`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// One of the four tags does not occur exactly once.
    #[error("count of {tag} is {count}, not 1")]
    TagCount { tag: &'static str, count: usize },
    /// The text between `<think>` and `</think>` is blank.
    #[error("thought is empty")]
    EmptyThought,
    /// No fenced SEARCH/REPLACE block in the answer.
    #[error("no valid search/replace blocks found")]
    NoEdits,
    /// An edit whose SEARCH and REPLACE texts are identical.
    #[error("search and replace blocks are identical (in {path})")]
    SearchEqualsReplace { path: String },
    /// A SEARCH text (with its leading newline) that is not in the file.
    #[error("search block not found in {path}: {}", first_line(search))]
    SearchNotFound { path: String, search: String },
}

impl FormatError {
    /// The reward of a malformed output.
    pub const REWARD: f64 = -1.0;

    /// A stable snake_case name of the variant (for machine-readable output).
    pub fn kind(&self) -> &'static str {
        match self {
            FormatError::TagCount { .. } => "tag_count",
            FormatError::EmptyThought => "empty_thought",
            FormatError::NoEdits => "no_edits",
            FormatError::SearchEqualsReplace { .. } => "search_equals_replace",
            FormatError::SearchNotFound { .. } => "search_not_found",
        }
    }
}

fn first_line(s: &str) -> String {
    let line = s.trim_start_matches('\n').lines().next().unwrap_or("");
    let mut short: String = line.chars().take(80).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// File contents by path, as the reward functions read them (Python `dict[str, str]`).
pub trait Files {
    /// The content of `path`, if present.
    fn file(&self, path: &str) -> Option<&str>;
    /// Every `(path, content)`.
    fn entries(&self) -> impl Iterator<Item = (&str, &str)>;
}

impl Files for BTreeMap<String, String> {
    fn file(&self, path: &str) -> Option<&str> {
        self.get(path).map(String::as_str)
    }
    fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<S: BuildHasher> Files for HashMap<String, String, S> {
    fn file(&self, path: &str) -> Option<&str> {
        self.get(path).map(String::as_str)
    }
    fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// One parsed edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub search: String,
    pub replace: String,
}

/// `extract_thought_solution`: the stripped thought and answer.
pub fn extract_thought_solution(output: &str) -> Result<(&str, &str), FormatError> {
    for tag in [THINK_START, THINK_END, ANSWER_START, ANSWER_END] {
        let count = output.matches(tag).count();
        if count != 1 {
            return Err(FormatError::TagCount { tag, count });
        }
    }
    let between = |start: &str, end: &str| {
        let after = output.split_once(start).map_or("", |(_, rest)| rest);
        strip(after.split_once(end).map_or(after, |(inside, _)| inside))
    };
    let thought = between(THINK_START, THINK_END);
    let answer = between(ANSWER_START, ANSWER_END);
    if thought.is_empty() {
        return Err(FormatError::EmptyThought);
    }
    Ok((thought, answer))
}

/// `parse_search_replace`: edits grouped by path, paths in order of first appearance.
pub fn parse_search_replace(answer: &str) -> Vec<(String, Vec<Edit>)> {
    let mut out: Vec<(String, Vec<Edit>)> = Vec::new();
    for caps in EDIT_RE.captures_iter(answer) {
        let group = |i| caps.get(i).map_or("", |m| m.as_str());
        let edit = Edit {
            search: group(2).to_owned(),
            replace: group(3).to_owned(),
        };
        match out.iter_mut().find(|(p, _)| p == group(1)) {
            Some((_, edits)) => edits.push(edit),
            None => out.push((group(1).to_owned(), vec![edit])),
        }
    }
    out
}

/// `apply_code_change`: the new content of every edited file.
pub fn apply_code_change(
    code_context: &impl Files,
    edits: &[(String, Vec<Edit>)],
) -> Result<BTreeMap<String, String>, FormatError> {
    let mut out = BTreeMap::new();
    for (path, file_edits) in edits {
        let mut content = format!("\n{}", code_context.file(path).unwrap_or(""));
        for edit in file_edits {
            if edit.search == edit.replace {
                return Err(FormatError::SearchEqualsReplace { path: path.clone() });
            }
            let search = format!("\n{}", edit.search);
            if !content.contains(&search) {
                return Err(FormatError::SearchNotFound {
                    path: path.clone(),
                    search,
                });
            }
            content = content.replace(&search, &format!("\n{}", edit.replace));
        }
        // The content still starts with the "\n" added above: every replacement starts with one.
        content.remove(0);
        out.insert(path.clone(), content);
    }
    Ok(out)
}

/// `generate_unified_diff(old, new)`: `difflib.unified_diff` of the two `splitlines()` with
/// three lines of context, without the `---`/`+++` lines, joined by newlines.
pub fn generate_unified_diff(old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    unified_diff_body(&splitlines(old), &splitlines(new), 3)
}

/// `get_normalized_patch`: the non-empty normalized diff of every file of `new_content`
/// against `code_context` (a missing file is empty).
pub fn normalized_patch<'a>(
    code_context: &impl Files,
    new_content: impl Iterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, new) in new_content {
        let diff = generate_unified_diff(code_context.file(path).unwrap_or(""), new);
        if !diff.is_empty() {
            out.insert(path.to_owned(), diff);
        }
    }
    out
}

/// `calculate_reward(code_context, oracle_new_content, pred_new_content)`: the reward of new
/// file contents, in `[0, 1]`.
pub fn calculate_reward(
    code_context: &impl Files,
    oracle_new_content: &impl Files,
    pred_new_content: &impl Files,
) -> Score {
    let oracle = normalized_patch(code_context, oracle_new_content.entries());
    let pred = normalized_patch(code_context, pred_new_content.entries());
    compare_patches(&pred, &oracle)
}

/// `calculate_search_replace_reward(code_context, oracle_new_content, output)`: the SWE-RL
/// reward of a model output with `<think>`/`<solution>` and SEARCH/REPLACE edits.
pub fn search_replace_reward(
    code_context: &impl Files,
    oracle_new_content: &impl Files,
    output: &str,
) -> Result<Score, FormatError> {
    let (_thought, answer) = extract_thought_solution(output)?;
    let edits = parse_search_replace(answer);
    if edits.is_empty() {
        return Err(FormatError::NoEdits);
    }
    let pred_new_content = apply_code_change(code_context, &edits)?;
    Ok(calculate_reward(code_context, oracle_new_content, &pred_new_content))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn several_edits_in_one_block_garble_the_replace_text() {
        let answer = "```python\n### a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nz\n=======\nw\n>>>>>>> REPLACE\n```";
        let edits = parse_search_replace(answer);
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].1[0].search, "x");
        assert_eq!(
            edits[0].1[0].replace,
            "y\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nz\n=======\nw"
        );
    }

    #[test]
    fn empty_search_needs_a_line() {
        let answer = "```\n### a.py\n<<<<<<< SEARCH\n=======\nnew\n>>>>>>> REPLACE\n```";
        assert!(parse_search_replace(answer).is_empty());
        let answer = "```\n### a.py\n<<<<<<< SEARCH\n\n=======\nnew\n>>>>>>> REPLACE\n```";
        assert_eq!(parse_search_replace(answer)[0].1[0].search, "");
    }

    #[test]
    fn format_errors() {
        let ctx = files(&[("a.py", "x = 1\n")]);
        let oracle = files(&[("a.py", "x = 2\n")]);
        let r = search_replace_reward(&ctx, &oracle, "<think>t</think>");
        assert_eq!(
            r,
            Err(FormatError::TagCount {
                tag: ANSWER_START,
                count: 0
            })
        );
        let r = search_replace_reward(&ctx, &oracle, "<think> \x1c </think><solution></solution>");
        assert_eq!(r, Err(FormatError::EmptyThought));
        let block = |s: &str, r: &str| {
            format!(
                "<think>t</think><solution>```\n### a.py\n<<<<<<< SEARCH\n{s}\n=======\n{r}\n>>>>>>> REPLACE\n```</solution>"
            )
        };
        assert_eq!(
            search_replace_reward(&ctx, &oracle, &block("x = 1", "x = 1")).map(|s| s.reward),
            Err(FormatError::SearchEqualsReplace { path: "a.py".into() })
        );
        assert!(matches!(
            search_replace_reward(&ctx, &oracle, &block("= 1", "= 2")),
            Err(FormatError::SearchNotFound { .. })
        ));
        assert_eq!(
            search_replace_reward(&ctx, &oracle, &block("x = 1", "x = 2")).map(|s| s.reward),
            Ok(1.0)
        );
    }

    #[test]
    fn replace_all_occurrences_at_line_starts() {
        let ctx = files(&[("a.py", "a\nb\na\nba\n")]);
        let edits = vec![(
            "a.py".to_string(),
            vec![Edit {
                search: "a".into(),
                replace: "c".into(),
            }],
        )];
        assert_eq!(
            apply_code_change(&ctx, &edits).map(|m| m["a.py"].clone()),
            Ok("c\nb\nc\nba\n".to_string())
        );
    }
}
