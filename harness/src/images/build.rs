//! Building an image from an in-memory context (a Dockerfile plus files) through the
//! engine's `/build` endpoint, with the build log streamed to progress and kept for errors.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::StreamExt as _;

use super::{ImageError, ImageProgress};
use crate::sandbox::DockerEnv;

/// A build context being assembled: files with their modes.
pub struct BuildContext {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for BuildContext {
    fn default() -> Self {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        BuildContext { builder }
    }
}

impl BuildContext {
    /// Add one file.
    pub fn add_file(&mut self, path: &str, contents: &[u8], mode: u32) -> Result<(), ImageError> {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        self.builder
            .append_data(&mut header, path, contents)
            .map_err(|e| ImageError::Context(format!("adding {path}: {e}")))
    }

    /// Add a directory tree from disk under `prefix`, skipping `.git`, `__pycache__`,
    /// `.pytest_cache` and `*.pyc`. Files keep their permission bits (git records `+x`).
    pub fn add_tree(&mut self, prefix: &str, dir: &Path) -> Result<(), ImageError> {
        let mut stack = vec![(dir.to_path_buf(), prefix.trim_end_matches('/').to_owned())];
        while let Some((path, name)) = stack.pop() {
            let mut entries: Vec<_> = fs_err::read_dir(&path)
                .map_err(|e| ImageError::Context(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ImageError::Context(format!("reading {}: {e}", path.display())))?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if matches!(file_name.as_str(), ".git" | "__pycache__" | ".pytest_cache") || file_name.ends_with(".pyc")
                {
                    continue;
                }
                let child = entry.path();
                let child_name = format!("{name}/{file_name}");
                let meta = fs_err::symlink_metadata(&child).map_err(|e| ImageError::Context(e.to_string()))?;
                if meta.is_dir() {
                    stack.push((child, child_name));
                } else if meta.is_file() || meta.file_type().is_symlink() {
                    self.builder
                        .append_path_with_name(&child, &child_name)
                        .map_err(|e| ImageError::Context(format!("adding {}: {e}", child.display())))?;
                }
            }
        }
        Ok(())
    }

    pub fn into_tar(self) -> Result<Vec<u8>, ImageError> {
        self.builder
            .into_inner()
            .map_err(|e| ImageError::Context(e.to_string()))
    }
}

/// Options of one build.
pub struct BuildRequest<'a> {
    pub tag: &'a str,
    pub context: Vec<u8>,
    pub labels: HashMap<String, String>,
    /// `none` for builds that must not reach the network.
    pub network: Option<&'a str>,
    pub platform: Option<&'a str>,
    pub timeout: Duration,
}

/// Build and tag an image. The last lines of the build log are in the error on failure.
pub async fn build_image(
    env: &DockerEnv,
    req: BuildRequest<'_>,
    progress: &dyn ImageProgress,
) -> Result<(), ImageError> {
    let mut opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(req.tag)
        .rm(true)
        .forcerm(true)
        .labels(&req.labels);
    if let Some(n) = req.network {
        opts = opts.networkmode(n);
    }
    if let Some(p) = req.platform {
        opts = opts.platform(p);
    }
    // The context is sent before the engine answers: allow for it in the client timeout.
    let docker = env.docker().clone().with_timeout(req.timeout);
    let mut stream = docker.build_image(opts.build(), None, Some(bollard::body_full(req.context.into())));
    let mut tail: Vec<String> = Vec::new();
    let run = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            progress.status(req.tag, line.trim_end());
                            tail.push(line.to_owned());
                            if tail.len() > 40 {
                                tail.remove(0);
                            }
                        }
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    };
    let result = tokio::time::timeout(req.timeout, run).await;
    match result {
        Err(_) => Err(ImageError::BuildFailed {
            image: req.tag.to_owned(),
            message: format!("no result within {} s", req.timeout.as_secs()),
            log_tail: tail.join("\n"),
        }),
        Ok(Err(message)) => Err(ImageError::BuildFailed {
            image: req.tag.to_owned(),
            message,
            log_tail: tail.join("\n"),
        }),
        Ok(Ok(())) => Ok(()),
    }
}
