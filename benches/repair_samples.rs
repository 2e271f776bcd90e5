//! Benchmark (not a test): the harness's own cost per repair sample — parse the SEARCH/REPLACE
//! edits, apply them, make the git-style diff, check the syntax, normalize — on recorded
//! samples (the demo split's hand-written answers, plus one edit of a 2,600-line stdlib file
//! when `argparse.py` is found), single-threaded. With `python3` on the PATH it also runs
//! `scripts/bench_repair_reference.py`, the same work the way the Python reference does it
//! (a throw-away git repository per diff, `ast.parse`, `ast.unparse` + `tokenize`), and prints
//! the two side by side.
//!
//! `cargo bench --bench repair_samples` (release build).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "a benchmark program: it prints its results and stops on any failure"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agentless_mini::pipeline::repair::{RepairOutcome, process};
use serde_json::{Value, json};

struct Case {
    name: String,
    answer: String,
    files: Vec<(String, String)>,
}

fn demo_cases(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut paths: Vec<PathBuf> = fs_err::read_dir(root.join("datasets/demo/samples"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for p in paths {
        let Ok(text) = fs_err::read_to_string(&p) else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let id = v["instance_id"].as_str().unwrap_or_default().to_owned();
        let name = id
            .trim_start_matches("agentless-demo__")
            .rsplit_once('-')
            .map_or(id.clone(), |(n, _)| n.to_owned());
        let repo = root.join("datasets/demo/repos").join(&name);
        let files: Vec<(String, String)> = v["localization"]["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .filter_map(|f| fs_err::read_to_string(repo.join(f)).ok().map(|c| (f.to_owned(), c)))
            .collect();
        for r in v["repair"].as_array().into_iter().flatten() {
            cases.push(Case {
                name: format!("{name}/{}", r["label"].as_str().unwrap_or("?")),
                answer: r["output"].as_str().unwrap_or_default().to_owned(),
                files: files.clone(),
            });
        }
    }
    cases
}

fn big_case() -> Option<Case> {
    let dirs = fs_err::read_dir("/usr/lib").ok()?;
    let mut candidates: Vec<PathBuf> = dirs
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("argparse.py"))
        .filter(|p| p.is_file())
        .collect();
    candidates.sort();
    let path = candidates.pop()?;
    let content = fs_err::read_to_string(&path).ok()?;
    let line = content
        .lines()
        .find(|l| l.trim_start().starts_with("def _get_optional_kwargs("))?
        .to_owned();
    let replace = format!("{line}\n        # checked\n");
    let answer = format!(
        "Edit:\n\n```python\n### argparse.py\n<<<<<<< SEARCH\n{line}\n=======\n{}\n>>>>>>> REPLACE\n```\n",
        replace.trim_end()
    );
    Some(Case {
        name: "stdlib argparse.py (2.6k lines)".into(),
        answer,
        files: vec![("argparse.py".into(), content)],
    })
}

fn rate(cases: &[Case], budget: Duration) -> (f64, usize) {
    let start = Instant::now();
    let mut n = 0usize;
    let mut patches = 0usize;
    while start.elapsed() < budget {
        for c in cases {
            if let RepairOutcome::Patch { .. } = process(&c.answer, &c.files) {
                patches += 1;
            }
            n += 1;
        }
    }
    (n as f64 / start.elapsed().as_secs_f64(), patches)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let demo = demo_cases(&root);
    let mut sets: Vec<(String, Vec<Case>)> = vec![("demo samples".into(), demo)];
    if let Some(b) = big_case() {
        sets.push((b.name.clone(), vec![b]));
    }
    println!(
        "{:<34} {:>14} {:>16} {:>8}",
        "case", "rust samples/s", "python samples/s", "ratio"
    );
    for (name, cases) in &sets {
        if cases.is_empty() {
            continue;
        }
        let (rust, _) = rate(cases, Duration::from_secs(3));
        let input: Vec<Value> = cases
            .iter()
            .map(|c| json!({"name": c.name, "answer": c.answer, "files": c.files.iter().map(|(p, t)| json!([p, t])).collect::<Vec<_>>()}))
            .collect();
        let python = python_rate(&root, &input);
        let (py, ratio) = match python {
            Some(p) => (format!("{p:.1}"), format!("{:.0}x", rust / p)),
            None => ("n/a".into(), "n/a".into()),
        };
        println!("{name:<34} {rust:>14.0} {py:>16} {ratio:>8}");
    }
    if let Some(b) = big_case() {
        parts(&b);
    }
}

/// Where the time goes on the large file (per call, microseconds).
fn parts(case: &Case) {
    use agentless_mini::pipeline::{diff, python};
    let content = &case.files[0].1;
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(500) {
            f();
            n += 1;
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    let edited = content.replacen("def _get_optional_kwargs(", "def _get_optional_kwargs_(", 1);
    println!("\nper call on {} (microseconds):", case.name);
    println!(
        "  tokenize            {:>8.0}",
        time(&|| drop(python::tokenize::tokenize(content)))
    );
    println!(
        "  syntax check        {:>8.0}",
        time(&|| drop(python::syntax::check(content)))
    );
    println!(
        "  normalize           {:>8.0}",
        time(&|| drop(python::normalize::normalize(content)))
    );
    println!(
        "  git diff (1 line)   {:>8.0}",
        time(&|| drop(diff::git_diff(&[("a.py", content, &edited)])))
    );
}

fn python_rate(root: &Path, input: &[Value]) -> Option<f64> {
    let dir = tempfile::tempdir().ok()?;
    let file = dir.path().join("cases.json");
    fs_err::write(&file, serde_json::to_string(input).ok()?).ok()?;
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/bench_repair_reference.py"))
        .arg(&file)
        .arg("--seconds")
        .arg("3")
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("reference script failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().lines().last()?.parse().ok()
}
