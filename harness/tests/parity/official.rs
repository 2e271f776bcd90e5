//! Parity with the official swebench parsers and grading, run side by side.
//!
//! Thousands of logs are generated from real lines of the oracle logs in `../shared` plus
//! adversarial fragments (Python-only whitespace, ANSI codes, `\r`, ` - `, `[N]`, odd status
//! prefixes), parsed by every parser here and by the official Python code (4.1.0 and 5.x,
//! `scripts/official_parse.py`), and the ordered status maps must be identical. Grading of
//! random status maps against random FAIL_TO_PASS / PASS_TO_PASS lists is compared likewise.
//!
//! The interpreters come from `SWEBENCH4_PYTHON` and `SWEBENCH5_PYTHON` (set up by `.ci/run`,
//! or `scripts/setup-parity-env.sh` locally). Missing interpreters fail the test.

use std::io::Write as _;
use std::process::{Command, Stdio};

use agentless_harness::dataset::Instance;
use agentless_harness::grade::{GradingMode, grade_tests};
use agentless_harness::parse::{LogParser, ParserRules, StatusMap, TestStatus};
use serde_json::{Value, json};

use crate::common::{oracle_logs, parity_python, workspace};

/// A tiny deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const TEMPLATES: &[&str] = &[
    "PASSED tests/test_a.py::test_x[{p}]",
    "FAILED tests/t.py::T::test_{p} - AssertionError: a - b",
    "FAILED tests/t.py::test_{p}",
    "SKIPPED [1] tests/x.py:12: reason {p}",
    "SKIPPED [12] tests/x.py:12: reason",
    "PASSED [100%]",
    "XFAIL t.py::a_{p} - reason",
    "ERROR t.py::b_{p}",
    "PASSEDfoo bar",
    "t.py::x_{p} PASSED",
    "t.py::x_{p} PASSED [ 50%]",
    "a b c PASSED",
    "t.py::y XPASSED",
    "\u{1b}[32mPASSED\u{1b}[0m t.py::c_{p}",
    "[1mFAILED[0m t.py::d - x",
    "test_foo_{p} (mod.Class) ... ok",
    "Docstring line {p}. ... ok",
    "test_x (a.B) ... skipped 'why'",
    "test_y_{p} (a.B) ... FAIL",
    "FAIL: test_y_{p} (a.B)",
    "ERROR: test_z (a.B)",
    "test_z ... ERROR",
    "test_q (a.B) ...  OK",
    "ok",
    "  ok  ",
    "Applying sites.0002_alter_domain_unique...test_no_migrations (x.Y) ... ok",
    "test_sym_{p} ok",
    "test_sym_{p} F",
    "test_sym_{p} E",
    "test_sym_{p} f",
    "________ sympy/core/tests/test_x.py:test_{p} ________",
    "--version is equivalent to version",
    "test_a (b.C) ... Testing against Django installed in '/x' (0 silenced).",
    "test_a (b.C) ... System check identified no issues (0 silenced).",
    "test_b (b.C) ... Internal Server Error: /a/b/",
    "PASSED lib/t.py::test_mpl[MouseButton.LEFT-{p}]",
    "FAILED lib/t.py::test_mpl[MouseButton.RIGHT] - x",
    "PASSED t.py::test_opt[/tmp/a/{p}.py]",
    "PASSED t.py::test_opt[//x/y]",
    "FAILED t.py::test_opt[/a/*] - boom",
    "PASSED t.py::test_opt[rel/path]",
    "PASSED",
    " PASSED ",
    "x PASSED y",
    "PASSED x PASSED y",
    "tests/test_a.py::test_x PASSED                  [ 10%]",
];

const NOISE: &[&str] = &[
    " ",
    "  ",
    "\t",
    "\u{1c}",
    "\u{1f}",
    "\u{a0}",
    "\u{3000}",
    "\r",
    " - ",
    "[",
    "]",
    "\u{1b}[0m",
    "[31m",
    " ... ",
    "ok",
    " ok",
    "E",
    " F",
    "PASSED",
    ":",
    "::",
    "é",
    "\u{2028}",
    "\u{85}",
    "\n",
];

fn corpus() -> Vec<String> {
    let mut lines = Vec::new();
    let dir = oracle_logs();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("oracle logs")
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(bytes) = std::fs::read(e.path().join("test_output.txt")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        // Keep lines that look like results, plus some context lines.
        for (i, l) in text.split('\n').enumerate() {
            if i % 7 == 0
                || l.contains("PASS")
                || l.contains("FAIL")
                || l.contains(" ... ")
                || l.contains(" ok")
                || l.contains("ERROR")
            {
                lines.push(l.chars().take(300).collect());
            }
        }
    }
    lines.sort();
    lines.dedup();
    lines
}

fn make_line(rng: &mut Rng, corpus: &[String]) -> String {
    let mut line = if rng.below(3) == 0 {
        rng.pick(corpus).clone()
    } else {
        rng.pick(TEMPLATES).replace("{p}", &rng.below(5).to_string())
    };
    for _ in 0..rng.below(3) {
        if rng.below(2) == 0 {
            let noise = rng.pick(NOISE);
            let chars: Vec<char> = line.chars().collect();
            let at = rng.below(chars.len() + 1);
            line = chars[..at].iter().collect::<String>() + noise + &chars[at..].iter().collect::<String>();
        }
    }
    line
}

fn make_log(rng: &mut Rng, corpus: &[String]) -> String {
    let n = 1 + rng.below(12);
    let sep = if rng.below(4) == 0 { "\r\n" } else { "\n" };
    (0..n).map(|_| make_line(rng, corpus)).collect::<Vec<_>>().join(sep)
}

fn run_python(py: &str, requests: &[Value]) -> Vec<Value> {
    let script = workspace().join("scripts/official_parse.py");
    let mut child = Command::new(py)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    let mut input = String::new();
    for r in requests {
        input.push_str(&r.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python output");
    writer.join().expect("writer thread").expect("write to python");
    assert!(out.status.success(), "{py} {} failed", script.display());
    let text = String::from_utf8(out.stdout).expect("utf8");
    let res: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        res.len(),
        requests.len(),
        "python answered {} of {} requests",
        res.len(),
        requests.len()
    );
    res
}

const PARSERS: &[(&str, LogParser)] = &[
    ("parse_log_pytest", LogParser::Pytest),
    ("parse_log_pytest_options", LogParser::PytestOptions),
    ("parse_log_pytest_v2", LogParser::PytestV2),
    ("parse_log_matplotlib", LogParser::Matplotlib),
    ("parse_log_seaborn", LogParser::Seaborn),
    ("parse_log_sympy", LogParser::Sympy),
    ("parse_log_django", LogParser::Django),
];

fn map_json(map: &StatusMap) -> Value {
    Value::Array(map.iter().map(|(k, v)| json!([k, v.as_str()])).collect())
}

/// Python stores odd status strings verbatim; we keep them as `Other`. Normalise for comparison.
fn normalise_python_map(v: &Value) -> Value {
    let pairs = v.as_array().expect("pairs");
    Value::Array(
        pairs
            .iter()
            .map(|p| {
                let s = p[1].as_str().unwrap_or("");
                let st = TestStatus::from_token(s).map_or("OTHER", TestStatus::as_str);
                json!([p[0], st])
            })
            .collect(),
    )
}

fn parser_parity(var: &str, rules: ParserRules) {
    let py = parity_python(var, if var.contains('4') { "swebench4" } else { "swebench5" });
    let corpus = corpus();
    assert!(corpus.len() > 1000, "oracle corpus too small: {}", corpus.len());
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let logs: Vec<String> = (0..1500).map(|_| make_log(&mut rng, &corpus)).collect();
    let mut requests = Vec::new();
    for log in &logs {
        for (name, _) in PARSERS {
            requests.push(json!({"kind": "parse", "parser": name, "log": log}));
        }
    }
    let answers = run_python(&py, &requests);
    let (mut compared, mut raised, mut nonempty) = (0, 0, 0);
    for (i, ans) in answers.iter().enumerate() {
        let log = &logs[i / PARSERS.len()];
        let (name, parser) = PARSERS[i % PARSERS.len()];
        if ans.get("error").is_some() {
            raised += 1;
            continue;
        }
        let ours = map_json(&parser.parse_with(log, rules));
        let theirs = normalise_python_map(&ans["map"]);
        assert_eq!(ours, theirs, "{name} ({rules:?}) differs on log {log:?}");
        compared += 1;
        if ours.as_array().is_some_and(|a| !a.is_empty()) {
            nonempty += 1;
        }
    }
    assert!(
        raised * 20 < answers.len(),
        "python raised on {raised} of {} inputs",
        answers.len()
    );
    assert!(
        nonempty * 3 > compared,
        "too few logs produced results ({nonempty}/{compared}): generator is too weak"
    );
}

#[test]
fn parsers_match_official_4_1_0() {
    parser_parity("SWEBENCH4_PYTHON", ParserRules::V4);
}

#[test]
fn parsers_match_official_5_x() {
    parser_parity("SWEBENCH5_PYTHON", ParserRules::V5);
}

fn instance(f2p: Vec<String>, p2p: Vec<String>, eval_type: &str) -> Instance {
    Instance {
        instance_id: "x__y-1".into(),
        repo: "x/y".into(),
        base_commit: "0".into(),
        patch: String::new(),
        test_patch: String::new(),
        problem_statement: String::new(),
        hints_text: String::new(),
        created_at: String::new(),
        version: String::new(),
        environment_setup_commit: String::new(),
        fail_to_pass: f2p,
        pass_to_pass: p2p,
        difficulty: None,
        eval_script: None,
        log_parser: None,
        eval_type: Some(eval_type.into()),
        image: None,
    }
}

fn grading_parity(var: &str, mode: GradingMode) {
    let py = parity_python(var, if var.contains('4') { "swebench4" } else { "swebench5" });
    let mut rng = Rng(0xfeed_0042);
    let ids: [&str; 9] = [
        "t.py::a",
        "t.py::a[x-1]",
        "t.py::a[x-2]",
        "t.py::a[x",
        "t.py::b[(1",
        "t.py::b[(1, 2)]",
        "c",
        "d",
        "t.py::a[y",
    ];
    let statuses: [&str; 5] = ["PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"];
    let mut cases = Vec::new();
    for _ in 0..3000 {
        let mut map = StatusMap::new();
        for _ in 0..rng.below(6) {
            map.insert(
                rng.pick(&ids[..]).to_string(),
                TestStatus::from_token(*rng.pick(&statuses[..])).expect("status"),
            );
        }
        let f2p: Vec<String> = (0..rng.below(4)).map(|_| rng.pick(&ids[..]).to_string()).collect();
        let p2p: Vec<String> = (0..rng.below(4)).map(|_| rng.pick(&ids[..]).to_string()).collect();
        let et = if rng.below(5) == 0 {
            "fail_only"
        } else {
            "pass_and_fail"
        };
        cases.push((map, f2p, p2p, et));
    }
    let requests: Vec<Value> = cases
        .iter()
        .map(|(m, f, p, et)| json!({"kind": "grade", "map": map_json(m), "f2p": f, "p2p": p, "eval_type": et}))
        .collect();
    let answers = run_python(&py, &requests);
    for ((map, f2p, p2p, et), ans) in cases.iter().zip(&answers) {
        let ours = grade_tests(&instance(f2p.clone(), p2p.clone(), et), map, mode);
        let got = json!({"f2p": ours.fail_to_pass, "p2p": ours.pass_to_pass});
        assert_eq!(
            got, *ans,
            "grading differs ({mode}) for map {map:?} f2p {f2p:?} p2p {p2p:?} {et}"
        );
    }
}

#[test]
fn grading_matches_official_4_1_0() {
    grading_parity("SWEBENCH4_PYTHON", GradingMode::V4);
}

#[test]
fn grading_matches_official_5_x() {
    grading_parity("SWEBENCH5_PYTHON", GradingMode::V5);
}
