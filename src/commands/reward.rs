//! `agentless-mini reward`: the SWE-RL reward (bit-exact with swe-rl's `reward.py`) for a
//! stream of JSONL requests, or (`--gold`) for a predictions file against the dataset's gold
//! patches.
//!
//! The stream is read, scored on every core and written in input order, with bounded memory;
//! a line that cannot be scored gets an error line and the stream goes on. The protocol is
//! described in `swerl_reward::jsonl`.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;

use agentless_harness::predictions::load_predictions;
use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use swerl_reward::jsonl::{LineOutcome, error_line, result_line};
use swerl_reward::stream::{StreamOptions, StreamSummary, parallel_ordered, score_stream_with_progress};
use swerl_reward::unidiff_reward;

use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::{DownloadBar, bars_enabled};

#[derive(Debug, Args)]
pub struct RewardArgs {
    /// JSONL requests, one per line (default: stdin). With --gold: a predictions file.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Where to write one JSON result per line, in input order (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Score the predictions file given as --input against the gold patches of the dataset
    /// (--split or --dataset), with the unidiff reward.
    #[arg(long, requires = "input")]
    pub gold: bool,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Scoring threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Add each file's similarity to the results (`"files": [{"path", "similarity"}]`).
    #[arg(long)]
    pub per_file: bool,
}

pub async fn run(args: &RewardArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let mut opts = StreamOptions {
        per_file: args.per_file,
        ..StreamOptions::default()
    };
    if let Some(t) = args.threads {
        opts.threads = usize::from(t);
        opts.window = 32 * opts.threads;
    }
    let has_dataset = args.dataset.split.is_some()
        || args.dataset.dataset.is_some()
        || !args.dataset.instances.is_empty()
        || args.dataset.instances_file.is_some();
    if has_dataset && !args.gold {
        anyhow::bail!("--split, --dataset and --instances only apply with --gold");
    }
    if let Some(out) = &args.output {
        let mut inputs: Vec<(&str, &std::path::Path)> = Vec::new();
        if let Some(p) = &args.input {
            inputs.push(("--input", p.as_path()));
        }
        if let Some(p) = &args.dataset.dataset {
            inputs.push(("--dataset", p.as_path()));
        }
        if let Some(p) = &args.dataset.instances_file {
            inputs.push(("--instances-file", p.as_path()));
        }
        crate::outputs::refuse_overwrite(("--output", out.as_path()), &inputs)?;
    }
    let result = if args.gold {
        gold(args, global, opts).await
    } else {
        stream(args, global, opts)
    };
    let summary = match result {
        Ok(summary) => summary,
        Err(e) if is_broken_pipe(&e) => return Ok(ExitStatus::Success),
        Err(e) => return Err(e),
    };
    let mean = summary
        .mean_reward()
        .map_or_else(|| "-".to_owned(), |m| format!("{m:.4}"));
    let text = format!(
        "{} lines: {} scored, {} format errors (reward -1), {} not scorable; mean reward {mean}",
        summary.lines, summary.scored, summary.format_errors, summary.input_errors
    );
    match &args.output {
        Some(path) => printer.summary(&format!("{text} -> {}", path.display())),
        // stdout carries the results: keep it clean.
        None => printer.note(&text),
    }
    Ok(if summary.input_errors > 0 {
        ExitStatus::PartialErrors
    } else {
        ExitStatus::Success
    })
}

/// The results file (created only once the inputs are known to be readable), or stdout.
fn open_output(args: &RewardArgs) -> anyhow::Result<Box<dyn Write>> {
    Ok(match &args.output {
        Some(path) => Box::new(fs_err::File::create(path)?),
        None => Box::new(io::stdout()),
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// A line-count spinner on stderr (hidden unless bars are enabled).
fn line_bar(global: &GlobalArgs) -> ProgressBar {
    let bar = ProgressBar::hidden();
    if bars_enabled(global) {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} scored {pos} lines ({per_sec}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
    }
    bar
}

fn stream(args: &RewardArgs, global: &GlobalArgs, opts: StreamOptions) -> anyhow::Result<StreamSummary> {
    let bar = line_bar(global);
    let progress = |s: &StreamSummary| {
        bar.set_position(s.lines as u64);
        if s.input_errors > 0 {
            bar.set_message(format!("{} not scorable", s.input_errors));
        }
    };
    let summary = match &args.input {
        Some(path) => {
            let file = fs_err::File::open(path)?;
            score_stream_with_progress(file, open_output(args)?, opts, progress)
                .with_context(|| format!("scoring {}", path.display()))?
        }
        None => score_stream_with_progress(io::stdin(), open_output(args)?, opts, progress).context("scoring stdin")?,
    };
    bar.finish_and_clear();
    Ok(summary)
}

/// One prediction to score against its gold patch, or the error line for it.
enum GoldItem {
    Score { id: Value, gold: String, pred: String },
    Error(String),
}

async fn gold(args: &RewardArgs, global: &GlobalArgs, opts: StreamOptions) -> anyhow::Result<StreamSummary> {
    let Some(input) = &args.input else {
        anyhow::bail!("--gold needs --input PREDICTIONS")
    };
    let predictions = load_predictions(input)?;
    let instances = super::load_instances(&args.dataset, &DownloadBar::new(global)).await?;
    let selected = !args.dataset.instances.is_empty() || args.dataset.instances_file.is_some();
    let gold: HashMap<&str, &str> = instances
        .iter()
        .map(|i| (i.instance_id.as_str(), i.patch.as_str()))
        .collect();
    let mut items = Vec::with_capacity(predictions.len());
    for (n, p) in predictions.iter().enumerate() {
        let id = Value::String(p.instance_id.clone());
        match gold.get(p.instance_id.as_str()) {
            Some(patch) => items.push(GoldItem::Score {
                id,
                gold: (*patch).to_owned(),
                pred: p.model_patch.clone().unwrap_or_default(),
            }),
            // Not selected by --instances: not wanted, not an error.
            None if selected => {}
            None => items.push(GoldItem::Error(error_line(
                &id,
                n + 1,
                "instance is not in the dataset",
            ))),
        }
    }
    let bar = line_bar(global);
    let per_file = args.per_file;
    let work = |item: GoldItem| match item {
        GoldItem::Score { id, gold, pred } => result_line(&id, &Ok(unidiff_reward(&[gold], &[pred])), per_file),
        GoldItem::Error(line) => (line, LineOutcome::InputError),
    };
    let mut out = io::BufWriter::new(open_output(args)?);
    let mut summary = StreamSummary::default();
    parallel_ordered(
        items.into_iter().map(Ok),
        opts.threads,
        opts.window,
        work,
        |(line, outcome), _| {
            summary.add(outcome);
            bar.set_position(summary.lines as u64);
            writeln!(out, "{line}")
        },
    )
    .and_then(|()| out.flush())
    .context("writing the rewards")?;
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use clap::Parser as _;
    use serde_json::json;

    use super::*;
    use crate::cli::Cli;

    fn shared(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared").join(rel)
    }

    async fn run_cli(args: &[&str]) -> ExitStatus {
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        crate::run(cli).await.unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn read_jsonl(path: &Path) -> Vec<Value> {
        let text = fs_err::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn path_str(p: &Path) -> &str {
        p.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
    }

    /// The command on all 412 public vectors, on one thread and on four: every reward within
    /// 1e-9 of swe-rl's, results in input order, and the same bytes either way.
    #[tokio::test(flavor = "multi_thread")]
    async fn scores_every_public_vector_in_order() {
        let vectors_path = shared("data/reward-vectors/public.jsonl");
        let vectors = read_jsonl(&vectors_path);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (one, four) = (dir.path().join("one.jsonl"), dir.path().join("four.jsonl"));
        for (out, threads) in [(&one, "1"), (&four, "4")] {
            let status = run_cli(&[
                "agentless-mini",
                "-q",
                "reward",
                "--input",
                path_str(&vectors_path),
                "--output",
                path_str(out),
                "--threads",
                threads,
            ])
            .await;
            assert_eq!(status, ExitStatus::Success);
        }
        let results = read_jsonl(&one);
        assert_eq!(results.len(), vectors.len());
        for (v, r) in vectors.iter().zip(&results) {
            assert_eq!(r["id"], v["id"], "results must keep input order");
            let (got, want) = (
                r["reward"].as_f64().unwrap_or(f64::NAN),
                v["expected"].as_f64().unwrap_or(f64::NAN),
            );
            assert!(
                (got - want).abs() <= 1e-9,
                "{}: got {got}, swe-rl gives {want}",
                v["id"]
            );
            assert_eq!(r.get("format_error").is_some(), want == -1.0, "{r}");
        }
        assert_eq!(
            fs_err::read(&one).ok(),
            fs_err::read(&four).ok(),
            "thread count changed the output"
        );
    }

    /// Malformed lines get an error line each (with the id when readable, else the line
    /// number); the lines around them are still scored; the exit status says so.
    #[tokio::test(flavor = "multi_thread")]
    async fn bad_lines_get_error_lines_and_the_stream_goes_on() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let input = dir.path().join("in.jsonl");
        let good = json!({"id": "ok", "kind": "unidiff", "oracle_patches": ["--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"],
            "pred_patches": ["--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+c\n"]});
        let lines = [
            good.to_string(),
            "{\"id\": \"broken\", \"kind\": \"unidiff\"".to_owned(),
            json!({"id": "nokind", "oracle_patches": []}).to_string(),
            json!({"id": "sr", "kind": "search_replace", "code_context": {}, "oracle_new_content": {}}).to_string(),
            String::new(),
            json!({"id": "weird", "kind": "patch"}).to_string(),
            json!({"id": "fe", "kind": "search_replace", "code_context": {}, "oracle_new_content": {}, "output": "<think>x</think>"}).to_string(),
            good.to_string().replace("\"ok\"", "\"ok2\""),
        ];
        fs_err::write(&input, lines.join("\n")).unwrap_or_else(|e| panic!("{e}"));
        let output = dir.path().join("out.jsonl");
        let status = run_cli(&[
            "agentless-mini",
            "-q",
            "reward",
            "--input",
            path_str(&input),
            "--output",
            path_str(&output),
        ])
        .await;
        assert_eq!(status, ExitStatus::PartialErrors);
        let results = read_jsonl(&output);
        let ids: Vec<&Value> = results.iter().map(|r| &r["id"]).collect();
        assert_eq!(
            ids,
            [
                json!("ok"),
                Value::Null,
                json!("nokind"),
                json!("sr"),
                json!("weird"),
                json!("fe"),
                json!("ok2")
            ]
            .iter()
            .collect::<Vec<_>>()
        );
        // `-a +c` against `-a +b`: "@@ -1,1 +1,1 @@\n-a\n+c" vs "...+b", 20 of 21 chars: 2 * 20 / 42.
        let first = results[0]["reward"].as_f64().unwrap_or(f64::NAN);
        assert!((first - 2.0 * 20.0 / 42.0).abs() < 1e-15, "{}", results[0]);
        assert_eq!(results[1]["line"], json!(2));
        assert!(
            results[1]["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("invalid JSON")),
            "{}",
            results[1]
        );
        assert_eq!(results[2]["error"], json!("missing field `kind`"));
        assert_eq!(results[3]["error"], json!("missing field `output`"));
        assert_eq!(
            results[4]["line"],
            json!(6),
            "blank lines are skipped but still counted"
        );
        assert_eq!(results[5]["format_error"], json!("tag_count"));
        assert_eq!(results[5]["reward"], json!(-1.0));
        assert_eq!(results[6]["reward"], results[0]["reward"]);
    }

    /// `--gold` on SWE-bench Verified: each public unidiff vector whose oracle is exactly one
    /// instance's gold patch becomes that instance's prediction; the command must give
    /// swe-rl's number for it. Plus an unknown instance (an error line) and an empty patch (0).
    #[tokio::test(flavor = "multi_thread")]
    async fn gold_mode_matches_swe_rl_on_verified() {
        let dataset = shared("data/swe-bench/verified-2026-02-16.parquet");
        let instances = agentless_harness::dataset::load_dataset(&dataset).unwrap_or_else(|e| panic!("{e}"));
        let gold: HashMap<&str, &str> = instances
            .iter()
            .map(|i| (i.instance_id.as_str(), i.patch.as_str()))
            .collect();
        let mut seen = HashSet::new();
        let mut predictions = Vec::new();
        let mut expected = HashMap::new();
        for v in read_jsonl(&shared("data/reward-vectors/public.jsonl")) {
            let (Some(ids), Some(oracle), Some(pred)) = (
                v["instance_ids"].as_array(),
                v["oracle_patches"].as_array(),
                v["pred_patches"].as_array(),
            ) else {
                continue;
            };
            let (Some(id), [oracle], [pred]) =
                (ids.first().and_then(Value::as_str), oracle.as_slice(), pred.as_slice())
            else {
                continue;
            };
            if gold.get(id).copied() == oracle.as_str() && pred.is_string() && seen.insert(id.to_owned()) {
                predictions.push(json!({"instance_id": id, "model_name_or_path": "m", "model_patch": pred}));
                expected.insert(id.to_owned(), v["expected"].as_f64().unwrap_or(f64::NAN));
            }
        }
        assert!(predictions.len() >= 40, "only {} usable vectors", predictions.len());
        let empty_id = instances
            .iter()
            .map(|i| i.instance_id.as_str())
            .find(|id| !seen.contains(*id))
            .unwrap_or_default();
        predictions.push(json!({"instance_id": "nobody__nothing-1", "model_name_or_path": "m", "model_patch": "x"}));
        predictions.push(json!({"instance_id": empty_id, "model_name_or_path": "m", "model_patch": null}));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let preds = dir.path().join("preds.jsonl");
        let lines: Vec<String> = predictions.iter().map(Value::to_string).collect();
        fs_err::write(&preds, lines.join("\n")).unwrap_or_else(|e| panic!("{e}"));
        let output = dir.path().join("rewards.jsonl");
        let status = run_cli(&[
            "agentless-mini",
            "-q",
            "reward",
            "--gold",
            "--input",
            path_str(&preds),
            "--dataset",
            path_str(&dataset),
            "--output",
            path_str(&output),
            "--per-file",
        ])
        .await;
        assert_eq!(status, ExitStatus::PartialErrors, "the unknown instance is an error");
        let results = read_jsonl(&output);
        assert_eq!(results.len(), predictions.len());
        for r in &results[..results.len() - 2] {
            let id = r["id"].as_str().unwrap_or_default();
            let got = r["reward"].as_f64().unwrap_or(f64::NAN);
            assert!(
                (got - expected[id]).abs() <= 1e-9,
                "{id}: got {got}, swe-rl gives {}",
                expected[id]
            );
            assert!(r["files"].is_array(), "{r}");
        }
        assert_eq!(
            results[results.len() - 2]["error"],
            json!("instance is not in the dataset")
        );
        assert_eq!(results[results.len() - 1]["reward"], json!(0.0));
    }
}
