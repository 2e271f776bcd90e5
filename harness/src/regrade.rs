//! Grading a folder of logs (`agentless-mini grade`): every `<logs>/<instance_id>/` holding
//! `test_output.txt` (and `patch.diff`: absent or blank means no patch) is graded with the
//! official rules into `<out>/<instance_id>/report.json`, with the integrity findings the
//! folder allows beside it (`integrity.json`), and the whole set into `<out>/run-report.json`.
//!
//! A folder whose instance is not in the dataset, or whose log cannot be read, is an error
//! that names it ([`LogError`]); the others are still graded. Nothing here prints: the caller
//! reports each [`Entry`] in folder order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dataset::Instance;
use crate::evaluate::logs::{INSTANCE_LOG_FILE, PATCH_FILE, REPORT_FILE, TEST_OUTPUT_FILE};
use crate::files::write_atomic;
use crate::grade::{GradingMode, classify_infra_failure, parser_for};
use crate::integrity::run::{Flagged, assess_log_folder, run_report_json};
use crate::integrity::{INTEGRITY_FILE, IntegrityReport};
use crate::report::{
    InstanceOutcome, RunReport, RunReportFlavor, Verdict, VerdictKind, grade_instance, instance_report_json,
    make_run_report_as,
};

/// Logs larger than this are refused with an error rather than read into memory.
pub const MAX_LOG_BYTES: u64 = 1 << 30;

/// The run report's file name in the output folder.
pub const RUN_REPORT_FILE: &str = "run-report.json";

/// Why one log folder could not be graded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error("instance {id} is not in the dataset {}", dataset.display())]
    NotInDataset { id: String, dataset: PathBuf },
    #[error("no log parser known for repository {repo} (and no log_parser column)")]
    NoParser { repo: String },
    #[error("{} is {len} bytes, over the {limit} byte limit", path.display())]
    TooLarge { path: PathBuf, len: u64, limit: u64 },
    /// Reading the log or the patch (the error names the file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Why the folder as a whole could not be graded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    #[error("reading the logs folder {}", path.display())]
    ReadLogs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing a report (the error names the file).
    #[error(transparent)]
    Write(std::io::Error),
}

/// One graded log folder.
#[derive(Debug, Clone)]
pub struct Graded {
    pub verdict: Verdict,
    /// The findings beside the verdict (None when the folder could not be assessed).
    pub integrity: Option<Box<IntegrityReport>>,
}

/// One instance folder, in folder order: its name and how it went.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub result: Result<Graded, LogError>,
}

/// Everything a folder grading wrote.
#[derive(Debug)]
pub struct FolderGrading {
    pub entries: Vec<Entry>,
    pub run_report: RunReport,
    pub flagged: Flagged,
    /// Folders that could not be graded.
    pub errors: usize,
}

/// Grade every instance folder of `logs` against `dataset` (read from `dataset_path`, named
/// in errors) and write the reports into `out`. `None` when `logs` has no instance folder
/// (nothing is written then).
pub fn grade_log_folder(
    dataset: &[Instance],
    dataset_path: &Path,
    logs: &Path,
    out: &Path,
    mode: GradingMode,
) -> Result<Option<FolderGrading>, FolderError> {
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(logs)
        .map_err(|source| FolderError::ReadLogs {
            path: logs.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Ok(None);
    }
    let by_id: BTreeMap<&str, &Instance> = dataset.iter().map(|i| (i.instance_id.as_str(), i)).collect();
    fs_err::create_dir_all(out).map_err(FolderError::Write)?;
    let mut entries = Vec::with_capacity(dirs.len());
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = match by_id.get(name.as_str()) {
            None => Err(LogError::NotInDataset {
                id: name.clone(),
                dataset: dataset_path.to_path_buf(),
            }),
            Some(inst) => grade_dir(inst, dir, mode).map(|verdict| Graded {
                verdict,
                integrity: assess_log_folder(inst, dir).ok().map(Box::new),
            }),
        };
        entries.push(Entry { name, result });
    }
    let mut outcomes = BTreeMap::new();
    let mut errors = 0usize;
    let mut flagged = Flagged::default();
    for e in &entries {
        let id = &e.name;
        match &e.result {
            Ok(Graded { verdict, integrity }) => {
                let report = verdict.report();
                let dest = out.join(id);
                fs_err::create_dir_all(&dest).map_err(FolderError::Write)?;
                write_atomic(&dest.join(REPORT_FILE), instance_report_json(id, &report).as_bytes())
                    .map_err(FolderError::Write)?;
                if let Some(r) = integrity {
                    write_atomic(&dest.join(INTEGRITY_FILE), r.to_json().as_bytes()).map_err(FolderError::Write)?;
                    if r.flagged {
                        flagged.ids.insert(id.clone());
                    }
                }
                let outcome = match verdict.kind {
                    VerdictKind::NoPatch => InstanceOutcome::EmptyPatch,
                    _ => InstanceOutcome::Completed {
                        resolved: report.resolved,
                    },
                };
                outcomes.insert(id.clone(), outcome);
            }
            Err(_) => {
                errors += 1;
                if by_id.contains_key(id.as_str()) {
                    outcomes.insert(id.clone(), InstanceOutcome::Error);
                }
            }
        }
    }
    // The official key set of the version graded with; there is no Docker client here.
    let flavor = RunReportFlavor {
        mode,
        docker_client: false,
    };
    let classify = |id: &str| {
        let dir = logs.join(id);
        let text: Vec<String> = [TEST_OUTPUT_FILE, INSTANCE_LOG_FILE]
            .iter()
            .filter_map(|f| std::fs::read(dir.join(f)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        classify_infra_failure(&text.join("\n"))
    };
    let run_report = make_run_report_as(dataset, &outcomes, flavor, &classify);
    write_atomic(
        &out.join(RUN_REPORT_FILE),
        run_report_json(&run_report, &flagged).as_bytes(),
    )
    .map_err(FolderError::Write)?;
    Ok(Some(FolderGrading {
        entries,
        run_report,
        flagged,
        errors,
    }))
}

/// Grade one folder's `test_output.txt` (and whether `patch.diff` holds a patch).
pub fn grade_dir(inst: &Instance, dir: &Path, mode: GradingMode) -> Result<Verdict, LogError> {
    let parser = parser_for(inst).ok_or_else(|| LogError::NoParser {
        repo: inst.repo.clone(),
    })?;
    let log_path = dir.join(TEST_OUTPUT_FILE);
    let meta = fs_err::metadata(&log_path)?;
    if meta.len() > MAX_LOG_BYTES {
        return Err(LogError::TooLarge {
            path: log_path,
            len: meta.len(),
            limit: MAX_LOG_BYTES,
        });
    }
    let bytes = fs_err::read(&log_path)?;
    // The official 4.1.0 crashes on non-UTF-8 output; 5.x decodes with replacement. We replace.
    let log = String::from_utf8_lossy(&bytes);
    let has_patch = match fs_err::read(dir.join(PATCH_FILE)) {
        Ok(p) => !p.iter().all(u8::is_ascii_whitespace),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    Ok(grade_instance(inst, parser, &log, has_patch, mode))
}
