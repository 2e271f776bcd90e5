//! Parity of the generated scripts with the official swebench 4.1.0 generators, on all 500
//! SWE-bench Verified instances and the specs in `../shared`:
//!
//! - `eval.sh`: identical to 4.1.0 for every instance except the three whose test patch only
//!   adds files (4.1.0 emits a bare `git checkout <sha>`); for those ours equals the fixed
//!   5.x `eval_script` column — and the 71 real `eval.sh` files of the oracle logs match too;
//! - `setup_repo.sh` lines: identical for all 500;
//! - `setup_env.sh` lines and the env image key: identical for the 202 instances that need no
//!   download, and for one instance of each repository that fetches `requirements.txt` or
//!   `environment.yml`, served from a loopback mirror to both implementations (fallback
//!   paths, `-r` includes, comments, `-e .`, the yanked-package swap, `name:` rewrite).
//!
//! Needs the official 4.1.0 in `SWEBENCH4_PYTHON` (scripts/setup-parity-env.sh); fails without.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use agentless_harness::dataset::{Instance, load_dataset};
use agentless_harness::eval_script::{generate_eval_script, target_files};
use agentless_harness::images::naming::Arch;
use agentless_harness::images::specs::EnvSpecs;
use agentless_harness::images::swebench::{env_image_key, env_script_lines, repo_script_lines};

use crate::common::{parity_python, shared_data as data, swe_bench, verified_parquet as verified};

fn specs() -> EnvSpecs {
    EnvSpecs::load(&swe_bench("specs-verified-4.1.0.json")).expect("specs")
}

#[derive(serde::Deserialize)]
struct Official {
    eval: String,
    repo: Vec<String>,
    env: Option<Vec<String>>,
    env_key: Option<String>,
}

fn official(raw: &str, ids: &[String]) -> BTreeMap<String, Official> {
    let out = Command::new(parity_python("SWEBENCH4_PYTHON", "swebench4"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/official_scripts.py"))
        .arg(verified())
        .arg(raw)
        .args(ids)
        .output()
        .expect("run the official generator");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The three Verified instances whose test patch only adds files.
const BARE_CHECKOUT: [&str; 3] = [
    "django__django-16877",
    "sphinx-doc__sphinx-8595",
    "sphinx-doc__sphinx-9711",
];

#[test]
fn eval_and_repo_scripts_match_the_official_generator_on_all_of_verified() {
    let instances = load_dataset(&verified()).expect("verified");
    let specs = specs();
    let theirs = official("-", &[]);
    assert_eq!(theirs.len(), 500);
    let fixed: HashMap<String, Instance> = load_dataset(&data().join("swe-bench/verified-2026-08.parquet"))
        .expect("v5 dataset")
        .into_iter()
        .map(|i| (i.instance_id.clone(), i))
        .collect();
    let (mut same_eval, mut same_env) = (0, 0);
    for inst in &instances {
        let spec = specs.get(&inst.repo, &inst.version).expect("spec");
        let want = &theirs[&inst.instance_id];
        let ours = generate_eval_script(inst, spec);
        if BARE_CHECKOUT.contains(&inst.instance_id.as_str()) {
            let bare = format!("git checkout {} \n", inst.base_commit);
            assert!(
                want.eval.contains(&bare),
                "4.1.0 should emit the bare checkout for {}",
                inst.instance_id
            );
            assert!(!ours.contains(&bare), "{}", inst.instance_id);
            assert_eq!(
                Some(&ours),
                fixed[&inst.instance_id].eval_script.as_ref(),
                "{}: ours should equal the fixed 5.x script",
                inst.instance_id
            );
        } else {
            assert_eq!(ours, want.eval, "eval.sh differs for {}", inst.instance_id);
            same_eval += 1;
        }
        assert_eq!(
            repo_script_lines(inst, spec),
            want.repo,
            "setup_repo.sh differs for {}",
            inst.instance_id
        );
        if let (Some(env), Some(key)) = (&want.env, &want.env_key) {
            let lines = tokio::runtime::Runtime::new()
                .expect("rt")
                .block_on(env_script_lines(
                    &reqwest::Client::new(),
                    "http://127.0.0.1:9/",
                    inst,
                    spec,
                ))
                .expect("no download needed");
            assert_eq!(&lines, env, "setup_env.sh differs for {}", inst.instance_id);
            assert_eq!(
                env_image_key(Arch::X86_64, &lines),
                format!("sweb.env.py.x86_64.{key}:latest")
            );
            same_env += 1;
        }
    }
    assert_eq!(same_eval, 497);
    assert_eq!(same_env, 202);
}

#[test]
fn the_oracle_eval_scripts_are_reproduced() {
    let instances: HashMap<String, Instance> = load_dataset(&verified())
        .expect("verified")
        .into_iter()
        .map(|i| (i.instance_id.clone(), i))
        .collect();
    let specs = specs();
    let mut checked = 0;
    for entry in std::fs::read_dir(data().join("oracle-logs")).expect("oracle") {
        let dir = entry.expect("entry").path();
        let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let Ok(real) = std::fs::read_to_string(dir.join("eval.sh")) else {
            continue;
        };
        let inst = &instances[&id];
        let ours = generate_eval_script(inst, specs.get(&inst.repo, &inst.version).expect("spec"));
        if BARE_CHECKOUT.contains(&id.as_str()) {
            // The one deliberate difference: the reset names the test patch's files.
            let bare = format!("git checkout {} \n", inst.base_commit);
            let fixed = format!(
                "git checkout {} {}\n",
                inst.base_commit,
                target_files(&inst.test_patch).join(" ")
            );
            assert!(ours.contains(&fixed), "{id}");
            assert_eq!(ours.replace(&fixed, &bare), real, "{id}");
        } else {
            assert_eq!(ours, real, "{id}");
        }
        checked += 1;
    }
    assert_eq!(checked, 71);
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

#[test]
fn downloaded_requirement_files_give_the_official_env_scripts_and_keys() {
    let instances = load_dataset(&verified()).expect("verified");
    let specs = specs();
    let mirror = tempfile::tempdir().expect("tmp");
    let reqs = "# a comment\n-e .\nnumpy>=1.0\n  -r extra.txt\ntypes-pkg_resources==0.1.3\n.[test]\npytest\n";
    let extra = "extra-one==1\n# skipped\nextra-two\n";
    let yml = "name: original\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.9\n  - pip\n  - pip:\n    - types-pkg_resources>=0.1\n    - other\n  - numpy\n";
    // One instance per (repository, packages kind) that downloads.
    let mut picked: BTreeMap<(String, String), &Instance> = BTreeMap::new();
    for inst in &instances {
        let kind = specs
            .get(&inst.repo, &inst.version)
            .and_then(|s| s.packages.clone())
            .unwrap_or_default();
        if kind == "requirements.txt" || kind == "environment.yml" {
            picked.entry((inst.repo.clone(), kind)).or_insert(inst);
        }
    }
    assert!(picked.len() >= 6, "{:?}", picked.keys());
    for ((repo, kind), inst) in &picked {
        let base = mirror.path().join(repo).join(&inst.environment_setup_commit);
        match (repo.as_str(), kind.as_str()) {
            // The first candidate path is missing: the fallback is used.
            ("matplotlib/matplotlib", "requirements.txt") => {
                write(&base.join("requirements/testing/travis_all.txt"), reqs);
                write(&base.join("requirements/testing/extra.txt"), extra);
            }
            ("pydata/xarray", _) => write(&base.join("environment.yml"), yml),
            (_, "environment.yml") => write(&base.join("environment.yml"), yml),
            ("django/django", _) => {
                write(&base.join("tests/requirements/py3.txt"), reqs);
                write(&base.join("tests/requirements/extra.txt"), extra);
            }
            ("pallets/flask", _) => {
                write(&base.join("requirements/dev.txt"), reqs);
                write(&base.join("requirements/extra.txt"), extra);
            }
            ("pylint-dev/pylint", _) => {
                write(&base.join("requirements_test.txt"), reqs);
                write(&base.join("extra.txt"), extra);
            }
            other => panic!("no fixture for {other:?}"),
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let _server = Server(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(mirror.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("http.server"),
    );
    let raw = format!("http://127.0.0.1:{port}/");
    // Python starts slowly on a loaded machine: wait up to a minute, then say so.
    let up = (0..1200).any(|_| {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        }
    });
    assert!(
        up,
        "python3 -m http.server did not listen on port {port} within a minute"
    );
    let ids: Vec<String> = picked.values().map(|i| i.instance_id.clone()).collect();
    let theirs = official(&raw, &ids);
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let client = reqwest::Client::new();
    for inst in picked.values() {
        let spec = specs.get(&inst.repo, &inst.version).expect("spec");
        let ours = rt
            .block_on(env_script_lines(&client, &raw, inst, spec))
            .expect("env script");
        let want = &theirs[&inst.instance_id];
        assert_eq!(Some(&ours), want.env.as_ref(), "{}", inst.instance_id);
        assert_eq!(
            env_image_key(Arch::X86_64, &ours),
            format!("sweb.env.py.x86_64.{}:latest", want.env_key.as_deref().expect("key"))
        );
        let text = ours.join("\n");
        assert!(
            text.contains("types-setuptools") && !text.contains("types-pkg_resources"),
            "{text}"
        );
    }
}
