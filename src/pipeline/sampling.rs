//! The resumable sample loop shared by the model stages (localize, repair, reproduction-test
//! generation): sample `i` has a deterministic prompt; finished samples are read back from the
//! stage file and never asked again; missing ones are asked concurrently (bounded by the
//! model's request limit) and each is appended as soon as it completes; distinct prompts are
//! stored once (`prompt` records, referenced by hash), so the trajectories — prompts and raw
//! completions — stay in the run directory.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::context::{Cx, StageError};
use super::events::{Event, StageOutcome};
use super::llm::{Answer, ModelFailure};
use crate::artifact::jsonl::{Opened, StageWriter, open_stage, reopen_finished};
use crate::artifact::key::sha256_hex;
use crate::artifact::{StageId, StageKey};

/// A stored prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptRecord {
    pub sha: String,
    pub text: String,
}

/// A record of a sampled stage file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rec<S> {
    Prompt(PromptRecord),
    Sample(S),
}

/// What a sample record must tell the loop.
pub trait SampleRecord: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The sample index; None for other records a stage keeps in the same file.
    fn index(&self) -> Option<usize>;
    /// A transient model failure: ask again on the next run.
    fn needs_retry(&self) -> bool;
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Job {
    pub index: usize,
    /// The system message of the prompt set, if it has one.
    pub system: Option<String>,
    pub prompt: String,
    pub temperature: f64,
    pub max_tokens: u32,
    pub seed: Option<u64>,
    /// Stage-specific facts about the prompt (for example how many files it asks for).
    pub meta: usize,
}

/// The samples of a stage, the stage's other records, and the open writer (None when the file
/// was already finished with everything asked: nothing ran). The caller appends what else it
/// needs and finishes the writer.
pub struct Sampled<S> {
    pub samples: Vec<S>,
    pub others: Vec<S>,
    pub writer: Option<StageWriter>,
}

impl<S> Sampled<S> {
    /// Finish the file (when it was open) and report the stage's end.
    pub fn finish(self, cx: &Cx, stage: StageId, instance: &str) -> Result<Vec<S>, StageError> {
        let outcome = match self.writer {
            Some(w) => {
                w.finish()?;
                StageOutcome::Finished
            }
            None => StageOutcome::Reused,
        };
        cx.emit(Event::StageFinished {
            stage,
            instance: instance.into(),
            outcome,
        });
        Ok(self.samples)
    }
}

/// Run (or resume) the samples `0..n` of a stage for one instance, in index order.
#[allow(
    clippy::too_many_arguments,
    reason = "the loop's inputs; a struct would only rename them"
)]
pub async fn run_samples<S, P, F>(
    cx: &Cx,
    path: &Path,
    stage: StageId,
    format_version: u32,
    key: &StageKey,
    instance: &str,
    n: usize,
    prepare: P,
    finish: F,
) -> Result<Sampled<S>, StageError>
where
    S: SampleRecord,
    P: Fn(usize) -> Job,
    F: Fn(&Job, Result<Answer, ModelFailure>) -> S,
{
    run_sample_range(cx, path, stage, format_version, key, instance, 0..n, prepare, finish).await
}

/// [`run_samples`] for the samples `range` (a stage that asks in batches, or that leaves an
/// index out). Requests the backend rejected in this run (final, not retried) are reported
/// as a note naming the stage and the first reason: they are never silent.
#[allow(
    clippy::too_many_arguments,
    reason = "the loop's inputs; a struct would only rename them"
)]
pub async fn run_sample_range<S, P, F>(
    cx: &Cx,
    path: &Path,
    stage: StageId,
    format_version: u32,
    key: &StageKey,
    instance: &str,
    range: std::ops::Range<usize>,
    prepare: P,
    finish: F,
) -> Result<Sampled<S>, StageError>
where
    S: SampleRecord,
    P: Fn(usize) -> Job,
    F: Fn(&Job, Result<Answer, ModelFailure>) -> S,
{
    let n = range.len();
    let (records, writer) = match open_stage::<Rec<S>>(path, stage, format_version, key)? {
        Opened::Done(records) => {
            let have = done_samples(&records);
            if range.clone().all(|i| have.contains_key(&i)) {
                cx.emit(Event::StageStarted {
                    stage,
                    instance: instance.into(),
                    reused: n,
                    todo: 0,
                });
                let samples = range.clone().filter_map(|i| have.get(&i).cloned()).collect();
                return Ok(Sampled {
                    samples,
                    others: others(&records),
                    writer: None,
                });
            }
            let (records, writer) = reopen_finished::<Rec<S>>(path)?;
            (records, writer)
        }
        Opened::Open(records, writer) => (records, writer),
    };
    let mut writer = writer;
    let mut have = done_samples(&records);
    let mut stored: HashSet<String> = records
        .iter()
        .filter_map(|r| {
            if let Rec::Prompt(p) = r {
                Some(p.sha.clone())
            } else {
                None
            }
        })
        .collect();
    let todo: Vec<usize> = range.clone().filter(|i| !have.contains_key(i)).collect();
    cx.emit(Event::StageStarted {
        stage,
        instance: instance.into(),
        reused: n - todo.len(),
        todo: todo.len(),
    });
    let llm = cx.llm()?;
    let jobs: Vec<Job> = todo.iter().map(|&i| prepare(i)).collect();
    let mut stream = futures::stream::iter(jobs.into_iter().map(|job| async move {
        let answer = llm
            .ask(
                job.system.as_deref(),
                &job.prompt,
                job.temperature,
                job.max_tokens,
                job.seed,
            )
            .await;
        (job, answer)
    }))
    .buffer_unordered(todo.len().max(1));
    let mut failed = 0usize;
    let mut last_failure = String::new();
    let mut rejected = 0usize;
    let mut first_rejection = String::new();
    while let Some((job, answer)) = stream.next().await {
        if cx.cancel.is_cancelled() && matches!(&answer, Err(f) if f.transient) {
            continue;
        }
        if let Ok(a) = &answer {
            cx.emit(Event::ModelCall {
                stage,
                instance: instance.into(),
                usage: a.usage,
            });
        }
        let sha = sha256_hex(&job.prompt);
        if stored.insert(sha.clone()) {
            writer.record(&Rec::<S>::Prompt(PromptRecord {
                sha,
                text: job.prompt.clone(),
            }))?;
        }
        if let Err(f) = &answer
            && !f.transient
        {
            if rejected == 0 {
                first_rejection = f.message.chars().take(300).collect();
            }
            rejected += 1;
        }
        let sample = finish(&job, answer);
        if sample.needs_retry() {
            failed += 1;
        }
        writer.record(&Rec::Sample(sample.clone()))?;
        let Some(index) = sample.index() else { continue };
        if sample.needs_retry() {
            last_failure = format!("sample {index}");
            continue;
        }
        have.insert(index, sample);
        cx.emit(Event::UnitDone {
            stage,
            instance: instance.into(),
        });
    }
    drop(stream);
    if cx.cancel.is_cancelled() {
        return Err(StageError::Cancelled);
    }
    if rejected > 0 {
        cx.emit(Event::Warning {
            instance: instance.into(),
            message: format!(
                "{}: {rejected} of {} model request(s) rejected by the backend (recorded as empty answers, not retried): {first_rejection}",
                stage.command(),
                todo.len()
            ),
        });
    }
    let retry: Vec<usize> = range.clone().filter(|i| !have.contains_key(i)).collect();
    if !retry.is_empty() {
        return Err(StageError::ModelUnavailable {
            failed: retry.len().max(failed),
            message: last_failure,
        });
    }
    let samples = range.filter_map(|i| have.remove(&i)).collect();
    Ok(Sampled {
        samples,
        others: others(&records),
        writer: Some(writer),
    })
}

/// The records that are not samples.
fn others<S: SampleRecord>(records: &[Rec<S>]) -> Vec<S> {
    records
        .iter()
        .filter_map(|r| {
            if let Rec::Sample(s) = r {
                s.index().is_none().then(|| s.clone())
            } else {
                None
            }
        })
        .collect()
}

/// The usable samples of a file: the last record per index, transient failures left out.
fn done_samples<S: SampleRecord>(records: &[Rec<S>]) -> BTreeMap<usize, S> {
    let mut out = BTreeMap::new();
    for r in records {
        if let Rec::Sample(s) = r
            && !s.needs_retry()
            && let Some(i) = s.index()
        {
            out.insert(i, s.clone());
        }
    }
    out
}

/// The prompts stored in a sampled stage's records, by hash.
pub fn prompts<S>(records: &[Rec<S>]) -> BTreeMap<String, String> {
    records
        .iter()
        .filter_map(|r| {
            if let Rec::Prompt(p) = r {
                Some((p.sha.clone(), p.text.clone()))
            } else {
                None
            }
        })
        .collect()
}

/// A finished stage file: its key, its samples, its other records.
pub type Finished<S> = (StageKey, Vec<S>, Vec<S>);

/// Read the samples (and other records) of a finished stage file, whatever its key (for
/// single-stage commands).
pub fn read_finished<S: SampleRecord>(path: &Path) -> Result<Option<Finished<S>>, StageError> {
    let Some(file) = crate::artifact::StageFile::<Rec<S>>::read(path)? else {
        return Ok(None);
    };
    let (Some(begin), Some(_)) = (file.begin, file.end) else {
        return Ok(None);
    };
    let samples = done_samples(&file.records).into_values().collect();
    Ok(Some((begin.key, samples, others(&file.records))))
}
