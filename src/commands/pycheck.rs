//! `agentless-mini pycheck` (hidden): the pipeline's Python checks on a stream of JSONL
//! requests, for the parity script `scripts/python-parity.py`, which compares them with
//! CPython's `ast.parse` and an `ast.unparse` reference on real code. One process checks a
//! whole corpus, so the comparison costs no process start per file.
//!
//! Requests, one JSON object a line (results come back in input order, one a line):
//! - `{"id": ID, "syntax": SRC}` → `{"id": ID, "ok": BOOL, "line": N|null, "message": STR|null}`
//!   ([`crate::pipeline::python::syntax::check`]);
//! - `{"id": ID, "path": P, "old": SRC, "new": SRC}` → `{"id": ID, "key": STR}`, the voting key
//!   of the edit (`crate::pipeline::patch::normalized_patch`);
//! - anything else → `{"id": ID, "error": STR}`.

use std::io::{BufRead as _, Write as _};

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};

use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::patch::{FileChange, normalized_patch};
use crate::pipeline::python::syntax::check;

#[derive(Debug, Args)]
pub struct PycheckArgs {}

/// Answer one request line.
pub fn answer(line: &str) -> Value {
    let req: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return json!({"id": null, "error": format!("not JSON: {e}")}),
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    if let Some(src) = req.get("syntax").and_then(Value::as_str) {
        return match check(src) {
            Ok(()) => json!({"id": id, "ok": true, "line": null, "message": null}),
            Err(e) => json!({"id": id, "ok": false, "line": e.line, "message": e.message}),
        };
    }
    let field = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_owned);
    match (field("path"), field("old"), field("new")) {
        (Some(path), Some(old), Some(new)) => {
            let key = normalized_patch(&[FileChange { path, old, new }]);
            json!({"id": id, "key": key})
        }
        _ => json!({"id": id, "error": "expected \"syntax\" or \"path\", \"old\" and \"new\""}),
    }
}

pub async fn run(_args: &PycheckArgs, _global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line.context("reading the requests")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = answer(&line);
        serde_json::to_writer(&mut out, &answer).context("writing a result")?;
        out.write_all(b"\n").context("writing a result")?;
        out.flush().context("writing a result")?;
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_kind_of_request() {
        let ok = answer(r#"{"id": 1, "syntax": "x = 1\n"}"#);
        assert_eq!(ok, json!({"id": 1, "ok": true, "line": null, "message": null}));
        let bad = answer(r#"{"id": "b", "syntax": "if x\n    y\n"}"#);
        assert_eq!(bad["ok"], json!(false));
        assert_eq!(bad["line"], json!(1));
        let key = answer(r#"{"id": 2, "path": "m.py", "old": "x = 1\n", "new": "x = 2\n"}"#);
        assert!(key["key"].as_str().is_some_and(|k| k.contains("+x = 2")), "{key}");
        assert!(answer(r#"{"id": 3}"#).get("error").is_some());
        assert!(answer("nope").get("error").is_some());
    }
}
