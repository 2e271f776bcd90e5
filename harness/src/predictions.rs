//! Predictions files in every layout the official harness accepts: JSONL, a JSON list, or a
//! JSON object keyed by instance id. Each prediction has `instance_id`, `model_name_or_path`
//! and `model_patch` (null or empty means no patch).

pub mod check;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataset::Instance;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub instance_id: String,
    pub model_name_or_path: String,
    /// `None` when the file holds `null`.
    pub model_patch: Option<String>,
}

impl Prediction {
    /// True when there is no patch to apply (null, empty, or whitespace only).
    pub fn is_empty(&self) -> bool {
        self.model_patch.as_deref().is_none_or(|p| p.trim().is_empty())
    }

    /// The log folder name of the model: `/` becomes `__`, as officially.
    pub fn model_dir_name(&self) -> String {
        self.model_name_or_path.replace('/', "__")
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PredictionsError {
    #[error("failed to read predictions {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("predictions {path}, line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("predictions {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("predictions {path}: duplicate instance id {id}")]
    Duplicate { path: PathBuf, id: String },
}

/// Load predictions from `path`. Order is kept; duplicates are an error.
pub fn load_predictions(path: &Path) -> Result<Vec<Prediction>, PredictionsError> {
    let bytes = fs_err::read(path).map_err(|source| PredictionsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| PredictionsError::Invalid {
        path: path.to_path_buf(),
        message: format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
    })?;
    parse_predictions(path, &text)
}

/// Parse predictions text; `path` only names the source in errors.
pub fn parse_predictions(path: &Path, text: &str) -> Result<Vec<Prediction>, PredictionsError> {
    let trimmed = text.trim_start();
    let invalid = |message: String| PredictionsError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let preds = if trimmed.starts_with('[') || (trimmed.starts_with('{') && looks_like_single_document(trimmed)) {
        let value: Value = serde_json::from_str(text).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
        match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| from_value(v, None).map_err(|m| invalid(format!("item {}: {m}", i + 1))))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Object(map) if !map.contains_key("instance_id") => map
                .into_iter()
                .map(|(k, v)| from_value(v, Some(&k)).map_err(|m| invalid(format!("entry {k:?}: {m}"))))
                .collect::<Result<Vec<_>, _>>()?,
            v @ Value::Object(_) => vec![from_value(v, None).map_err(invalid)?],
            _ => return Err(invalid("expected a list or an object of predictions".into())),
        }
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let line_err = |message: String| PredictionsError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message,
            };
            let v: Value = serde_json::from_str(line).map_err(|e| line_err(format!("invalid JSON: {e}")))?;
            out.push(from_value(v, None).map_err(line_err)?);
        }
        out
    };
    let mut seen = HashSet::new();
    for p in &preds {
        if !seen.insert(p.instance_id.as_str()) {
            return Err(PredictionsError::Duplicate {
                path: path.to_path_buf(),
                id: p.instance_id.clone(),
            });
        }
    }
    Ok(preds)
}

/// A JSONL file's first line is a whole object; a JSON document spans the file.
fn looks_like_single_document(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    serde_json::from_str::<Value>(first).is_err() || text.trim().lines().count() == 1
}

fn from_value(v: Value, key: Option<&str>) -> Result<Prediction, String> {
    let Value::Object(mut m) = v else {
        return Err("not a JSON object".into());
    };
    let id = match (m.remove("instance_id"), key) {
        (Some(Value::String(s)), Some(k)) if s != k => {
            return Err(format!("instance_id {s:?} does not match its key {k:?}"));
        }
        (Some(Value::String(s)), _) => s,
        (None, Some(k)) => k.to_owned(),
        (Some(_), _) => return Err("instance_id must be a string".into()),
        (None, None) => return Err("missing instance_id".into()),
    };
    if id.trim().is_empty() {
        return Err("empty instance_id".into());
    }
    let model = match m.remove("model_name_or_path") {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => return Err(format!("{id}: missing model_name_or_path")),
        Some(_) => return Err(format!("{id}: model_name_or_path must be a string")),
    };
    let patch = match m.remove("model_patch") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) => None,
        None => return Err(format!("{id}: missing model_patch")),
        Some(_) => return Err(format!("{id}: model_patch must be a string or null")),
    };
    Ok(Prediction {
        instance_id: id,
        model_name_or_path: model,
        model_patch: patch,
    })
}

/// The dataset's gold patches as predictions (`--predictions gold`), model name `gold`.
pub fn gold_predictions(instances: &[Instance]) -> Vec<Prediction> {
    instances
        .iter()
        .map(|i| Prediction {
            instance_id: i.instance_id.clone(),
            model_name_or_path: "gold".into(),
            model_patch: Some(i.patch.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Vec<Prediction>, PredictionsError> {
        parse_predictions(Path::new("p"), t)
    }

    #[test]
    fn three_layouts() {
        let l = r#"{"instance_id":"a","model_name_or_path":"m","model_patch":"x"}
{"instance_id":"b","model_name_or_path":"m","model_patch":null}"#;
        let a = parse(l).unwrap();
        assert_eq!(a.len(), 2);
        assert!(a[1].is_empty());
        let b = parse(&format!("[{}]", l.replace('\n', ","))).unwrap();
        assert_eq!(a, b);
        let c = parse(r#"{"a":{"model_name_or_path":"m","model_patch":"x"},"b":{"instance_id":"b","model_name_or_path":"m","model_patch":null}}"#).unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn errors_name_lines_and_duplicates() {
        let e = parse("{\"instance_id\":\"a\",\"model_name_or_path\":\"m\",\"model_patch\":\"\"}\n{oops")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let row = r#"{"instance_id":"a","model_name_or_path":"m","model_patch":""}"#;
        let e = parse(&format!("{row}\n{row}")).unwrap_err().to_string();
        assert!(e.contains("duplicate instance id a"), "{e}");
        let e = parse(r#"{"instance_id":"a","model_patch":""}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("model_name_or_path"), "{e}");
    }
}
