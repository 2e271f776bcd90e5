//! `agentless-mini dataset`: resolve a split or file (downloading into the Hugging Face cache
//! when needed) and list its instances, or write them as JSONL.

use clap::Args;

use crate::cli::{DatasetArgs, GlobalArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::progress::DownloadBar;

#[derive(Debug, Args)]
pub struct DatasetCmdArgs {
    #[command(flatten)]
    pub source: DatasetArgs,
    /// Print the selected rows as JSONL (all columns) instead of one id per line.
    #[arg(long)]
    pub jsonl: bool,
}

pub async fn run(args: &DatasetCmdArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let bar = DownloadBar::new(global);
    let instances = super::load_instances(&args.source, &bar).await?;
    if instances.is_empty() {
        return Ok(ExitStatus::NothingSelected);
    }
    for inst in &instances {
        if args.jsonl {
            printer.data(&serde_json::to_string(inst)?);
        } else {
            printer.data(&format!("{}\t{}\t{}", inst.instance_id, inst.repo, inst.version));
        }
    }
    Ok(ExitStatus::Success)
}
