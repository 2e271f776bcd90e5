//! `agentless-mini grade`: re-grade SWE-bench test logs with the official rules.
//!
//! Reads `LOGS/<instance_id>/test_output.txt` (and `patch.diff`: absent or blank means no
//! patch), writes `OUT/<instance_id>/report.json` and `OUT/run-report.json`, and beside each
//! report the integrity findings the log folder allows (`integrity.json`). A log whose
//! instance is not in the dataset, or that cannot be read, is an error that names it; the
//! others are still graded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentless_harness::dataset::{Instance, load_dataset};
use agentless_harness::grade::{GradingMode, classify_infra_failure, parser_for};
use agentless_harness::integrity::run::{Flagged, assess_log_folder, run_report_json};
use agentless_harness::integrity::{INTEGRITY_FILE, IntegrityReport};
use agentless_harness::report::{
    InstanceOutcome, RunReportFlavor, Verdict, VerdictKind, grade_instance, instance_report_json, make_run_report_as,
};
use anyhow::Context as _;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;

/// Logs larger than this are refused with an error rather than read into memory.
const MAX_LOG_BYTES: u64 = 1 << 30;

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The dataset the logs belong to (.parquet, .json or .jsonl).
    #[arg(long)]
    pub dataset: PathBuf,
    /// A folder with one sub-folder per instance holding `test_output.txt` (and `patch.diff`).
    #[arg(long)]
    pub logs: PathBuf,
    /// Where to write `<instance_id>/report.json` and `run-report.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Grading rules: v4 (swebench 4.1.0, the default) or v5 (swebench 5.x, stricter).
    #[arg(long, default_value = "v4")]
    pub grading: GradingMode,
}

/// One graded (or failed) log.
enum Graded {
    Ok {
        id: String,
        verdict: Verdict,
        integrity: Option<Box<IntegrityReport>>,
    },
    Failed {
        dir: String,
        error: anyhow::Error,
    },
}

pub fn run(args: &GradeArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let printer = Printer::new(global);
    let dataset = load_dataset(&args.dataset)?;
    let by_id: BTreeMap<&str, &Instance> = dataset.iter().map(|i| (i.instance_id.as_str(), i)).collect();
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(&args.logs)
        .with_context(|| format!("reading the logs folder {}", args.logs.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        printer.warn(&format!("no instance folders in {}", args.logs.display()));
        return Ok(ExitStatus::NothingSelected);
    }
    fs_err::create_dir_all(&args.out)?;
    let mut results = Vec::with_capacity(dirs.len());
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let graded = match by_id.get(name.as_str()) {
            None => Graded::Failed {
                dir: name.clone(),
                error: anyhow::anyhow!("instance {name} is not in the dataset {}", args.dataset.display()),
            },
            Some(inst) => match grade_dir(inst, dir, args.grading) {
                Ok(verdict) => Graded::Ok {
                    id: name.clone(),
                    verdict,
                    integrity: assess_log_folder(inst, dir).ok().map(Box::new),
                },
                Err(error) => Graded::Failed {
                    dir: name.clone(),
                    error,
                },
            },
        };
        results.push(graded);
    }
    let mut outcomes = BTreeMap::new();
    let mut errors = 0usize;
    let mut flagged = Flagged::default();
    for g in &results {
        match g {
            Graded::Ok { id, verdict, integrity } => {
                let report = verdict.report();
                let dest = args.out.join(id);
                fs_err::create_dir_all(&dest)?;
                write_atomic(&dest.join("report.json"), &instance_report_json(id, &report))?;
                if let Some(r) = integrity {
                    write_atomic(&dest.join(INTEGRITY_FILE), &r.to_json())?;
                    if r.flagged {
                        let kinds: Vec<String> = r.flagging_kinds().iter().map(ToString::to_string).collect();
                        printer.warn(&format!("{id}: flagged by integrity checks ({})", kinds.join(", ")));
                        flagged.ids.insert(id.clone());
                    }
                }
                if let VerdictKind::Rejected { why, .. } = &verdict.kind {
                    printer.note(&format!("{id}: not graded ({why}); reported as not applied"));
                }
                let outcome = match verdict.kind {
                    VerdictKind::NoPatch => InstanceOutcome::EmptyPatch,
                    _ => InstanceOutcome::Completed {
                        resolved: report.resolved,
                    },
                };
                outcomes.insert(id.clone(), outcome);
            }
            Graded::Failed { dir, error } => {
                errors += 1;
                printer.error(&format!("{dir}: {error:#}"));
                if by_id.contains_key(dir.as_str()) {
                    outcomes.insert(dir.clone(), InstanceOutcome::Error);
                }
            }
        }
    }
    // The official key set of the version graded with; `grade` has no Docker client.
    let flavor = RunReportFlavor {
        mode: args.grading,
        docker_client: false,
    };
    let classify = |id: &str| {
        let dir = args.logs.join(id);
        let text: Vec<String> = ["test_output.txt", "run_instance.log"]
            .iter()
            .filter_map(|f| std::fs::read(dir.join(f)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        classify_infra_failure(&text.join("\n"))
    };
    let run_report = make_run_report_as(&dataset, &outcomes, flavor, &classify);
    write_atomic(
        &args.out.join("run-report.json"),
        &run_report_json(&run_report, &flagged),
    )?;
    printer.summary(&format!(
        "graded {} logs: {} resolved, {} unresolved, {} without patch, {} errors, {} flagged ({} rules) -> {}",
        results.len(),
        run_report.resolved_instances,
        run_report.unresolved_instances,
        run_report.empty_patch_instances,
        errors,
        flagged.ids.len(),
        args.grading,
        args.out.display()
    ));
    Ok(if errors > 0 {
        ExitStatus::PartialErrors
    } else {
        ExitStatus::Success
    })
}

fn grade_dir(inst: &Instance, dir: &Path, mode: GradingMode) -> anyhow::Result<Verdict> {
    let parser = parser_for(inst).with_context(|| {
        format!(
            "no log parser known for repository {} (and no log_parser column)",
            inst.repo
        )
    })?;
    let log_path = dir.join("test_output.txt");
    let meta = fs_err::metadata(&log_path)?;
    if meta.len() > MAX_LOG_BYTES {
        anyhow::bail!(
            "{} is {} bytes, over the {} byte limit",
            log_path.display(),
            meta.len(),
            MAX_LOG_BYTES
        );
    }
    let bytes = fs_err::read(&log_path)?;
    // The official 4.1.0 crashes on non-UTF-8 output; 5.x decodes with replacement. We replace.
    let log = String::from_utf8_lossy(&bytes);
    let patch_path = dir.join("patch.diff");
    let has_patch = match fs_err::read(&patch_path) {
        Ok(p) => !p.iter().all(u8::is_ascii_whitespace),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    Ok(grade_instance(inst, parser, &log, has_patch, mode))
}

/// Write a whole file through a temporary sibling and a rename, so readers never see half.
pub fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, contents.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
