//! The identity of a run: the run id (container labels, the evaluation's log folder and report
//! names) derived from the run directory when `--run-id` is not given.

use std::path::Path;

/// A run id from the run directory's name (letters, digits, `-`, `_`, `.`).
pub fn run_id_of(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with('.') {
        format!("run{id}")
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids() {
        assert_eq!(run_id_of(Path::new("runs/demo run")), "demo-run");
        assert_eq!(run_id_of(Path::new("/")), "run");
    }
}
