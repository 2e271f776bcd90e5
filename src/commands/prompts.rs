//! `agentless-mini prompts`: the prompt sets. `import` reads the prompt constants of a
//! swe-rl or Agentless checkout into a prompt-set file; `show` prints the exact messages a
//! stage would send for one instance (with `--json`, as the request's `messages` list).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::eval::PipelineArgs;
use crate::artifact::{RunDir, StageFile, StageId};
use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::pipeline::prompts::import::import;
use crate::pipeline::prompts::{Messages, PromptSet};
use crate::pipeline::repo::{RepoCache, default_repos_dir};
use crate::pipeline::{localize, regression, repair, repro};
use crate::printer::Printer;
use crate::progress::DownloadBar;

#[derive(Debug, Args)]
pub struct PromptsArgs {
    #[command(subcommand)]
    pub command: PromptsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// Read the prompt constants of a swe-rl and/or Agentless checkout into a prompt-set file.
    Import(ImportArgs),
    /// Print the exact messages a stage sends for one instance.
    Show(Box<ShowArgs>),
    /// Print the embedded default prompt set (a starting point for --prompts files).
    Default,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A checkout of facebookresearch/swe-rl or OpenAutoCoder/Agentless (repeatable; the first
    /// to give a stage wins).
    #[arg(long = "from", value_name = "DIR", required = true)]
    pub from: Vec<PathBuf>,
    /// The prompt-set file to write (TOML; `.json` for JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also send swe-rl's THINKING_SYSTEM as the repair system message (the RL training
    /// prompt; swe-rl's public inference code does not send it).
    #[arg(long)]
    pub thinking_system: bool,
}

/// Which prompt `show` renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowStage {
    Localize,
    Repair,
    /// The test-file prediction of the reproduction-test stage.
    TestFile,
    Repro,
    Regression,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The instance.
    #[arg(long)]
    pub instance: String,
    #[arg(long, value_enum)]
    pub stage: ShowStage,
    /// The sample index (localize: its randomized structure; repair: its location set and
    /// file order; repro: its temperature).
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
    /// repro: the predicted test file (default: the one in the run directory, if any).
    #[arg(long, value_name = "PATH")]
    pub test_file: Option<String>,
    /// regression: the passing tests, one per line (default: the run directory's).
    #[arg(long, value_name = "FILE")]
    pub tests: Option<PathBuf>,
    /// Print the request's messages as JSON (`[{"role", "content"}]`), byte-exact.
    #[arg(long)]
    pub json: bool,
    /// Count the context budgets with --model's tokenizer, as a run with that (local) model
    /// does (default: bytes / 4, as a run with an HTTP or replayed model).
    #[arg(long)]
    pub count_with_model: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub async fn run(args: &PromptsArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    match &args.command {
        PromptsCommand::Import(a) => {
            let imported = import(&a.from, a.thinking_system)?;
            let text = if a.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                serde_json::to_string_pretty(&imported.file)? + "\n"
            } else {
                format!(
                    "# Imported by agentless-mini prompts import; stages not listed here are the default set's.\n{}",
                    toml::to_string(&imported.file)?
                )
            };
            // Check that what is written reads back as the same set before writing it.
            let set = PromptSet::from_file(&a.out.display().to_string(), imported.file.clone())?;
            crate::artifact::write_atomic(&a.out, text.as_bytes())?;
            for (stage, origin) in &imported.origins {
                printer.summary(&format!("{stage}: {origin}"));
            }
            let missing: Vec<&str> = crate::pipeline::prompts::PromptStage::ALL
                .iter()
                .filter(|s| !imported.origins.iter().any(|(o, _)| o == *s))
                .map(|s| s.name())
                .collect();
            if !missing.is_empty() {
                printer.summary(&format!("the default set's: {}", missing.join(", ")));
            }
            printer.summary(&format!(
                "wrote {} (fingerprint {}) from {} file(s)",
                a.out.display(),
                &set.fingerprint()[..12],
                imported.read.len()
            ));
            Ok(ExitStatus::Success)
        }
        PromptsCommand::Default => {
            printer.data(include_str!("../pipeline/prompts/default.toml").trim_end());
            Ok(ExitStatus::Success)
        }
        PromptsCommand::Show(a) => show(a, global, &printer).await,
    }
}

fn print_messages(printer: &Printer, m: &Messages, json: bool) -> anyhow::Result<()> {
    if json {
        let mut list = Vec::new();
        if let Some(s) = &m.system {
            list.push(serde_json::json!({"role": "system", "content": s}));
        }
        list.push(serde_json::json!({"role": "user", "content": m.user}));
        printer.data(&serde_json::to_string(&list)?);
    } else {
        if let Some(s) = &m.system {
            printer.data(&format!("=== system ===\n{s}"));
        }
        printer.data(&format!("=== user ===\n{}", m.user));
    }
    Ok(())
}

async fn show(a: &ShowArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut dataset = a.pipeline.dataset.clone();
    dataset.instances = vec![a.instance.clone()];
    let instances = super::load_instances(&dataset, &DownloadBar::new(global)).await?;
    let Some(inst) = instances.into_iter().next() else {
        return Ok(ExitStatus::NothingSelected);
    };
    let mut s = a.pipeline.load_settings()?;
    if a.count_with_model {
        let model = a.pipeline.model.open(global).await?;
        s.tokens = crate::pipeline::context::TokenCounter::of_model(model);
    }
    let repos = RepoCache::new(
        a.pipeline.repos_dir.clone().unwrap_or_else(default_repos_dir),
        a.pipeline.containers.demo_repos_for(
            a.pipeline.dataset.dataset.as_deref().filter(|d| d.is_file()),
            std::slice::from_ref(&inst),
        )?,
    );
    let snap = {
        let inst = inst.clone();
        tokio::task::spawn_blocking(move || repos.snapshot(&inst)).await??
    };
    let run_dir = a
        .pipeline
        .run_dir
        .is_dir()
        .then(|| RunDir::create(&a.pipeline.run_dir))
        .transpose()?;
    let stage_file = |stage: StageId| -> anyhow::Result<Option<PathBuf>> {
        Ok(match &run_dir {
            Some(d) => Some(d.stage_file(&inst.instance_id, stage)?),
            None => None,
        })
    };
    let job = match a.stage {
        ShowStage::Localize => {
            let tree = localize::tree_for(&inst, &snap);
            let n = s.localize.samples.max(1);
            if a.sample >= n {
                usage_bail!("--sample {} is past the {n} localization samples", a.sample);
            }
            localize::job(&s, &inst, &tree, n, a.sample)
        }
        ShowStage::Repair => {
            let loc = match &s.locations {
                Some(given) => given.localization(&inst.instance_id)?,
                None => {
                    let path = stage_file(StageId::Localize)?;
                    match path.map(|p| crate::pipeline::sampling::read_finished::<localize::LocalizeSample>(&p)) {
                        Some(Ok(Some((key, samples, _)))) => localize::Localization { key, samples },
                        Some(Err(e)) => return Err(e.into()),
                        _ => usage_bail!(
                            "repair needs location sets: give --locations FILE, or a --run-dir with a finished localization of {}",
                            inst.instance_id
                        ),
                    }
                }
            };
            let sets = loc.location_sets();
            if sets.is_empty() {
                usage_bail!("{}: no location set (nothing to repair)", inst.instance_id);
            }
            let n = s.repair.samples.max(1);
            if a.sample >= n {
                usage_bail!("--sample {} is past the {n} repair samples", a.sample);
            }
            let contents = repair::read_contents(&inst, &snap, &sets);
            repair::job(&s, &inst, &sets, &contents, n, a.sample)
        }
        ShowStage::TestFile => repro::test_file_job(&s, &inst, &snap),
        ShowStage::Repro => {
            let chosen = match &a.test_file {
                Some(p) => Some(p.clone()),
                None => match stage_file(StageId::Repro)? {
                    Some(p) => {
                        StageFile::<crate::pipeline::sampling::Rec<repro::ReproRecord>>::read(&p)?.and_then(|f| {
                            f.records.into_iter().find_map(|r| match r {
                                crate::pipeline::sampling::Rec::Sample(repro::ReproRecord::TestFile {
                                    path, ..
                                }) => path,
                                _ => None,
                            })
                        })
                    }
                    None => None,
                },
            };
            repro::test_job(&s, &inst, &snap, chosen.as_deref(), a.sample.max(1))
        }
        ShowStage::Regression => {
            let passing: Vec<String> = match &a.tests {
                Some(p) => fs_err::read_to_string(p)?
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => {
                    let found = match stage_file(StageId::Regression)? {
                        Some(p) => StageFile::<regression::RegressionRecord>::read(&p)?.and_then(|f| {
                            f.records.into_iter().rev().find_map(|r| match r {
                                regression::RegressionRecord::Run { passing, .. } => Some(passing),
                                _ => None,
                            })
                        }),
                        None => None,
                    };
                    match found {
                        Some(p) => p,
                        None => usage_bail!(
                            "regression needs the passing tests: give --tests FILE, or a --run-dir where select-regression ran for {}",
                            inst.instance_id
                        ),
                    }
                }
            };
            let (m, _) = regression::filter_prompt(&s, &inst, &passing);
            print_messages(printer, &m, a.json)?;
            return Ok(ExitStatus::Success);
        }
    };
    let m = Messages {
        system: job.system,
        user: job.prompt,
    };
    print_messages(printer, &m, a.json)?;
    Ok(ExitStatus::Success)
}
