//! Reproduction tests (`gen-tests`). The paper (App. B) gives the shape, not the code; the
//! choices made here, after Agentless (as swe-rl's Agentless Mini does):
//!
//! 1. Test-file prediction: one greedy request with the issue and the repository's test files
//!    (`keep_test_files` view); the first line naming one of them is the file the tests are
//!    conditioned on (none: the tests are generated from the issue alone).
//!    The file's contents are cut at a line end to `--repro-context-tokens` (counted with a
//!    local model's tokenizer, otherwise estimated as bytes / 4). A prompt set whose test prompt has no `{test_file_context}` (Agentless's
//!    issue-only prompt) skips this request.
//! 2. Generation, in batches of `--repro-batch` requests (sample 1 greedy, the others at
//!    `--repro-temperature`, as Agentless's 1 greedy + 39 at 0.8), each asking for a standalone
//!    script that prints `Issue reproduced` / `Issue resolved` / `Other issues`; the first
//!    ```python block of the answer is the test. After each batch, steps 3–4 run on the new
//!    tests; generation stops once `--num-repro-tests` distinct tests reproduce the issue (the
//!    paper keeps 30) or `--repro-samples` samples (the cap) were asked.
//! 3. Voting: tests are grouped by their normalized form (no comments, docstrings or formatting;
//!    module-level functions renamed), a group's votes are its size.
//! 4. Filtering: each group's first test runs on the original code in the instance container
//!    (`python3 reproduce_bug_<id>.py` in the repository); it is kept when its output has
//!    `Issue reproduced` and neither other marker.
//! 5. The kept groups, by votes (ties: the earlier sample), are the top N (`--num-repro-tests`).
//!    A test's id is `repro-<first 12 hex of its normalized hash>`. A note per instance gives
//!    kept / distinct / generated tests and the rejected requests.

use std::collections::HashMap;
use std::time::Duration;

use agentless_harness::dataset::Instance;
use agentless_model::Usage;
use serde::{Deserialize, Serialize};

use super::containers::{self, ReproVerdict, python_runner, repro_outcome, tail};
use super::context::{Cx, DEFAULT_REPRO_CONTEXT_TOKENS, Settings, StageError, TokenCounter};
use super::edits::extract_python_blocks;
use super::events::{Event, StageOutcome};
use super::keys::{InstanceParts, KeyParts, ModelParts};
use super::llm::{Answer, ModelFailure, Thinking};
use super::prompts::{self, PromptStage};
use super::python::normalize::{NormalizeOptions, normalize_with};
use super::repo::Snapshot;
use super::sampling::{Job, SampleRecord, run_sample_range, run_samples};
use super::structure::Tree;
use crate::artifact::jsonl::reopen_finished;
use crate::artifact::key::sha256_hex;
use crate::artifact::{StageFile, StageId, StageKey};

pub const FORMAT_VERSION: u32 = 1;

/// A record of the reproduction-test stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ReproRecord {
    /// Sample 0: the test-file prediction.
    TestFile {
        index: usize,
        prompt_sha: String,
        raw: String,
        usage: Usage,
        path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<ModelFailure>,
    },
    /// Samples 1..: a generated test.
    Test {
        index: usize,
        prompt_sha: String,
        raw: String,
        usage: Usage,
        code: Option<String>,
        normalized_sha: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<ModelFailure>,
    },
    /// A distinct test run on the original code.
    Verified {
        normalized_sha: String,
        verdict: ReproVerdict,
        exit_code: Option<i64>,
        timed_out: bool,
        output_tail: String,
    },
}

impl SampleRecord for ReproRecord {
    fn index(&self) -> Option<usize> {
        match self {
            ReproRecord::TestFile { index, .. } | ReproRecord::Test { index, .. } => Some(*index),
            ReproRecord::Verified { .. } => None,
        }
    }
    fn needs_retry(&self) -> bool {
        match self {
            ReproRecord::TestFile { failure, .. } | ReproRecord::Test { failure, .. } => {
                failure.as_ref().is_some_and(|f| f.transient)
            }
            ReproRecord::Verified { .. } => false,
        }
    }
}

/// One selected reproduction test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReproTest {
    pub id: String,
    pub code: String,
    pub votes: usize,
}

/// The selected reproduction tests of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproTests {
    pub key: StageKey,
    pub enabled: bool,
    /// Kept tests by votes, at most `top_n`.
    pub tests: Vec<ReproTest>,
    pub usage: Usage,
}

impl ReproTests {
    pub fn disabled() -> ReproTests {
        ReproTests {
            key: StageKey::of("repro-disabled"),
            enabled: false,
            tests: Vec::new(),
            usage: Usage::default(),
        }
    }
}

/// A distinct generated test: its normalized hash, first code, votes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestGroup {
    pub normalized_sha: String,
    pub code: String,
    pub votes: usize,
    pub first_index: usize,
}

/// Group generated tests by normalized form, in order of first appearance.
pub fn group_tests(records: &[ReproRecord]) -> Vec<TestGroup> {
    let mut tests: Vec<(usize, &str, &str)> = records
        .iter()
        .filter_map(|r| match r {
            ReproRecord::Test {
                index,
                code: Some(code),
                normalized_sha: Some(sha),
                ..
            } => Some((*index, code.as_str(), sha.as_str())),
            _ => None,
        })
        .collect();
    tests.sort_by_key(|t| t.0);
    let mut groups: Vec<TestGroup> = Vec::new();
    for (index, code, sha) in tests {
        match groups.iter_mut().find(|g| g.normalized_sha == sha) {
            Some(g) => g.votes += 1,
            None => groups.push(TestGroup {
                normalized_sha: sha.to_owned(),
                code: code.to_owned(),
                votes: 1,
                first_index: index,
            }),
        }
    }
    groups
}

/// The top `n` groups whose test reproduced the issue, by votes then first sample.
pub fn select_top(groups: &[TestGroup], verdicts: &HashMap<String, ReproVerdict>, n: usize) -> Vec<ReproTest> {
    let mut kept: Vec<&TestGroup> = groups
        .iter()
        .filter(|g| verdicts.get(&g.normalized_sha) == Some(&ReproVerdict::Reproduced))
        .collect();
    kept.sort_by(|a, b| b.votes.cmp(&a.votes).then(a.first_index.cmp(&b.first_index)));
    kept.into_iter()
        .take(n)
        .map(|g| ReproTest {
            id: format!("repro-{}", &g.normalized_sha[..12.min(g.normalized_sha.len())]),
            code: g.code.clone(),
            votes: g.votes,
        })
        .collect()
}

fn summarize(key: StageKey, records: &[ReproRecord], top_n: usize) -> ReproTests {
    let groups = group_tests(records);
    let verdicts: HashMap<String, ReproVerdict> = records
        .iter()
        .filter_map(|r| {
            if let ReproRecord::Verified {
                normalized_sha,
                verdict,
                ..
            } = r
            {
                Some((normalized_sha.clone(), *verdict))
            } else {
                None
            }
        })
        .collect();
    let mut usage = Usage::default();
    for r in records {
        if let ReproRecord::TestFile { usage: u, .. } | ReproRecord::Test { usage: u, .. } = r {
            usage.prompt_tokens += u.prompt_tokens;
            usage.completion_tokens += u.completion_tokens;
        }
    }
    ReproTests {
        key,
        enabled: true,
        tests: select_top(&groups, &verdicts, top_n),
        usage,
    }
}

/// The code of a generated test: the first ```python block.
pub fn extract_test(answer: &str) -> Option<String> {
    extract_python_blocks(answer)
        .first()
        .map(|c| format!("{c}\n"))
        .filter(|c| !c.trim().is_empty())
}

/// The grouping key of a generated test (its id is `repro-` and the first 12 digits).
pub fn normalized_sha(code: &str) -> String {
    let norm = normalize_with(
        code,
        NormalizeOptions {
            rename_top_level_functions: true,
        },
    )
    .unwrap_or_else(|_| code.to_owned());
    sha256_hex(&norm)
}

/// What the reproduction-test key has besides the shared parts.
#[derive(Serialize)]
struct Extra<'a> {
    #[serde(flatten)]
    model: ModelParts<'a>,
    seed: u64,
    thinking: &'a Thinking,
    image: &'a str,
    runner_sha: String,
    timeout_s: u64,
    /// The prompts' fingerprint when they are not the default set's.
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_set: Option<String>,
    /// The test file's token budget when it is not the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    context_tokens: Option<usize>,
    /// `tokenizer` when the budget counts with the model's tokenizer (absent: bytes / 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    token_counter: Option<&'static str>,
}

/// The stage key of an instance's tests generated by `model` under `s`, run in `image` with
/// the environment of `eval_script`.
pub fn key_of(s: &Settings, model: &str, inst: &Instance, image: &str, eval_script: &str) -> StageKey {
    let prompt_set = match (
        s.prompts.key_part(PromptStage::TestFile),
        s.prompts.key_part(PromptStage::Repro),
    ) {
        (None, None) => None,
        (a, b) => Some(sha256_hex(&format!(
            "{}\n{}",
            a.unwrap_or_default(),
            b.unwrap_or_default()
        ))),
    };
    KeyParts {
        stage: "repro",
        format_version: FORMAT_VERSION,
        prompt_version: Some(prompts::PROMPT_VERSION),
        instance: Some(InstanceParts::of(inst)),
        extra: Extra {
            model: ModelParts::of(inst, model, &s.repro.sampling),
            seed: s.seed,
            thinking: &s.thinking,
            image,
            runner_sha: sha256_hex(&python_runner(eval_script, "reproduce_bug.py")),
            timeout_s: s.repro.timeout_s,
            prompt_set,
            context_tokens: (s.repro.context_tokens != DEFAULT_REPRO_CONTEXT_TOKENS).then_some(s.repro.context_tokens),
            token_counter: (s.tokens.kind() != "bytes/4").then_some(s.tokens.kind()),
        },
    }
    .key()
}

/// The test-file prediction request (sample 0; greedy).
pub fn test_file_job(s: &Settings, inst: &Instance, snapshot: &Snapshot) -> Job {
    let tree = Tree::from_paths(snapshot.paths()).test_view();
    let messages = s.prompts.test_file(&inst.problem_statement, &tree.render(4, None));
    Job {
        index: 0,
        system: messages.system,
        prompt: messages.user,
        temperature: 0.0,
        max_tokens: s.repro.sampling.max_tokens,
        seed: Some(s.seed),
        meta: 0,
    }
}

/// `content` cut to whole lines within `budget` tokens (counted with `tokens`: the model's
/// tokenizer line by line, or bytes / 4); the second value says whether anything was cut.
pub fn within_budget<'c>(content: &'c str, budget: usize, tokens: &TokenCounter) -> (&'c str, bool) {
    if tokens.count(content) <= budget {
        return (content, false);
    }
    if tokens.kind() != "bytes/4" {
        let (mut used, mut end) = (0usize, 0usize);
        for line in content.split_inclusive('\n') {
            used += tokens.count(line);
            if used > budget {
                break;
            }
            end += line.len();
        }
        return (&content[..end], true);
    }
    let max_bytes = budget.saturating_mul(4);
    let mut end = 0;
    for (i, _) in content.match_indices('\n') {
        if i + 1 > max_bytes {
            break;
        }
        end = i + 1;
    }
    (&content[..end], true)
}

/// The request of generated test `i` (1-based; sample 1 greedy), conditioned on `test_file`
/// (its contents within `--repro-context-tokens`).
pub fn test_job(s: &Settings, inst: &Instance, snapshot: &Snapshot, test_file: Option<&str>, i: usize) -> Job {
    let context = test_file.and_then(|p| snapshot.read(&[p]).ok().map(|mut v| (p.to_owned(), v.remove(0))));
    let messages = s.prompts.repro(
        &inst.problem_statement,
        context
            .as_ref()
            .map(|(p, c)| (p.as_str(), within_budget(c, s.repro.context_tokens, &s.tokens).0)),
    );
    let temperature = if i <= 1 { 0.0 } else { s.repro.sampling.temperature };
    Job {
        index: i,
        system: messages.system,
        prompt: messages.user,
        temperature,
        max_tokens: s.repro.sampling.max_tokens,
        seed: Some(s.seed.wrapping_add(i as u64)),
        meta: 1,
    }
}

/// The end of each batch of generated tests (sample indices `1..=end`): `batch` more each
/// time, the last one at the cap.
pub fn batch_ends(batch: usize, cap: usize) -> Vec<usize> {
    let (batch, cap) = (batch.max(1), cap.max(1));
    let mut out = Vec::new();
    let mut end = 0;
    while end < cap {
        end = (end + batch).min(cap);
        out.push(end);
    }
    out
}

/// Run (or resume) reproduction-test generation and filtering for one instance: batches of
/// `--repro-batch` samples, each followed by running its new distinct tests on the original
/// code, until `--num-repro-tests` distinct tests reproduce the issue or `--repro-samples`
/// samples were generated.
pub async fn run(cx: &Cx, inst: &Instance, snapshot: &Snapshot) -> Result<ReproTests, StageError> {
    let s = cx.settings.clone();
    let id = inst.instance_id.as_str();
    let stage = StageId::Repro;
    if !s.repro.enabled {
        cx.emit(Event::StageFinished {
            stage,
            instance: id.into(),
            outcome: StageOutcome::Skipped("--no-repro".into()),
        });
        return Ok(ReproTests::disabled());
    }
    let eval = containers::eval_script(cx, inst)?;
    let image = containers::image(cx, inst).await?;
    let uses_test_file = s.prompts.repro_uses_test_file();
    let key = key_of(&s, cx.llm()?.id(), inst, &image, &eval);
    let path = cx.run_dir.stage_file(id, stage)?;
    // 1. The test file (not when the prompt set's test prompt shows none, as Agentless's).
    let test_tree = Tree::from_paths(snapshot.paths()).test_view();
    let test_files = test_tree.files();
    let file_finish = |job: &Job, answer: Result<Answer, ModelFailure>| {
        let (raw, usage, failure) = match answer {
            Ok(a) => (a.text, a.usage, None),
            Err(f) => (String::new(), Usage::default(), Some(f)),
        };
        let path = s
            .thinking
            .answer(&raw)
            .split('\n')
            .map(str::trim)
            .find(|l| test_files.iter().any(|f| f == l))
            .map(str::to_owned);
        ReproRecord::TestFile {
            index: job.index,
            prompt_sha: sha256_hex(&job.prompt),
            raw,
            usage,
            path,
            failure,
        }
    };
    let chosen = if uses_test_file {
        let file_job = |_: usize| test_file_job(&s, inst, snapshot);
        let first = run_samples(cx, &path, stage, FORMAT_VERSION, &key, id, 1, file_job, file_finish).await?;
        let chosen = first.samples.first().and_then(|r| {
            if let ReproRecord::TestFile { path, .. } = r {
                path.clone()
            } else {
                None
            }
        });
        drop(first.writer);
        chosen
    } else {
        None
    };
    let test_prompt = test_job(&s, inst, snapshot, chosen.as_deref(), 1);
    let job = |i: usize| {
        if i == 0 {
            return test_file_job(&s, inst, snapshot);
        }
        let mut j = test_job(&s, inst, snapshot, None, i);
        j.prompt = test_prompt.prompt.clone();
        j.system = test_prompt.system.clone();
        j
    };
    let finish = |job: &Job, answer: Result<Answer, ModelFailure>| {
        if job.meta == 0 {
            return file_finish(job, answer);
        }
        let (raw, usage, failure) = match answer {
            Ok(a) => (a.text, a.usage, None),
            Err(f) => (String::new(), Usage::default(), Some(f)),
        };
        let code = extract_test(s.thinking.answer(&raw));
        let normalized_sha = code.as_deref().map(normalized_sha);
        ReproRecord::Test {
            index: job.index,
            prompt_sha: sha256_hex(&job.prompt),
            raw,
            usage,
            code,
            normalized_sha,
            failure,
        }
    };
    let first_index = if uses_test_file { 0 } else { 1 };
    let mut records: Vec<ReproRecord> = Vec::new();
    let mut writer = None;
    let mut slot: Option<containers::Slot> = None;
    let timeout = Duration::from_secs(s.repro.timeout_s);
    let mut outcome: Result<(), StageError> = Ok(());
    let mut started = false;
    for end in batch_ends(s.repro.batch, s.repro.sampling.samples) {
        drop(writer.take());
        let sampled = run_sample_range(
            cx,
            &path,
            stage,
            FORMAT_VERSION,
            &key,
            id,
            first_index..end + 1,
            &job,
            &finish,
        )
        .await;
        let sampled = match sampled {
            Ok(x) => x,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        records = sampled.samples.clone();
        records.extend(sampled.others.iter().cloned());
        writer = sampled.writer;
        // Run each new distinct test once on the original code.
        let groups = group_tests(&records);
        let verified: std::collections::HashSet<String> = records
            .iter()
            .filter_map(|r| {
                if let ReproRecord::Verified { normalized_sha, .. } = r {
                    Some(normalized_sha.clone())
                } else {
                    None
                }
            })
            .collect();
        let todo: Vec<&TestGroup> = groups
            .iter()
            .filter(|g| !verified.contains(&g.normalized_sha))
            .collect();
        if !todo.is_empty() {
            if writer.is_none() {
                let (_, w) = reopen_finished::<super::sampling::Rec<ReproRecord>>(&path)?;
                writer = Some(w);
            }
            cx.emit(Event::StageStarted {
                stage,
                instance: id.into(),
                reused: 0,
                todo: todo.len(),
            });
            if slot.is_none() {
                slot = Some(containers::start(cx, inst, &image).await?);
                started = true;
            }
            let Some(slot) = slot.as_ref() else { break };
            let mut new: Vec<ReproRecord> = Vec::new();
            for g in todo {
                let file = format!("reproduce_bug_{}.py", &g.normalized_sha[..12]);
                let run = async {
                    slot.sandbox()
                        .write_file(&format!("{}/{file}", containers::REPO_DIR), g.code.as_bytes())
                        .await?;
                    let out = slot
                        .run_script("run_repro.sh", &python_runner(&eval, &file), timeout)
                        .await?;
                    slot.reset().await?;
                    Ok::<_, StageError>(out)
                };
                match run.await {
                    Ok(out) => {
                        let text = out.text();
                        let verdict = repro_outcome(&out);
                        let rec = ReproRecord::Verified {
                            normalized_sha: g.normalized_sha.clone(),
                            verdict,
                            exit_code: out.exit_code,
                            timed_out: out.timed_out,
                            output_tail: tail(&text, 2000),
                        };
                        if let Some(w) = writer.as_mut() {
                            w.record(&super::sampling::Rec::Sample(rec.clone()))?;
                        }
                        new.push(rec);
                        cx.emit(Event::UnitDone {
                            stage,
                            instance: id.into(),
                        });
                    }
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            records.extend(new);
            if outcome.is_err() {
                break;
            }
        }
        let kept = summarize(key.clone(), &records, usize::MAX).tests.len();
        if kept >= s.repro.top_n {
            break;
        }
    }
    if let Some(slot) = slot {
        slot.remove().await;
    }
    outcome?;
    let finished = match writer {
        Some(w) => {
            w.finish()?;
            StageOutcome::Finished
        }
        None => StageOutcome::Reused,
    };
    let result = summarize(key, &records, s.repro.top_n);
    if matches!(finished, StageOutcome::Finished) || started {
        cx.emit(Event::Note {
            instance: id.into(),
            message: repro_note(&records, &result),
        });
    }
    cx.emit(Event::StageFinished {
        stage,
        instance: id.into(),
        outcome: finished,
    });
    Ok(result)
}

/// What a finished generation gave: kept, distinct and generated tests, rejected requests.
pub fn repro_note(records: &[ReproRecord], result: &ReproTests) -> String {
    let mut generated = 0usize;
    let mut without_test = 0usize;
    let mut rejected = 0usize;
    for r in records {
        if let ReproRecord::Test { code, failure, .. } = r {
            generated += 1;
            if code.is_none() {
                without_test += 1;
            }
            if failure.is_some() {
                rejected += 1;
            }
        }
    }
    let distinct = group_tests(records).len();
    format!(
        "gen-tests: kept {} reproduction test(s): {distinct} distinct of {generated} generated ({without_test} without a ```python block, {rejected} request(s) rejected)",
        result.tests.len()
    )
}

/// The finished reproduction tests on disk, whatever settings made them (None: never run).
pub fn load(cx: &Cx, inst: &Instance) -> Result<Option<ReproTests>, StageError> {
    load_file(
        &cx.run_dir.stage_file(&inst.instance_id, StageId::Repro)?,
        cx.settings.repro.top_n,
    )
}

/// [`load`] from the stage file at `path`, keeping the `top_n` best tests.
pub fn load_file(path: &std::path::Path, top_n: usize) -> Result<Option<ReproTests>, StageError> {
    let Some(file) = StageFile::<super::sampling::Rec<ReproRecord>>::read(path)? else {
        return Ok(None);
    };
    let (Some(b), Some(_)) = (file.begin, file.end) else {
        return Ok(None);
    };
    let records: Vec<ReproRecord> = file
        .records
        .into_iter()
        .filter_map(|r| {
            if let super::sampling::Rec::Sample(s) = r {
                Some(s)
            } else {
                None
            }
        })
        .collect();
    Ok(Some(summarize(b.key, &records, top_n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(index: usize, code: &str) -> ReproRecord {
        ReproRecord::Test {
            index,
            prompt_sha: String::new(),
            raw: String::new(),
            usage: Usage::default(),
            code: Some(code.into()),
            normalized_sha: Some(normalized_sha(code)),
            failure: None,
        }
    }

    #[test]
    fn tests_vote_by_normalized_form_and_the_top_reproduced_are_kept() {
        let a = "def test_a():\n    print('Issue reproduced')\ntest_a()\n";
        let a2 = "# same test\ndef test_other():\n    print(\"Issue reproduced\")  # yes\n\ntest_other()\n";
        let b = "print('Issue reproduced')\n";
        let c = "print('Other issues')\n";
        let records = vec![test(1, b), test(2, a), test(3, a2), test(4, c)];
        let groups = group_tests(&records);
        assert_eq!(
            groups.iter().map(|g| (g.first_index, g.votes)).collect::<Vec<_>>(),
            [(1, 1), (2, 2), (4, 1)]
        );
        let verdicts: HashMap<String, ReproVerdict> = groups
            .iter()
            .map(|g| {
                (
                    g.normalized_sha.clone(),
                    if g.first_index == 4 {
                        ReproVerdict::Other
                    } else {
                        ReproVerdict::Reproduced
                    },
                )
            })
            .collect();
        let top = select_top(&groups, &verdicts, 30);
        assert_eq!(top.iter().map(|t| t.votes).collect::<Vec<_>>(), [2, 1]);
        assert!(top[0].code.contains("test_a"));
        assert_eq!(select_top(&groups, &verdicts, 1).len(), 1);
    }

    #[test]
    fn batches_end_at_the_cap() {
        assert_eq!(batch_ends(40, 160), [40, 80, 120, 160]);
        assert_eq!(batch_ends(40, 100), [40, 80, 100]);
        assert_eq!(batch_ends(40, 1), [1]);
        assert_eq!(batch_ends(0, 3), [1, 2, 3]);
    }

    #[test]
    fn the_test_file_is_cut_at_a_line_end_within_the_budget() {
        let text = "a = 1\nbb = 2\nccc = 3\n";
        assert_eq!(within_budget(text, 100, &TokenCounter::default()), (text, false));
        // 2 tokens = 8 bytes: the first line (6 bytes) fits, the second would end at 13.
        assert_eq!(within_budget(text, 2, &TokenCounter::default()), ("a = 1\n", true));
        assert_eq!(within_budget(text, 0, &TokenCounter::default()), ("", true));
        let one_line = "x".repeat(100);
        assert_eq!(within_budget(&one_line, 5, &TokenCounter::default()), ("", true));
    }

    /// A model whose tokenizer counts words.
    struct Words;

    impl agentless_model::Model for Words {
        fn id(&self) -> String {
            "words".into()
        }
        fn chat<'a, 'b, 'c>(
            &'a self,
            _request: &'b agentless_model::ChatRequest,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<agentless_model::ChatResponse, agentless_model::ModelError>>
                    + Send
                    + 'c,
            >,
        >
        where
            'a: 'c,
            'b: 'c,
            Self: 'c,
        {
            Box::pin(async { Err(agentless_model::ModelError::BadRequest("no".into())) })
        }
        fn count_tokens(&self, text: &str) -> Option<usize> {
            Some(text.split_whitespace().count())
        }
    }

    #[test]
    fn budgets_count_with_the_model_tokenizer_when_there_is_one() {
        let words = TokenCounter::of_model(std::sync::Arc::new(Words));
        assert_eq!(words.kind(), "tokenizer");
        assert_eq!(words.count("a bb ccc"), 3);
        let text = "a b c\nd e\nf g h i\n";
        // 5 words fit the first two lines (3 + 2); by bytes / 4 the whole text (20 bytes) fits.
        assert_eq!(within_budget(text, 5, &words), ("a b c\nd e\n", true));
        assert_eq!(within_budget(text, 5, &TokenCounter::default()), (text, false));
        assert_eq!(within_budget(text, 9, &words), (text, false));
    }

    #[test]
    fn the_note_counts_kept_distinct_generated_and_rejected() {
        let mut records = vec![
            test(1, "print('Issue reproduced')\n"),
            test(2, "print('Issue reproduced')  # again\n"),
        ];
        records.push(ReproRecord::Test {
            index: 3,
            prompt_sha: String::new(),
            raw: String::new(),
            usage: Usage::default(),
            code: None,
            normalized_sha: None,
            failure: Some(ModelFailure {
                kind: crate::pipeline::llm::FailureKind::BadRequest,
                message: "400: context length exceeded".into(),
                transient: false,
            }),
        });
        let result = summarize(StageKey::of("k"), &records, 30);
        let note = repro_note(&records, &result);
        assert!(
            note.contains("kept 0 reproduction test(s): 1 distinct of 3 generated (1 without a ```python block, 1 request(s) rejected)"),
            "{note}"
        );
    }

    #[test]
    fn the_first_python_block_is_the_test() {
        assert_eq!(
            extract_test("x\n```python\nprint(1)\n```\n```python\nprint(2)\n```"),
            Some("print(1)\n".into())
        );
        assert_eq!(extract_test("no block"), None);
    }
}
