//! One module per subcommand: argument struct + `run`. Commands turn typed outcomes from the
//! libraries into output; they are the only code that prints (through `crate::printer`).

pub mod chat;
pub mod clean;
pub mod compare;
pub mod dataset;
pub mod eval;
pub mod evaluate;
pub mod execute;
pub mod export;
pub mod gen_tests;
pub mod grade;
pub mod localize;
pub mod model_args;
pub mod pycheck;
pub mod repair;
pub mod report;
pub mod rerank;
pub mod reward;
pub mod select_regression;
pub mod serve;
pub mod submit;

use anyhow::Context as _;

use crate::cli::DatasetArgs;

/// Print an error chain on stderr, once, the way every command reports a fatal error (the
/// structure goes to the debug log only, with `-vv`).
pub fn report_error(err: &anyhow::Error) {
    tracing::debug!("fatal error: {err:?}");
    #[expect(clippy::print_stderr, reason = "the one place a fatal error reaches the user")]
    {
        eprintln!("error: {err:#}");
    }
}

/// A usage or configuration error found after parsing (flags that do not go together, a
/// value out of range): the process exits with 2, as for clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Return a [`UsageError`] from the current function.
macro_rules! usage_bail {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::commands::UsageError(format!($($arg)*))))
    };
}

// After `usage_bail!`, which they use.
pub mod import;
pub mod prompts;

/// Resolve `--split` / `--dataset` and the instance filters to the selected instances.
pub async fn load_instances(
    args: &DatasetArgs,
    progress: &dyn agentless_harness::dataset::HubProgress,
) -> anyhow::Result<Vec<agentless_harness::dataset::Instance>> {
    Ok(load_instances_with_source(args, progress).await?.0)
}

/// As [`load_instances`], with where a hub dataset came from (repository, revision, commit,
/// sha256) for the run's records; `None` for files and the demo split.
pub async fn load_instances_with_source(
    args: &DatasetArgs,
    progress: &dyn agentless_harness::dataset::HubProgress,
) -> anyhow::Result<(
    Vec<agentless_harness::dataset::Instance>,
    Option<agentless_harness::dataset::ResolvedDataset>,
)> {
    use agentless_harness::dataset::{self as ds, HubConfig, HubDataset, Split};
    let hub = |repo: &str, split: &str| HubDataset {
        repo: repo.to_owned(),
        split: split.to_owned(),
        revision: args.revision.clone(),
    };
    let split = args.split.as_deref();
    let repo_id = args
        .dataset
        .as_ref()
        .filter(|d| !d.exists())
        .and_then(|d| d.to_str())
        .filter(|d| ds::looks_like_repo_id(d));
    let (instances, source) = match (&args.dataset, repo_id, split) {
        (Some(_), Some(repo), split) => {
            let split = match split {
                None | Some("test") => "test",
                Some("dev") => "dev",
                Some(other) => usage_bail!(
                    "--split {other} names a dataset of its own; with the repository id {repo} give its split: test or dev"
                ),
            };
            let found = ds::resolve_hub(&hub(repo, split), &HubConfig::from_env(), progress).await?;
            (ds::load_dataset(&found.path)?, Some(found))
        }
        (Some(path), None, Some(split)) => usage_bail!(
            "--split {split} cannot be combined with the dataset file {} (a file is the whole dataset)",
            path.display()
        ),
        (Some(path), None, None) => (ds::load_dataset(path)?, None),
        (None, _, Some(s @ ("test" | "dev"))) => usage_bail!(
            "--split {s} names the split of a Hugging Face repository: give it with --dataset REPO_ID \
             (e.g. --dataset SWE-bench/SWE-bench_Verified --split test), or use --split verified, lite or full"
        ),
        (None, _, Some(split)) => {
            let split: Split = split.parse()?;
            if split == Split::Demo {
                let instances = ds::demo::instances().context("loading the embedded demo split")?;
                (instances, None)
            } else {
                let repo = split.hub_repo().unwrap_or_default();
                let found = ds::resolve_hub(&hub(repo, "test"), &HubConfig::from_env(), progress).await?;
                (ds::load_dataset(&found.path)?, Some(found))
            }
        }
        (None, _, None) => usage_bail!("no dataset: pass --split NAME or --dataset FILE|REPO_ID"),
    };
    let mut ids = args.instances.clone();
    if let Some(file) = &args.instances_file {
        ids.extend(ds::read_id_file(file)?);
    }
    ids.retain(|s| !s.trim().is_empty());
    Ok((ds::select(instances, &ids)?, source))
}

/// Write the `--json` summary: to stdout (as data) or atomically to a file.
pub fn emit_json_summary(
    target: &crate::reporting::json::JsonTarget,
    summary: &crate::reporting::json::JsonSummary,
    printer: &crate::printer::Printer,
) -> anyhow::Result<()> {
    let text = summary.to_json();
    match target.file() {
        None => printer.data(text.trim_end()),
        Some(path) => crate::artifact::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing the --json summary {}", path.display()))?,
    }
    Ok(())
}
