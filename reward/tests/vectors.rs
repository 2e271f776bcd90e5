//! Every public SWE-RL reward vector (`../shared/data/reward-vectors/public.jsonl`, made by
//! running swe-rl's own `reward.py` with unidiff 0.7.5) must come out within 1e-9 of its
//! `expected` value, through the library API and through the JSONL line protocol.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use swerl_reward::jsonl::{LineOutcome, score_line};
use swerl_reward::{reward_of, search_replace_reward, unidiff_reward};

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/reward-vectors/public.jsonl")
}

fn load() -> Vec<Value> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("vector JSON"))
        .collect()
}

fn files(v: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(v.clone()).expect("path -> text object")
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).expect("list of strings")
}

#[test]
fn all_public_vectors_match_upstream() {
    let vectors = load();
    assert_eq!(vectors.len(), 412, "public.jsonl should hold 412 vectors");
    let mut failures = Vec::new();
    let (mut search_replace, mut unidiff, mut format_errors) = (0, 0, 0);
    for v in &vectors {
        let id = v["id"].as_str().expect("id");
        let expected = v["expected"].as_f64().expect("expected");
        let got = match v["kind"].as_str() {
            Some("search_replace") => {
                search_replace += 1;
                let outcome = search_replace_reward(
                    &files(&v["code_context"]),
                    &files(&v["oracle_new_content"]),
                    v["output"].as_str().expect("output"),
                );
                if outcome.is_err() {
                    format_errors += 1;
                }
                reward_of(&outcome)
            }
            Some("unidiff") => {
                unidiff += 1;
                unidiff_reward(&strings(&v["oracle_patches"]), &strings(&v["pred_patches"])).reward
            }
            other => panic!("{id}: unknown kind {other:?}"),
        };
        if (got - expected).abs() > 1e-9 || !got.is_finite() {
            failures.push(format!("{id}: got {got}, expected {expected}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
    assert_eq!((search_replace, unidiff, format_errors), (267, 145, 66));
}

#[test]
fn the_line_protocol_gives_the_same_numbers() {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    for (n, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).expect("vector JSON");
        let expected = v["expected"].as_f64().expect("expected");
        let (out, outcome) = score_line(n + 1, line.as_bytes(), true);
        let result: Value = serde_json::from_str(&out).expect("result JSON");
        assert_eq!(result["id"], v["id"]);
        let reward = result["reward"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (reward - expected).abs() <= 1e-9,
            "{}: got {out}, expected {expected}",
            v["id"]
        );
        match outcome {
            LineOutcome::FormatError => {
                assert_eq!(expected, -1.0);
                assert!(
                    result["format_error"].is_string() && result["reason"].is_string(),
                    "{out}"
                );
            }
            LineOutcome::Scored(r) => {
                // serde_json's default float parsing may be off by an ulp; str::parse is exact.
                let written = out
                    .split("\"reward\":")
                    .nth(1)
                    .and_then(|rest| rest.split([',', '}']).next());
                assert_eq!(written.and_then(|w| w.parse::<f64>().ok()), Some(r), "{out}");
                assert!(result["files"].is_array(), "{out}");
            }
            LineOutcome::InputError => panic!("{}: {out}", v["id"]),
        }
    }
}
