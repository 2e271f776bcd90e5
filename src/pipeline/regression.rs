//! Regression tests (`select-regression`, as swe-rl's Agentless Mini and Agentless do): run the tests of
//! the files the instance's test patch touches on the original code (the eval script without
//! the test patch, in the instance container), keep those that pass (`PASSED`; `XFAIL` is not
//! kept), then — the optional step, on by default — ask the model which of them the fix may
//! legitimately change, and drop those. The rest are the regression tests every candidate must
//! keep passing.

use agentless_harness::dataset::Instance;
use agentless_harness::grade::{GradingMode, LogRejection, parse_log, parser_for};
use agentless_harness::parse::TestStatus;
use agentless_model::Usage;
use serde::{Deserialize, Serialize};

use super::containers::{self, regression_script, tail};
use super::context::Settings;
use super::context::{Cx, StageError};
use super::events::{Event, StageOutcome};
use super::keys::{InstanceParts, KeyParts};
use super::llm::{ModelFailure, Thinking};
use super::prompts::{self, Messages, PromptStage};
use super::sampling::PromptRecord;
use crate::artifact::jsonl::{Opened, open_stage};
use crate::artifact::key::sha256_hex;
use crate::artifact::{StageFile, StageId, StageKey};

/// 2: a run's rejection is a typed [`RunRejection`] (version 1 held its text, still read as
/// [`RunRejection::Text`]).
pub const FORMAT_VERSION: u32 = 2;
/// The filter prompt's list is halved until the prompt is under this many tokens (Agentless).
const FILTER_PROMPT_TOKENS: usize = 128_000;

/// A record of the regression stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegressionRecord {
    Prompt(PromptRecord),
    /// The run on the original code.
    Run {
        passing: Vec<String>,
        /// Why the log could not be read (the list is then empty).
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "read_rejection"
        )]
        rejected: Option<RunRejection>,
        output_tail: String,
    },
    /// The model's filter.
    Filter {
        prompt_sha: String,
        raw: String,
        usage: Usage,
        removed: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<ModelFailure>,
    },
}

/// Why the regression run on the original code gave no passing tests to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunRejection {
    /// The run was killed at the regression timeout.
    TimedOut { seconds: u64 },
    /// No log parser is known for the repository.
    NoParser { repo: String },
    /// The log could not be graded.
    Unreadable { rejection: LogRejection },
    /// Read from a version-1 record, which kept only the text.
    Text { message: String },
}

impl std::fmt::Display for RunRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunRejection::TimedOut { seconds } => write!(f, "timed out after {seconds} s"),
            RunRejection::NoParser { repo } => write!(f, "no log parser for {repo}"),
            RunRejection::Unreadable { rejection } => write!(f, "{rejection}"),
            RunRejection::Text { message } => f.write_str(message),
        }
    }
}

/// A rejection as written by this version (typed) or by version 1 (its text).
fn read_rejection<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<RunRejection>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OnDisk {
        Typed(RunRejection),
        Text(String),
    }
    Ok(Option::<OnDisk>::deserialize(d)?.map(|r| match r {
        OnDisk::Typed(t) => t,
        OnDisk::Text(message) => RunRejection::Text { message },
    }))
}

/// The regression tests of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    pub key: StageKey,
    pub enabled: bool,
    /// The selected tests (passing on the original code, minus the filtered ones).
    pub tests: Vec<String>,
    pub usage: Usage,
}

impl Regression {
    fn from_records(key: StageKey, records: &[RegressionRecord]) -> Regression {
        let mut passing = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        let mut usage = Usage::default();
        for r in records {
            match r {
                RegressionRecord::Run { passing: p, .. } => passing = p.clone(),
                RegressionRecord::Filter {
                    removed: rm, usage: u, ..
                } => {
                    removed = rm.clone();
                    usage.prompt_tokens += u.prompt_tokens;
                    usage.completion_tokens += u.completion_tokens;
                }
                RegressionRecord::Prompt(_) => {}
            }
        }
        let tests = passing.into_iter().filter(|t| !removed.contains(t)).collect();
        Regression {
            key,
            enabled: true,
            tests,
            usage,
        }
    }

    /// The stage turned off (`--no-regression`).
    pub fn disabled() -> Regression {
        Regression {
            key: StageKey::of("regression-disabled"),
            enabled: false,
            tests: Vec::new(),
            usage: Usage::default(),
        }
    }
}

/// What the regression key has besides the shared parts.
#[derive(Serialize)]
struct Extra<'a> {
    image: &'a str,
    script_sha: String,
    timeout_s: u64,
    filter_model: Option<&'a str>,
    max_tokens: u32,
    thinking: &'a Thinking,
    problem_statement_sha: String,
    /// The prompt's fingerprint when it is not the default set's (and the filter is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_set: Option<String>,
}

/// The stage key of an instance's regression tests, run in `image` with `script` (the
/// regression script) and filtered by `filter_model` when there is one.
pub fn key_of(s: &Settings, filter_model: Option<&str>, inst: &Instance, image: &str, script: &str) -> StageKey {
    KeyParts {
        stage: "regression",
        format_version: FORMAT_VERSION,
        prompt_version: Some(prompts::PROMPT_VERSION),
        instance: Some(InstanceParts::of(inst)),
        extra: Extra {
            image,
            script_sha: sha256_hex(script),
            timeout_s: s.regression.timeout_s,
            filter_model,
            max_tokens: s.regression.max_tokens,
            thinking: &s.thinking,
            problem_statement_sha: sha256_hex(&inst.problem_statement),
            prompt_set: filter_model.and(s.prompts.key_part(PromptStage::Regression)),
        },
    }
    .key()
}

/// The tests named in a filter answer that are in `tests`.
pub fn parse_removed(answer: &str, tests: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in answer.lines() {
        let l = line.trim();
        if tests.iter().any(|t| t == l) && !out.iter().any(|o| o == l) {
            out.push(l.to_owned());
        }
    }
    out
}

/// The filter request for the tests passing on the original code, and the tests it lists (the
/// list is halved until the prompt fits, as Agentless).
pub fn filter_prompt(s: &Settings, inst: &Instance, passing: &[String]) -> (Messages, Vec<String>) {
    let mut listed: Vec<String> = passing.to_vec();
    let mut messages = s.prompts.regression(&inst.problem_statement, &listed);
    while s.tokens.count(&messages.user) > FILTER_PROMPT_TOKENS && listed.len() > 1 {
        listed.truncate(listed.len() / 2);
        messages = s.prompts.regression(&inst.problem_statement, &listed);
    }
    (messages, listed)
}

/// Run (or resume) regression-test selection for one instance.
pub async fn run(cx: &Cx, inst: &Instance) -> Result<Regression, StageError> {
    let s = cx.settings.clone();
    let id = inst.instance_id.as_str();
    let stage = StageId::Regression;
    if !s.regression.enabled {
        cx.emit(Event::StageFinished {
            stage,
            instance: id.into(),
            outcome: StageOutcome::Skipped("--no-regression".into()),
        });
        return Ok(Regression::disabled());
    }
    let script = regression_script(&containers::eval_script(cx, inst)?)?;
    let image = containers::image(cx, inst).await?;
    let filter_model = if s.regression.filter_with_model {
        Some(cx.llm()?.id())
    } else {
        None
    };
    let key = key_of(&s, filter_model, inst, &image, &script);
    let path = cx.run_dir.stage_file(id, stage)?;
    let (mut records, mut writer) = match open_stage::<RegressionRecord>(&path, stage, FORMAT_VERSION, &key)? {
        Opened::Done(records) => {
            cx.emit(Event::StageStarted {
                stage,
                instance: id.into(),
                reused: 1,
                todo: 0,
            });
            cx.emit(Event::StageFinished {
                stage,
                instance: id.into(),
                outcome: StageOutcome::Reused,
            });
            return Ok(Regression::from_records(key, &records));
        }
        Opened::Open(records, writer) => (records, writer),
    };
    let has_run = records.iter().any(|r| matches!(r, RegressionRecord::Run { .. }));
    let needs_filter = s.regression.filter_with_model
        && !records.iter().any(
            |r| matches!(r, RegressionRecord::Filter { failure, .. } if failure.as_ref().is_none_or(|f| !f.transient)),
        );
    cx.emit(Event::StageStarted {
        stage,
        instance: id.into(),
        reused: usize::from(has_run),
        todo: usize::from(!has_run) + usize::from(needs_filter),
    });
    if !has_run {
        let slot = containers::start(cx, inst, &image).await?;
        let ran = slot
            .run_script(
                "regression.sh",
                &script,
                std::time::Duration::from_secs(s.regression.timeout_s),
            )
            .await;
        slot.remove().await;
        let ran = ran?;
        let text = ran.text();
        let (passing, rejected) = if ran.timed_out {
            (
                Vec::new(),
                Some(RunRejection::TimedOut {
                    seconds: s.regression.timeout_s,
                }),
            )
        } else {
            match parser_for(inst) {
                None => (
                    Vec::new(),
                    Some(RunRejection::NoParser {
                        repo: inst.repo.clone(),
                    }),
                ),
                Some(parser) => match parse_log(&text, parser, GradingMode::V4) {
                    Ok(map) => (
                        map.iter()
                            .filter(|(_, st)| **st == TestStatus::Passed)
                            .map(|(t, _)| t.clone())
                            .collect(),
                        None,
                    ),
                    Err(rejection) => (Vec::new(), Some(RunRejection::Unreadable { rejection })),
                },
            }
        };
        if let Some(r) = &rejected {
            cx.emit(Event::Note {
                instance: id.into(),
                message: format!("regression run on the original code: {r}"),
            });
        }
        let rec = RegressionRecord::Run {
            passing,
            rejected,
            output_tail: tail(&text, 4000),
        };
        writer.record(&rec)?;
        records.push(rec);
        cx.emit(Event::UnitDone {
            stage,
            instance: id.into(),
        });
    }
    let passing: Vec<String> = records
        .iter()
        .rev()
        .find_map(|r| {
            if let RegressionRecord::Run { passing, .. } = r {
                Some(passing.clone())
            } else {
                None
            }
        })
        .unwrap_or_default();
    if needs_filter {
        let llm = cx.llm()?;
        let (messages, listed) = filter_prompt(&s, inst, &passing);
        let prompt = messages.user;
        let rec = if passing.is_empty() {
            RegressionRecord::Filter {
                prompt_sha: String::new(),
                raw: String::new(),
                usage: Usage::default(),
                removed: Vec::new(),
                failure: None,
            }
        } else {
            let answer = llm
                .ask(
                    messages.system.as_deref(),
                    &prompt,
                    0.0,
                    s.regression.max_tokens,
                    Some(s.seed),
                )
                .await;
            if let Err(f) = &answer
                && f.transient
            {
                return Err(StageError::ModelUnavailable {
                    failed: 1,
                    message: f.message.clone(),
                });
            }
            let sha = sha256_hex(&prompt);
            writer.record(&RegressionRecord::Prompt(PromptRecord {
                sha: sha.clone(),
                text: prompt.clone(),
            }))?;
            match answer {
                Ok(a) => {
                    cx.emit(Event::ModelCall {
                        stage,
                        instance: id.into(),
                        usage: a.usage,
                    });
                    let removed = parse_removed(s.thinking.answer(&a.text), &listed);
                    RegressionRecord::Filter {
                        prompt_sha: sha,
                        raw: a.text,
                        usage: a.usage,
                        removed,
                        failure: None,
                    }
                }
                Err(f) => RegressionRecord::Filter {
                    prompt_sha: sha,
                    raw: String::new(),
                    usage: Usage::default(),
                    removed: Vec::new(),
                    failure: Some(f),
                },
            }
        };
        writer.record(&rec)?;
        records.push(rec);
        cx.emit(Event::UnitDone {
            stage,
            instance: id.into(),
        });
    }
    writer.finish()?;
    cx.emit(Event::StageFinished {
        stage,
        instance: id.into(),
        outcome: StageOutcome::Finished,
    });
    Ok(Regression::from_records(key, &records))
}

/// The finished regression selection on disk, whatever settings made it (None: never run, or
/// turned off).
pub fn load(cx: &Cx, inst: &Instance) -> Result<Option<Regression>, StageError> {
    load_file(&cx.run_dir.stage_file(&inst.instance_id, StageId::Regression)?)
}

/// [`load`] from the stage file at `path`.
pub fn load_file(path: &std::path::Path) -> Result<Option<Regression>, StageError> {
    let Some(file) = StageFile::<RegressionRecord>::read(path)? else {
        return Ok(None);
    };
    match (file.begin, file.end) {
        (Some(b), Some(_)) => Ok(Some(Regression::from_records(b.key, &file.records))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_tests_are_names_from_the_list() {
        let tests = vec!["t::a".to_owned(), "t::b".to_owned()];
        assert_eq!(
            parse_removed("```\nt::b\n  t::a  \nt::c\nt::b\n```", &tests),
            ["t::b", "t::a"]
        );
        assert!(parse_removed("```\n```", &tests).is_empty());
    }

    #[test]
    fn a_rejection_is_typed_and_version_1_text_still_reads() {
        let rec = RegressionRecord::Run {
            passing: Vec::new(),
            rejected: Some(RunRejection::Unreadable {
                rejection: LogRejection::FailureMarker {
                    marker: ">>>>> Tests Timed Out".into(),
                },
            }),
            output_tail: String::new(),
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert!(
            json.contains(r#""rejected":{"kind":"unreadable","rejection":{"kind":"failure_marker""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<RegressionRecord>(&json).unwrap(), rec);
        let v1 = r#"{"kind":"run","passing":[],"rejected":"timed out after 60 s","output_tail":""}"#;
        let RegressionRecord::Run { rejected, .. } = serde_json::from_str(v1).unwrap() else {
            panic!("a run record")
        };
        let text = rejected.unwrap();
        assert_eq!(text.to_string(), "timed out after 60 s");
        assert!(matches!(text, RunRejection::Text { .. }));
        let none = r#"{"kind":"run","passing":["a"],"output_tail":""}"#;
        assert!(matches!(
            serde_json::from_str(none).unwrap(),
            RegressionRecord::Run { rejected: None, .. }
        ));
        assert_eq!(RunRejection::TimedOut { seconds: 5 }.to_string(), "timed out after 5 s");
    }

    #[test]
    fn selection_subtracts_the_filter() {
        let records = vec![
            RegressionRecord::Run {
                passing: vec!["a".into(), "b".into(), "c".into()],
                rejected: None,
                output_tail: String::new(),
            },
            RegressionRecord::Filter {
                prompt_sha: "x".into(),
                raw: String::new(),
                usage: Usage {
                    prompt_tokens: 5,
                    completion_tokens: 1,
                },
                removed: vec!["b".into()],
                failure: None,
            },
        ];
        let r = Regression::from_records(StageKey("k".into()), &records);
        assert_eq!(r.tests, ["a", "c"]);
        assert_eq!(r.usage.prompt_tokens, 5);
    }
}
