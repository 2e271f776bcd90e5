//! The line protocol of `agentless-mini reward`: one JSON request per line, one JSON result
//! per line.
//!
//! Requests: `{"id", "kind": "search_replace", "code_context", "oracle_new_content",
//! "output"}` or `{"id", "kind": "unidiff", "oracle_patches", "pred_patches"}`; other fields
//! are ignored. Results: `{"id", "reward"}` (plus `"files"` when asked for), with
//! `"format_error"` and `"reason"` when the reward is -1; a line that cannot be scored gives
//! `{"id", "line", "error"}` (`id` is null when it cannot be read).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::search_replace::{FormatError, search_replace_reward};
use crate::similarity::{FileSimilarity, Score};
use crate::unidiff::unidiff_reward;

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    SearchReplace {
        code_context: BTreeMap<String, String>,
        oracle_new_content: BTreeMap<String, String>,
        output: String,
    },
    Unidiff {
        oracle_patches: Vec<String>,
        pred_patches: Vec<String>,
    },
}

impl Request {
    /// The reward of this request.
    pub fn score(&self) -> Result<Score, FormatError> {
        match self {
            Request::SearchReplace {
                code_context,
                oracle_new_content,
                output,
            } => search_replace_reward(code_context, oracle_new_content, output),
            Request::Unidiff {
                oracle_patches,
                pred_patches,
            } => Ok(unidiff_reward(oracle_patches, pred_patches)),
        }
    }
}

/// All fields any request kind can have, each optional, so one pass reads every kind.
#[derive(Deserialize)]
struct RawRequest {
    id: Option<Value>,
    kind: Option<String>,
    code_context: Option<BTreeMap<String, String>>,
    oracle_new_content: Option<BTreeMap<String, String>>,
    output: Option<String>,
    oracle_patches: Option<Vec<String>>,
    pred_patches: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<Value>,
}

/// Why a line could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    #[error("not UTF-8 (at byte {0})")]
    NotUtf8(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("unknown kind {0:?} (expected \"search_replace\" or \"unidiff\")")]
    UnknownKind(String),
    #[error("line is {0} bytes, over the {1} byte limit")]
    TooLong(usize, usize),
}

/// Parse one request line. On failure, also returns the request's `id` when it could be read.
pub fn parse_request(line: &[u8]) -> Result<(Value, Request), (Option<Value>, RequestError)> {
    let text = std::str::from_utf8(line).map_err(|e| (None, RequestError::NotUtf8(e.valid_up_to())))?;
    let raw: RawRequest = serde_json::from_str(text).map_err(|e| {
        let id = serde_json::from_str::<IdOnly>(text).ok().and_then(|r| r.id);
        (id, RequestError::Json(e.to_string()))
    })?;
    let id = raw.id;
    let fail = |id: &Option<Value>, e| Err((id.clone(), e));
    let Some(id_value) = id.clone() else {
        return fail(&id, RequestError::MissingField("id"));
    };
    let request = match raw.kind.as_deref() {
        None => return fail(&id, RequestError::MissingField("kind")),
        Some("search_replace") => Request::SearchReplace {
            code_context: raw
                .code_context
                .ok_or((id.clone(), RequestError::MissingField("code_context")))?,
            oracle_new_content: raw
                .oracle_new_content
                .ok_or((id.clone(), RequestError::MissingField("oracle_new_content")))?,
            output: raw.output.ok_or((id.clone(), RequestError::MissingField("output")))?,
        },
        Some("unidiff") => Request::Unidiff {
            oracle_patches: raw
                .oracle_patches
                .ok_or((id.clone(), RequestError::MissingField("oracle_patches")))?,
            pred_patches: raw
                .pred_patches
                .ok_or((id.clone(), RequestError::MissingField("pred_patches")))?,
        },
        Some(other) => return fail(&id, RequestError::UnknownKind(other.to_owned())),
    };
    Ok((id_value, request))
}

/// What became of one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LineOutcome {
    Scored(f64),
    FormatError,
    InputError,
}

#[derive(Serialize)]
struct ScoredLine<'a> {
    id: &'a Value,
    reward: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<&'a [FileSimilarity]>,
}

#[derive(Serialize)]
struct FormatErrorLine<'a> {
    id: &'a Value,
    reward: f64,
    format_error: &'static str,
    reason: String,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    id: &'a Value,
    line: usize,
    error: String,
}

/// Render the result line of a score.
pub fn result_line(id: &Value, outcome: &Result<Score, FormatError>, per_file: bool) -> (String, LineOutcome) {
    let (json, kind) = match outcome {
        Ok(score) => {
            let line = ScoredLine {
                id,
                reward: score.reward,
                files: per_file.then_some(score.files.as_slice()),
            };
            (serde_json::to_string(&line), LineOutcome::Scored(score.reward))
        }
        Err(e) => {
            let line = FormatErrorLine {
                id,
                reward: FormatError::REWARD,
                format_error: e.kind(),
                reason: e.to_string(),
            };
            (serde_json::to_string(&line), LineOutcome::FormatError)
        }
    };
    (json.unwrap_or_else(|e| error_line(id, 0, &e.to_string())), kind)
}

/// Render an error line.
pub fn error_line(id: &Value, line: usize, error: &str) -> String {
    serde_json::to_string(&ErrorLine {
        id,
        line,
        error: error.to_owned(),
    })
    .unwrap_or_else(|_| format!("{{\"id\":null,\"line\":{line},\"error\":\"unprintable error\"}}"))
}

/// Score one input line (1-based `line_no`): the output line and what it was.
pub fn score_line(line_no: usize, line: &[u8], per_file: bool) -> (String, LineOutcome) {
    match parse_request(line) {
        Ok((id, request)) => result_line(&id, &request.score(), per_file),
        Err((id, e)) => (
            error_line(&id.unwrap_or(Value::Null), line_no, &e.to_string()),
            LineOutcome::InputError,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let (out, kind) = score_line(
            1,
            br#"{"id": "u", "kind": "unidiff", "oracle_patches": [], "pred_patches": [], "x": 1}"#,
            false,
        );
        assert_eq!(out, r#"{"id":"u","reward":1.0}"#);
        assert_eq!(kind, LineOutcome::Scored(1.0));
        let (out, kind) = score_line(2, br#"{"id": 7, "kind": "unidiff", "oracle_patches": []}"#, false);
        assert_eq!(out, r#"{"id":7,"line":2,"error":"missing field `pred_patches`"}"#);
        assert_eq!(kind, LineOutcome::InputError);
        let (out, _) = score_line(3, b"{not json", false);
        assert!(out.starts_with(r#"{"id":null,"line":3,"error":"invalid JSON"#), "{out}");
        let (out, _) = score_line(
            4,
            br#"{"id": "t", "kind": "unidiff", "oracle_patches": 5, "pred_patches": []}"#,
            false,
        );
        assert!(
            out.starts_with(r#"{"id":"t","line":4,"error":"invalid JSON: invalid type"#),
            "{out}"
        );
        let (out, kind) = score_line(
            5,
            br#"{"id": "s", "kind": "search_replace", "code_context": {}, "oracle_new_content": {}, "output": "no tags"}"#,
            false,
        );
        assert_eq!(
            out,
            r#"{"id":"s","reward":-1.0,"format_error":"tag_count","reason":"count of <think> is 0, not 1"}"#
        );
        assert_eq!(kind, LineOutcome::FormatError);
        let (out, _) = score_line(6, b"\xff", false);
        assert_eq!(out, r#"{"id":null,"line":6,"error":"not UTF-8 (at byte 0)"}"#);
    }
}
