//! What every stage gets: the settings that shape its output (part of its key), the run
//! directory, the model and the containers (each behind its own limit), the repository cache,
//! the reporter and the cancel token.

use std::sync::Arc;

use agentless_harness::eval_script::EvalScriptError;
use agentless_harness::images::{ImageError, ImageOptions};
use agentless_harness::sandbox::CancellationToken;
use agentless_harness::sandbox::{DockerEnv, SandboxError, SandboxOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::events::{Event, Reporter};
use super::llm::{Llm, Thinking};
use super::localize::Locations;
use super::prompts::PromptSet;
use super::repo::{RepoCache, RepoError};
use crate::artifact::{ArtifactError, RunDir, StageId};

/// Sampling parameters of a model stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub samples: usize,
    pub temperature: f64,
    pub max_tokens: u32,
}

/// Everything that determines the pipeline's outputs (runtime limits are elsewhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Base seed of randomized prompts and of per-sample model seeds.
    pub seed: u64,
    pub thinking: Thinking,
    pub localize: Sampling,
    pub repair: Sampling,
    /// Token budget of the repair prompt's file contents (upstream default 60,000).
    pub max_input_tokens: usize,
    /// Reproduction tests (`gen-tests`).
    pub repro: ReproSettings,
    /// Regression tests (`select-regression`).
    pub regression: RegressionSettings,
    /// Seconds allowed for each test run of a candidate.
    pub execute_timeout_s: u64,
    /// `model_name_or_path` of the predictions.
    pub model_name: String,
    /// The prompt set (`--prompts`); its stage fingerprints enter the keys (see
    /// [`super::prompts`]), `settings.json` records its fingerprint.
    #[serde(skip)]
    pub prompts: Arc<PromptSet>,
    /// Given locations (`--locations`): localization is skipped for the instances listed.
    #[serde(skip)]
    pub locations: Option<Arc<Locations>>,
    /// How the context budgets (`max_input_tokens`, the test file's) count tokens.
    #[serde(skip)]
    pub tokens: TokenCounter,
}

/// Counts tokens for the context budgets: with the model's own tokenizer when it has one at
/// hand (local models; remembered per text), otherwise estimated as bytes / 4.
#[derive(Clone, Default)]
pub struct TokenCounter {
    model: Option<Arc<dyn agentless_model::Model>>,
    seen: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl TokenCounter {
    /// Count with `model`'s tokenizer when it has one.
    pub fn of_model(model: Arc<dyn agentless_model::Model>) -> TokenCounter {
        let has = model.count_tokens("x").is_some();
        TokenCounter {
            model: has.then_some(model),
            seen: Arc::default(),
        }
    }

    /// `"tokenizer"` or `"bytes/4"` (part of the keys whose prompts depend on counts).
    pub fn kind(&self) -> &'static str {
        if self.model.is_some() { "tokenizer" } else { "bytes/4" }
    }

    pub fn count(&self, text: &str) -> usize {
        let Some(m) = &self.model else {
            return text.len().div_ceil(4);
        };
        let key = crate::artifact::key::sha256_hex(text);
        if let Some(n) = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return *n;
        }
        let n = m.count_tokens(text).unwrap_or_else(|| text.len().div_ceil(4));
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(key, n);
        n
    }
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl PartialEq for TokenCounter {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind()
    }
}

/// Reproduction-test settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReproSettings {
    pub enabled: bool,
    /// Generated test samples: `samples` is the cap (`--repro-samples`; sample 1 greedy, the
    /// rest at the temperature, as Agentless).
    pub sampling: Sampling,
    /// Tests kept after voting (`--num-repro-tests`, 30 in the paper). Generation goes on in
    /// batches until this many distinct tests reproduce the issue or the cap is reached.
    pub top_n: usize,
    /// Samples per batch (`--repro-batch`).
    #[serde(default = "default_repro_batch")]
    pub batch: usize,
    /// Token budget of the predicted test file in the prompt (`--repro-context-tokens`).
    #[serde(default = "default_repro_context_tokens")]
    pub context_tokens: usize,
    pub timeout_s: u64,
}

fn default_repro_batch() -> usize {
    40
}

/// The test file's default budget: a fifth of a 60k repair budget, and enough for most test
/// files of the Verified repositories; larger ones are cut at a line end.
pub const DEFAULT_REPRO_CONTEXT_TOKENS: usize = 12_000;

fn default_repro_context_tokens() -> usize {
    DEFAULT_REPRO_CONTEXT_TOKENS
}

/// Regression-test settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionSettings {
    pub enabled: bool,
    /// Ask the model which passing tests the fix may legitimately change.
    pub filter_with_model: bool,
    pub max_tokens: u32,
    pub timeout_s: u64,
}

impl Settings {
    /// The paper's parameters (SWE-RL, section 3.1) and swe-rl's Agentless Mini defaults.
    pub fn paper_defaults() -> Settings {
        Settings {
            seed: 0,
            thinking: Thinking::default(),
            localize: Sampling {
                samples: 500,
                temperature: 1.0,
                max_tokens: 4096,
            },
            repair: Sampling {
                samples: 500,
                temperature: 1.0,
                max_tokens: 4096,
            },
            max_input_tokens: 60_000,
            repro: ReproSettings {
                enabled: true,
                sampling: Sampling {
                    samples: 160,
                    temperature: 0.8,
                    max_tokens: 4096,
                },
                top_n: 30,
                batch: 40,
                context_tokens: DEFAULT_REPRO_CONTEXT_TOKENS,
                timeout_s: 600,
            },
            regression: RegressionSettings {
                enabled: true,
                filter_with_model: true,
                max_tokens: 4096,
                timeout_s: 1800,
            },
            execute_timeout_s: 1800,
            model_name: "agentless-mini".into(),
            prompts: PromptSet::default_set(),
            locations: None,
            tokens: TokenCounter::default(),
        }
    }
}

/// The container side: the engine, the limit on containers at once, and how to get images.
#[derive(Clone)]
pub struct Containers {
    pub env: DockerEnv,
    pub slots: Arc<Semaphore>,
    pub images: ImageOptions,
    /// Template for every sandbox (limits, network); run id and names are filled in.
    pub sandbox: SandboxOptions,
    pub run_id: String,
}

/// The stage context.
#[derive(Clone)]
pub struct Cx {
    pub settings: Arc<Settings>,
    pub run_dir: RunDir,
    pub llm: Option<Llm>,
    pub containers: Option<Containers>,
    pub repos: RepoCache,
    pub reporter: Arc<dyn Reporter>,
    pub cancel: CancellationToken,
}

impl Cx {
    pub fn emit(&self, event: Event) {
        self.reporter.event(&event);
    }

    pub fn llm(&self) -> Result<&Llm, StageError> {
        self.llm.as_ref().ok_or(StageError::NoModel)
    }

    pub fn containers(&self) -> Result<&Containers, StageError> {
        self.containers.as_ref().ok_or(StageError::NoContainers)
    }
}

/// Why a stage stopped for an instance. What it finished is on disk; a re-run resumes.
///
/// The harness's own errors are kept as they are (`#[from]`), so a caller can tell a Docker
/// failure from a missing image or a missing eval script without reading a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("{failed} model request(s) failed and will be retried on the next run: {message}")]
    ModelUnavailable { failed: usize, message: String },
    #[error("this stage needs a model (--model)")]
    NoModel,
    #[error("this stage needs the Docker engine")]
    NoContainers,
    /// The container runtime failed (a cancel shows as [`SandboxError::Cancelled`]: see
    /// [`StageError::is_cancelled`]).
    #[error("container: {0}")]
    Sandbox(#[from] SandboxError),
    /// The instance image could not be pulled or built.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The instance has no eval script (and no environment specs to make one).
    #[error(transparent)]
    EvalScript(#[from] EvalScriptError),
    /// The eval script has no step applying the test patch, so no regression script can be
    /// derived from it.
    #[error("the eval script has no test-patch step to leave out")]
    NoTestPatchStep,
    /// A git command the stage runs in the container (to checkpoint or reset the repository)
    /// exited non-zero; `output` is what it printed.
    #[error("git {action} in the container failed: {output}")]
    GitInContainer { action: GitAction, output: String },
    /// The instance is not in the `--locations` file.
    #[error("{instance} is not in the --locations file {file}")]
    NotInLocations { instance: String, file: String },
    /// A blocking task of the stage (reading the repository) panicked or was aborted.
    #[error("repository task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("no finished `{stage}` artifact for this instance: run `agentless-mini {command}` first")]
    MissingUpstream { stage: StageId, command: &'static str },
    #[error("interrupted")]
    Cancelled,
}

/// The git commands a stage runs in its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitAction {
    /// `git commit` of the working tree after a candidate patch.
    Checkpoint,
    /// `git reset --hard` and `git clean` after a test.
    Reset,
}

impl std::fmt::Display for GitAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GitAction::Checkpoint => "commit",
            GitAction::Reset => "reset",
        })
    }
}

impl StageError {
    pub fn missing(stage: StageId) -> StageError {
        StageError::MissingUpstream {
            stage,
            command: stage.command(),
        }
    }

    /// Whether the stage stopped because the run was cancelled (not a failure).
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            StageError::Cancelled | StageError::Sandbox(SandboxError::Cancelled)
        )
    }
}
