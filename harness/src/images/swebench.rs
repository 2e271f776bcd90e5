//! Local builds of SWE-bench instance images for machines that cannot pull (air-gapped
//! clusters, arm64): the three official layers — base (Ubuntu + Miniconda), env (the conda
//! environment from `setup_env.sh`), instance (the repository from `setup_repo.sh`) — from
//! the templates in `docker/swebench/` and the environment specs (`--specs FILE`).
//!
//! The setup scripts are generated line for line as swebench 4.1.0 generates them, so the
//! env image key (`sweb.env.py.<arch>.<sha256(str(lines))[:22]>`) is the official one.
//! Requirement files are fetched from `AGENTLESS_GITHUB_RAW_URL` (default
//! `https://raw.githubusercontent.com/`), which a mirror can replace. The builds themselves
//! need the network (apt, conda, pip, git clone); they run with the engine's default network.

use std::time::Duration;

use sha2::Digest as _;

use super::build::{BuildContext, BuildRequest, build_image};
use super::naming::Arch;
use super::specs::RepoSpec;
use super::{ImageError, ImageOptions, ImageProgress, image_exists, image_labels, lock_image};
use crate::dataset::Instance;
use crate::sandbox::DockerEnv;

const BASE_DOCKERFILE: &str = include_str!("../../../docker/swebench/base.Dockerfile");
const ENV_DOCKERFILE: &str = include_str!("../../../docker/swebench/env.Dockerfile");
const INSTANCE_DOCKERFILE: &str = include_str!("../../../docker/swebench/instance.Dockerfile");

/// Official defaults of the base layer (`DEFAULT_DOCKER_SPECS`).
pub const UBUNTU_VERSION: &str = "22.04";
pub const CONDA_VERSION: &str = "py311_23.11.0-2";

const HEREDOC_ENV: &str = "EOF_59812759871";

/// Requirement file locations per repository (`MAP_REPO_TO_REQS_PATHS`, Python repos).
fn reqs_paths(repo: &str) -> &'static [&'static str] {
    match repo {
        "django/django" => &["tests/requirements/py3.txt"],
        "matplotlib/matplotlib" => &[
            "requirements/dev/dev-requirements.txt",
            "requirements/testing/travis_all.txt",
        ],
        "pallets/flask" => &["requirements/dev.txt"],
        "pylint-dev/pylint" => &["requirements_test.txt"],
        "pyvista/pyvista" => &["requirements_test.txt", "requirements.txt"],
        "sqlfluff/sqlfluff" => &["requirements_dev.txt"],
        "sympy/sympy" => &["requirements-dev.txt", "requirements-test.txt"],
        _ => &[],
    }
}

/// environment.yml locations per repository (`MAP_REPO_TO_ENV_YML_PATHS`).
fn env_yml_paths(repo: &str) -> &'static [&'static str] {
    match repo {
        "matplotlib/matplotlib" => &["environment.yml"],
        "pydata/xarray" => &["ci/requirements/environment.yml", "environment.yml"],
        _ => &[],
    }
}

/// Branches to clone for base commits not on the default branch (`REPO_BASE_COMMIT_BRANCH`).
fn base_commit_branch(repo: &str, commit: &str) -> Option<&'static str> {
    match (repo, commit) {
        ("sympy/sympy", "cffd4e0f86fefd4802349a9f9b19ed70934ea354") => Some("1.7"),
        ("sympy/sympy", "70381f282f2d9d039da860e391fe51649df2779d") => Some("sympy-1.5.1"),
        ("pytest-dev/pytest", "8aba863a634f40560e25055d179220f0eefabe9a") => Some("4.6.x"),
        _ => None,
    }
}

/// `make_repo_script_list_py`: the lines of `setup_repo.sh`.
pub fn repo_script_lines(instance: &Instance, spec: &RepoSpec) -> Vec<String> {
    let repo = &instance.repo;
    let base = &instance.base_commit;
    let dir = crate::eval_script::REPO_DIR;
    let branch = base_commit_branch(repo, base)
        .map(|b| format!("--branch {b}"))
        .unwrap_or_default();
    let mut lines = vec![
        format!("git clone -o origin {branch} --single-branch https://github.com/{repo} {dir}"),
        format!("chmod -R 777 {dir}"),
        format!("cd {dir}"),
        format!("git reset --hard {base}"),
        "git remote remove origin".into(),
        format!("TARGET_TIMESTAMP=$(git show -s --format=%ci {base})"),
        r#"git tag -l | while read tag; do TAG_COMMIT=$(git rev-list -n 1 "$tag"); TAG_TIME=$(git show -s --format=%ci "$TAG_COMMIT"); if [[ "$TAG_TIME" > "$TARGET_TIMESTAMP" ]]; then git tag -d "$tag"; fi; done"#.into(),
        "git reflog expire --expire=now --all".into(),
        "git gc --prune=now --aggressive".into(),
        r#"AFTER_TIMESTAMP=$(date -d "$TARGET_TIMESTAMP + 1 second" '+%Y-%m-%d %H:%M:%S')"#.into(),
        r#"COMMIT_COUNT=$(git log --oneline --all --since="$AFTER_TIMESTAMP" | wc -l)"#.into(),
        r#"[ "$COMMIT_COUNT" -eq 0 ] || exit 1"#.into(),
        "source /opt/miniconda3/bin/activate".into(),
        format!("conda activate {}", crate::eval_script::ENV_NAME),
        r#"echo "Current environment: $CONDA_DEFAULT_ENV""#.into(),
    ];
    lines.extend(spec.pre_install.iter().flatten().cloned());
    if let Some(install) = &spec.install {
        lines.push(install.clone());
    }
    lines.extend([
        "git config --global user.email setup@swebench.config".into(),
        "git config --global user.name SWE-bench".into(),
        "git commit --allow-empty -am SWE-bench".into(),
    ]);
    lines
}

/// A script from its lines, as `TestSpec` joins them (`set -euxo pipefail`).
pub fn script(lines: &[String]) -> String {
    let mut all = vec!["#!/bin/bash".to_owned(), "set -euxo pipefail".to_owned()];
    all.extend(lines.iter().cloned());
    all.join("\n") + "\n"
}

/// Where requirement files are fetched from.
pub fn raw_base_url() -> String {
    let url = std::env::var("AGENTLESS_GITHUB_RAW_URL").unwrap_or_else(|_| "https://raw.githubusercontent.com/".into());
    if url.ends_with('/') { url } else { format!("{url}/") }
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Option<String>, ImageError> {
    let resp = client.get(url).send().await.map_err(|e| ImageError::Fetch {
        url: url.into(),
        message: e.to_string(),
    })?;
    if resp.status() != reqwest::StatusCode::OK {
        return Ok(None);
    }
    resp.text().await.map(Some).map_err(|e| ImageError::Fetch {
        url: url.into(),
        message: e.to_string(),
    })
}

/// Python's `os.path.join` for URL pieces: an empty piece adds nothing, an absolute one restarts.
fn path_join(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') {
            out = (*p).to_owned();
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(p);
        } else {
            out.push('/');
            out.push_str(p);
        }
    }
    out
}

fn excluded_req_line(line: &str) -> bool {
    let t = line.trim();
    ["-e .", "#", ".[test"].iter().any(|x| t.starts_with(x))
}

/// `get_requirements` (+ `clean_requirements`): the requirements text at the environment
/// setup commit, with `-r` includes inlined first.
pub async fn requirements(client: &reqwest::Client, raw: &str, instance: &Instance) -> Result<String, ImageError> {
    let repo = &instance.repo;
    let commit = setup_commit(instance);
    let mut found = None;
    for path in reqs_paths(repo) {
        let url = path_join(&[raw, repo, commit, path]);
        if let Some(text) = fetch(client, &url).await? {
            found = Some((*path, text));
            break;
        }
    }
    let Some((req_path, text)) = found else {
        return Err(ImageError::Fetch {
            url: path_join(&[raw, repo, commit]),
            message: format!("no requirements file at {:?}", reqs_paths(repo)),
        });
    };
    let req_dir = req_path.rsplit_once('/').map_or("", |(d, _)| d);
    let mut original = Vec::new();
    let mut additional = Vec::new();
    for line in text.split('\n') {
        if line.trim().starts_with("-r") {
            let file_name = line.get(2..).unwrap_or("").trim();
            let url = path_join(&[raw, repo, commit, req_dir, file_name]);
            if let Some(extra) = fetch(client, &url).await? {
                additional.extend(extra.split('\n').filter(|l| !excluded_req_line(l)).map(str::to_owned));
            }
        } else if !excluded_req_line(line) {
            original.push(line.to_owned());
        }
    }
    additional.push(original.join("\n"));
    Ok(clean_requirements(&additional.join("\n")))
}

/// `types-pkg_resources` was yanked from PyPI: the official harness swaps in `types-setuptools`.
fn clean_requirements(text: &str) -> String {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?m)^types-pkg_resources(?:[<>=!~]=?.*|$)").expect("static regex")
    });
    RE.replace_all(text, "types-setuptools").into_owned()
}

fn setup_commit(instance: &Instance) -> &str {
    if instance.environment_setup_commit.is_empty() {
        &instance.base_commit
    } else {
        &instance.environment_setup_commit
    }
}

/// `get_environment_yml` (name rewritten to the env name; yanked pip packages swapped).
pub async fn environment_yml(client: &reqwest::Client, raw: &str, instance: &Instance) -> Result<String, ImageError> {
    let commit = setup_commit(instance);
    for path in env_yml_paths(&instance.repo) {
        let url = path_join(&[raw, &instance.repo, commit, path]);
        if let Some(text) = fetch(client, &url).await? {
            let lines: Vec<String> = text
                .split('\n')
                .map(|l| {
                    if l.starts_with("name:") {
                        format!("name: {}", crate::eval_script::ENV_NAME)
                    } else {
                        l.to_owned()
                    }
                })
                .collect();
            return Ok(clean_environment_yml(&lines.join("\n")));
        }
    }
    Err(ImageError::Fetch {
        url: path_join(&[raw, &instance.repo, commit]),
        message: format!("no environment.yml at {:?}", env_yml_paths(&instance.repo)),
    })
}

/// `clean_environment_yml`: swap yanked packages inside the `- pip:` section only.
fn clean_environment_yml(yml: &str) -> String {
    static PIP: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?m)^(\s*-\s*pip\s*:\s*\n)").expect("static regex"));
    static PKG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?m)^(\s*-\s*)types-pkg_resources(?:[<>=!~]=?.*|$)").expect("static regex")
    });
    let Some(m) = PIP.captures(yml).and_then(|c| c.get(1)) else {
        return yml.to_owned();
    };
    let pip_line = m.as_str();
    let indent = pip_line.len() - pip_line.trim_start().len();
    let start = m.end();
    let rest = &yml[start..];
    let mut end = yml.len();
    let mut offset = 0;
    for line in rest.split('\n') {
        if !line.trim().is_empty() && line.len() - line.trim_start().len() <= indent {
            end = start + offset;
            break;
        }
        offset += line.len() + 1;
    }
    let end = end.min(yml.len());
    let pip = PKG.replace_all(&yml[start..end], "${1}types-setuptools");
    format!("{}{}{}", &yml[..start], pip, &yml[end..])
}

/// `make_env_script_list_py`: the lines of `setup_env.sh` (fetches requirement files when
/// the spec says `requirements.txt` or `environment.yml`).
pub async fn env_script_lines(
    client: &reqwest::Client,
    raw: &str,
    instance: &Instance,
    spec: &RepoSpec,
) -> Result<Vec<String>, ImageError> {
    let env = crate::eval_script::ENV_NAME;
    let mut lines = vec!["source /opt/miniconda3/bin/activate".to_owned()];
    let pkgs = spec.packages.as_deref().unwrap_or("");
    match pkgs {
        "requirements.txt" => {
            lines.push(format!("conda create -n {env} python={} -y", spec.python));
            let reqs = requirements(client, raw, instance).await?;
            let path = "$HOME/requirements.txt";
            lines.push(format!("cat <<'{HEREDOC_ENV}' > {path}\n{reqs}\n{HEREDOC_ENV}"));
            lines.push(format!("conda activate {env} && python -m pip install -r {path}"));
            lines.push(format!("rm {path}"));
        }
        "environment.yml" => {
            let yml = environment_yml(client, raw, instance).await?;
            let path = "environment.yml";
            lines.push(format!("cat <<'{HEREDOC_ENV}' > {path}\n{yml}\n{HEREDOC_ENV}"));
            if spec.no_use_env == Some(true) {
                lines.push(format!(
                    "conda create -c conda-forge -n {env} python={} -y",
                    spec.python
                ));
                lines.push(format!("conda env update -f {path}"));
            } else {
                lines.push(format!("conda env create --file {path}"));
                lines.push(format!(
                    "conda activate {env} && conda install python={} -y",
                    spec.python
                ));
            }
            lines.push(format!("rm {path}"));
        }
        _ => lines.push(format!("conda create -n {env} python={} {pkgs} -y", spec.python)),
    }
    lines.push(format!("conda activate {env}"));
    if let Some(pip) = &spec.pip_packages {
        lines.push(format!("python -m pip install {}", pip.join(" ")));
    }
    Ok(lines)
}

/// Python's `repr()` of a str (the quoting `str(list)` uses).
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str(list_of_str)`.
pub fn py_list_repr(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| py_repr(s)).collect::<Vec<_>>().join(", "))
}

/// `sweb.base.py.<arch>:latest`.
pub fn base_image_key(arch: Arch) -> String {
    format!("sweb.base.py.{}:latest", arch.as_str())
}

/// `sweb.env.py.<arch>.<sha256(str(env_script_list))[:22]>:latest`.
pub fn env_image_key(arch: Arch, env_lines: &[String]) -> String {
    let hash = hex::encode(sha2::Sha256::digest(py_list_repr(env_lines).as_bytes()));
    format!("sweb.env.py.{}.{}:latest", arch.as_str(), &hash[..22])
}

fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// The three Dockerfiles for an instance: (base, env, instance).
pub fn dockerfiles(arch: Arch, base_key: &str, env_key: &str) -> (String, String, String) {
    let platform = arch.platform();
    (
        render(
            BASE_DOCKERFILE,
            &[
                ("platform", platform),
                ("ubuntu_version", UBUNTU_VERSION),
                ("conda_version", CONDA_VERSION),
                ("conda_arch", arch.conda_arch()),
            ],
        ),
        render(ENV_DOCKERFILE, &[("platform", platform), ("base_image", base_key)]),
        render(INSTANCE_DOCKERFILE, &[("platform", platform), ("env_image", env_key)]),
    )
}

/// Build the base, env and instance layers for `instance` as needed; tag the instance image `image`.
pub async fn ensure_swebench_image(
    env: &DockerEnv,
    instance: &Instance,
    image: &str,
    opts: &ImageOptions,
    progress: &dyn ImageProgress,
) -> Result<(), ImageError> {
    let _guard = lock_image(image).await;
    if !opts.force_rebuild && image_exists(env, image).await? {
        return Ok(());
    }
    let spec = opts.specs.as_ref().and_then(|s| s.get(&instance.repo, &instance.version)).ok_or_else(|| ImageError::NotAvailable {
        image: image.to_owned(),
        hint: format!(
            "building it locally needs the environment specs of {} {} (pass --specs FILE), or give a --namespace to pull from",
            instance.repo, instance.version
        ),
    })?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ImageError::Fetch {
            url: String::new(),
            message: e.to_string(),
        })?;
    let env_lines = env_script_lines(&client, &raw_base_url(), instance, spec).await?;
    let repo_lines = repo_script_lines(instance, spec);
    let base_key = base_image_key(opts.arch);
    let env_key = env_image_key(opts.arch, &env_lines);
    let (base_df, env_df, inst_df) = dockerfiles(opts.arch, &base_key, &env_key);
    let platform = Some(opts.arch.platform());
    struct Layer<'a> {
        tag: &'a str,
        dockerfile: String,
        script: Option<(&'static str, String)>,
        shared: bool,
    }
    let layers = [
        Layer {
            tag: &base_key,
            dockerfile: base_df,
            script: None,
            shared: true,
        },
        Layer {
            tag: &env_key,
            dockerfile: env_df,
            script: Some(("setup_env.sh", script(&env_lines))),
            shared: true,
        },
        Layer {
            tag: image,
            dockerfile: inst_df,
            script: Some(("setup_repo.sh", script(&repo_lines))),
            shared: false,
        },
    ];
    for layer in layers {
        // Base and env layers are shared between instances: lock them, build them once.
        let _layer_guard = if layer.shared {
            Some(lock_image(layer.tag).await)
        } else {
            None
        };
        if layer.shared && !opts.force_rebuild && image_exists(env, layer.tag).await? {
            continue;
        }
        progress.status(layer.tag, "building");
        let mut ctx = BuildContext::default();
        ctx.add_file("Dockerfile", layer.dockerfile.as_bytes(), 0o644)?;
        if let Some((name, text)) = &layer.script {
            ctx.add_file(name, text.as_bytes(), 0o755)?;
        }
        let request = BuildRequest {
            tag: layer.tag,
            context: ctx.into_tar()?,
            labels: image_labels(&[]),
            network: None,
            platform,
            timeout: Duration::from_secs(3600),
        };
        build_image(env, request, progress).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_quoting() {
        assert_eq!(py_repr("a"), "'a'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("'\""), "'\\'\"'");
        assert_eq!(py_repr("a\nb\\c\t"), "'a\\nb\\\\c\\t'");
        assert_eq!(py_list_repr(&["x".into(), "y".into()]), "['x', 'y']");
    }

    #[test]
    fn url_joins_like_os_path_join() {
        assert_eq!(
            path_join(&["https://r/", "a/b", "c", "", "f.txt"]),
            "https://r/a/b/c/f.txt"
        );
        assert_eq!(
            path_join(&["https://r/", "a/b", "c", "req", "f.txt"]),
            "https://r/a/b/c/req/f.txt"
        );
    }

    #[test]
    fn yanked_packages_are_swapped() {
        assert_eq!(
            clean_requirements("a\ntypes-pkg_resources==1\nb"),
            "a\ntypes-setuptools\nb"
        );
        let yml = "deps:\n  - pip:\n    - types-pkg_resources>=1\n    - x\n  - y\n";
        assert_eq!(
            clean_environment_yml(yml),
            "deps:\n  - pip:\n    - types-setuptools\n    - x\n  - y\n"
        );
    }
}
