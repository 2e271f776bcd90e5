//! The demo base image, built with no registry: Debian bookworm from `debootstrap` (the
//! host's own Debian mirror), imported through the engine (`POST /images/create?fromSrc=-`)
//! and cached under a stable tag with a label that fingerprints the recipe.
//!
//! On a machine with a registry, `docker/demo/base.Dockerfile` builds the same tag from a
//! standard Python image instead; an image already carrying the tag is always used as is.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt as _;
use sha2::Digest as _;
use tokio::io::AsyncBufReadExt as _;

use super::naming::split_tag;
use super::{ImageError, ImageProgress, image_labels, lock_image};
use crate::sandbox::DockerEnv;

/// The tag of the demo base image.
pub const DEMO_BASE_IMAGE: &str = "agentless-mini/base:bookworm-py3";
/// Label holding the recipe fingerprint of an image built by agentless-mini.
pub const RECIPE_LABEL: &str = "agentless-mini.recipe";

const SUITE: &str = "bookworm";
const PACKAGES: &str = "python3,python3-pytest,git,patch,ca-certificates";
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const IMPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The recipe: what goes into the image. Its hash is the cache key.
fn recipe() -> String {
    format!("debootstrap --variant=minbase --include={PACKAGES} {SUITE}; ENV LANG=C.UTF-8; v1")
}

/// The recipe fingerprint stored in the image's label.
pub fn recipe_hash() -> String {
    hex::encode(&sha2::Sha256::digest(recipe().as_bytes())[..8])
}

/// The Debian mirror to bootstrap from: `AGENTLESS_DEBIAN_MIRROR`, else the first apt source
/// of the host that serves `bookworm`, else `None`: debootstrap then uses its own default mirror
/// (the tool names no package host itself).
pub fn debian_mirror() -> Option<String> {
    if let Ok(m) = std::env::var("AGENTLESS_DEBIAN_MIRROR")
        && !m.trim().is_empty()
    {
        return Some(m.trim().to_owned());
    }
    let mut texts = Vec::new();
    if let Ok(t) = fs_err::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = fs_err::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "sources" || e == "list")
                && let Ok(t) = fs_err::read_to_string(&p)
            {
                texts.push(t);
            }
        }
    }
    texts.iter().find_map(|t| mirror_from_sources(t))
}

/// The first `deb` URI serving the `bookworm` suite, from one-line or deb822 apt sources.
fn mirror_from_sources(text: &str) -> Option<String> {
    // One-line format: deb [options] URI suite components...
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("deb ") {
            let mut words = rest.split_whitespace().peekable();
            if words.peek().is_some_and(|w| w.starts_with('[')) {
                for w in words.by_ref() {
                    if w.ends_with(']') {
                        break;
                    }
                }
            }
            let (uri, suite) = (words.next(), words.next());
            if let (Some(uri), Some(SUITE)) = (uri, suite)
                && uri.starts_with("http")
            {
                return Some(uri.to_owned());
            }
        }
    }
    // deb822 stanzas.
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let types = field("Types").unwrap_or_default();
        let suites = field("Suites").unwrap_or_default();
        if types.split_whitespace().any(|t| t == "deb")
            && suites.split_whitespace().any(|s| s == SUITE)
            && let Some(uris) = field("URIs")
            && let Some(uri) = uris.split_whitespace().find(|u| u.starts_with("http"))
        {
            return Some(uri.to_owned());
        }
    }
    None
}

/// Whether an image exists locally, and its labels.
pub(crate) async fn inspect_labels(
    env: &DockerEnv,
    image: &str,
) -> Result<Option<std::collections::HashMap<String, String>>, ImageError> {
    match env.docker().inspect_image(image).await {
        Ok(info) => Ok(Some(info.config.and_then(|c| c.labels).unwrap_or_default())),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
        Err(e) => Err(ImageError::Docker {
            action: format!("inspecting image {image}"),
            message: e.to_string(),
        }),
    }
}

/// Make sure the demo base image exists (build it with debootstrap when it does not). An
/// image under the tag without the recipe label (built by hand, or pulled) is used as is;
/// one with a different recipe label is rebuilt.
pub async fn ensure_base_image(env: &DockerEnv, progress: &dyn ImageProgress) -> Result<String, ImageError> {
    let _guard = lock_image(DEMO_BASE_IMAGE).await;
    if let Some(labels) = inspect_labels(env, DEMO_BASE_IMAGE).await? {
        match labels.get(RECIPE_LABEL) {
            Some(h) if *h != recipe_hash() => {
                progress.status(DEMO_BASE_IMAGE, "recipe changed; rebuilding");
            }
            _ => return Ok(DEMO_BASE_IMAGE.to_owned()),
        }
    }
    build_base_image(env, progress).await?;
    Ok(DEMO_BASE_IMAGE.to_owned())
}

fn running_as_root() -> bool {
    fs_err::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let extra = [PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")];
    std::env::split_paths(&path)
        .chain(extra)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

async fn build_base_image(env: &DockerEnv, progress: &dyn ImageProgress) -> Result<(), ImageError> {
    let Some(debootstrap) = which("debootstrap") else {
        return Err(ImageError::BaseImage(format!(
            "{DEMO_BASE_IMAGE} is missing and debootstrap is not installed (apt-get install debootstrap), \
             or build it from a registry image: docker build -t {DEMO_BASE_IMAGE} -f docker/demo/base.Dockerfile docker/demo"
        )));
    };
    if !running_as_root() {
        return Err(ImageError::BaseImage(format!(
            "{DEMO_BASE_IMAGE} is missing and debootstrap needs root: run once as root, or build it from a registry image: \
             docker build -t {DEMO_BASE_IMAGE} -f docker/demo/base.Dockerfile docker/demo"
        )));
    }
    let work = tempfile::Builder::new()
        .prefix("agentless-mini-rootfs-")
        .tempdir_in(std::env::temp_dir())
        .map_err(|e| ImageError::BaseImage(format!("creating a work folder: {e}")))?;
    let rootfs = work.path().join("rootfs");
    let mirror = debian_mirror();
    let from = mirror.as_deref().unwrap_or("debootstrap's default mirror");
    progress.status(DEMO_BASE_IMAGE, &format!("debootstrap {SUITE} from {from}"));
    run_debootstrap(&debootstrap, &rootfs, mirror.as_deref(), progress).await?;
    trim_rootfs(&rootfs)?;
    progress.status(DEMO_BASE_IMAGE, "packing the root file system");
    let tar_path = work.path().join("rootfs.tar");
    let (rootfs2, tar2) = (rootfs.clone(), tar_path.clone());
    tokio::task::spawn_blocking(move || pack_rootfs(&rootfs2, &tar2))
        .await
        .map_err(|e| ImageError::BaseImage(format!("packing the root file system: {e}")))??;
    progress.status(DEMO_BASE_IMAGE, "importing into the engine");
    import_rootfs(env, &tar_path, progress).await?;
    // The rootfs belongs to root; removing it is part of the job (TempDir does it on drop).
    drop(work);
    Ok(())
}

async fn run_debootstrap(
    debootstrap: &Path,
    rootfs: &Path,
    mirror: Option<&str>,
    progress: &dyn ImageProgress,
) -> Result<(), ImageError> {
    let mut child = tokio::process::Command::new(debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--include={PACKAGES}"))
        .arg(SUITE)
        .arg(rootfs)
        .args(mirror)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ImageError::BaseImage(format!("starting debootstrap: {e}")))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send(l);
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send(l);
            }
        });
    }
    drop(tx);
    let mut tail: Vec<String> = Vec::new();
    let read = async {
        while let Some(l) = rx.recv().await {
            progress.status(DEMO_BASE_IMAGE, &l);
            tail.push(l);
            if tail.len() > 30 {
                tail.remove(0);
            }
        }
        child.wait().await
    };
    let status = tokio::time::timeout(DEBOOTSTRAP_TIMEOUT, read)
        .await
        .map_err(|_| {
            ImageError::BaseImage(format!(
                "debootstrap did not finish within {} s",
                DEBOOTSTRAP_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| ImageError::BaseImage(format!("waiting for debootstrap: {e}")))?;
    if !status.success() {
        let n = tail.len().saturating_sub(12);
        return Err(ImageError::BaseImage(format!(
            "debootstrap failed ({status}):\n{}",
            tail[n..].join("\n")
        )));
    }
    Ok(())
}

/// Drop package caches and device nodes (the engine provides /dev).
fn trim_rootfs(rootfs: &Path) -> Result<(), ImageError> {
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists", "dev", "run", "tmp"] {
        let d = rootfs.join(dir);
        let Ok(entries) = fs_err::read_dir(&d) else { continue };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let res = if is_dir {
                fs_err::remove_dir_all(&p)
            } else {
                fs_err::remove_file(&p)
            };
            res.map_err(|e| ImageError::BaseImage(format!("trimming the root file system: {e}")))?;
        }
    }
    Ok(())
}

fn pack_rootfs(rootfs: &Path, tar_path: &Path) -> Result<(), ImageError> {
    let err = |e: std::io::Error| ImageError::BaseImage(format!("packing the root file system: {e}"));
    let file = fs_err::File::create(tar_path).map_err(err)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Complete);
    builder.append_dir_all(".", rootfs).map_err(err)?;
    let mut w = builder.into_inner().map_err(err)?;
    std::io::Write::flush(&mut w).map_err(err)?;
    Ok(())
}

async fn import_rootfs(env: &DockerEnv, tar_path: &Path, progress: &dyn ImageProgress) -> Result<(), ImageError> {
    let (repo, tag) = split_tag(DEMO_BASE_IMAGE);
    let mut changes = vec![
        "ENV LANG=C.UTF-8".to_owned(),
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        "CMD [\"/bin/bash\"]".to_owned(),
    ];
    for (k, v) in image_labels(&[(RECIPE_LABEL, &recipe_hash())]) {
        changes.push(format!("LABEL {k}={v}"));
    }
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(changes)
        .build();
    let file = tokio::fs::File::open(tar_path)
        .await
        .map_err(|e| ImageError::BaseImage(format!("opening {}: {e}", tar_path.display())))?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let docker = env.docker().clone().with_timeout(IMPORT_TIMEOUT);
    let mut stream = docker.create_image(Some(opts), Some(body), None);
    let run = async {
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| ImageError::BaseImage(format!("importing the root file system: {e}")))?;
            if let Some(s) = info.status {
                progress.status(DEMO_BASE_IMAGE, &s);
            }
        }
        Ok::<(), ImageError>(())
    };
    tokio::time::timeout(IMPORT_TIMEOUT, run).await.map_err(|_| {
        ImageError::BaseImage(format!(
            "the import did not finish within {} s",
            IMPORT_TIMEOUT.as_secs()
        ))
    })??;
    if inspect_labels(env, DEMO_BASE_IMAGE).await?.is_none() {
        return Err(ImageError::BaseImage(format!(
            "the import finished but {DEMO_BASE_IMAGE} does not exist"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_from_both_apt_formats() {
        let deb822 = "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            mirror_from_sources(deb822).as_deref(),
            Some("http://mirror.example/debian")
        );
        let one_line = "# x\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n";
        assert_eq!(
            mirror_from_sources(one_line).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_from_sources("deb http://archive.ubuntu.com/ubuntu jammy main\n"),
            None
        );
    }
}
