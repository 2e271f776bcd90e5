//! Datasets on the Hugging Face hub (named splits, or any repository id with a split), resolved
//! through the hub cache and downloaded when missing.
//!
//! Cache layout is `huggingface_hub`'s own (`$HF_HUB_CACHE` or `$HF_HOME/hub` or
//! `~/.cache/huggingface/hub`): `datasets--<org>--<name>/{blobs/<etag>,refs/<revision>,
//! snapshots/<commit>/<file>}`, so files downloaded by Python's `huggingface_hub` are found and
//! vice versa. As `huggingface_hub` does, the resolve URL is asked without following its
//! redirect: the commit (`X-Repo-Commit`) and the file's sha256 (`X-Linked-Etag`) come from the
//! hub's answer, the bytes from where it points (a CDN). A download is streamed into
//! `blobs/<name>.incomplete`, checked (length, sha256 when the hub gave one, parquet footer), and
//! only then renamed into place: a transfer that fails midway never leaves a file that a later
//! run would take for the dataset.
//!
//! The SWE-bench datasets are published under two organisations (`SWE-bench/…`, which the
//! official harness loads, and the older `princeton-nlp/…`); a cached copy under either name is
//! found for both.

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
    /// The small demo split shipped with the tool (not on the hub): its instances and
    /// repository trees are resolved in [`super::demo`].
    Demo,
}

impl std::str::FromStr for Split {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "verified" | "swe-bench_verified" => Ok(Split::Verified),
            "lite" | "swe-bench_lite" => Ok(Split::Lite),
            "full" | "swe-bench" => Ok(Split::Full),
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

/// A dataset on the hub: repository id, split and revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDataset {
    /// `owner/name`.
    pub repo: String,
    /// The split (`test`, `dev`, ...): the file `data/<split>-00000-of-00001.parquet`.
    pub split: String,
    /// A branch, tag or commit (`main` by default).
    pub revision: String,
}

impl HubDataset {
    /// The parquet file of the split, as the SWE-bench datasets lay it out.
    pub fn file(&self) -> String {
        format!("data/{}-00000-of-00001.parquet", self.split)
    }
}

/// Where a hub dataset was found, and what exactly it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDataset {
    pub path: PathBuf,
    /// The repository id the file was found or downloaded under.
    pub repo: String,
    pub revision: String,
    /// The snapshot's commit (the snapshot folder's name).
    pub commit: Option<String>,
    /// sha256 of the parquet file.
    pub sha256: String,
}

/// Whether `s` reads as a hub repository id (`owner/name`), not a file path.
pub fn looks_like_repo_id(s: &str) -> bool {
    let Some((owner, name)) = s.split_once('/') else {
        return false;
    };
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.len() <= 96
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let lower = name.to_ascii_lowercase();
    part_ok(owner) && part_ok(name) && ![".parquet", ".json", ".jsonl"].iter().any(|ext| lower.ends_with(ext))
}

/// The repository ids under which the same dataset is published, `repo` first.
pub fn repo_aliases(repo: &str) -> Vec<String> {
    let mut names = vec![repo.to_owned()];
    if let Some((owner, name)) = repo.split_once('/')
        && ["SWE-bench", "SWE-bench_Lite", "SWE-bench_Verified"].contains(&name)
    {
        for other in ["SWE-bench", "princeton-nlp"] {
            if !other.eq_ignore_ascii_case(owner) {
                names.push(format!("{other}/{name}"));
            }
        }
    }
    names
}

/// The local path of `split`'s parquet: from the cache, else downloaded into it.
pub async fn resolve_split(split: Split, cfg: &HubConfig, progress: &dyn HubProgress) -> Result<PathBuf, DatasetError> {
    let Some(repo) = split.hub_repo() else {
        return Err(DatasetError::UnknownSplit(format!("{} (not on the hub)", split.name())));
    };
    let ds = HubDataset {
        repo: repo.to_owned(),
        split: "test".to_owned(),
        revision: cfg.revision.clone(),
    };
    Ok(resolve_hub(&ds, cfg, progress).await?.path)
}

/// A hub dataset's parquet: from the cache (under any of its names), else downloaded into it.
pub async fn resolve_hub(
    ds: &HubDataset,
    cfg: &HubConfig,
    progress: &dyn HubProgress,
) -> Result<ResolvedDataset, DatasetError> {
    if !is_safe_component(&ds.revision) {
        return Err(DatasetError::BadRevision(ds.revision.clone()));
    }
    let mut cfg = cfg.clone();
    cfg.revision.clone_from(&ds.revision);
    let file = ds.file();
    let found = repo_aliases(&ds.repo)
        .into_iter()
        .find_map(|repo| cached_file(&cfg, &repo, &file).map(|path| (repo, path)));
    let (repo, path) = match found {
        Some(found) => found,
        None if cfg.offline => {
            return Err(DatasetError::Offline {
                split: format!("{} ({}, revision {})", ds.repo, ds.split, ds.revision),
                cache: cfg.cache_dir.clone(),
            });
        }
        None => (ds.repo.clone(), download(&cfg, &ds.repo, &file, progress).await?),
    };
    tracing::debug!(path = %path.display(), "dataset in the Hugging Face cache");
    let sha256 = sha256_file(&path).map_err(|source| DatasetError::Io {
        path: path.clone(),
        source,
    })?;
    let commit = snapshot_commit(&cfg, &repo, &path);
    Ok(ResolvedDataset {
        path,
        repo,
        revision: ds.revision.clone(),
        commit,
        sha256,
    })
}

/// The snapshot folder `path` lies in: `<repo dir>/snapshots/<commit>/...`.
fn snapshot_commit(cfg: &HubConfig, repo: &str, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(cfg.repo_dir(repo).join("snapshots")).ok()?;
    rel.components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
}

/// A complete cached copy of `file`: the snapshot `refs/<revision>` points at, or the snapshot
/// named by the revision itself (a commit); for `main`, else any snapshot.
pub fn cached_file(cfg: &HubConfig, repo: &str, file: &str) -> Option<PathBuf> {
    let dir = repo_dir_checked(cfg, repo)?;
    if let Ok(rev) = fs_err::read_to_string(dir.join("refs").join(&cfg.revision)) {
        let p = dir.join("snapshots").join(rev.trim()).join(file);
        if p.is_file() {
            return Some(p);
        }
    }
    if is_safe_component(&cfg.revision) {
        let p = dir.join("snapshots").join(&cfg.revision).join(file);
        if p.is_file() {
            return Some(p);
        }
    }
    if cfg.revision != "main" {
        return None;
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
    let builder = || {
        reqwest::Client::builder()
            .user_agent(concat!("agentless-mini/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
    };
    // The hub's own answer (no redirect followed) carries the commit and the file's sha256.
    let hub = builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut req = hub.get(&url);
    if let Some(token) = &cfg.token {
        req = req.bearer_auth(token);
    }
    let first = req.send().await.map_err(|e| fail(e.without_url().to_string()))?;
    let header = |r: &reqwest::Response, k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Commit and etag name files in the cache: a value that echoes the token is not used.
    let echoes_token = |v: &String| cfg.token.as_deref().is_some_and(|t| !t.is_empty() && v.contains(t));
    let stored = |r: &reqwest::Response, k: &str| header(r, k).filter(|v| !echoes_token(v));
    let commit_of = |r: &reqwest::Response| stored(r, "x-repo-commit").filter(|c| is_safe_component(c));
    let linked_etag = stored(&first, "x-linked-etag").map(|e| clean_etag(&e));
    let mut commit = commit_of(&first);
    let resp = if first.status().is_redirection() {
        let location = header(&first, "location").ok_or_else(|| fail("a redirect without a Location".into()))?;
        let target = reqwest::Url::parse(&url)
            .and_then(|base| base.join(&location))
            .map_err(|e| fail(format!("bad redirect target {location:?}: {e}")))?;
        let same_host = reqwest::Url::parse(&url).is_ok_and(|u| u.host_str() == target.host_str());
        // Further redirects are followed; the token only goes back to the hub's own host.
        let cdn = builder().build().map_err(|e| fail(e.to_string()))?;
        let mut req = cdn.get(target);
        if same_host && let Some(token) = &cfg.token {
            req = req.bearer_auth(token);
        }
        req.send().await.map_err(|e| fail(e.without_url().to_string()))?
    } else {
        first
    };
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    if commit.is_none() {
        commit = commit_of(&resp);
    }
    let commit = commit.unwrap_or_else(|| cfg.revision.clone());
    let expected_sha = linked_etag.clone().filter(|e| is_sha256(e));
    let etag = linked_etag
        .or_else(|| stored(&resp, "etag").map(|e| clean_etag(&e)))
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
    let mut hasher = {
        use sha2::Digest as _;
        sha2::Sha256::new()
    };
    let mut stream = resp.bytes_stream();
    let result: Result<String, DatasetError> = async {
        use sha2::Digest as _;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| fail(format!("transfer failed after {written} bytes: {}", e.without_url())))?;
            out.write_all(&chunk).await.map_err(|e| io(&partial, e))?;
            hasher.update(&chunk);
            written += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        out.flush().await.map_err(|e| io(&partial, e))?;
        out.sync_all().await.map_err(|e| io(&partial, e))?;
        if let Some(t) = total
            && t != written
        {
            return Err(fail(format!("transfer ended after {written} of {t} bytes")));
        }
        let sha = hex::encode(hasher.finalize());
        if let Some(want) = &expected_sha
            && *want != sha
        {
            return Err(fail(format!(
                "sha256 mismatch: the hub announced {want}, the file is {sha}"
            )));
        }
        check_parquet(&partial).map_err(fail)?;
        Ok(sha)
    }
    .await;
    progress.finish();
    let sha = match result {
        Ok(sha) => sha,
        Err(e) => {
            // Never leave a partial file behind; a failed removal only costs disk, so log it.
            if let Err(rm) = fs_err::remove_file(&partial) {
                tracing::warn!("could not remove partial download: {rm}");
            }
            return Err(e);
        }
    };
    let blob = blobs.join(etag.unwrap_or(sha));
    fs_err::rename(&partial, &blob).map_err(|e| io(&blob, e))?;
    let snap_file = dir.join("snapshots").join(&commit).join(file);
    if let Some(parent) = snap_file.parent() {
        fs_err::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    link_or_copy(&blob, &snap_file).map_err(|e| io(&snap_file, e))?;
    let refs = dir.join("refs");
    fs_err::create_dir_all(&refs).map_err(|e| io(&refs, e))?;
    if commit != cfg.revision {
        fs_err::write(refs.join(&cfg.revision), &commit).map_err(|e| io(&refs, e))?;
    }
    Ok(snap_file)
}

fn clean_etag(e: &str) -> String {
    e.trim().trim_start_matches("W/").trim_matches('"').to_owned()
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_and_paths() {
        for id in [
            "SWE-bench/SWE-bench_Verified",
            "princeton-nlp/SWE-bench_Lite",
            "me/my.data-set_2",
        ] {
            assert!(looks_like_repo_id(id), "{id}");
        }
        for path in [
            "verified.parquet",
            "data/test.jsonl",
            "./x/y",
            "/abs/file",
            "a/b/c",
            "a/",
            "../x",
            "dir/file.JSON",
        ] {
            assert!(!looks_like_repo_id(path), "{path}");
        }
    }

    #[test]
    fn both_organisations_name_the_swe_bench_datasets() {
        assert_eq!(
            repo_aliases("SWE-bench/SWE-bench_Verified"),
            ["SWE-bench/SWE-bench_Verified", "princeton-nlp/SWE-bench_Verified"]
        );
        assert_eq!(
            repo_aliases("princeton-nlp/SWE-bench"),
            ["princeton-nlp/SWE-bench", "SWE-bench/SWE-bench"]
        );
        assert_eq!(repo_aliases("me/other"), ["me/other"]);
    }

    #[test]
    fn split_file_names() {
        let ds = HubDataset {
            repo: "SWE-bench/SWE-bench_Lite".into(),
            split: "dev".into(),
            revision: "main".into(),
        };
        assert_eq!(ds.file(), "data/dev-00000-of-00001.parquet");
    }
}
