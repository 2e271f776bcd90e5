//! The shared parts of the stage keys (see [`crate::artifact::key`]): every stage's key
//! description is one [`KeyParts`] — the stage, its format version, the prompt version of the
//! stages that ask a model, the instance fields it reads — plus the stage's own extras,
//! flattened after them. The model stages share [`ModelParts`] at the head of their extras.
//!
//! The JSON of a key description is hashed, so the order of the fields is part of every key:
//! these structs serialize exactly as the per-stage structs they replaced (pinned by the
//! tests below), so a run directory made before keeps hitting its cache.

use agentless_harness::dataset::Instance;
use serde::Serialize;

use super::context::Sampling;
use crate::artifact::StageKey;
use crate::artifact::key::sha256_hex;

/// What every stage key starts with, then the stage's `extra` fields.
#[derive(Serialize)]
pub struct KeyParts<'a, E: Serialize> {
    pub stage: &'static str,
    pub format_version: u32,
    /// The prompts' version, for the stages that render prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<u32>,
    /// The instance, for the stages keyed by it (the rerank is keyed by its inputs' keys).
    #[serde(flatten)]
    pub instance: Option<InstanceParts<'a>>,
    #[serde(flatten)]
    pub extra: E,
}

impl<E: Serialize> KeyParts<'_, E> {
    pub fn key(&self) -> StageKey {
        StageKey::of(self)
    }
}

/// The instance fields a stage reads.
#[derive(Serialize)]
pub struct InstanceParts<'a> {
    pub instance_id: &'a str,
    /// The repository's name (localization only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<&'a str>,
    pub base_commit: &'a str,
}

impl<'a> InstanceParts<'a> {
    pub fn of(inst: &'a Instance) -> Self {
        InstanceParts {
            instance_id: &inst.instance_id,
            repo: None,
            base_commit: &inst.base_commit,
        }
    }

    /// With the repository's name too.
    pub fn with_repo(inst: &'a Instance) -> Self {
        InstanceParts {
            repo: Some(&inst.repo),
            ..InstanceParts::of(inst)
        }
    }
}

/// The head of a sampling stage's extras: the issue, the model and how it samples.
#[derive(Serialize)]
pub struct ModelParts<'a> {
    pub problem_statement_sha: String,
    pub model: &'a str,
    pub temperature: f64,
    pub max_tokens: u32,
}

impl<'a> ModelParts<'a> {
    pub fn of(inst: &Instance, model: &'a str, sampling: &Sampling) -> Self {
        ModelParts {
            problem_statement_sha: sha256_hex(&inst.problem_statement),
            model,
            temperature: sampling.temperature,
            max_tokens: sampling.max_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::context::Settings;
    use crate::pipeline::execute::Executions;
    use crate::pipeline::regression::Regression;
    use crate::pipeline::repair::Repairs;
    use crate::pipeline::repro::{ReproTest, ReproTests};
    use crate::pipeline::{execute, localize, regression, repair, repro, select};

    const EVAL: &str = "#!/bin/bash\nset -uxo pipefail\ncd /testbed\ngit config --global --add safe.directory /testbed\ngit apply -v - <<'EOF_114329324912'\nx\nEOF_114329324912\npytest\n";

    fn inputs() -> (Settings, Instance, Regression, ReproTests) {
        let inst = crate::demo::instances().expect("demo split").remove(0);
        let regression = Regression {
            key: StageKey::of("g"),
            enabled: true,
            tests: vec!["tests/a.py::t1".into(), "tests/a.py::t2".into()],
            usage: Default::default(),
        };
        let repro = ReproTests {
            key: StageKey::of("t"),
            enabled: true,
            tests: vec![ReproTest {
                id: "repro-0123456789ab".into(),
                code: "print('Issue reproduced')\n".into(),
                votes: 3,
            }],
            usage: Default::default(),
        };
        (Settings::paper_defaults(), inst, regression, repro)
    }

    /// Keys computed by the per-stage structs before they shared [`KeyParts`]: a resumed run
    /// made before must hit its cache. (The execute key changed with its record format, 1 → 2.)
    #[test]
    fn keys_are_the_ones_computed_before_the_shared_parts() {
        let (s, inst, reg, rep) = inputs();
        let sets = vec![vec!["confparse/config.py".to_owned()], vec![]];
        let image = "sweb.eval.x86_64.agentless-demo__confparse-37:latest";
        let script = crate::pipeline::containers::regression_script(EVAL).expect("script");
        let keys = [
            localize::key_of(&s, "model-a", &inst),
            repair::key_of(&s, "model-a", &inst, &sets),
            repro::key_of(&s, "model-a", &inst, image, EVAL),
            regression::key_of(&s, Some("model-a"), &inst, image, &script),
            regression::key_of(&s, None, &inst, image, &script),
            execute::key_of(&s, &inst, image, &script, &reg, &rep),
            select::key_of(
                &Repairs {
                    key: StageKey::of("r"),
                    samples: Vec::new(),
                },
                &reg,
                &rep,
                &Executions {
                    key: StageKey::of("e"),
                    results: Default::default(),
                },
            ),
        ];
        // Computed with the per-stage key structs of e4c6306 (execute with format version 2),
        // but the two regression keys: format version 2 since its rejection became typed
        // (pinned here from this code; version 1's were fcc2b820… and e9308b0b…).
        let pinned = [
            "sha256:b5bab82babd250c6bdd617a068327cb0407dea2d736675de4cb20bfc79c9a31a",
            "sha256:7c2846194a94271853eccff4185f7d56082ea64a7d314f96f94a67448bc3d6f7",
            "sha256:f2a26e0fd5c98716e6e0a9ad05aea563c484d2a96f2abc524609e707e7f4aa87",
            "sha256:95eac9aeb3280dd66d13df5501748aef5167a2b8b7427c372b4c0c5f3686c4de",
            "sha256:6af4981ec0afebe0a67bef6b1fe7de1ee5fca8b843b36db11c8375913d24ae7c",
            "sha256:f9376432db157428e7c7658b6f86d04d0221c3eb60f6baac5338e41a2ce991d4",
            "sha256:f6b4d5c632bedd1500826944bafcf4886bd4a999bf4c62a730f77b65459baf85",
        ];
        assert_eq!(keys.map(|k| k.0), pinned);
    }
}
