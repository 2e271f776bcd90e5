//! File-level localization (as swe-rl's Agentless Mini does): N requests with the issue and the filtered
//! repository structure (randomized when N > 1: 2–5 files asked, indentation 2 or 4, entries
//! shuffled at every level), the paths read back from each answer (every line that exactly
//! equals a file of the filtered structure), and the de-duplicated location sets.
//!
//! Differences: a path named twice in one answer counts once; samples are ordered by request,
//! not by completion.
//!
//! With given locations (`--locations FILE`, [`Locations`]: the paper's oracle setting, as
//! swe-rl's `resources/*_gt_loc.jsonl`), no model is asked: the listed files are the
//! location sets, and no localization artifact is written (repair's key covers the sets).

use agentless_harness::dataset::Instance;
use agentless_model::Usage;
use serde::{Deserialize, Serialize};

use super::context::{Cx, Settings, StageError};
use super::keys::{InstanceParts, KeyParts, ModelParts};
use super::llm::{Answer, ModelFailure, Thinking};
use super::prompts::{self, PromptStage};
use super::repo::Snapshot;
use super::rng::Rng;
use super::sampling::{Job, SampleRecord, read_finished, run_samples};
use super::structure::Tree;
use crate::artifact::key::sha256_hex;
use crate::artifact::{StageId, StageKey};

pub const FORMAT_VERSION: u32 = 1;

/// One localization sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalizeSample {
    pub index: usize,
    pub prompt_sha: String,
    /// Files asked for in the prompt.
    pub n_files: usize,
    pub raw: String,
    /// The paths read from the answer, in the model's order.
    pub files: Vec<String>,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ModelFailure>,
}

impl SampleRecord for LocalizeSample {
    fn index(&self) -> Option<usize> {
        Some(self.index)
    }
    fn needs_retry(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| f.transient)
    }
}

/// What localization gives the repair stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Localization {
    pub key: StageKey,
    pub samples: Vec<LocalizeSample>,
}

impl Localization {
    /// The location sets: non-empty file lists, de-duplicated as ordered lists, in sample order.
    pub fn location_sets(&self) -> Vec<Vec<String>> {
        location_sets(self.samples.iter().map(|s| s.files.clone()))
    }
}

/// Non-empty lists, first occurrence of each ordered list kept.
pub fn location_sets(lists: impl IntoIterator<Item = Vec<String>>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for l in lists {
        if !l.is_empty() && !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

/// The paths of an answer (`correct_file_paths`): the answer stripped, split on `\n`, each line
/// kept when it exactly equals a known file (lines are not trimmed), duplicates dropped.
pub fn parse_files(answer: &str, known: &std::collections::HashSet<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in answer.split('\n') {
        if known.contains(line) && !out.iter().any(|f| f == line) {
            out.push(line.to_owned());
        }
    }
    out
}

/// What the localize key has besides the shared parts.
#[derive(Serialize)]
struct Extra<'a> {
    #[serde(flatten)]
    model: ModelParts<'a>,
    randomize: bool,
    seed: u64,
    thinking: &'a Thinking,
    /// The prompt's fingerprint when it is not the default set's.
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_set: Option<String>,
}

/// The stage key for an instance under the current settings.
pub fn key(cx: &Cx, inst: &Instance) -> Result<StageKey, StageError> {
    Ok(key_of(&cx.settings, cx.llm()?.id(), inst))
}

/// The stage key of an instance localized by `model` under `s`.
pub fn key_of(s: &Settings, model: &str, inst: &Instance) -> StageKey {
    KeyParts {
        stage: "localize",
        format_version: FORMAT_VERSION,
        prompt_version: Some(prompts::PROMPT_VERSION),
        instance: Some(InstanceParts::with_repo(inst)),
        extra: Extra {
            model: ModelParts::of(inst, model, &s.localize),
            randomize: s.localize.samples > 1,
            seed: s.seed,
            thinking: &s.thinking,
            prompt_set: s.prompts.key_part(PromptStage::Localize),
        },
    }
    .key()
}

/// The filtered structure localization shows for an instance.
pub fn tree_for(inst: &Instance, snapshot: &Snapshot) -> Tree {
    Tree::from_paths(snapshot.paths()).localization_view(inst.instance_id.starts_with("pytest"))
}

/// The request of sample `i` of `n` (deterministic: resume and replay files rely on it).
pub fn job(s: &Settings, inst: &Instance, tree: &Tree, n: usize, i: usize) -> Job {
    let (n_files, structure) = if n > 1 {
        let mut rng = Rng::for_sample(s.seed, "localize", &inst.instance_id, i);
        let n_files = rng.range_inclusive(2, 5);
        let indent = if rng.below(2) == 0 { 2 } else { 4 };
        (n_files, tree.render(indent, Some(&mut rng)))
    } else {
        (5, tree.render(4, None))
    };
    let messages = s.prompts.localize(&inst.problem_statement, &structure, n_files);
    Job {
        meta: n_files,
        index: i,
        system: messages.system,
        prompt: messages.user,
        temperature: s.localize.temperature,
        max_tokens: s.localize.max_tokens,
        seed: Some(s.seed.wrapping_add(i as u64)),
    }
}

/// Given locations: instance id → location sets (`--locations FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    pub path: String,
    pub sha256: String,
    pub sets: std::collections::BTreeMap<String, Vec<Vec<String>>>,
}

#[derive(Deserialize)]
struct LocationLine {
    instance_id: String,
    found_files: serde_json::Value,
}

impl Locations {
    /// Read a JSONL file of `{"instance_id", "found_files"}` rows; `found_files` is a list of
    /// paths (one location set, as swe-rl's ground-truth files) or a list of such lists (one
    /// set per sample, as a localization output). A later row for an id replaces an earlier.
    pub fn parse(path: &str, text: &str) -> Result<Locations, String> {
        let mut sets = std::collections::BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row: LocationLine = serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
            let bad = || {
                format!(
                    "{path}:{}: found_files must be a list of paths or a list of lists of paths",
                    n + 1
                )
            };
            let items = row.found_files.as_array().ok_or_else(bad)?;
            let lists: Vec<Vec<String>> = if items.iter().all(|v| v.is_string()) {
                vec![items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()]
            } else {
                items
                    .iter()
                    .map(|l| {
                        l.as_array()
                            .filter(|a| a.iter().all(|v| v.is_string()))
                            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                            .ok_or_else(bad)
                    })
                    .collect::<Result<_, _>>()?
            };
            sets.insert(row.instance_id, lists);
        }
        Ok(Locations {
            path: path.to_owned(),
            sha256: sha256_hex(text),
            sets,
        })
    }

    /// The localization of an instance from the given files.
    pub fn localization(&self, instance_id: &str) -> Result<Localization, StageError> {
        let lists = self.sets.get(instance_id).ok_or_else(|| StageError::NotInLocations {
            instance: instance_id.to_owned(),
            file: self.path.clone(),
        })?;
        let samples = lists
            .iter()
            .enumerate()
            .map(|(index, files)| LocalizeSample {
                index,
                prompt_sha: String::new(),
                n_files: files.len(),
                raw: String::new(),
                files: files.clone(),
                usage: Usage::default(),
                failure: None,
            })
            .collect();
        Ok(Localization {
            key: StageKey::of(&("locations", &self.sha256, instance_id)),
            samples,
        })
    }
}

/// Run (or resume) localization for one instance.
pub async fn run(cx: &Cx, inst: &Instance, snapshot: &Snapshot) -> Result<Localization, StageError> {
    if let Some(given) = &cx.settings.locations {
        return given.localization(&inst.instance_id);
    }
    let key = key(cx, inst)?;
    let s = cx.settings.clone();
    let n = s.localize.samples.max(1);
    let tree = tree_for(inst, snapshot);
    let files = tree.files();
    let known: std::collections::HashSet<&str> = files.iter().map(String::as_str).collect();
    let prepare = |i: usize| job(&s, inst, &tree, n, i);
    let finish = |job: &Job, answer: Result<Answer, ModelFailure>| {
        let n_files = job.meta;
        let (raw, usage, failure) = match answer {
            Ok(a) => (a.text, a.usage, None),
            Err(f) => (String::new(), Usage::default(), Some(f)),
        };
        let files = parse_files(s.thinking.answer(&raw), &known);
        LocalizeSample {
            index: job.index,
            prompt_sha: sha256_hex(&job.prompt),
            n_files,
            raw,
            files,
            usage,
            failure,
        }
    };
    let path = cx.run_dir.stage_file(&inst.instance_id, StageId::Localize)?;
    let samples = run_samples(
        cx,
        &path,
        StageId::Localize,
        FORMAT_VERSION,
        &key,
        &inst.instance_id,
        n,
        prepare,
        finish,
    )
    .await?
    .finish(cx, StageId::Localize, &inst.instance_id)?;
    Ok(Localization { key, samples })
}

/// The finished localization on disk, whatever settings made it.
pub fn load(cx: &Cx, inst: &Instance) -> Result<Localization, StageError> {
    if let Some(given) = &cx.settings.locations {
        return given.localization(&inst.instance_id);
    }
    let path = cx.run_dir.stage_file(&inst.instance_id, StageId::Localize)?;
    match read_finished::<LocalizeSample>(&path)? {
        Some((key, samples, _)) => Ok(Localization { key, samples }),
        None => Err(StageError::missing(StageId::Localize)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_exactly() {
        let known: std::collections::HashSet<&str> = ["a/b.py", "c.py", "d/e.py"].into_iter().collect();
        let answer = "Here:\n```\na/b.py\n c.py\nc.py\nx.py\nd/e.py\na/b.py\n```";
        assert_eq!(parse_files(answer, &known), ["a/b.py", "c.py", "d/e.py"]);
        assert!(parse_files("a/b.py, c.py", &known).is_empty());
        // CRLF answers: lines keep their \r and do not match (as upstream).
        assert!(parse_files("a/b.py\r\nc.py\r\n", &known).is_empty());
    }

    #[test]
    fn given_locations_read_both_shapes() {
        let text = concat!(
            "{\"instance_id\": \"a\", \"found_files\": [\"x.py\", \"y.py\"]}\n",
            "\n",
            "{\"instance_id\": \"b\", \"found_files\": [[\"x.py\"], [], [\"z.py\"]]}\n",
        );
        let l = Locations::parse("gt.jsonl", text).unwrap();
        assert_eq!(l.localization("a").unwrap().location_sets(), [vec!["x.py", "y.py"]]);
        assert_eq!(
            l.localization("b").unwrap().location_sets(),
            [vec!["x.py"], vec!["z.py"]]
        );
        let e = l.localization("c").unwrap_err().to_string();
        assert!(e.contains("not in the --locations file gt.jsonl"), "{e}");
        let e = Locations::parse("gt.jsonl", "{\"instance_id\": \"a\", \"found_files\": [1]}").unwrap_err();
        assert!(e.contains("gt.jsonl:1"), "{e}");
    }

    #[test]
    fn location_sets_are_deduplicated_in_order() {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let sets = location_sets([v(&["a", "b"]), v(&[]), v(&["b", "a"]), v(&["a", "b"]), v(&["c"])]);
        assert_eq!(sets, [v(&["a", "b"]), v(&["b", "a"]), v(&["c"])]);
    }
}
