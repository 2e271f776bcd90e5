//! Named splits resolved through the Hugging Face hub cache, downloading when missing.
//!
//! Cache layout is Hugging Face's own (`$HF_HUB_CACHE` or `$HF_HOME/hub` or
//! `~/.cache/huggingface/hub`): `datasets--<org>--<name>/{blobs,refs/main,snapshots/<rev>/<file>}`,
//! so files downloaded by Python's `huggingface_hub` are found and vice versa. A download is
//! streamed into `blobs/<name>.incomplete`, checked (length, parquet magic, readable), and only
//! then renamed into place: a transfer that fails midway never leaves a file that a later run
//! would take for the dataset.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::DatasetError;

/// A named SWE-bench split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Verified,
    Lite,
    Full,
    /// The small demo split shipped with the tool (not on the hub).
    Demo,
}

impl std::str::FromStr for Split {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "verified" | "swe-bench_verified" => Ok(Split::Verified),
            "lite" | "swe-bench_lite" => Ok(Split::Lite),
            "full" | "test" | "swe-bench" => Ok(Split::Full),
            "demo" => Ok(Split::Demo),
            _ => Err(DatasetError::UnknownSplit(s.to_owned())),
        }
    }
}

impl Split {
    /// The Hugging Face dataset repository, or `None` for the embedded demo split.
    pub fn hub_repo(self) -> Option<&'static str> {
        match self {
            Split::Verified => Some("princeton-nlp/SWE-bench_Verified"),
            Split::Lite => Some("princeton-nlp/SWE-bench_Lite"),
            Split::Full => Some("princeton-nlp/SWE-bench"),
            Split::Demo => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Split::Verified => "verified",
            Split::Lite => "lite",
            Split::Full => "full",
            Split::Demo => "demo",
        }
    }
}

/// The file every split's `test` data lives in, on the hub.
pub const TEST_PARQUET: &str = "data/test-00000-of-00001.parquet";

/// Where to look and what to send; read from the environment by [`HubConfig::from_env`].
#[derive(Clone)]
pub struct HubConfig {
    pub cache_dir: PathBuf,
    pub endpoint: String,
    pub token: Option<String>,
    pub offline: bool,
    pub revision: String,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("HubConfig")
            .field("cache_dir", &self.cache_dir)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("offline", &self.offline)
            .field("revision", &self.revision)
            .finish()
    }
}

impl HubConfig {
    /// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`; `HF_ENDPOINT`
    /// (default `https://huggingface.co`); `HF_TOKEN`; `HF_HUB_OFFLINE=1`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let cache_dir = var("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| {
            var("HF_HOME").map(|h| PathBuf::from(h).join("hub")).unwrap_or_else(|| {
                let home = var("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .unwrap_or_else(|| PathBuf::from(".cache"));
                home.join("huggingface").join("hub")
            })
        });
        HubConfig {
            cache_dir,
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()),
            token: var("HF_TOKEN"),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            revision: "main".into(),
        }
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.cache_dir.join(format!("datasets--{}", repo.replace('/', "--")))
    }
}

/// Download progress, reported by the caller's reporter (libraries never print).
pub trait HubProgress: Send + Sync {
    fn start(&self, _file: &str, _total: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// A [`HubProgress`] that shows nothing.
pub struct NoProgress;
impl HubProgress for NoProgress {}

/// The local path of `split`'s parquet: from the cache, else downloaded into it.
pub async fn resolve_split(split: Split, cfg: &HubConfig, progress: &dyn HubProgress) -> Result<PathBuf, DatasetError> {
    let Some(repo) = split.hub_repo() else {
        return Err(DatasetError::UnknownSplit(format!("{} (not on the hub)", split.name())));
    };
    if let Some(found) = cached_file(cfg, repo, TEST_PARQUET) {
        tracing::debug!(path = %found.display(), "dataset found in the Hugging Face cache");
        return Ok(found);
    }
    if cfg.offline {
        return Err(DatasetError::Offline {
            split: split.name().into(),
            cache: cfg.cache_dir.clone(),
        });
    }
    download(cfg, repo, TEST_PARQUET, progress).await
}

/// A complete cached copy of `file`: the snapshot `refs/<revision>` points at, else any snapshot.
pub fn cached_file(cfg: &HubConfig, repo: &str, file: &str) -> Option<PathBuf> {
    let dir = repo_dir_checked(cfg, repo)?;
    if let Ok(rev) = fs_err::read_to_string(dir.join("refs").join(&cfg.revision)) {
        let p = dir.join("snapshots").join(rev.trim()).join(file);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut snaps: Vec<PathBuf> = fs_err::read_dir(dir.join("snapshots"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join(file))
        .filter(|p| p.is_file())
        .collect();
    snaps.sort();
    snaps.pop()
}

fn repo_dir_checked(cfg: &HubConfig, repo: &str) -> Option<PathBuf> {
    let d = cfg.repo_dir(repo);
    d.is_dir().then_some(d)
}

async fn download(
    cfg: &HubConfig,
    repo: &str,
    file: &str,
    progress: &dyn HubProgress,
) -> Result<PathBuf, DatasetError> {
    let url = format!(
        "{}/datasets/{repo}/resolve/{}/{file}",
        cfg.endpoint.trim_end_matches('/'),
        cfg.revision
    );
    let fail = |message: String| DatasetError::Download {
        url: url.clone(),
        message,
    };
    let client = reqwest::Client::builder()
        .user_agent(concat!("agentless-mini/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut req = client.get(&url);
    if let Some(token) = &cfg.token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| fail(e.without_url().to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let header = |k: &str| resp.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let commit = header("x-repo-commit")
        .filter(|c| is_safe_component(c))
        .unwrap_or_else(|| cfg.revision.clone());
    let etag = header("x-linked-etag")
        .or_else(|| header("etag"))
        .map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned())
        .filter(|e| is_safe_component(e));
    let total = resp.content_length();

    let dir = cfg.repo_dir(repo);
    let blobs = dir.join("blobs");
    let io = |path: &Path, e: std::io::Error| DatasetError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    fs_err::create_dir_all(&blobs).map_err(|e| io(&blobs, e))?;
    let partial = blobs.join(format!(
        "{}.incomplete",
        etag.clone()
            .unwrap_or_else(|| commit.clone() + "-" + &file.replace('/', "_"))
    ));
    let mut out = tokio::fs::File::create(&partial).await.map_err(|e| io(&partial, e))?;
    progress.start(file, total);
    let mut written: u64 = 0;
    let mut stream = resp.bytes_stream();
    let result: Result<(), DatasetError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| fail(format!("transfer failed after {written} bytes: {}", e.without_url())))?;
            out.write_all(&chunk).await.map_err(|e| io(&partial, e))?;
            written += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        out.flush().await.map_err(|e| io(&partial, e))?;
        out.sync_all().await.map_err(|e| io(&partial, e))?;
        if let Some(t) = total {
            if t != written {
                return Err(fail(format!("transfer ended after {written} of {t} bytes")));
            }
        }
        check_parquet(&partial).map_err(fail)?;
        Ok(())
    }
    .await;
    progress.finish();
    if let Err(e) = result {
        // Never leave a partial file behind; a failed removal only costs disk, so log it.
        if let Err(rm) = fs_err::remove_file(&partial) {
            tracing::warn!("could not remove partial download: {rm}");
        }
        return Err(e);
    }
    let blob_name = match etag {
        Some(e) => e,
        None => sha256_file(&partial).map_err(|e| io(&partial, e))?,
    };
    let blob = blobs.join(&blob_name);
    fs_err::rename(&partial, &blob).map_err(|e| io(&blob, e))?;
    let snap_file = dir.join("snapshots").join(&commit).join(file);
    if let Some(parent) = snap_file.parent() {
        fs_err::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    link_or_copy(&blob, &snap_file).map_err(|e| io(&snap_file, e))?;
    let refs = dir.join("refs");
    fs_err::create_dir_all(&refs).map_err(|e| io(&refs, e))?;
    fs_err::write(refs.join(&cfg.revision), &commit).map_err(|e| io(&refs, e))?;
    Ok(snap_file)
}

fn is_safe_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && s != "."
        && s != ".."
}

/// A parquet file starts and ends with `PAR1` and has a readable footer.
fn check_parquet(path: &Path) -> Result<(), String> {
    let file = fs_err::File::open(path).map_err(|e| e.to_string())?;
    parquet::file::reader::SerializedFileReader::new(file.into_parts().0)
        .map(|_| ())
        .map_err(|e| format!("downloaded file is not a valid parquet file: {e}"))
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = fs_err::read(path)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn link_or_copy(blob: &Path, dest: &Path) -> std::io::Result<()> {
    if dest.exists() || dest.symlink_metadata().is_ok() {
        fs_err::remove_file(dest)?;
    }
    #[cfg(unix)]
    {
        // Relative link as huggingface_hub makes it: snapshots/<rev>/<dirs>/file -> ../../blobs/x
        let depth = dest.components().count();
        let base_depth = blob
            .parent()
            .and_then(Path::parent)
            .map_or(0, |p| p.components().count());
        let ups = depth.saturating_sub(base_depth + 1);
        let mut rel = PathBuf::new();
        for _ in 0..ups {
            rel.push("..");
        }
        rel.push("blobs");
        if let Some(name) = blob.file_name() {
            rel.push(name);
        }
        if std::os::unix::fs::symlink(&rel, dest).is_ok() && dest.is_file() {
            return Ok(());
        }
        let _stale = fs_err::remove_file(dest);
    }
    fs_err::copy(blob, dest).map(|_| ())
}
