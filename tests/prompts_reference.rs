//! Prompt sets against the reference code. `agentless-mini prompts import` reads a checkout's
//! prompt constants; `prompts show --json` must then print, byte for byte, the messages the
//! reference code itself renders (`scripts/prompts-reference.py` imports the checkout's modules
//! and calls their functions) for every demo instance and every stage with a reference prompt.
//!
//! - `synthetic_checkout_*` (CI, which has no GitHub): the test writes a checkout of made-up
//!   text in the reference's Python layout and syntax (implicit concatenation, escapes, raw
//!   strings, `.strip()`, a `from ... import ... as` alias, literal braces), with small stand-in
//!   rendering functions of its own; it proves the import and the rendering, not the reference.
//! - `reference_checkouts_*` (opt-in: `SWERL_CHECKOUT=DIR AGENTLESS_CHECKOUT=DIR cargo test
//!   --test prompts_reference -- --ignored`): the same comparison on real checkouts of
//!   facebookresearch/swe-rl and OpenAutoCoder/Agentless; it fails when they are not given.
//!
//! Also here: `--locations` end to end (the repair stage on given files, with recorded model
//! answers keyed by the exact request; no localization request, no localization artifact).
//! Needs python3.

#![allow(clippy::unwrap_used, reason = "test helpers: any failure is the test failing")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, demo_repos, root, run_ok};
use serde_json::Value;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, text).unwrap();
}

/// A checkout in the reference's layout, with made-up prompt text.
fn synthetic_checkout(dir: &Path) {
    write(dir, "src/swerl/__init__.py", "");
    write(dir, "src/swerl/core/__init__.py", "");
    write(
        dir,
        "src/swerl/core/prompts.py",
        r####"# Made-up prompts in the shape of the reference's core prompt module.

AGENTLESS_REPAIR = """Repair request. The report:
--- ISSUE ---
{problem_statement}
--- END ISSUE ---

Files, with a literal {{brace}} pair and a tab\there:
```
{content}
```
Answer with *SEARCH/REPLACE* blocks: \"quoted\" and 'single' \
joined line, \u00e9 and \101 and \x42.
"""

CODE_FILE = """
### {path}
{content}
""".strip()

THINKING_SYSTEM = (
    "Think first, "  # implicit concatenation
    'then answer.\n'
    r"A raw \n stays."
).strip()
"####,
    );
    write(
        dir,
        "src/swerl/agentless_mini/utils/__init__.py",
        "from . import data, prompts\n",
    );
    write(
        dir,
        "src/swerl/agentless_mini/utils/prompts.py",
        r####"from swerl.core.prompts import AGENTLESS_REPAIR as REPAIR

LOCALIZATION = '''
Which files would you open for this issue?

== Issue ==
{problem_statement}

== Tree ==
{structure}

Name at most {n} of them, inside ```.
'''.strip()
"####,
    );
    // Stand-ins for the rendering helpers (this test's own, from the behaviour described in
    // ../shared/reference/agentless-mini.md).
    write(
        dir,
        "src/swerl/agentless_mini/utils/data.py",
        r####"def show_project_structure(structure, level=0, indentation=4, randomize=False):
    out = ""
    for name, node in structure.items():
        if "." in name and ".py" not in name:
            continue
        out += " " * (level * indentation) + name + "\n"
        if isinstance(node, dict) and "classes" not in node:
            out += show_project_structure(node, level + 1, indentation)
    return out


def _is_file(node):
    return set(node) == {"classes", "functions", "text"}


def filter_none_python(structure):
    for name in list(structure):
        node = structure[name]
        if _is_file(node):
            if not name.endswith(".py"):
                del structure[name]
        else:
            filter_none_python(node)
            if not node:
                del structure[name]


def filter_out_test_files(structure):
    for name in list(structure):
        if name.startswith("test"):
            del structure[name]
        elif isinstance(structure[name], dict):
            filter_out_test_files(structure[name])
"####,
    );
    write(
        dir,
        "src/swerl/agentless_mini/repair.py",
        r####"def count_tokens(instance_id, file_name, content):
    return len(content)


def construct_topn_file_context(instance_id, pred_files, file_contents, max_input_tokens, randomize=False):
    return "\n\n".join("### " + p + "\n" + file_contents[p] for p in pred_files)
"####,
    );
    write(
        dir,
        "agentless/test/generate_reproduction_tests.py",
        r####"import os

generate_tests_prompt_template = """
Write a standalone test for this report:
{problem_statement}

Print "Issue reproduced", "Issue resolved" or "Other issues" \
(exactly one of them).
"""
"####,
    );
    write(
        dir,
        "agentless/test/select_regression_tests.py",
        r####"MAX_CONTEXT_LENGTH = 128000


select_tests_prompt_template = """
Report:
{problem_statement}

Tests passing today:
```
{passing_tests}
```
Which of them may the fix change? One per line.
"""
"####,
    );
}

fn demo_ids() -> Vec<String> {
    let out = run_ok(bin().args(["dataset", "--split", "demo"]));
    out.lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect()
}

/// The files the demo samples localize (a location set for repair).
fn demo_files(id: &str) -> Vec<String> {
    let v: Value =
        serde_json::from_str(&fs_err::read_to_string(root().join(format!("datasets/demo/samples/{id}.json"))).unwrap())
            .unwrap();
    v["localization"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

fn repo_dir(id: &str) -> PathBuf {
    let name = id.trim_start_matches("agentless-demo__");
    let name = &name[..name.rfind('-').unwrap()];
    demo_repos().join(name)
}

/// `prompts show` and the reference driver agree on every demo instance and stage.
fn compare(swerl: &Path, agentless: &Path, tmp: &Path, thinking_system: bool) {
    let set = tmp.join("set.toml");
    let mut import = bin();
    import
        .args(["prompts", "import", "--from"])
        .arg(swerl)
        .arg("--from")
        .arg(agentless);
    import.arg("--out").arg(&set);
    if thinking_system {
        import.arg("--thinking-system");
    }
    import.arg("-v");
    let out = import.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let notes = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for stage in ["localize:", "repair:", "repro:", "regression:"] {
        assert!(notes.contains(stage), "{notes}");
    }
    let repos = tmp.join("repos");
    let tests = tmp.join("tests.txt");
    fs_err::write(&tests, "tests/test_a.py::test_x\ntests/test_b.py::test_y[1-2]\n").unwrap();
    let mut compared = 0;
    for id in demo_ids() {
        let inst = tmp.join("instance.json");
        fs_err::write(
            &inst,
            run_ok(bin().args(["dataset", "--split", "demo", "--jsonl", "--instances", &id])),
        )
        .unwrap();
        let files = demo_files(&id);
        let locations = tmp.join("locations.jsonl");
        fs_err::write(
            &locations,
            serde_json::json!({"instance_id": id, "found_files": files}).to_string() + "\n",
        )
        .unwrap();
        for stage in ["localize", "repair", "repro", "regression"] {
            let checkout = if matches!(stage, "localize" | "repair") {
                swerl
            } else {
                agentless
            };
            let reference = run_ok(
                Command::new("python3")
                    .arg(root().join("scripts/prompts-reference.py"))
                    .arg("--checkout")
                    .arg(checkout)
                    .args(["--stage", stage, "--files", &files.join(",")])
                    .arg("--instance")
                    .arg(&inst)
                    .arg("--repo")
                    .arg(repo_dir(&id))
                    .arg("--tests")
                    .arg(&tests),
            );
            let mine = run_ok(
                bin()
                    .args([
                        "prompts",
                        "show",
                        "--split",
                        "demo",
                        "--instance",
                        &id,
                        "--stage",
                        stage,
                    ])
                    .args(["--num-samples", "1", "--json", "--prompts"])
                    .arg(&set)
                    .arg("--locations")
                    .arg(&locations)
                    .arg("--tests")
                    .arg(&tests)
                    .arg("--repos-dir")
                    .arg(&repos)
                    .arg("--run-dir")
                    .arg(tmp.join("no-run")),
            );
            let reference: Vec<Value> = serde_json::from_str(&reference).unwrap();
            let mut mine: Vec<Value> = serde_json::from_str(&mine).unwrap();
            if thinking_system && stage == "repair" {
                // The reference's public code sends no system message; with --thinking-system
                // the set adds THINKING_SYSTEM before the same user message.
                assert_eq!(mine[0]["role"], "system");
                mine.remove(0);
            }
            let (r, m) = (
                reference[0]["content"].as_str().unwrap(),
                mine[0]["content"].as_str().unwrap(),
            );
            assert_eq!(mine.len(), 1, "{id} {stage}");
            assert_eq!(m, r, "{id} {stage}: prompts show differs from the reference rendering");
            // The instance's own text is there: a template that lost its fields fails too.
            assert!(r.contains(&serde_json::from_str::<Value>(&fs_err::read_to_string(&inst).unwrap()).unwrap()["problem_statement"].as_str().unwrap()[..40]));
            compared += 1;
        }
    }
    assert_eq!(compared, 20);
}

#[test]
fn synthetic_checkout_imports_and_renders_like_python() {
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("checkout");
    synthetic_checkout(&checkout);
    compare(&checkout, &checkout, tmp.path(), false);
    // The imported values are Python's own values of the constants.
    let py = run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(
                "import json, sys; sys.path.insert(0, sys.argv[1]); \
                 from swerl.core import prompts as p; \
                 print(json.dumps({'r': p.AGENTLESS_REPAIR, 'c': p.CODE_FILE, 't': p.THINKING_SYSTEM}))",
            )
            .arg(checkout.join("src")),
    );
    let py: Value = serde_json::from_str(&py).unwrap();
    let set = tmp.path().join("thinking.json");
    run_ok(
        bin()
            .args(["prompts", "import", "--thinking-system", "--from"])
            .arg(&checkout)
            .arg("--out")
            .arg(&set),
    );
    let file: Value = serde_json::from_str(&fs_err::read_to_string(&set).unwrap()).unwrap();
    assert_eq!(file["repair"]["template"], py["r"]);
    assert_eq!(file["repair"]["file_block"], py["c"]);
    assert_eq!(file["repair"]["system"], py["t"]);
    assert!(py["r"].as_str().unwrap().contains("tab\there"), "{py}");
    assert!(py["r"].as_str().unwrap().contains("é and A and B."), "{py}");
}

#[test]
fn synthetic_checkout_with_the_thinking_system_message() {
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("checkout");
    synthetic_checkout(&checkout);
    compare(&checkout, &checkout, tmp.path(), true);
}

#[test]
#[ignore = "needs checkouts of facebookresearch/swe-rl and OpenAutoCoder/Agentless: SWERL_CHECKOUT=DIR AGENTLESS_CHECKOUT=DIR"]
fn reference_checkouts_render_byte_identical() {
    let get = |var: &str| {
        let dir = PathBuf::from(std::env::var_os(var).unwrap_or_else(|| panic!("{var} is not set")));
        assert!(dir.is_dir(), "{var}={} is not a folder", dir.display());
        dir
    };
    let (swerl, agentless) = (get("SWERL_CHECKOUT"), get("AGENTLESS_CHECKOUT"));
    let tmp = tempfile::tempdir().unwrap();
    compare(&swerl, &agentless, tmp.path(), false);
}

/// `--locations`: the repair stage repairs the given files without a localization (no
/// request, no artifact); the answer is recorded for the exact request built from them.
#[test]
fn given_locations_skip_localization() {
    use agentless_mini::cli::{Cli, Command as Cmd};
    use agentless_mini::pipeline::localize::Locations;
    use agentless_mini::pipeline::repair;
    use clap::Parser as _;
    use common::replay::{demo_cache, replay_line};

    let tmp = tempfile::tempdir().unwrap();
    let id = "agentless-demo__slugkit-58";
    let locations = tmp.path().join("gt_loc.jsonl");
    fs_err::write(
        &locations,
        format!("{{\"instance_id\":\"{id}\",\"found_files\":[\"slugkit/slugify.py\"]}}\n"),
    )
    .unwrap();
    let replay = tmp.path().join("replay.jsonl");
    let run_dir = tmp.path().join("run");
    let repos = tmp.path().join("repos");
    let argv: Vec<String> = [
        "repair",
        "--split",
        "demo",
        "--instances",
        id,
        "--num-samples",
        "1",
        "--no-progress",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        "--model".into(),
        format!("replay:{}", replay.display()),
        "--locations".into(),
        locations.display().to_string(),
        "--run-dir".into(),
        run_dir.display().to_string(),
        "--repos-dir".into(),
        repos.display().to_string(),
    ])
    .collect();
    let cli = Cli::parse_from(std::iter::once("agentless-mini".to_owned()).chain(argv.iter().cloned()));
    let Cmd::Repair(args) = cli.command else {
        panic!("not repair")
    };
    let settings = args.pipeline.settings();
    let inst = agentless_mini::demo::instances()
        .unwrap()
        .into_iter()
        .find(|i| i.instance_id == id)
        .unwrap();
    let snap = demo_cache(&repos).snapshot(&inst).unwrap();
    let given = Locations::parse("gt_loc.jsonl", &fs_err::read_to_string(&locations).unwrap()).unwrap();
    let sets = given.localization(id).unwrap().location_sets();
    let contents = repair::read_contents(&inst, &snap, &sets);
    let job = repair::job(&settings, &inst, &sets, &contents, 1, 0);
    assert!(job.prompt.contains("### slugkit/slugify.py\n"));
    assert!(!job.prompt.contains("### slugkit/unique.py"));
    let samples: Value =
        serde_json::from_str(&fs_err::read_to_string(root().join(format!("datasets/demo/samples/{id}.json"))).unwrap())
            .unwrap();
    let correct = samples["repair"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "correct")
        .unwrap()["output"]
        .as_str()
        .unwrap()
        .to_owned();
    fs_err::write(&replay, replay_line(&job, &correct).to_string() + "\n").unwrap();
    run_ok(bin().args(&argv));
    let dir = run_dir.join("instances").join(id);
    assert!(!dir.join("localize.jsonl").exists(), "no localization artifact");
    let repair_file = fs_err::read_to_string(dir.join("repair.jsonl")).unwrap();
    let sample: Value = repair_file
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "record" && v["data"]["kind"] == "sample")
        .unwrap()["data"]
        .clone();
    assert_eq!(sample["outcome"]["kind"], "patch", "{sample}");
    assert!(
        sample["outcome"]["patch"]
            .as_str()
            .unwrap()
            .starts_with("diff --git a/slugkit/slugify.py")
    );
    let settings_json: Value =
        serde_json::from_str(&fs_err::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(settings_json["prompts"]["default"], true, "{settings_json}");
    assert!(settings_json["locations"]["sha256"].is_string(), "{settings_json}");
    // An instance missing from the file is an error of that instance, named.
    let other = run_ok_status(
        bin()
            .args([
                "repair",
                "--split",
                "demo",
                "--instances",
                "agentless-demo__datespan-14",
                "--num-samples",
                "1",
            ])
            .arg("--model")
            .arg(format!("replay:{}", replay.display()))
            .arg("--locations")
            .arg(&locations)
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--repos-dir")
            .arg(&repos),
    );
    assert_eq!(other.0, Some(3), "{}", other.1);
    assert!(other.1.contains("not in the --locations file"), "{}", other.1);
}

fn run_ok_status(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().expect("the command starts");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
