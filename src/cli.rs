//! The command line: clap derive types only. Each subcommand's arguments live with its
//! implementation in `commands/`; shared argument groups live here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;

/// Agentless Mini (SWE-RL) on SWE-bench: localize, repair, test, rerank, and evaluate.
#[derive(Debug, Parser)]
#[command(name = "agentless-mini", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). `AGENTLESS_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// No progress bars (also when stderr is not a terminal, or `AGENTLESS_NO_PROGRESS` is set).
    #[arg(long, global = true, env = "AGENTLESS_NO_PROGRESS")]
    pub no_progress: bool,
    /// When stderr is not a terminal, print a plain status line this often (seconds; 0: never).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30)]
    pub progress_interval: u64,
    /// Colour in log lines: auto (only on a terminal, and not when NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether stderr gets ANSI codes.
    pub fn ansi_on_stderr(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

const EVAL_EXAMPLES: &str = "Examples:
  # The demo split on the embedded local model (no network, no GPU):
  agentless-mini eval --split demo
  # The paper's setting against an OpenAI-compatible server (key from OPENAI_API_KEY):
  agentless-mini eval --split verified --model http://gpu-box:8000/v1 --run-dir runs/my-model \\
      --num-samples 500 --temperature 1.0 --num-repro-tests 30
  # One shard of eight, predictions only:
  agentless-mini eval --split verified --shard 3/8 --run-dir runs/shard3 --no-evaluate
  # A machine-readable summary for CI:
  agentless-mini eval --split demo --json summary.json
  # On a Slurm cluster: 64 requeueable tasks and a merging job (run dir on a shared filesystem):
  agentless-mini eval --split verified --model http://gpu-box:8000/v1 --run-dir /shared/runs/m \\
      --executor slurm --shards 64 --slurm-arg=--partition=cpu --slurm-arg=--cpus-per-task=16";

const EVALUATE_EXAMPLES: &str = "Examples:
  # The dataset's own patches (every instance should resolve):
  agentless-mini evaluate --split demo --predictions gold --run-id gold-check
  # A predictions file, the official harness's way, with JUnit and a JSON summary:
  agentless-mini evaluate --dataset SWE-bench/SWE-bench_Verified --predictions preds.jsonl \\
      --run-id nightly --junit junit.xml --json summary.json
  # Spread over a Slurm cluster; print the job ids and return, follow later:
  agentless-mini evaluate --split verified --predictions preds.jsonl --run-id nightly \\
      --executor slurm --shards 32 --detach
  agentless-mini status --run-dir nightly.cluster --follow";

/// `--split`'s closed list, each value with what it means.
fn split_values() -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    clap::builder::PossibleValuesParser::new([
        PossibleValue::new("verified").help("SWE-bench Verified, 500 instances (Hugging Face, cached)"),
        PossibleValue::new("lite").help("SWE-bench Lite's test split, 300 instances (Hugging Face, cached)"),
        PossibleValue::new("full").help("SWE-bench's test split, 2,294 instances (Hugging Face, cached)"),
        PossibleValue::new("demo").help("5 small instances embedded in the tool (no download, no images to pull)"),
        PossibleValue::new("test").help("with --dataset REPO_ID: that repository's test split"),
        PossibleValue::new("dev").help("with --dataset REPO_ID: that repository's dev split"),
    ])
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole Agentless Mini pipeline, write predictions.jsonl and evaluate them.
    #[command(after_help = EVAL_EXAMPLES)]
    Eval(Box<commands::eval::EvalArgs>),
    /// Pipeline stage: file-level localization.
    #[command(mut_args(stage_help::localize))]
    Localize(Box<commands::localize::LocalizeArgs>),
    /// Pipeline stage: repair samples (SEARCH/REPLACE edits to patches).
    #[command(mut_args(stage_help::repair))]
    Repair(Box<commands::repair::RepairArgs>),
    /// Pipeline stage: reproduction tests (generate, run on the original code, vote).
    #[command(mut_args(stage_help::gen_tests))]
    GenTests(Box<commands::gen_tests::GenTestsArgs>),
    /// Pipeline stage: regression tests (passing on the original code, filtered by the model).
    #[command(mut_args(stage_help::select_regression))]
    SelectRegression(Box<commands::select_regression::SelectRegressionArgs>),
    /// Pipeline stage: run every distinct candidate patch against the tests in containers.
    #[command(mut_args(stage_help::execute))]
    Execute(Box<commands::execute::ExecuteArgs>),
    /// Pipeline stage: rerank the candidates and write predictions.jsonl.
    #[command(mut_args(stage_help::rerank))]
    Rerank(Box<commands::rerank::RerankArgs>),
    /// Grade SWE-bench test logs exactly as the official harness does.
    Grade(commands::grade::GradeArgs),
    /// Load a dataset (split or file) and print its instances, or a summary.
    Dataset(commands::dataset::DatasetCmdArgs),
    /// Evaluate predictions in Docker, as the official SWE-bench harness does.
    // `--timeout` was the eval-script timeout here: kept as a hidden alias of --eval-timeout.
    #[command(after_help = EVALUATE_EXAMPLES, mut_arg("eval_timeout", |a| a.alias("timeout")))]
    Evaluate(Box<commands::evaluate::EvaluateArgs>),
    /// Remove containers left by a crashed run (and, with --images, built images).
    Clean(commands::clean::CleanArgs),
    /// Compare two runs (newly resolved / broken); exit 5 when NEW drops more than --max-drop.
    Compare(commands::compare::CompareArgs),
    /// Submit predictions to the SWE-bench API (the sb-cli flow) and save the report.
    // `--instances`, as every other command spells it, and `--wait-timeout` (every other
    // `--*-timeout` bounds a run, not a wait); the old spellings are hidden aliases.
    #[command(
        mut_arg("instance_ids", |a| a.long("instances").alias("instance-ids")),
        mut_arg("timeout", |a| a.long("wait-timeout").alias("timeout"))
    )]
    Submit(Box<commands::submit::SubmitArgs>),
    /// Write a run as a SWE-bench experiments submission folder (the leaderboard layout).
    Export(Box<commands::export::ExportArgs>),
    /// Read another tool's artifacts into a run directory (swe-rl's Agentless Mini files), to
    /// execute and rerank them here.
    Import(commands::import::ImportArgs),
    /// Write a self-contained HTML report of a run (rates, scaling curves, losses, cost, time).
    // `--timeout` was the eval-script timeout of --grade-candidates: kept as a hidden alias.
    #[command(mut_arg("eval_timeout", |a| a.alias("timeout")))]
    Report(Box<commands::report::ReportArgs>),
    /// The SWE-RL reward of JSONL requests (search/replace or unidiff), or of predictions
    /// against the gold patches (--gold); bit-exact with swe-rl's reward.py.
    Reward(commands::reward::RewardArgs),
    /// Ask the model once and print the completions (check an endpoint, folder or GGUF file).
    Chat(Box<commands::chat::ChatArgs>),
    /// Serve a model over the OpenAI-compatible API (chat completions with n, model list).
    Serve(Box<commands::serve::ServeArgs>),
    /// Progress of a cluster run (`eval` / `evaluate --executor slurm`), or follow it (--follow).
    Status(crate::cluster::status::StatusArgs),
    /// A capacity plan on paper: model requests, tokens, container runs and container-hours
    /// of an `eval` with the same flags.
    Plan(Box<crate::cluster::plan::PlanArgs>),
    /// One task of a cluster run, as the batch script starts it (internal).
    #[command(hide = true)]
    SlurmTask(crate::cluster::task::TaskArgs),
    /// Prompt sets: import a reference checkout's prompts, show the exact messages of a stage.
    Prompts(commands::prompts::PromptsArgs),
    /// The pipeline's Python checks (syntax, voting key) on JSONL requests, for the parity
    /// script scripts/python-parity.py.
    #[command(hide = true)]
    Pycheck(commands::pycheck::PycheckArgs),
    /// Print a shell completion script (e.g. `agentless-mini completions bash > /etc/bash_completion.d/agentless-mini`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the SWE-bench instances come from, and which of them to take.
#[derive(Debug, Args, Clone, Default)]
pub struct DatasetArgs {
    /// Which dataset: a named split, or the split of the repository id given to --dataset.
    #[arg(long, value_parser = split_values())]
    pub split: Option<String>,
    /// A local dataset file (.parquet, .json list or .jsonl), or a Hugging Face dataset
    /// repository id (SWE-bench/SWE-bench_Verified, princeton-nlp/SWE-bench_Lite, ...) read
    /// with --split test (the default) or dev.
    #[arg(long, value_name = "FILE|REPO_ID")]
    pub dataset: Option<PathBuf>,
    /// The hub revision (branch, tag or commit) of a named split or repository id.
    #[arg(long, default_value = "main")]
    pub revision: String,
    /// Only these instance ids (comma-separated). An unknown id is an error.
    #[arg(long, value_delimiter = ',')]
    pub instances: Vec<String>,
    /// Only the instance ids listed in this file (one per line; `#` starts a comment).
    #[arg(long)]
    pub instances_file: Option<PathBuf>,
}

/// Which flags each pipeline stage command shows in its help. Every stage takes the whole
/// set of pipeline flags (a stage recomputes the keys of the artifacts it reads, so the
/// flags of earlier stages still apply and stay visible); hidden are only those that cannot
/// matter to it: the runtime knobs of a service it does not use (containers, the model), the
/// flags of test stages it does not read, and `--model-name` before predictions exist.
/// Hidden flags are still accepted.
pub mod stage_help {
    use clap::Arg;

    /// Limits and knobs of containers: never part of a key.
    const CONTAINER_RUNTIME: &[&str] = &[
        "workers",
        "network",
        "force_rebuild",
        "memory",
        "cpus",
        "pids_limit",
        "disk",
        "max_output",
    ];
    /// Which images: part of the keys of the stages that run containers.
    const CONTAINER_IMAGES: &[&str] = &["namespace", "instance_image_tag", "arch", "specs"];
    /// How the model is reached and paced, and what its tokens cost: never part of a key.
    const MODEL_RUNTIME: &[&str] = &[
        "api_key_env",
        "max_concurrent_requests",
        "request_timeout",
        "max_attempts",
        "n_per_request",
        "record",
        "threads",
        "device",
        "max_batch",
        "offline",
        "price_per_mtok_in",
        "price_per_mtok_out",
    ];
    const REPRO: &[&str] = &[
        "no_repro",
        "repro_samples",
        "repro_batch",
        "repro_context_tokens",
        "repro_temperature",
        "num_repro_tests",
        "repro_timeout",
    ];
    const REGRESSION: &[&str] = &["no_regression", "no_regression_filter", "regression_timeout"];
    const PREDICTIONS: &[&str] = &["model_name"];

    fn hide_in(a: Arg, groups: &[&[&str]]) -> Arg {
        let id = a.get_id().as_str();
        if groups.iter().any(|g| g.contains(&id)) {
            a.hide(true)
        } else {
            a
        }
    }

    pub fn localize(a: Arg) -> Arg {
        hide_in(
            a,
            &[CONTAINER_RUNTIME, CONTAINER_IMAGES, REPRO, REGRESSION, PREDICTIONS],
        )
    }
    pub fn repair(a: Arg) -> Arg {
        localize(a)
    }
    pub fn gen_tests(a: Arg) -> Arg {
        hide_in(a, &[REGRESSION, PREDICTIONS])
    }
    pub fn select_regression(a: Arg) -> Arg {
        hide_in(a, &[REPRO, PREDICTIONS])
    }
    pub fn execute(a: Arg) -> Arg {
        hide_in(a, &[MODEL_RUNTIME, PREDICTIONS])
    }
    pub fn rerank(a: Arg) -> Arg {
        hide_in(a, &[MODEL_RUNTIME, CONTAINER_RUNTIME])
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    fn help(cmd: &str) -> String {
        let mut c = Cli::command();
        c.build();
        let sub = c.find_subcommand_mut(cmd).unwrap_or_else(|| panic!("no {cmd}"));
        sub.render_long_help().to_string()
    }

    #[test]
    fn stage_commands_show_only_their_own_flags() {
        let eval = help("eval");
        for flag in [
            "--memory ",
            "--no-repro",
            "--regression-timeout",
            "--model-name",
            "--workers",
            "--eval-timeout",
        ] {
            assert!(eval.contains(flag), "eval --help lacks {flag}");
        }
        let localize = help("localize");
        for flag in [
            "--memory ",
            "--no-repro",
            "--regression-timeout",
            "--model-name",
            "--workers",
            "--specs",
        ] {
            assert!(!localize.contains(flag), "localize --help shows {flag}");
        }
        for flag in ["--num-samples", "--model ", "--demo-repos", "--max-concurrent-requests"] {
            assert!(localize.contains(flag), "localize --help lacks {flag}");
        }
        let execute = help("execute");
        assert!(execute.contains("--memory ") && execute.contains("--regression-timeout"));
        assert!(!execute.contains("--max-concurrent-requests") && !execute.contains("--model-name"));
        let gen_tests = help("gen-tests");
        assert!(gen_tests.contains("--repro-timeout") && !gen_tests.contains("--regression-timeout"));
        // Hidden flags are still accepted.
        assert!(Cli::try_parse_from(["a", "localize", "--split", "demo", "--memory", "4g", "--no-repro"]).is_ok());
        // No command shows an old spelling.
        for cmd in ["eval", "evaluate", "report", "submit", "chat"] {
            let h = help(cmd);
            for old in ["--memory-gib", "--model-concurrency", "--timeout ", "--instance-ids"] {
                assert!(!h.contains(old), "{cmd} --help shows {old}");
            }
        }
    }

    #[test]
    fn old_spellings_still_parse_with_their_old_meaning() {
        let cli =
            Cli::try_parse_from(["a", "eval", "--split", "demo", "--timeout", "77", "--memory-gib", "2"]).unwrap();
        let Command::Eval(e) = cli.command else {
            panic!("not eval")
        };
        assert_eq!(e.pipeline.regression_timeout, 77);
        assert_eq!(e.evaluation.eval_timeout, 1800);
        assert_eq!(e.pipeline.containers.memory_bytes(), 2 << 30);
        let cli = Cli::try_parse_from([
            "a",
            "evaluate",
            "--split",
            "demo",
            "--predictions",
            "gold",
            "--run-id",
            "r",
            "--timeout",
            "66",
        ])
        .unwrap();
        let Command::Evaluate(e) = cli.command else {
            panic!("not evaluate")
        };
        assert_eq!(e.evaluation.eval_timeout, 66);
        let cli = Cli::try_parse_from(["a", "report", "--run-dir", "x", "--timeout", "55"]).unwrap();
        let Command::Report(r) = cli.command else {
            panic!("not report")
        };
        assert_eq!(r.evaluation.eval_timeout, 55);
        let cli = Cli::try_parse_from(["a", "eval", "--split", "demo", "--model-concurrency", "3"]).unwrap();
        let Command::Eval(e) = cli.command else {
            panic!("not eval")
        };
        assert_eq!(e.pipeline.model.max_concurrent_requests, 3);
        for spelling in ["--instances", "--instance-ids"] {
            let cli = Cli::try_parse_from([
                "a",
                "submit",
                "--predictions",
                "p.jsonl",
                "--run-id",
                "r",
                spelling,
                "a,b",
            ])
            .unwrap_or_else(|e| panic!("{spelling}: {e}"));
            let Command::Submit(s) = cli.command else {
                panic!("not submit")
            };
            assert_eq!(s.instance_ids, ["a", "b"], "{spelling}");
        }
        for spelling in ["--wait-timeout", "--timeout"] {
            let cli = Cli::try_parse_from(["a", "submit", "--predictions", "p.jsonl", spelling, "9"]).unwrap();
            let Command::Submit(s) = cli.command else {
                panic!("not submit")
            };
            assert_eq!(s.timeout, 9.0, "{spelling}");
        }
    }
}
