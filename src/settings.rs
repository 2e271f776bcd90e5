//! One settings layer for the commands that run containers (`eval` and the pipeline stages,
//! `evaluate`, `report --grade-candidates`): the container flags and the evaluation flags are
//! defined here once, flattened into each command, and resolved once into the harness's
//! image, sandbox and evaluation configuration ([`ContainerSettings`]). Each flag means one
//! thing in every command; the spellings of earlier releases are hidden aliases (see
//! [`crate::cli::command`] for the ones whose old meaning differed by command).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentless_harness::dataset::Instance;
use agentless_harness::dataset::demo::DemoRepos;
use agentless_harness::evaluate::{EvalConfig, NetworkPolicy};
use agentless_harness::grade::GradingMode;
use agentless_harness::images::{Arch, EnvSpecs, ImageOptions, Namespace};
use agentless_harness::integrity::run::IntegrityMode;
use agentless_harness::sandbox::SandboxOptions;
use anyhow::Context as _;
use clap::Args;

/// Where containers come from and what each may use: every command that runs containers
/// flattens this group.
#[derive(Debug, Args, Clone)]
pub struct ContainerArgs {
    /// Containers running at once (each evaluated instance or candidate is one container;
    /// default: 3/4 of the CPUs, at most 8).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Image namespace: `swebench` pulls official images; an empty value (or `none`) uses
    /// local names and builds missing images; `host:port/ns` pulls from that registry.
    /// Default: `swebench` for SWE-bench instances, local builds for the demo split.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Instance image tag.
    #[arg(long, default_value = "latest")]
    pub instance_image_tag: String,
    /// Image architecture (x86_64 or arm64; default: the host's).
    #[arg(long)]
    pub arch: Option<Arch>,
    /// Environment specs (JSON: repo → version → spec) for local SWE-bench image builds and
    /// for generating eval scripts when the dataset has no `eval_script` column.
    #[arg(long, value_name = "FILE")]
    pub specs: Option<PathBuf>,
    /// Folder of the demo split's repository trees (default: `repos/` beside a --dataset
    /// file, else the trees embedded in the tool).
    #[arg(long, value_name = "DIR")]
    pub demo_repos: Option<PathBuf>,
    /// Rebuild locally built instance images even when they exist.
    #[arg(long)]
    pub force_rebuild: bool,
    /// Network policy of evaluation containers. Default `install`: the eval script's steps
    /// before the test command (the package re-install) get the `bridge` network, as the
    /// official harness gives them; the tests run with none. `none`: no network at all
    /// (re-installs that need the package index fail; reported as the `reinstall_failed`
    /// finding). Any other value (a Docker network mode; `--network` alone means `bridge`):
    /// that network for the whole evaluation. The pipeline's test containers never have one.
    #[arg(long, num_args = 0..=1, default_value = "install", default_missing_value = "bridge")]
    pub network: String,
    /// Memory limit per container (e.g. 8g, 512m; 6m to 1024t).
    #[arg(long, default_value = "8g", value_parser = crate::limits::memory)]
    pub memory: u64,
    /// Earlier spelling of --memory, in GiB (`--memory-gib 8.0`); kept for one release.
    #[arg(long, hide = true, conflicts_with = "memory", value_parser = crate::limits::memory_gib)]
    pub memory_gib: Option<f64>,
    /// CPU limit per container (0.01 to 1024).
    #[arg(long, default_value_t = 2.0, value_parser = crate::limits::cpus)]
    pub cpus: f64,
    /// Process limit per container (1 to 4194304).
    #[arg(long, default_value_t = 4096, value_parser = crate::limits::pids)]
    pub pids_limit: i64,
    /// Limit on each container's writable layer (e.g. 10g; 1m to 1024t). At the limit the
    /// container is removed (in an evaluation the instance counts as unresolved: disk limit).
    #[arg(long, default_value = "10g", value_parser = crate::limits::disk)]
    pub disk: u64,
    /// Cap on the captured output of a command per container (head and tail are kept), e.g.
    /// 64m (1k to 1t).
    #[arg(long, default_value = "64m", value_parser = crate::limits::size_in(1 << 10, 1 << 40))]
    pub max_output: u64,
}

/// How predictions are evaluated: `eval`'s final evaluation, `evaluate`, and `report
/// --grade-candidates`.
#[derive(Debug, Args, Clone)]
pub struct EvaluationArgs {
    /// Seconds allowed for each instance's eval script (the official harness's --timeout; 1 to
    /// 604800).
    #[arg(long, default_value_t = 1800, value_parser = crate::limits::seconds)]
    pub eval_timeout: u64,
    /// Grading rules: v4 (swebench 4.1.0) or v5 (5.x, stricter).
    #[arg(long, default_value = "v4")]
    pub grading: GradingMode,
    /// Integrity findings are always written beside the official verdicts; `strict` also
    /// writes the hardened run report `<model>.<run_id>.hardened.json`, where flagged
    /// instances count as unresolved (the official report is unchanged).
    #[arg(long, default_value = "report", value_name = "report|strict")]
    pub integrity: IntegrityMode,
}

/// The container flags resolved: what the harness is given, for the pipeline's containers
/// and for evaluations alike.
#[derive(Debug, Clone)]
pub struct ContainerSettings {
    pub images: ImageOptions,
    /// Template of every container (limits, output cap, shard label); the run id is the
    /// pipeline's, and [`Self::eval_config`] puts the evaluation's own.
    pub sandbox: SandboxOptions,
    /// Network of evaluation containers.
    pub network: NetworkPolicy,
    /// Containers at once.
    pub workers: usize,
}

/// The default of `--workers`: 3/4 of the CPUs, at least 1, at most 8.
pub fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus * 3 / 4).clamp(1, 8)
}

/// `--network VALUE` → the policy (see the flag's help).
pub fn network_policy(value: &str) -> NetworkPolicy {
    match value {
        "install" => NetworkPolicy::default(),
        "none" => NetworkPolicy::None,
        other => NetworkPolicy::Full {
            network: other.to_owned(),
        },
    }
}

/// Where the embedded demo trees are written out: beside the repository mirror cache.
fn demo_trees_cache() -> PathBuf {
    crate::pipeline::repo::default_repos_dir().with_file_name("demo-repos")
}

impl ContainerArgs {
    /// Memory per container in bytes (`--memory`, or the older `--memory-gib`).
    pub fn memory_bytes(&self) -> u64 {
        match self.memory_gib {
            Some(gib) => (gib * (1u64 << 30) as f64) as u64,
            None => self.memory,
        }
    }

    /// The folder of the demo repository trees for `instances`: `--demo-repos`, else `repos/`
    /// beside the dataset file, else the embedded trees (written out once into the cache);
    /// `None` when nothing needs them (no demo instance and no folder given).
    pub fn demo_repos_for(
        &self,
        dataset_file: Option<&Path>,
        instances: &[Instance],
    ) -> anyhow::Result<Option<PathBuf>> {
        let needs_demo = instances
            .iter()
            .any(|i| agentless_harness::images::demo::demo_repo_name(i).is_some());
        Ok(match DemoRepos::resolve(self.demo_repos.as_deref(), dataset_file) {
            DemoRepos::Embedded if !needs_demo => None,
            d => Some(d.dir(&demo_trees_cache())?),
        })
    }

    /// Resolve the flags once: read the specs file (a bad one fails before any work), find
    /// the demo trees when a selected instance needs them, and fill in the limits.
    /// `dataset_file` is `--dataset` when it names a file.
    pub fn resolve(
        &self,
        run_id: &str,
        dataset_file: Option<&Path>,
        instances: &[Instance],
    ) -> anyhow::Result<ContainerSettings> {
        let specs = match &self.specs {
            Some(p) => Some(Arc::new(
                EnvSpecs::load(p).with_context(|| format!("--specs {}", p.display()))?,
            )),
            None => None,
        };
        let demo_repos = self.demo_repos_for(dataset_file, instances)?;
        let mut sandbox = SandboxOptions::new(run_id);
        sandbox.memory_bytes = Some(i64::try_from(self.memory_bytes()).context("--memory is too large")?);
        sandbox.cpus = Some(self.cpus);
        sandbox.pids_limit = Some(self.pids_limit);
        sandbox.disk_bytes = Some(self.disk);
        sandbox.output_limit = usize::try_from(self.max_output).unwrap_or(usize::MAX);
        sandbox.shard = crate::cluster::task::shard_label();
        Ok(ContainerSettings {
            images: ImageOptions {
                namespace: Namespace::from_arg(self.namespace.as_deref()),
                tag: self.instance_image_tag.clone(),
                arch: self.arch.unwrap_or_else(Arch::host),
                specs,
                demo_repos,
                force_rebuild: self.force_rebuild,
            },
            sandbox,
            network: network_policy(&self.network),
            workers: self.workers.unwrap_or_else(default_workers).max(1),
        })
    }
}

impl ContainerSettings {
    /// The configuration of an evaluation named `run_id`: these containers, the evaluation
    /// flags; logs under the official `logs/run_evaluation` unless the caller moves them.
    pub fn eval_config(&self, run_id: &str, eval: &EvaluationArgs) -> EvalConfig {
        let mut cfg = EvalConfig::new(run_id);
        cfg.timeout = Duration::from_secs(eval.eval_timeout.max(1));
        cfg.grading = eval.grading;
        cfg.integrity = eval.integrity;
        cfg.workers = self.workers;
        cfg.network = self.network.clone();
        cfg.images = self.images.clone();
        cfg.sandbox = self.sandbox.clone();
        cfg.sandbox.run_id = run_id.to_owned();
        cfg
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        containers: ContainerArgs,
        #[command(flatten)]
        eval: EvaluationArgs,
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn flags_reach_the_evaluation_config() {
        let cli = parse(&[
            "--namespace",
            "registry.local:5000/ns",
            "--arch",
            "arm64",
            "--memory",
            "3g",
            "--cpus",
            "1.5",
            "--pids-limit",
            "99",
            "--disk",
            "2g",
            "--max-output",
            "1m",
            "--workers",
            "3",
            "--network",
            "none",
            "--instance-image-tag",
            "v1",
            "--eval-timeout",
            "77",
            "--grading",
            "v5",
            "--integrity",
            "strict",
        ]);
        let s = cli.containers.resolve("pipeline-run", None, &[]).unwrap();
        assert_eq!(s.sandbox.run_id, "pipeline-run");
        let cfg = s.eval_config("eval-run", &cli.eval);
        assert_eq!(cfg.run_id, "eval-run");
        assert_eq!(cfg.sandbox.run_id, "eval-run");
        assert_eq!(cfg.images.namespace, Namespace::Remote("registry.local:5000/ns".into()));
        assert_eq!(cfg.images.arch, Arch::Arm64);
        assert_eq!(cfg.images.tag, "v1");
        assert_eq!(cfg.sandbox.memory_bytes, Some(3 << 30));
        assert_eq!(cfg.sandbox.cpus, Some(1.5));
        assert_eq!(cfg.sandbox.pids_limit, Some(99));
        assert_eq!(cfg.sandbox.disk_bytes, Some(2 << 30));
        assert_eq!(cfg.sandbox.output_limit, 1 << 20);
        assert_eq!(cfg.workers, 3);
        assert_eq!(cfg.network, NetworkPolicy::None);
        assert_eq!(cfg.timeout, Duration::from_secs(77));
        assert_eq!(cfg.grading, GradingMode::V5);
        assert_eq!(cfg.integrity, IntegrityMode::Strict);
    }

    #[test]
    fn the_old_memory_spelling_still_works_and_conflicts_with_the_new() {
        let cli = parse(&["--memory-gib", "0.5"]);
        assert_eq!(cli.containers.memory_bytes(), 512 << 20);
        assert_eq!(parse(&[]).containers.memory_bytes(), 8 << 30);
        assert!(Cli::try_parse_from(["x", "--memory-gib", "1", "--memory", "1g"]).is_err());
    }

    #[test]
    fn a_bad_specs_file_is_an_error_naming_it() {
        let cli = parse(&["--specs", "/nonexistent/specs.json"]);
        let err = cli.containers.resolve("r", None, &[]).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/specs.json"), "{err:#}");
    }

    #[test]
    fn demo_trees_only_when_a_demo_instance_needs_them() {
        let cli = parse(&["--demo-repos", "/given"]);
        let s = cli.containers.resolve("r", None, &[]).unwrap();
        assert_eq!(s.images.demo_repos, Some(PathBuf::from("/given")));
        let s = parse(&[]).containers.resolve("r", None, &[]).unwrap();
        assert_eq!(s.images.demo_repos, None);
    }
}
