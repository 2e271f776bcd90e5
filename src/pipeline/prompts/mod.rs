//! Prompts as data: every message the pipeline sends comes from a prompt set, either the
//! project's own (`default.toml`, embedded) or one read with `--prompts FILE` (TOML, or JSON
//! with the same fields; stages a file leaves out keep the default's). Templates use Python's
//! `str.format` fields ([`template`]), so a set imported from a swe-rl or Agentless
//! checkout ([`import`]) renders what their `.format(...)` calls produce, byte for byte.
//!
//! Keys: a stage whose prompt (text, system message, separators, strip) is the default's keeps
//! the key it had before prompts were data; any other prompt adds its fingerprint to the
//! stage key, so a changed prompt re-runs exactly the stages it feeds.

pub mod import;
pub mod template;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use self::template::{Template, TemplateError};
use crate::artifact::key::sha256_hex;

/// Bump on any change to how a prompt is assembled outside the templates.
pub const PROMPT_VERSION: u32 = 1;

/// The format number of prompt-set files this build reads.
pub const FORMAT: u32 = 1;

const DEFAULT_TOML: &str = include_str!("default.toml");

/// One stage's prompt as written in a prompt-set file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    /// The user message (Python `str.format` fields).
    pub template: String,
    /// Python `str.strip()` the rendered message (what the reference code does after `.format`).
    #[serde(default = "yes")]
    pub strip: bool,
    /// A system message sent before the user message (none by default, as the reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// repair: one file of the context (`{path}`, `{content}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_block: Option<String>,
    /// repair: between file blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_separator: Option<String>,
    /// repro: the predicted test file (`{path}`, `{content}`), put in `{test_file_context}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_file_context: Option<String>,
    /// regression: between test names in `{passing_tests}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_separator: Option<String>,
}

fn yes() -> bool {
    true
}

/// A prompt-set file: every stage optional (missing ones come from the default set).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptFile {
    pub format: u32,
    #[serde(default)]
    pub name: String,
    /// Where the set came from (written by `prompts import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localize: Option<PromptSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<PromptSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_file: Option<PromptSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repro: Option<PromptSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<PromptSpec>,
}

/// The prompts of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptStage {
    Localize,
    Repair,
    TestFile,
    Repro,
    Regression,
}

impl PromptStage {
    pub const ALL: [PromptStage; 5] = [
        PromptStage::Localize,
        PromptStage::Repair,
        PromptStage::TestFile,
        PromptStage::Repro,
        PromptStage::Regression,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PromptStage::Localize => "localize",
            PromptStage::Repair => "repair",
            PromptStage::TestFile => "test_file",
            PromptStage::Repro => "repro",
            PromptStage::Regression => "regression",
        }
    }

    /// The template's fields, and those it must use.
    fn fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            PromptStage::Localize => (
                &["problem_statement", "structure", "n"],
                &["problem_statement", "structure"],
            ),
            PromptStage::Repair => (&["problem_statement", "content"], &["problem_statement", "content"]),
            PromptStage::TestFile => (&["problem_statement", "structure"], &["problem_statement", "structure"]),
            PromptStage::Repro => (&["problem_statement", "test_file_context"], &["problem_statement"]),
            PromptStage::Regression => (
                &["problem_statement", "passing_tests"],
                &["problem_statement", "passing_tests"],
            ),
        }
    }
}

impl std::fmt::Display for PromptStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a prompt set cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: format {found}, this build reads format {FORMAT}")]
    Format { path: String, found: u32 },
    #[error("{path}: [{stage}] {what}: {source}")]
    Template {
        path: String,
        stage: PromptStage,
        what: &'static str,
        #[source]
        source: TemplateError,
    },
}

/// A compiled stage prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePrompt {
    pub spec: PromptSpec,
    template: Template,
    extra: Option<Template>,
    fingerprint: String,
}

/// What a prompt renders to: the messages of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Messages {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub user: String,
}

impl StagePrompt {
    fn compile(path: &str, stage: PromptStage, spec: PromptSpec) -> Result<StagePrompt, PromptError> {
        let err = |what: &'static str| {
            move |source| PromptError::Template {
                path: path.to_owned(),
                stage,
                what,
                source,
            }
        };
        let (known, required) = stage.fields();
        let template = Template::compile(&spec.template, known, required).map_err(err("template"))?;
        let extra = match stage {
            PromptStage::Repair => Some(
                Template::compile(
                    spec.file_block.as_deref().unwrap_or(DEFAULT_FILE_BLOCK),
                    &["path", "content"],
                    &["content"],
                )
                .map_err(err("file_block"))?,
            ),
            PromptStage::Repro => match &spec.test_file_context {
                Some(t) => {
                    Some(Template::compile(t, &["path", "content"], &["content"]).map_err(err("test_file_context"))?)
                }
                None => None,
            },
            _ => None,
        };
        let misplaced = match stage {
            PromptStage::Repair => spec.test_file_context.is_some() || spec.test_separator.is_some(),
            PromptStage::Repro => {
                spec.file_block.is_some() || spec.file_separator.is_some() || spec.test_separator.is_some()
            }
            PromptStage::Regression => {
                spec.file_block.is_some() || spec.file_separator.is_some() || spec.test_file_context.is_some()
            }
            _ => {
                spec.file_block.is_some()
                    || spec.file_separator.is_some()
                    || spec.test_file_context.is_some()
                    || spec.test_separator.is_some()
            }
        };
        if misplaced {
            return Err(PromptError::Parse {
                path: path.to_owned(),
                message: format!(
                    "[{stage}] has a setting of another stage (file_block and file_separator belong to [repair], test_file_context to [repro], test_separator to [regression])"
                ),
            });
        }
        let fingerprint = sha256_hex(&serde_json::to_string(&spec).unwrap_or_default());
        Ok(StagePrompt {
            spec,
            template,
            extra,
            fingerprint,
        })
    }

    fn finish(&self, text: String) -> Messages {
        let user = if self.spec.strip {
            swerl_reward::py::strip(&text).to_owned()
        } else {
            text
        };
        Messages {
            system: self.spec.system.clone(),
            user,
        }
    }

    /// Whether the template has the field `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.template.uses(name)
    }
}

const DEFAULT_FILE_BLOCK: &str = "### {path}\n{content}";

/// A complete, compiled prompt set.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSet {
    pub name: String,
    pub source: Option<String>,
    /// Where it was read from (None: the embedded default).
    pub path: Option<String>,
    localize: StagePrompt,
    repair: StagePrompt,
    test_file: StagePrompt,
    repro: StagePrompt,
    regression: StagePrompt,
}

fn default_file() -> &'static PromptFile {
    static FILE: OnceLock<PromptFile> = OnceLock::new();
    FILE.get_or_init(|| {
        // The embedded set is checked by the tests below; a broken build fails them.
        toml::from_str(DEFAULT_TOML).unwrap_or_default()
    })
}

impl Default for PromptSet {
    fn default() -> Self {
        PromptSet::default_set().as_ref().clone()
    }
}

impl PromptSet {
    /// The project's own set (compiled once).
    pub fn default_set() -> Arc<PromptSet> {
        static SET: OnceLock<Arc<PromptSet>> = OnceLock::new();
        SET.get_or_init(|| {
            let f = default_file();
            let get = |s: &Option<PromptSpec>| s.clone().unwrap_or_default();
            let compile = |stage, spec| {
                StagePrompt::compile("default.toml", stage, spec).unwrap_or_else(|_| StagePrompt {
                    spec: PromptSpec::default(),
                    template: Template::empty(),
                    extra: None,
                    fingerprint: String::new(),
                })
            };
            Arc::new(PromptSet {
                name: f.name.clone(),
                source: None,
                path: None,
                localize: compile(PromptStage::Localize, get(&f.localize)),
                repair: compile(PromptStage::Repair, get(&f.repair)),
                test_file: compile(PromptStage::TestFile, get(&f.test_file)),
                repro: compile(PromptStage::Repro, get(&f.repro)),
                regression: compile(PromptStage::Regression, get(&f.regression)),
            })
        })
        .clone()
    }

    /// Read a prompt-set file (`.json`: JSON; anything else: TOML).
    pub fn load(path: &Path) -> Result<PromptSet, PromptError> {
        let shown = path.display().to_string();
        let text = fs_err::read_to_string(path).map_err(|e| PromptError::Io {
            path: shown.clone(),
            source: e,
        })?;
        let file: PromptFile = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            serde_json::from_str(&text).map_err(|e| PromptError::Parse {
                path: shown.clone(),
                message: e.to_string(),
            })?
        } else {
            toml::from_str(&text).map_err(|e| PromptError::Parse {
                path: shown.clone(),
                message: e.to_string(),
            })?
        };
        let mut set = PromptSet::from_file(&shown, file)?;
        set.path = Some(shown);
        Ok(set)
    }

    /// Compile a parsed file; stages it leaves out are the default set's.
    pub fn from_file(path: &str, file: PromptFile) -> Result<PromptSet, PromptError> {
        if file.format != FORMAT {
            return Err(PromptError::Format {
                path: path.to_owned(),
                found: file.format,
            });
        }
        let d = PromptSet::default_set();
        let pick = |stage: PromptStage, spec: Option<PromptSpec>, dflt: &StagePrompt| match spec {
            Some(s) => StagePrompt::compile(path, stage, s),
            None => Ok(dflt.clone()),
        };
        Ok(PromptSet {
            name: file.name,
            source: file.source,
            path: None,
            localize: pick(PromptStage::Localize, file.localize, &d.localize)?,
            repair: pick(PromptStage::Repair, file.repair, &d.repair)?,
            test_file: pick(PromptStage::TestFile, file.test_file, &d.test_file)?,
            repro: pick(PromptStage::Repro, file.repro, &d.repro)?,
            regression: pick(PromptStage::Regression, file.regression, &d.regression)?,
        })
    }

    pub fn stage(&self, stage: PromptStage) -> &StagePrompt {
        match stage {
            PromptStage::Localize => &self.localize,
            PromptStage::Repair => &self.repair,
            PromptStage::TestFile => &self.test_file,
            PromptStage::Repro => &self.repro,
            PromptStage::Regression => &self.regression,
        }
    }

    /// The fingerprint of a stage's prompt for its artifact key: None when it is the default
    /// set's (keys made before prompts were data stay valid).
    pub fn key_part(&self, stage: PromptStage) -> Option<String> {
        let mine = &self.stage(stage).fingerprint;
        (mine != &PromptSet::default_set().stage(stage).fingerprint).then(|| mine.clone())
    }

    /// The fingerprint of the whole set (sha256 over the stages' fingerprints).
    pub fn fingerprint(&self) -> String {
        let all: Vec<&str> = PromptStage::ALL
            .iter()
            .map(|s| self.stage(*s).fingerprint.as_str())
            .collect();
        sha256_hex(&all.join("\n"))
    }

    /// Whether every stage is the default's.
    pub fn is_default(&self) -> bool {
        PromptStage::ALL.iter().all(|s| self.key_part(*s).is_none())
    }

    /// The file form of this set (every stage written out).
    pub fn to_file(&self) -> PromptFile {
        PromptFile {
            format: FORMAT,
            name: self.name.clone(),
            source: self.source.clone(),
            localize: Some(self.localize.spec.clone()),
            repair: Some(self.repair.spec.clone()),
            test_file: Some(self.test_file.spec.clone()),
            repro: Some(self.repro.spec.clone()),
            regression: Some(self.regression.spec.clone()),
        }
    }

    /// File localization: `structure` is the rendered tree (stripped here, as the reference).
    pub fn localize(&self, problem_statement: &str, structure: &str, n: usize) -> Messages {
        let p = &self.localize;
        let n = n.to_string();
        p.finish(p.template.render(&[
            ("problem_statement", problem_statement),
            ("structure", swerl_reward::py::strip(structure)),
            ("n", &n),
        ]))
    }

    /// One file of the repair context.
    pub fn repair_file_block(&self, path: &str, content: &str) -> String {
        match &self.repair.extra {
            Some(t) => t.render(&[("path", path), ("content", content)]),
            None => format!("### {path}\n{content}"),
        }
    }

    /// Between repair file blocks.
    pub fn repair_file_separator(&self) -> &str {
        self.repair.spec.file_separator.as_deref().unwrap_or("\n\n")
    }

    /// Repair: `content` is the joined file blocks.
    pub fn repair(&self, problem_statement: &str, content: &str) -> Messages {
        let p = &self.repair;
        p.finish(
            p.template
                .render(&[("problem_statement", problem_statement), ("content", content)]),
        )
    }

    /// Test-file prediction.
    pub fn test_file(&self, problem_statement: &str, structure: &str) -> Messages {
        let p = &self.test_file;
        p.finish(p.template.render(&[
            ("problem_statement", problem_statement),
            ("structure", swerl_reward::py::strip(structure)),
        ]))
    }

    /// Whether the reproduction-test prompt shows a predicted test file (when it does not, as
    /// Agentless's issue-only prompt, no test file is predicted).
    pub fn repro_uses_test_file(&self) -> bool {
        self.repro.uses("test_file_context") && self.repro.extra.is_some()
    }

    /// Reproduction test, with the predicted test file when there is one.
    pub fn repro(&self, problem_statement: &str, test_file: Option<(&str, &str)>) -> Messages {
        let p = &self.repro;
        let context = match (test_file, &p.extra) {
            (Some((path, content)), Some(t)) => t.render(&[("path", path), ("content", content)]),
            _ => String::new(),
        };
        p.finish(p.template.render(&[
            ("problem_statement", problem_statement),
            ("test_file_context", &context),
        ]))
    }

    /// Regression-test filter.
    pub fn regression(&self, problem_statement: &str, tests: &[String]) -> Messages {
        let p = &self.regression;
        let sep = p.spec.test_separator.as_deref().unwrap_or("\n");
        let list = tests.join(sep);
        p.finish(
            p.template
                .render(&[("problem_statement", problem_statement), ("passing_tests", &list)]),
        )
    }
}

#[cfg(test)]
mod legacy;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_parses_and_compiles() {
        let f: PromptFile = toml::from_str(DEFAULT_TOML).unwrap();
        let set = PromptSet::from_file("default.toml", f).unwrap();
        assert_eq!(set, *PromptSet::default_set());
        assert!(set.is_default());
        assert!(PromptSet::default_set().stage(PromptStage::Repair).fingerprint.len() == 64);
    }

    /// The default set renders exactly what the hard-coded prompts rendered before prompts were
    /// data (kept in `legacy.rs`), so existing runs keep their prompts and keys.
    #[test]
    fn the_default_set_renders_the_former_prompts() {
        let d = PromptSet::default_set();
        let issue = "  Something {breaks} when x = {}.\n\nSteps:\n1. run it\n";
        let structure = "pkg\n    a.py\n    b.py\n";
        assert_eq!(
            d.localize(issue, structure, 3).user,
            legacy::localization(issue, structure.trim(), 3)
        );
        let content = "### pkg/a.py\nx = {1}\n\n### pkg/b.py\ny = 2";
        assert_eq!(d.repair(issue, content).user, legacy::repair(issue, content));
        assert_eq!(
            d.test_file(issue, structure).user,
            legacy::test_file(issue, structure.trim())
        );
        assert_eq!(d.repro(issue, None).user, legacy::reproduction_test(issue, None));
        let tf = Some(("tests/test_a.py", "def test_a():\n    assert {1: 2}\n"));
        assert_eq!(d.repro(issue, tf).user, legacy::reproduction_test(issue, tf));
        let tests = vec!["t1".to_owned(), "t::2".to_owned()];
        assert_eq!(
            d.regression(issue, &tests).user,
            legacy::regression_filter(issue, &tests)
        );
        assert_eq!(d.repair_file_block("p.py", "c"), "### p.py\nc");
        assert!(d.localize(issue, structure, 3).system.is_none());
    }

    #[test]
    fn a_partial_file_changes_only_its_stages_keys() {
        let f: PromptFile = toml::from_str(
            "format = 1\n[repair]\ntemplate = '''Fix {problem_statement}:\n{content}\n'''\nsystem = 'think first'\n",
        )
        .unwrap();
        let set = PromptSet::from_file("x.toml", f).unwrap();
        assert!(set.key_part(PromptStage::Repair).is_some());
        assert!(set.key_part(PromptStage::Localize).is_none());
        assert!(!set.is_default());
        let m = set.repair("bug", "### a.py\nx");
        assert_eq!(m.user, "Fix bug:\n### a.py\nx");
        assert_eq!(m.system.as_deref(), Some("think first"));
        // The whole set written out and read back is the same set.
        let text = toml::to_string(&set.to_file()).unwrap();
        let back = PromptSet::from_file("y.toml", toml::from_str(&text).unwrap()).unwrap();
        assert_eq!(back.fingerprint(), set.fingerprint());
    }

    #[test]
    fn bad_files_are_refused_with_the_stage_named() {
        let bad = |s: &str| {
            let f: PromptFile = toml::from_str(s).unwrap();
            PromptSet::from_file("x.toml", f).unwrap_err().to_string()
        };
        let e = bad("format = 1\n[localize]\ntemplate = '{problem_statement} {structure} {files}'\n");
        assert!(e.contains("[localize]") && e.contains("{files}"), "{e}");
        let e = bad("format = 1\n[repair]\ntemplate = '{problem_statement}'\n");
        assert!(e.contains("{content}"), "{e}");
        let e = bad("format = 2\n");
        assert!(e.contains("format 2"), "{e}");
        let e = bad("format = 1\n[localize]\ntemplate = '{problem_statement}{structure}'\nfile_block = 'x'\n");
        assert!(e.contains("another stage"), "{e}");
        assert!(toml::from_str::<PromptFile>("format = 1\n[localize]\ntemplat = 'x'\n").is_err());
    }
}
