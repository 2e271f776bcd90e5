//! Loading the real SWE-bench files in ../shared: parquet as Hugging Face publishes it, the
//! same rows re-written as JSON and JSONL, and instance selection.

use agentless_harness::dataset::{load_dataset, read_id_file, select};

use crate::common::swe_bench as data;

#[test]
fn loads_every_shared_parquet_with_all_columns() {
    let v = load_dataset(&data("verified-2026-02-16.parquet")).expect("verified");
    assert_eq!(v.len(), 500);
    let lite = load_dataset(&data("lite-test.parquet")).expect("lite");
    assert_eq!(lite.len(), 300);
    let newer = load_dataset(&data("verified-2026-08.parquet")).expect("verified 2026-08");
    assert_eq!(newer.len(), 500);
    let d = v.iter().find(|i| i.instance_id == "django__django-10097").expect("row");
    let d2 = newer
        .iter()
        .find(|i| i.instance_id == "django__django-10097")
        .expect("row");
    assert_ne!(
        d.pass_to_pass, d2.pass_to_pass,
        "the documented relabel of django-10097 is visible"
    );
    for inst in &v {
        assert_eq!(inst.base_commit.len(), 40, "{}", inst.instance_id);
        assert!(!inst.fail_to_pass.is_empty(), "{}", inst.instance_id);
        assert!(
            inst.eval_script
                .as_deref()
                .is_some_and(|s| s.contains(">>>>> Start Test Output"))
        );
        assert!(inst.log_parser.is_some() && inst.image.is_some() && inst.difficulty.is_some());
    }
    let empty_p2p = v.iter().filter(|i| i.pass_to_pass.is_empty()).count();
    assert_eq!(empty_p2p, 11, "11 Verified instances have an empty PASS_TO_PASS");
    assert_eq!(v.iter().map(|i| i.fail_to_pass.len()).max(), Some(438));
}

#[test]
fn json_and_jsonl_copies_load_identically() {
    let v = load_dataset(&data("lite-test.parquet")).expect("lite");
    let dir = tempfile::tempdir().expect("tmp");
    let jsonl = dir.path().join("lite.jsonl");
    let lines: Vec<String> = v.iter().map(|i| serde_json::to_string(i).expect("ser")).collect();
    std::fs::write(&jsonl, lines.join("\n")).expect("write");
    assert_eq!(load_dataset(&jsonl).expect("jsonl"), v);
    // A JSON list whose test lists are JSON-encoded strings, as the official files have them.
    let json = dir.path().join("lite.json");
    let rows: Vec<serde_json::Value> = v
        .iter()
        .map(|i| {
            let mut o = serde_json::to_value(i).expect("value");
            o["FAIL_TO_PASS"] = serde_json::Value::String(serde_json::to_string(&i.fail_to_pass).expect("enc"));
            o["PASS_TO_PASS"] = serde_json::Value::String(serde_json::to_string(&i.pass_to_pass).expect("enc"));
            o
        })
        .collect();
    std::fs::write(&json, serde_json::to_string(&rows).expect("ser")).expect("write");
    assert_eq!(load_dataset(&json).expect("json"), v);
}

#[test]
fn selection_keeps_dataset_order_and_names_unknown_ids() {
    let v = load_dataset(&data("lite-test.parquet")).expect("lite");
    let dir = tempfile::tempdir().expect("tmp");
    let ids_file = dir.path().join("ids.txt");
    std::fs::write(
        &ids_file,
        "# chosen\nsympy__sympy-20590\n\ndjango__django-11099  # the validator one\n",
    )
    .expect("write");
    let ids = read_id_file(&ids_file).expect("ids");
    let sel = select(v.clone(), &ids).expect("select");
    let got: Vec<&str> = sel.iter().map(|i| i.instance_id.as_str()).collect();
    assert_eq!(
        got,
        ["django__django-11099", "sympy__sympy-20590"],
        "dataset order, not file order"
    );
    let err = select(v, &["django__django-11099".into(), "nope__nope-1".into()])
        .expect_err("unknown")
        .to_string();
    assert!(err.contains("nope__nope-1"), "{err}");
}

#[test]
fn bad_dataset_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, b"PAR1 not really").expect("write");
    let e = load_dataset(&bad).expect_err("bad parquet").to_string();
    assert!(e.contains("bad.parquet"), "{e}");
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "a,b").expect("write");
    assert!(
        load_dataset(&csv)
            .expect_err("csv")
            .to_string()
            .contains("unsupported file type")
    );
    let e = load_dataset(&dir.path().join("missing.jsonl"))
        .expect_err("missing")
        .to_string();
    assert!(e.contains("missing.jsonl"), "{e}");
}
