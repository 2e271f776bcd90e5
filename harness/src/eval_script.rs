//! The eval script (`eval.sh`) of an instance: the dataset's `eval_script` column when
//! present, else generated from the environment specs exactly as swebench 4.1.0
//! (`make_eval_script_list_py`) generates it — with one deliberate fix: where 4.x would emit
//! a bare `git checkout <sha>` (a test patch that only adds files), the reset names the test
//! patch's target files instead, as the 5.x dataset does (see the known defect in
//! `swebench-harness.md` §2.6; a bare checkout detaches HEAD and undoes the image's setup).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::dataset::Instance;
use crate::grade::{END_TEST_OUTPUT, START_TEST_OUTPUT};
use crate::images::specs::{EnvSpecs, RepoSpec};

/// The heredoc delimiter the official scripts use for the test patch.
pub const HEREDOC_DELIMITER: &str = "EOF_114329324912";
/// Where the repository lives in every instance image.
pub const REPO_DIR: &str = "/testbed";
/// The conda environment name in every official image.
pub const ENV_NAME: &str = "testbed";

/// Extensions of test-patch targets that are not test files (`NON_TEST_EXTS`; `csv` really
/// has no dot upstream).
const NON_TEST_EXTS: [&str; 11] = [
    ".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalScriptError {
    #[error(
        "{instance}: no eval_script in the dataset and no environment specs for {repo} {version} (pass --specs FILE)"
    )]
    NoSpecs {
        instance: String,
        repo: String,
        version: String,
    },
}

/// The script to run for `instance`: its `eval_script` column, else generated from `specs`.
pub fn eval_script_for(instance: &Instance, specs: Option<&EnvSpecs>) -> Result<String, EvalScriptError> {
    if let Some(script) = instance.eval_script.as_deref().filter(|s| !s.trim().is_empty()) {
        return Ok(script.to_owned());
    }
    let spec = specs
        .and_then(|s| s.get(&instance.repo, &instance.version))
        .ok_or_else(|| EvalScriptError::NoSpecs {
            instance: instance.instance_id.clone(),
            repo: instance.repo.clone(),
            version: instance.version.clone(),
        })?;
    Ok(generate_eval_script(instance, spec))
}

/// `make_eval_script_list_py` joined as `TestSpec.eval_script` does, with the reset fix.
pub fn generate_eval_script(instance: &Instance, spec: &RepoSpec) -> String {
    let base = &instance.base_commit;
    let test_patch = &instance.test_patch;
    let mut files = modified_files(test_patch);
    if files.is_empty() {
        files = target_files(test_patch);
    }
    let reset = if files.is_empty() {
        "echo \"No test files to reset\"".to_owned()
    } else {
        format!("git checkout {base} {}", files.join(" "))
    };
    let apply = format!("git apply -v - <<'{HEREDOC_DELIMITER}'\n{test_patch}\n{HEREDOC_DELIMITER}");
    let mut test_command = spec.test_cmd.first().to_owned();
    for d in test_directives(instance) {
        test_command.push(' ');
        test_command.push_str(&d);
    }
    let mut lines: Vec<String> = vec![
        "#!/bin/bash".into(),
        "set -uxo pipefail".into(),
        "source /opt/miniconda3/bin/activate".into(),
        format!("conda activate {ENV_NAME}"),
        format!("cd {REPO_DIR}"),
    ];
    lines.extend(spec.eval_commands.iter().flatten().cloned());
    lines.extend([
        format!("git config --global --add safe.directory {REPO_DIR}"),
        format!("cd {REPO_DIR}"),
        "git status".into(),
        "git show".into(),
        format!("git -c core.fileMode=false diff {base}"),
        "source /opt/miniconda3/bin/activate".into(),
        format!("conda activate {ENV_NAME}"),
    ]);
    if let Some(install) = &spec.install {
        lines.push(install.clone());
    }
    lines.extend([
        reset.clone(),
        apply,
        format!(": '{START_TEST_OUTPUT}'"),
        test_command,
        format!(": '{END_TEST_OUTPUT}'"),
        reset,
    ]);
    lines.join("\n") + "\n"
}

static DIFF_GIT_A_B: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^diff --git ("?a/[^\t\n]+"?) ("?b/[^\t\n]+"?)"#).expect("static regex"));
static DIFF_GIT_ANY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^diff --git ([^\t\n]+) ([^\t\n]+)").expect("static regex"));
static HUNK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@").expect("static regex"));
static DIRECTIVE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"diff --git a/.* b/(.*)").expect("static regex"));

/// One file of a patch as unidiff sees it: its source and target names as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PatchFile {
    source: String,
    target: String,
}

/// The files of a unified diff, parsed like `unidiff.PatchSet` (git headers, `new file
/// mode` making the source `/dev/null`, plain `---`/`+++` pairs, hunk bodies skipped).
fn patch_files(patch: &str) -> Vec<PatchFile> {
    let mut files: Vec<PatchFile> = Vec::new();
    let mut in_git_header = false;
    let mut pending_source: Option<String> = None;
    let lines: Vec<&str> = patch.split_inclusive('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].strip_suffix('\n').unwrap_or(lines[i]);
        i += 1;
        let header = DIFF_GIT_A_B.captures(line).or_else(|| DIFF_GIT_ANY.captures(line));
        if let Some(c) = header {
            files.push(PatchFile {
                source: c[1].to_owned(),
                target: c[2].to_owned(),
            });
            in_git_header = true;
            continue;
        }
        if in_git_header && line.starts_with("new file mode ") {
            if let Some(f) = files.last_mut() {
                f.source = "/dev/null".into();
            }
            continue;
        }
        if in_git_header && line.starts_with("deleted file mode ") {
            if let Some(f) = files.last_mut() {
                f.target = "/dev/null".into();
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("--- ") {
            if !in_git_header {
                pending_source = Some(rest.split('\t').next().unwrap_or("").to_owned());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("+++ ") {
            if !in_git_header && let Some(source) = pending_source.take() {
                files.push(PatchFile {
                    source,
                    target: rest.split('\t').next().unwrap_or("").to_owned(),
                });
            }
            continue;
        }
        if let Some(c) = HUNK.captures(line) {
            in_git_header = false;
            let mut old: usize = c.get(1).map_or(Some(1), |m| m.as_str().parse().ok()).unwrap_or(0);
            let mut new: usize = c.get(2).map_or(Some(1), |m| m.as_str().parse().ok()).unwrap_or(0);
            while (old > 0 || new > 0) && i < lines.len() {
                let body = lines[i];
                match body.as_bytes().first() {
                    Some(b' ' | b'\n' | b'\r') => {
                        old = old.saturating_sub(1);
                        new = new.saturating_sub(1);
                    }
                    Some(b'-') => old = old.saturating_sub(1),
                    Some(b'+') => new = new.saturating_sub(1),
                    Some(b'\\') => {}
                    _ => break,
                }
                i += 1;
            }
            continue;
        }
    }
    files
}

/// `get_modified_files`: pre-image paths of files that exist before the patch (`a/` stripped;
/// new files excluded), in patch order.
pub fn modified_files(patch: &str) -> Vec<String> {
    patch_files(patch)
        .into_iter()
        .filter(|f| f.source != "/dev/null")
        .filter_map(|f| f.source.strip_prefix("a/").map(str::to_owned))
        .collect()
}

/// Every target path of the patch's `diff --git` headers (new files included), sorted and
/// unique — the reset list of the 5.x eval scripts.
pub fn target_files(patch: &str) -> Vec<String> {
    let set: BTreeSet<String> = DIRECTIVE.captures_iter(patch).map(|c| c[1].to_owned()).collect();
    set.into_iter().collect()
}

/// `get_test_directives`: the test files (or Django test modules) to run.
pub fn test_directives(instance: &Instance) -> Vec<String> {
    if instance.repo == "swe-bench/humaneval" {
        return vec!["test.py".into()];
    }
    let directives = DIRECTIVE
        .captures_iter(&instance.test_patch)
        .map(|c| c[1].to_owned())
        .filter(|d| !NON_TEST_EXTS.iter().any(|ext| d.ends_with(ext)));
    if instance.repo == "django/django" {
        directives
            .map(|d| {
                let d = d.strip_suffix(".py").unwrap_or(&d);
                let d = d.strip_prefix("tests/").unwrap_or(d);
                d.replace('/', ".")
            })
            .collect()
    } else {
        directives.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODIFY_AND_ADD: &str = "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n@@ -1,2 +1,2 @@\n--- x\n+y\n z\ndiff --git a/tests/new.py b/tests/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/new.py\n@@ -0,0 +1 @@\n+x\ndiff --git a/data/f.json b/data/f.json\n--- a/data/f.json\n+++ b/data/f.json\n@@ -1 +1 @@\n-1\n+2\n";

    #[test]
    fn modified_files_skip_new_files_and_hunk_bodies() {
        assert_eq!(modified_files(MODIFY_AND_ADD), vec!["tests/test_a.py", "data/f.json"]);
        assert_eq!(
            target_files(MODIFY_AND_ADD),
            vec!["data/f.json", "tests/new.py", "tests/test_a.py"]
        );
    }

    #[test]
    fn directives_drop_data_files_and_transform_django() {
        let mut inst: Instance = serde_json::from_value(serde_json::json!({
            "instance_id": "x", "repo": "a/b", "base_commit": "c", "test_patch": MODIFY_AND_ADD,
            "FAIL_TO_PASS": [], "PASS_TO_PASS": []
        }))
        .unwrap();
        assert_eq!(test_directives(&inst), vec!["tests/test_a.py", "tests/new.py"]);
        inst.repo = "django/django".into();
        assert_eq!(test_directives(&inst), vec!["test_a", "new"]);
    }
}
