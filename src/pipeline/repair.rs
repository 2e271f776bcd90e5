//! Repair (as swe-rl's Agentless Mini does): N samples, sample `i` conditioned on location set `i` (the unique
//! sets, cycled to fill N); the prompt holds the issue and the full contents of the set's
//! files within a token budget (a file that would overflow it is skipped, the first file is
//! used when none fits, blocks are shuffled when N > 1); each answer's SEARCH/REPLACE edits are
//! applied ([`super::edits`]), a `git diff`-style patch is made ([`super::diff`]), and the
//! sample is dropped — with a typed reason, never an error — when it edits nothing, only
//! changes blank lines, or leaves a file empty or syntactically invalid.
//!
//! Token counting: swe-rl's Agentless Mini counts with the model's tokenizer; here too when
//! the model is local (its GGUF / `tokenizer.json` tokenizer), otherwise a file block costs
//! `ceil(bytes / 4)` tokens (a common estimate for code) and the budget is approximate.

use std::collections::HashMap;

use agentless_harness::dataset::Instance;
use agentless_model::Usage;
use serde::{Deserialize, Serialize};

use super::context::{Cx, Settings, StageError, TokenCounter};
use super::diff::git_diff;
use super::edits::{apply_commands, extract_python_blocks, split_edit_commands};
use super::keys::{InstanceParts, KeyParts, ModelParts};
use super::llm::{Answer, ModelFailure, Thinking};
use super::localize::Localization;
use super::patch::{FileChange, normalized_patch};
use super::prompts::{self, PromptSet, PromptStage};
use super::python::syntax;
use super::repo::Snapshot;
use super::rng::Rng;
use super::sampling::{Job, SampleRecord, read_finished, run_samples};
use crate::artifact::key::sha256_hex;
use crate::artifact::{StageId, StageKey};

pub const FORMAT_VERSION: u32 = 1;

/// Why a sample gives no patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DropReason {
    /// The request failed (the reference treats this as an empty answer).
    ModelError { message: String },
    /// No ```python block with a complete SEARCH/REPLACE edit.
    NoEdits,
    /// Edits only name files that were not in the prompt.
    OutsideContext { files: Vec<String> },
    /// No SEARCH text occurs in its file.
    SearchNotFound,
    /// The edits change nothing, or only blank lines.
    BlankLinesOnly,
    /// An edited file became empty.
    EmptyFile { file: String },
    /// An edited file is not valid Python.
    SyntaxError { file: String, line: usize, message: String },
    /// Imported: the tool that made the sample dropped it, for a reason its files do not say.
    Upstream { tool: String },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::ModelError { message } => write!(f, "model error: {message}"),
            DropReason::NoEdits => write!(f, "no SEARCH/REPLACE edit"),
            DropReason::OutsideContext { files } => write!(f, "edits files outside the prompt: {}", files.join(", ")),
            DropReason::SearchNotFound => write!(f, "no SEARCH text found"),
            DropReason::BlankLinesOnly => write!(f, "changes nothing but blank lines"),
            DropReason::EmptyFile { file } => write!(f, "{file} would be empty"),
            DropReason::SyntaxError { file, line, message } => write!(f, "{file}:{line}: {message}"),
            DropReason::Upstream { tool } => write!(f, "dropped by {tool}"),
        }
    }
}

/// What a sample gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RepairOutcome {
    Patch {
        /// The `model_patch` (git diff format).
        patch: String,
        /// The grouping key of the rerank vote.
        normalized: String,
        edited_files: Vec<String>,
    },
    Dropped {
        reason: DropReason,
        /// The diff before the checks (the reference's `raw_model_patch`), if any.
        raw_patch: String,
    },
}

impl RepairOutcome {
    pub fn patch(&self) -> Option<&str> {
        match self {
            RepairOutcome::Patch { patch, .. } => Some(patch),
            RepairOutcome::Dropped { .. } => None,
        }
    }
    pub fn normalized(&self) -> &str {
        match self {
            RepairOutcome::Patch { normalized, .. } => normalized,
            RepairOutcome::Dropped { .. } => "",
        }
    }
}

/// One repair sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepairSample {
    pub index: usize,
    /// Index into the location sets.
    pub location_set: usize,
    pub prompt_sha: String,
    pub raw: String,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ModelFailure>,
    pub outcome: RepairOutcome,
}

impl SampleRecord for RepairSample {
    fn index(&self) -> Option<usize> {
        Some(self.index)
    }
    fn needs_retry(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| f.transient)
    }
}

/// The repair samples of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Repairs {
    pub key: StageKey,
    pub samples: Vec<RepairSample>,
}

/// Turn an answer into a patch or a drop reason (`_post_process_multifile_repair` and
/// `post_process_raw_output`). `files` are the sample's location set with their contents.
pub fn process(answer: &str, files: &[(String, String)]) -> RepairOutcome {
    let blocks = extract_python_blocks(answer);
    let commands = split_edit_commands(&blocks);
    if commands.is_empty() {
        return RepairOutcome::Dropped {
            reason: DropReason::NoEdits,
            raw_patch: String::new(),
        };
    }
    let mut changes: Vec<FileChange> = Vec::new();
    let mut outside = Vec::new();
    let (mut parsed, mut matched) = (0usize, 0usize);
    for (file, cmds) in &commands.files {
        let Some((_, content)) = files.iter().find(|(p, _)| p == file) else {
            outside.push(file.clone());
            continue;
        };
        let applied = apply_commands(cmds, content);
        parsed += applied.parsed;
        matched += applied.matched;
        if applied.content.is_empty() {
            // `new_content == ""` is skipped upstream (only possible for an empty file).
            continue;
        }
        changes.push(FileChange {
            path: file.clone(),
            old: content.clone(),
            new: applied.content,
        });
    }
    if changes.is_empty() {
        let reason = if !outside.is_empty() {
            DropReason::OutsideContext { files: outside }
        } else {
            DropReason::NoEdits
        };
        return RepairOutcome::Dropped {
            reason,
            raw_patch: String::new(),
        };
    }
    let diff_input: Vec<(&str, &str, &str)> = changes
        .iter()
        .map(|c| (c.path.as_str(), c.old.as_str(), c.new.as_str()))
        .collect();
    let raw_patch = git_diff(&diff_input);
    if parsed == 0 {
        return RepairOutcome::Dropped {
            reason: DropReason::NoEdits,
            raw_patch,
        };
    }
    if matched == 0 {
        return RepairOutcome::Dropped {
            reason: DropReason::SearchNotFound,
            raw_patch,
        };
    }
    for c in &changes {
        if c.new.trim().is_empty() {
            return RepairOutcome::Dropped {
                reason: DropReason::EmptyFile { file: c.path.clone() },
                raw_patch,
            };
        }
        if let Err(e) = syntax::check_edited(&c.old, &c.new) {
            return RepairOutcome::Dropped {
                reason: DropReason::SyntaxError {
                    file: c.path.clone(),
                    line: e.line,
                    message: e.message,
                },
                raw_patch,
            };
        }
    }
    let strip = |s: &str| -> String {
        super::python::splitlines(s)
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let old_all: String = changes.iter().map(|c| strip(&c.old)).collect();
    let new_all: String = changes.iter().map(|c| strip(&c.new)).collect();
    if old_all == new_all {
        return RepairOutcome::Dropped {
            reason: DropReason::BlankLinesOnly,
            raw_patch,
        };
    }
    let normalized = normalized_patch(&changes);
    let edited_files = changes
        .iter()
        .filter(|c| c.old != c.new)
        .map(|c| c.path.clone())
        .collect();
    RepairOutcome::Patch {
        patch: raw_patch.trim_start().to_owned(),
        normalized,
        edited_files,
    }
}

/// Approximate token count of a prompt block.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

/// The file-contents part of a repair prompt (`construct_topn_file_context`), with the prompt
/// set's file block and separator.
pub fn file_context(
    prompts: &PromptSet,
    tokens: &TokenCounter,
    set: &[String],
    contents: &HashMap<String, String>,
    max_tokens: usize,
    rng: Option<&mut Rng>,
) -> String {
    let block = |p: &str| -> Option<String> {
        let c = contents.get(p)?;
        Some(prompts.repair_file_block(p, c.strip_suffix('\n').unwrap_or(c)))
    };
    let mut used = 0usize;
    let mut blocks: Vec<String> = Vec::new();
    for p in set {
        let Some(b) = block(p) else { continue };
        let t = tokens.count(&b);
        if used + t > max_tokens {
            continue;
        }
        used += t;
        blocks.push(b);
    }
    if blocks.is_empty() {
        return set.iter().find_map(|p| block(p)).unwrap_or_default();
    }
    if let Some(r) = rng {
        r.shuffle(&mut blocks);
    }
    blocks.join(prompts.repair_file_separator())
}

/// Sample `i` → its location set (`unique[: N]` cycled to N).
pub fn set_for_sample(i: usize, n_sets: usize, n: usize) -> usize {
    let k = n_sets.min(n).max(1);
    i % k
}

/// What the repair key has besides the shared parts.
#[derive(Serialize)]
struct Extra<'a> {
    #[serde(flatten)]
    model: ModelParts<'a>,
    max_input_tokens: usize,
    randomize: bool,
    seed: u64,
    thinking: &'a Thinking,
    location_sets: &'a [Vec<String>],
    /// The prompt's fingerprint when it is not the default set's.
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_set: Option<String>,
    /// `tokenizer` when the budget counts with the model's tokenizer (absent: bytes / 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    token_counter: Option<&'static str>,
}

/// The stage key (it covers the location sets themselves, not localization's settings).
pub fn key(cx: &Cx, inst: &Instance, sets: &[Vec<String>]) -> Result<StageKey, StageError> {
    Ok(key_of(&cx.settings, cx.llm()?.id(), inst, sets))
}

/// The stage key of an instance repaired by `model` under `s` from the location `sets`.
pub fn key_of(s: &Settings, model: &str, inst: &Instance, sets: &[Vec<String>]) -> StageKey {
    KeyParts {
        stage: "repair",
        format_version: FORMAT_VERSION,
        prompt_version: Some(prompts::PROMPT_VERSION),
        instance: Some(InstanceParts::of(inst)),
        extra: Extra {
            model: ModelParts::of(inst, model, &s.repair),
            max_input_tokens: s.max_input_tokens,
            randomize: s.repair.samples > 1,
            seed: s.seed,
            thinking: &s.thinking,
            location_sets: sets,
            prompt_set: s.prompts.key_part(PromptStage::Repair),
            token_counter: (s.tokens.kind() != "bytes/4").then_some(s.tokens.kind()),
        },
    }
    .key()
}

/// The contents of every file of every location set, read once (a file that cannot be read
/// is left out of the context, with a log line).
pub fn read_contents(inst: &Instance, snapshot: &Snapshot, sets: &[Vec<String>]) -> HashMap<String, String> {
    let mut contents: HashMap<String, String> = HashMap::new();
    for p in sets.iter().flatten() {
        if contents.contains_key(p) {
            continue;
        }
        match snapshot.read(&[p.as_str()]) {
            Ok(mut v) => {
                contents.insert(p.clone(), v.remove(0));
            }
            Err(e) => tracing::warn!(instance = %inst.instance_id, "{e}; left out of the repair context"),
        }
    }
    contents
}

/// The request of sample `i` of `n` (deterministic: resume and replay files rely on it).
pub fn job(
    s: &Settings,
    inst: &Instance,
    sets: &[Vec<String>],
    contents: &HashMap<String, String>,
    n: usize,
    i: usize,
) -> Job {
    let set_idx = set_for_sample(i, sets.len(), n);
    let mut rng = Rng::for_sample(s.seed, "repair", &inst.instance_id, i);
    let ctx = file_context(
        &s.prompts,
        &s.tokens,
        &sets[set_idx],
        contents,
        s.max_input_tokens,
        (n > 1).then_some(&mut rng),
    );
    let messages = s.prompts.repair(&inst.problem_statement, &ctx);
    Job {
        index: i,
        system: messages.system,
        prompt: messages.user,
        temperature: s.repair.temperature,
        max_tokens: s.repair.max_tokens,
        seed: Some(s.seed.wrapping_add(i as u64)),
        meta: set_idx,
    }
}

/// Run (or resume) repair for one instance. With no location set, there is nothing to
/// repair: no samples (the instance gets an empty prediction).
pub async fn run(cx: &Cx, inst: &Instance, snapshot: &Snapshot, loc: &Localization) -> Result<Repairs, StageError> {
    let sets = loc.location_sets();
    let key = key(cx, inst, &sets)?;
    let s = cx.settings.clone();
    let n = if sets.is_empty() { 0 } else { s.repair.samples.max(1) };
    let contents = read_contents(inst, snapshot, &sets);
    let prepare = |i: usize| job(&s, inst, &sets, &contents, n, i);
    let finish = |job: &Job, answer: Result<Answer, ModelFailure>| {
        let set = &sets[job.meta];
        let files: Vec<(String, String)> = set
            .iter()
            .filter_map(|p| contents.get(p).map(|c| (p.clone(), c.clone())))
            .collect();
        let (raw, usage, failure, outcome) = match answer {
            Ok(a) => {
                let outcome = process(s.thinking.answer(&a.text), &files);
                (a.text, a.usage, None, outcome)
            }
            Err(f) => {
                let outcome = RepairOutcome::Dropped {
                    reason: DropReason::ModelError {
                        message: f.message.clone(),
                    },
                    raw_patch: String::new(),
                };
                (String::new(), Usage::default(), Some(f), outcome)
            }
        };
        RepairSample {
            index: job.index,
            location_set: job.meta,
            prompt_sha: sha256_hex(&job.prompt),
            raw,
            usage,
            failure,
            outcome,
        }
    };
    let path = cx.run_dir.stage_file(&inst.instance_id, StageId::Repair)?;
    let samples = run_samples(
        cx,
        &path,
        StageId::Repair,
        FORMAT_VERSION,
        &key,
        &inst.instance_id,
        n,
        prepare,
        finish,
    )
    .await?
    .finish(cx, StageId::Repair, &inst.instance_id)?;
    Ok(Repairs { key, samples })
}

/// The finished repair samples on disk, whatever settings made them.
pub fn load(cx: &Cx, inst: &Instance) -> Result<Repairs, StageError> {
    let path = cx.run_dir.stage_file(&inst.instance_id, StageId::Repair)?;
    match read_finished::<RepairSample>(&path)? {
        Some((key, samples, _)) => Ok(Repairs { key, samples }),
        None => Err(StageError::missing(StageId::Repair)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(String, String)> {
        vec![(
            "pkg/m.py".into(),
            "def f(x):\n    return x + 1\n\n\ndef g():\n    pass\n".into(),
        )]
    }

    fn answer(search: &str, replace: &str) -> String {
        format!("Fix:\n```python\n### pkg/m.py\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n```\n")
    }

    #[test]
    fn a_good_edit_gives_a_patch() {
        let out = process(&answer("    return x + 1", "    return x + 2"), &files());
        let RepairOutcome::Patch {
            patch,
            normalized,
            edited_files,
        } = out
        else {
            panic!("{out:?}")
        };
        assert!(patch.starts_with("diff --git a/pkg/m.py b/pkg/m.py\n"), "{patch}");
        assert!(patch.contains("-    return x + 1\n+    return x + 2\n"));
        assert!(normalized.contains("+    return x + 2"));
        assert_eq!(edited_files, ["pkg/m.py"]);
    }

    #[test]
    fn drops_have_typed_reasons() {
        let reason = |o: RepairOutcome| match o {
            RepairOutcome::Dropped { reason, .. } => reason,
            p => panic!("{p:?}"),
        };
        assert_eq!(reason(process("no code here", &files())), DropReason::NoEdits);
        assert_eq!(
            reason(process(&answer("    return y", "    return z"), &files())),
            DropReason::SearchNotFound
        );
        assert!(matches!(
            reason(process(&answer("    return x + 1", "    return (x +"), &files())),
            DropReason::SyntaxError { line: 2, .. }
        ));
        assert_eq!(
            reason(process(&answer("    return x + 1", "\n    return x + 1\n"), &files())),
            DropReason::BlankLinesOnly
        );
        let outside = answer("a", "b").replace("pkg/m.py", "other.py");
        assert_eq!(
            reason(process(&outside, &files())),
            DropReason::OutsideContext {
                files: vec!["other.py".into()]
            }
        );
        // Malformed: no divider.
        let malformed =
            "```python\n### pkg/m.py\n<<<<<<< SEARCH\n    return x + 1\n    return x + 2\n>>>>>>> REPLACE\n```";
        assert_eq!(reason(process(malformed, &files())), DropReason::NoEdits);
        assert_eq!(
            reason(process(
                &answer("def f(x):\n    return x + 1\n\n\ndef g():\n    pass", ""),
                &files()
            )),
            DropReason::NoEdits
        );
    }

    #[test]
    fn context_respects_the_budget_and_falls_back_to_the_first_file() {
        let contents: HashMap<String, String> = [
            ("a.py".to_owned(), "x".repeat(400)),
            ("b.py".to_owned(), "y\n".to_owned()),
        ]
        .into_iter()
        .collect();
        let set = vec!["a.py".to_owned(), "b.py".to_owned()];
        assert_eq!(
            file_context(
                &PromptSet::default(),
                &TokenCounter::default(),
                &set,
                &contents,
                50,
                None
            ),
            "### b.py\ny"
        );
        assert_eq!(
            file_context(
                &PromptSet::default(),
                &TokenCounter::default(),
                &set,
                &contents,
                1000,
                None
            ),
            format!("### a.py\n{}\n\n### b.py\ny", "x".repeat(400))
        );
        assert!(
            file_context(
                &PromptSet::default(),
                &TokenCounter::default(),
                &set,
                &contents,
                1,
                None
            )
            .starts_with("### a.py\nxxx")
        );
    }

    #[test]
    fn samples_cycle_through_sets() {
        assert_eq!(
            (0..5).map(|i| set_for_sample(i, 2, 5)).collect::<Vec<_>>(),
            [0, 1, 0, 1, 0]
        );
        assert_eq!((0..3).map(|i| set_for_sample(i, 5, 3)).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
