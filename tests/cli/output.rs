//! What a user sees on stderr and from the small commands: each error once, in words, with no
//! ANSI codes when stderr is not a terminal (or with NO_COLOR / --color never), exit code 2 for
//! usage errors found after parsing, shell completions that a real bash accepts, and the log
//! filter `AGENTLESS_LOG` (it replaces what `-q` / `-v` choose).

use std::process::{Command, Output};

use crate::common::bin;

fn mini(args: &[&str]) -> Output {
    bin()
        .args(args)
        .env_remove("AGENTLESS_LOG")
        .env_remove("NO_COLOR")
        .output()
        .expect("run agentless-mini")
}

#[test]
fn a_fatal_error_is_printed_once_without_ansi_codes() {
    let o = mini(&["dataset", "--dataset", "/nonexistent/data.jsonl"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "the error once, on one line: {err}");
    assert!(
        err.contains("/nonexistent/data.jsonl") && !err.contains("ERROR"),
        "{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains('\u{1b}'), "no ANSI codes to a pipe: {err:?}");
    // Forced colour reaches log lines (warnings) only when asked for.
    let o = mini(&["--color", "never", "dataset", "--dataset", "/nonexistent/data.jsonl"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains('\u{1b}'));
}

#[test]
fn usage_errors_found_after_parsing_exit_2() {
    let o = mini(&["dataset"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no dataset"), "{err}");
}

#[test]
fn bash_completions_load_in_a_real_bash() {
    let o = mini(&["completions", "bash"]);
    assert!(o.status.success());
    let script = String::from_utf8_lossy(&o.stdout).into_owned();
    for sub in ["eval", "evaluate", "grade", "compare", "completions"] {
        assert!(script.contains(sub), "{sub} missing");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("agentless-mini.bash");
    std::fs::write(&path, &script).expect("write");
    let check = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p agentless-mini", path.display()))
        .output()
        .expect("bash");
    assert!(
        check.status.success() && String::from_utf8_lossy(&check.stdout).contains("agentless-mini"),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for shell in ["zsh", "fish"] {
        assert!(mini(&["completions", shell]).status.success(), "{shell}");
    }
}

#[test]
fn the_main_commands_show_examples_in_help() {
    for cmd in ["eval", "evaluate"] {
        let o = mini(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && help.contains("Examples:\n"), "{cmd}: {help}");
        assert!(help.contains(&format!("agentless-mini {cmd} --")), "{cmd}: {help}");
    }
}

/// The demo split works from an installed binary: a copy of the binary in a folder outside the
/// repository, started there with an empty cache, finds the demo instances and their
/// repository trees (`prompts show` builds the repository's structure from the trees).
#[test]
fn an_installed_binary_finds_the_demo_split_and_its_trees() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bin = tmp.path().join("bin/agentless-mini");
    std::fs::create_dir_all(bin.parent().expect("a parent")).expect("bin dir");
    std::fs::copy(crate::common::bin_path(), &bin).expect("copy the binary");
    let cwd = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).expect("cwd");
    let cache = tmp.path().join("cache");
    let o = Command::new(&bin)
        .args([
            "prompts",
            "show",
            "--split",
            "demo",
            "--instance",
            "agentless-demo__datespan-14",
            "--stage",
            "localize",
        ])
        .current_dir(&cwd)
        .env("XDG_CACHE_HOME", &cache)
        .env("HOME", tmp.path())
        .env_remove("AGENTLESS_REPOS_DIR")
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("run the copied binary");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("parse.py"),
        "the structure lists the repository's files: {out}"
    );
    // The trees were written out under the cache, not read from the source checkout.
    let trees = cache.join("agentless-mini/demo-repos");
    let written: Vec<_> = std::fs::read_dir(&trees)
        .expect("the demo trees in the cache")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].join("datespan/datespan/parse.py").is_file(), "{written:?}");
}

#[test]
fn agentless_log_sets_the_log_filter_over_quiet_and_verbose() {
    let args = ["dataset", "--dataset", "/nonexistent/data.jsonl"];
    let with_log = |filter: &str, flags: &[&str]| {
        let o = bin()
            .args(flags)
            .args(args)
            .env("AGENTLESS_LOG", filter)
            .env_remove("NO_COLOR")
            .output()
            .expect("run agentless-mini");
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // The fatal error's structure is logged at debug level; by default only the error shows.
    let quiet = String::from_utf8_lossy(&mini(&args).stderr).into_owned();
    assert!(!quiet.contains("fatal error:"), "{quiet}");
    let debug = with_log("debug", &["-q"]);
    assert!(debug.contains("DEBUG") && debug.contains("fatal error:"), "{debug}");
    // A filter that selects nothing at debug level silences it even with -vv.
    let warn = with_log("warn", &["-vv"]);
    assert!(!warn.contains("fatal error:"), "{warn}");
    assert!(warn.starts_with("error: "), "{warn}");
}
