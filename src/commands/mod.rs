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
pub mod repair;
pub mod report;
pub mod rerank;
pub mod reward;
pub mod select_regression;
pub mod serve;
pub mod submit;

use anyhow::Context as _;

use crate::cli::DatasetArgs;

/// Print an error chain on stderr, the way every command reports a fatal error.
pub fn report_error(err: &anyhow::Error) {
    tracing::error!("{err:#}");
    #[expect(clippy::print_stderr, reason = "the one place a fatal error reaches the user")]
    {
        eprintln!("error: {err:#}");
    }
}

/// Resolve `--split` / `--dataset` and the instance filters to the selected instances.
pub async fn load_instances(
    args: &DatasetArgs,
    progress: &dyn agentless_harness::dataset::HubProgress,
) -> anyhow::Result<Vec<agentless_harness::dataset::Instance>> {
    use agentless_harness::dataset::{self as ds, Split};
    let instances = match (&args.dataset, &args.split) {
        (Some(path), _) => ds::load_dataset(path)?,
        (None, Some(split)) => {
            let split: Split = split.parse()?;
            if split == Split::Demo {
                crate::demo::instances().context("loading the embedded demo split")?
            } else {
                let path = ds::resolve_split(split, &ds::HubConfig::from_env(), progress).await?;
                ds::load_dataset(&path)?
            }
        }
        (None, None) => anyhow::bail!("no dataset: pass --split NAME or --dataset FILE"),
    };
    let mut ids = args.instances.clone();
    if let Some(file) = &args.instances_file {
        ids.extend(ds::read_id_file(file)?);
    }
    ids.retain(|s| !s.trim().is_empty());
    Ok(ds::select(instances, &ids)?)
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
