//! Instance images of the demo split (`datasets/demo/`), built with no registry: the repo
//! tree `repos/<name>/` copied to `/testbed` on top of the demo base image and committed
//! deterministically, so that HEAD equals the dataset's `base_commit` (checked in the build).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use sha2::Digest as _;

use super::base::{RECIPE_LABEL, ensure_base_image, inspect_labels};
use super::build::{BuildContext, BuildRequest, build_image};
use super::{ImageError, ImageProgress, image_labels};
use crate::dataset::Instance;
use crate::sandbox::DockerEnv;

/// The repository owner that marks a demo instance (`agentless-demo/<name>`).
pub const DEMO_OWNER: &str = "agentless-demo/";

const INSTANCE_DOCKERFILE: &str = include_str!("../../../docker/demo/instance.Dockerfile");

/// The demo repository name of an instance (`agentless-demo/<name>` → `<name>`).
pub fn demo_repo_name(instance: &Instance) -> Option<&str> {
    instance
        .repo
        .strip_prefix(DEMO_OWNER)
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && *n != "..")
}

/// The instance Dockerfile for a demo instance.
pub fn demo_dockerfile(base_image: &str, base_commit: &str) -> String {
    INSTANCE_DOCKERFILE
        .replace("{base_image}", base_image)
        .replace("{base_commit}", base_commit)
}

/// A fingerprint of the files under `dir` (path, executable bit, content), sorted.
fn tree_fingerprint(dir: &Path, hasher: &mut sha2::Sha256) -> Result<(), ImageError> {
    let mut files = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let entries = fs_err::read_dir(&path).map_err(|e| ImageError::Context(e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| ImageError::Context(e.to_string()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), ".git" | "__pycache__" | ".pytest_cache") || name.ends_with(".pyc") {
                continue;
            }
            let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let meta = fs_err::symlink_metadata(entry.path()).map_err(|e| ImageError::Context(e.to_string()))?;
            if meta.is_dir() {
                stack.push((entry.path(), child_rel));
            } else {
                files.push((child_rel, entry.path(), meta));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, path, meta) in files {
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            hasher.update([u8::from(meta.permissions().mode() & 0o111 != 0)]);
        }
        let content = if meta.file_type().is_symlink() {
            fs_err::read_link(&path).map(|p| p.to_string_lossy().into_owned().into_bytes())
        } else {
            fs_err::read(&path)
        }
        .map_err(|e| ImageError::Context(e.to_string()))?;
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(())
}

/// Build (or reuse) the demo instance image `image` for `instance` from `repos_root/<name>`.
/// An existing image is reused when its source label matches the tree, Dockerfile and base.
pub async fn ensure_demo_image(
    env: &DockerEnv,
    instance: &Instance,
    image: &str,
    repos_root: &Path,
    force: bool,
    progress: &dyn ImageProgress,
) -> Result<(), ImageError> {
    let name = demo_repo_name(instance).ok_or_else(|| ImageError::NotAvailable {
        image: image.to_owned(),
        hint: format!("{} is not a demo repository (agentless-demo/<name>)", instance.repo),
    })?;
    let tree = repos_root.join(name);
    if !tree.is_dir() {
        return Err(ImageError::NotAvailable {
            image: image.to_owned(),
            hint: format!(
                "the demo repository tree {} does not exist (set --demo-repos)",
                tree.display()
            ),
        });
    }
    let base = ensure_base_image(env, progress).await?;
    let base_labels = inspect_labels(env, &base).await?.unwrap_or_default();
    let dockerfile = demo_dockerfile(&base, &instance.base_commit);
    let mut hasher = sha2::Sha256::new();
    hasher.update(dockerfile.as_bytes());
    hasher.update(base_labels.get(RECIPE_LABEL).map_or("", String::as_str).as_bytes());
    tree_fingerprint(&tree, &mut hasher)?;
    let source = hex::encode(&hasher.finalize()[..12]);
    if !force
        && let Some(labels) = inspect_labels(env, image).await?
        && labels.get(SOURCE_LABEL) == Some(&source)
    {
        return Ok(());
    }
    progress.status(image, "building the demo instance image");
    let mut ctx = BuildContext::default();
    ctx.add_file("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    ctx.add_tree("repo", &tree)?;
    let labels: HashMap<String, String> = image_labels(&[
        (SOURCE_LABEL, &source),
        ("agentless-mini.instance-id", &instance.instance_id),
    ]);
    build_image(
        env,
        BuildRequest {
            tag: image,
            context: ctx.into_tar()?,
            labels,
            network: Some("none"),
            platform: None,
            timeout: Duration::from_secs(600),
        },
        progress,
    )
    .await
}

/// Label with the fingerprint of what a locally built instance image was built from.
pub const SOURCE_LABEL: &str = "agentless-mini.source";
