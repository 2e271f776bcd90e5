//! Instance images: their names (official naming), and getting them onto the engine — use a
//! local image, pull it (with progress), or build it locally (the demo split from a
//! debootstrap base; SWE-bench instances from the templates in `docker/swebench/` and the
//! environment specs, for machines that cannot pull).
//!
//! Which name, and how a missing image is obtained ([`plan_image`]):
//!
//! | dataset `image` | `--namespace` | name | when missing |
//! |---|---|---|---|
//! | set | any | the column | pull (build locally when the namespace is explicitly empty) |
//! | — | not given | demo: local name; else `swebench/…` | demo: build; else pull |
//! | — | `""` / `none` | `sweb.eval.<arch>.<id>:<tag>` | build (demo, or SWE-bench with `--specs`) |
//! | — | `NS` | `NS/sweb.eval.<arch>.<id with __→_1776_>:<tag>` | pull |

pub mod base;
pub mod build;
pub mod demo;
pub mod naming;
pub mod pull;
pub mod specs;
pub mod swebench;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

pub use base::{DEMO_BASE_IMAGE, debian_mirror, ensure_base_image};
pub use naming::{Arch, container_name, instance_image_name};
pub use specs::{EnvSpecs, RepoSpec};

use crate::dataset::Instance;
use crate::sandbox::DockerEnv;

/// Progress of image work (pulls and builds). Libraries never print: callers render this.
pub trait ImageProgress: Send + Sync {
    /// A status line (a build log line, a pull status).
    fn status(&self, _image: &str, _message: &str) {}
    /// Bytes downloaded so far of a pull, over all layers seen.
    fn bytes(&self, _image: &str, _done: u64, _total: u64) {}
}

/// Progress that goes nowhere.
pub struct NoImageProgress;
impl ImageProgress for NoImageProgress {}

/// Errors getting an image. Each names the image.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("image {image} is not available locally and pulling it failed: {message}")]
    PullFailed { image: String, message: String },
    #[error("image {image} is not available: {hint}")]
    NotAvailable { image: String, hint: String },
    #[error("building image {image} failed: {message}{}", if log_tail.is_empty() { String::new() } else { format!("\n{log_tail}") })]
    BuildFailed {
        image: String,
        message: String,
        log_tail: String,
    },
    #[error("demo base image: {0}")]
    BaseImage(String),
    #[error("build context: {0}")]
    Context(String),
    #[error("Docker: {action}: {message}")]
    Docker { action: String, message: String },
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
}

/// Which namespace images come from (`--namespace`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Namespace {
    /// Not given: `swebench` for SWE-bench instances, local builds for the demo split.
    #[default]
    Default,
    /// Given as empty (or `none`): local names, built locally when missing.
    Local,
    /// A registry namespace (`swebench`, `localhost:5000/x`): pulled when missing.
    Remote(String),
}

impl Namespace {
    /// Parse the `--namespace` value: `""` / `none` → local.
    pub fn from_arg(arg: Option<&str>) -> Self {
        match arg {
            None => Namespace::Default,
            Some(s) if s.trim().is_empty() || s.eq_ignore_ascii_case("none") => Namespace::Local,
            Some(s) => Namespace::Remote(s.trim().trim_end_matches('/').to_owned()),
        }
    }
}

/// How images are named and obtained.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub namespace: Namespace,
    /// Instance image tag (`latest`).
    pub tag: String,
    pub arch: Arch,
    /// Environment specs for local SWE-bench builds (and generated eval scripts).
    pub specs: Option<Arc<EnvSpecs>>,
    /// Where the demo split's repository trees are (`datasets/demo/repos`).
    pub demo_repos: Option<PathBuf>,
    /// Rebuild locally built images even when they exist.
    pub force_rebuild: bool,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            namespace: Namespace::Default,
            tag: "latest".into(),
            arch: Arch::host(),
            specs: None,
            demo_repos: None,
            force_rebuild: false,
        }
    }
}

/// How a missing image is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    Pull,
    BuildDemo,
    BuildSwebench,
}

/// The image an instance runs in, and how to get it when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    pub name: String,
    pub acquire: Acquire,
}

/// Decide the image name and source for `instance` (see the table in the module docs).
pub fn plan_image(instance: &Instance, opts: &ImageOptions) -> ImagePlan {
    let is_demo = demo::demo_repo_name(instance).is_some();
    let local_name = || instance_image_name(&instance.instance_id, opts.arch, None, &opts.tag);
    if let Some(image) = instance.image.as_deref().filter(|s| !s.trim().is_empty()) {
        let acquire = match (&opts.namespace, is_demo) {
            (Namespace::Local, true) => Acquire::BuildDemo,
            (Namespace::Local, false) => Acquire::BuildSwebench,
            _ => Acquire::Pull,
        };
        return ImagePlan {
            name: image.to_owned(),
            acquire,
        };
    }
    match (&opts.namespace, is_demo) {
        (Namespace::Remote(ns), _) => ImagePlan {
            name: instance_image_name(&instance.instance_id, opts.arch, Some(ns), &opts.tag),
            acquire: Acquire::Pull,
        },
        (Namespace::Default | Namespace::Local, true) => ImagePlan {
            name: local_name(),
            acquire: Acquire::BuildDemo,
        },
        (Namespace::Local, false) => ImagePlan {
            name: local_name(),
            acquire: Acquire::BuildSwebench,
        },
        (Namespace::Default, false) => ImagePlan {
            name: instance_image_name(&instance.instance_id, opts.arch, Some("swebench"), &opts.tag),
            acquire: Acquire::Pull,
        },
    }
}

/// Make sure the instance image exists on the engine; returns its name.
pub async fn ensure_instance_image(
    env: &DockerEnv,
    instance: &Instance,
    opts: &ImageOptions,
    progress: &dyn ImageProgress,
) -> Result<String, ImageError> {
    let plan = plan_image(instance, opts);
    match plan.acquire {
        Acquire::BuildDemo => {
            let _guard = lock_image(&plan.name).await;
            let root = opts.demo_repos.clone().ok_or_else(|| ImageError::NotAvailable {
                image: plan.name.clone(),
                hint: "the demo repository trees are not known (pass --demo-repos DIR)".into(),
            })?;
            demo::ensure_demo_image(env, instance, &plan.name, &root, opts.force_rebuild, progress).await?;
        }
        Acquire::Pull => {
            let _guard = lock_image(&plan.name).await;
            if !image_exists(env, &plan.name).await? {
                pull::pull_image(env, &plan.name, progress).await?;
                if !image_exists(env, &plan.name).await? {
                    return Err(ImageError::PullFailed {
                        image: plan.name.clone(),
                        message: "the pull ended without the image".into(),
                    });
                }
            }
        }
        Acquire::BuildSwebench => {
            swebench::ensure_swebench_image(env, instance, &plan.name, opts, progress).await?;
        }
    }
    Ok(plan.name)
}

/// Whether an image exists on the engine.
pub async fn image_exists(env: &DockerEnv, image: &str) -> Result<bool, ImageError> {
    Ok(base::inspect_labels(env, image).await?.is_some())
}

/// Label on every image agentless-mini builds.
pub const MANAGED_LABEL: &str = "agentless-mini.managed";

/// Remove every image agentless-mini built (labelled [`MANAGED_LABEL`]); returns their tags.
pub async fn remove_managed_images(env: &DockerEnv) -> Result<Vec<String>, ImageError> {
    use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
    let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", vec![format!("{MANAGED_LABEL}=true")])]);
    let list = env
        .docker()
        .list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(|e| ImageError::Docker {
            action: "listing images".into(),
            message: e.to_string(),
        })?;
    let mut removed = Vec::new();
    // Children (instance images) before their parents (the base).
    let mut list = list;
    list.sort_by_key(|i| std::cmp::Reverse(i.created));
    for img in list {
        let names = if img.repo_tags.is_empty() {
            vec![img.id.clone()]
        } else {
            img.repo_tags.clone()
        };
        for name in names {
            match env
                .docker()
                .remove_image(
                    &name,
                    Some(RemoveImageOptionsBuilder::default().force(true).build()),
                    None,
                )
                .await
            {
                Ok(_) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    removed.push(name)
                }
                Err(e) => {
                    return Err(ImageError::Docker {
                        action: format!("removing image {name}"),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    Ok(removed)
}

/// The labels put on every image agentless-mini builds (plus `extra`).
pub(crate) fn image_labels(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut labels = HashMap::from([(MANAGED_LABEL.to_owned(), "true".to_owned())]);
    for (k, v) in extra {
        labels.insert((*k).to_owned(), (*v).to_owned());
    }
    labels
}

/// One async lock per image name, so concurrent workers build or pull an image once.
pub(crate) async fn lock_image(name: &str) -> tokio::sync::OwnedMutexGuard<()> {
    static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Mutex::default);
    let lock = {
        let mut map = match LOCKS.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(name.to_owned()).or_default().clone()
    };
    lock.lock_owned().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(id: &str, repo: &str, image: Option<&str>) -> Instance {
        let mut i: Instance = serde_json::from_value(serde_json::json!({
            "instance_id": id, "repo": repo, "base_commit": "c", "FAIL_TO_PASS": [], "PASS_TO_PASS": []
        }))
        .unwrap();
        i.image = image.map(str::to_owned);
        i
    }

    #[test]
    fn plans_follow_the_table() {
        let mut o = ImageOptions {
            arch: Arch::X86_64,
            ..Default::default()
        };
        let sweb = inst("django__django-1", "django/django", None);
        let demo = inst("agentless-demo__calc-1", "agentless-demo/calc", None);
        let col = inst("x__y-1", "x/y", Some("reg/img:v1"));
        assert_eq!(
            plan_image(&sweb, &o),
            ImagePlan {
                name: "swebench/sweb.eval.x86_64.django_1776_django-1:latest".into(),
                acquire: Acquire::Pull
            }
        );
        assert_eq!(
            plan_image(&demo, &o),
            ImagePlan {
                name: "sweb.eval.x86_64.agentless-demo__calc-1:latest".into(),
                acquire: Acquire::BuildDemo
            }
        );
        assert_eq!(plan_image(&col, &o).name, "reg/img:v1");
        o.namespace = Namespace::from_arg(Some(""));
        assert_eq!(
            plan_image(&sweb, &o),
            ImagePlan {
                name: "sweb.eval.x86_64.django__django-1:latest".into(),
                acquire: Acquire::BuildSwebench
            }
        );
        assert_eq!(plan_image(&col, &o).acquire, Acquire::BuildSwebench);
        o.namespace = Namespace::from_arg(Some("localhost:5000/mirror/"));
        assert_eq!(
            plan_image(&demo, &o),
            ImagePlan {
                name: "localhost:5000/mirror/sweb.eval.x86_64.agentless-demo_1776_calc-1:latest".into(),
                acquire: Acquire::Pull
            }
        );
        assert_eq!(Namespace::from_arg(Some("none")), Namespace::Local);
    }
}
