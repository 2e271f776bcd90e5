//! The official predictions schema, checked strictly on a file about to be submitted: each
//! line one object with exactly `instance_id`, `model_name_or_path` and `model_patch`,
//! string ids of the form `owner__repo-number`, one model, no duplicate ids, ids from the
//! dataset when it is known, and loadable by [`super::load_predictions`]. Every problem is
//! listed (at most [`MAX_PROBLEMS`]), each with its line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Problems listed in a [`SchemaError`] before the rest is counted.
pub const MAX_PROBLEMS: usize = 20;

/// A predictions file that does not follow the schema (or could not be read).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} does not follow the predictions schema:\n  {}", path.display(), problems.join("\n  "))]
    Problems {
        path: PathBuf,
        /// At most [`MAX_PROBLEMS`], then `… and N more` when there were more.
        problems: Vec<String>,
    },
}

/// Whether `id` names an instance as SWE-bench does: `owner__repo-number`, or at least one of
/// the two parts (the rule of the official loader's repository lookup).
fn has_instance_id_form(id: &str) -> bool {
    let numbered = id
        .rsplit_once('-')
        .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    numbered || id.contains("__")
}

/// Check the predictions file at `path`. Returns the number of predictions, or every problem.
pub fn check_predictions_file(path: &Path, dataset_ids: Option<&BTreeSet<String>>) -> Result<usize, SchemaError> {
    let text = fs_err::read_to_string(path).map_err(|source| SchemaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut models = BTreeSet::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let at = format!("line {}", i + 1);
        if line.trim().is_empty() {
            problems.push(format!("{at}: blank line"));
            continue;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{at}: not JSON: {e}"));
                continue;
            }
        };
        let Value::Object(m) = &v else {
            problems.push(format!("{at}: not a JSON object"));
            continue;
        };
        n += 1;
        let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = ["instance_id", "model_name_or_path", "model_patch"].into();
        if keys != want {
            problems.push(format!("{at}: keys {keys:?}, expected exactly {want:?}"));
        }
        match m.get("instance_id") {
            Some(Value::String(id)) if !id.trim().is_empty() => {
                if !ids.insert(id.clone()) {
                    problems.push(format!("{at}: duplicate instance_id {id}"));
                }
                if let Some(known) = dataset_ids
                    && !known.contains(id)
                {
                    problems.push(format!("{at}: instance_id {id} is not in the dataset"));
                }
                if !has_instance_id_form(id) {
                    problems.push(format!("{at}: instance_id {id} is not of the form owner__repo-number"));
                }
            }
            _ => problems.push(format!("{at}: instance_id must be a non-empty string")),
        }
        match m.get("model_name_or_path") {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                models.insert(s.clone());
            }
            _ => problems.push(format!("{at}: model_name_or_path must be a non-empty string")),
        }
        if !matches!(m.get("model_patch"), Some(Value::String(_) | Value::Null)) {
            problems.push(format!("{at}: model_patch must be a string (or null)"));
        }
    }
    if models.len() > 1 {
        problems.push(format!("several model_name_or_path values: {models:?}"));
    }
    if problems.is_empty()
        && let Err(e) = super::parse_predictions(path, &text)
    {
        problems.push(e.to_string());
    }
    if problems.is_empty() {
        return Ok(n);
    }
    let more = problems.len().saturating_sub(MAX_PROBLEMS);
    problems.truncate(MAX_PROBLEMS);
    if more > 0 {
        problems.push(format!("… and {more} more"));
    }
    Err(SchemaError::Problems {
        path: path.to_path_buf(),
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_forms() {
        assert!(has_instance_id_form("django__django-11099"));
        assert!(has_instance_id_form("demo__tinysched-1"));
        assert!(has_instance_id_form("owner__name"));
        assert!(has_instance_id_form("plain-12"));
        assert!(!has_instance_id_form("plain-name"));
        assert!(!has_instance_id_form("x-"));
    }

    #[test]
    fn every_problem_is_listed_and_the_list_is_capped() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.jsonl");
        let ok = r#"{"instance_id":"a__b-1","model_name_or_path":"m","model_patch":"x"}"#;
        std::fs::write(&f, format!("{ok}\n{ok}\n[1]\n")).unwrap();
        let e = check_predictions_file(&f, None).unwrap_err().to_string();
        assert!(e.contains("line 2: duplicate instance_id a__b-1"), "{e}");
        assert!(e.contains("line 3: not a JSON object"), "{e}");
        let many: String = (0..30).map(|_| "\n").collect();
        std::fs::write(&f, format!("{ok}\n{many}")).unwrap();
        let SchemaError::Problems { problems, .. } = check_predictions_file(&f, None).unwrap_err() else {
            panic!("not a schema error");
        };
        assert_eq!(problems.len(), MAX_PROBLEMS + 1);
        assert_eq!(problems[MAX_PROBLEMS], "… and 10 more");
        let known: BTreeSet<String> = ["a__b-2".to_owned()].into();
        std::fs::write(&f, format!("{ok}\n")).unwrap();
        let e = check_predictions_file(&f, Some(&known)).unwrap_err().to_string();
        assert!(e.contains("instance_id a__b-1 is not in the dataset"), "{e}");
        assert_eq!(check_predictions_file(&f, None).unwrap(), 1);
    }
}
