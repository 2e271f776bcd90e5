//! The repository at an instance's `base_commit`, read through git2 from a local mirror cache
//! (`--repos-dir`, default `~/.cache/agentless-mini/repos`): the file listing comes from the
//! commit's tree objects and file contents from its blobs, with no checkout.
//!
//! A missing mirror is made once: for a demo instance (`agentless-demo/<name>`) by committing
//! `datasets/demo/repos/<name>/` with the split's deterministic recipe (datasets/demo/README.md;
//! the commit id must come out as `base_commit`), otherwise by `git clone --mirror
//! https://github.com/<repo>` (shelled out: git2 is built without its https feature, which would
//! pull in OpenSSL; every read after the clone is git2). A mirror that lacks the commit is
//! fetched once more before giving up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use agentless_harness::dataset::Instance;

/// Errors getting a repository snapshot. Each names the repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    #[error("{repo}: {message}")]
    Git { repo: String, message: String },
    #[error("{repo}: commit {commit} is not in the mirror {mirror} (even after fetching)")]
    CommitNotFound {
        repo: String,
        commit: String,
        mirror: PathBuf,
    },
    #[error(
        "{repo}: the demo tree {tree} commits to {got}, not the dataset's base_commit {want} (a stray or changed file? see datasets/demo/README.md)"
    )]
    DemoMismatch {
        repo: String,
        tree: PathBuf,
        got: String,
        want: String,
    },
    #[error("{repo}: cloning {url} failed: {message}")]
    Clone { repo: String, url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{repo}: {path} is not in the tree at {commit}")]
    NoSuchFile { repo: String, path: String, commit: String },
    #[error("{repo}: {path} is not UTF-8 text")]
    NotText { repo: String, path: String },
}

fn git_err(repo: &str, e: git2::Error) -> RepoError {
    RepoError::Git {
        repo: repo.to_owned(),
        message: e.message().to_owned(),
    }
}

/// Where mirrors live and where demo trees come from.
#[derive(Debug, Clone)]
pub struct RepoCache {
    pub root: PathBuf,
    /// `datasets/demo/repos` (for `agentless-demo/<name>` repositories).
    pub demo_repos: Option<PathBuf>,
    /// How to reach a repository's remote; `{repo}` is replaced by `owner/name`.
    pub remote_template: String,
}

/// The default mirror cache: `$AGENTLESS_REPOS_DIR`, else `~/.cache/agentless-mini/repos`.
pub fn default_repos_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("AGENTLESS_REPOS_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("agentless-mini").join("repos")
}

const DEMO_OWNER: &str = "agentless-demo/";

/// The tree at one commit: every file path with its blob id.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub repo: String,
    pub commit: String,
    mirror: PathBuf,
    files: Arc<Vec<(String, git2::Oid)>>,
}

impl RepoCache {
    pub fn new(root: PathBuf, demo_repos: Option<PathBuf>) -> RepoCache {
        RepoCache {
            root,
            demo_repos,
            remote_template: "https://github.com/{repo}".into(),
        }
    }

    fn mirror_path(&self, repo: &str) -> PathBuf {
        self.root.join(format!("{}.git", repo.replace('/', "__")))
    }

    /// The snapshot of `instance.repo` at `instance.base_commit` (blocking: run it off the
    /// async runtime).
    pub fn snapshot(&self, instance: &Instance) -> Result<Snapshot, RepoError> {
        let repo_name = instance.repo.as_str();
        let mirror = self.mirror_path(repo_name);
        let lock = mirror_lock(&mirror);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let oid = git2::Oid::from_str(instance.base_commit.trim()).map_err(|e| git_err(repo_name, e))?;
        if !has_commit(&mirror, oid) {
            if let Some(name) = repo_name.strip_prefix(DEMO_OWNER) {
                self.build_demo_mirror(repo_name, name, &mirror, oid)?;
            } else if mirror.exists() {
                fetch(repo_name, &mirror)?;
            } else {
                self.clone_mirror(repo_name, &mirror)?;
            }
        }
        if !has_commit(&mirror, oid) {
            return Err(RepoError::CommitNotFound {
                repo: repo_name.into(),
                commit: oid.to_string(),
                mirror,
            });
        }
        let files = list_files(repo_name, &mirror, oid)?;
        Ok(Snapshot {
            repo: repo_name.into(),
            commit: oid.to_string(),
            mirror,
            files: Arc::new(files),
        })
    }

    fn build_demo_mirror(&self, repo: &str, name: &str, mirror: &Path, want: git2::Oid) -> Result<(), RepoError> {
        let Some(root) = &self.demo_repos else {
            return Err(RepoError::Git {
                repo: repo.into(),
                message: "a demo repository, but the demo trees are not known".into(),
            });
        };
        let tree_dir = root.join(name);
        if !tree_dir.is_dir() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(RepoError::Io {
                path: tree_dir,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such demo repository tree"),
            });
        }
        fs_err::create_dir_all(&self.root).map_err(|source| RepoError::Io {
            path: self.root.clone(),
            source,
        })?;
        let tmp = tempfile::Builder::new()
            .prefix(".demo-")
            .tempdir_in(&self.root)
            .map_err(|source| RepoError::Io {
                path: self.root.clone(),
                source,
            })?;
        let got = {
            let r = git2::Repository::init_bare(tmp.path()).map_err(|e| git_err(repo, e))?;
            r.set_workdir(&tree_dir, false).map_err(|e| git_err(repo, e))?;
            let mut index = r.index().map_err(|e| git_err(repo, e))?;
            index
                .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
                .map_err(|e| git_err(repo, e))?;
            let tree_id = index.write_tree().map_err(|e| git_err(repo, e))?;
            let tree = r.find_tree(tree_id).map_err(|e| git_err(repo, e))?;
            // 2024-01-01T00:00:00+0000, as the recipe's GIT_AUTHOR_DATE / GIT_COMMITTER_DATE.
            let when = git2::Time::new(1_704_067_200, 0);
            let sig = git2::Signature::new("agentless-mini", "demo@agentless-mini.invalid", &when)
                .map_err(|e| git_err(repo, e))?;
            let oid = r
                .commit(None, &sig, &sig, "base\n", &tree, &[])
                .map_err(|e| git_err(repo, e))?;
            if oid != want {
                return Err(RepoError::DemoMismatch {
                    repo: repo.into(),
                    tree: tree_dir,
                    got: oid.to_string(),
                    want: want.to_string(),
                });
            }
            r.reference(
                &format!("refs/tags/base-{}", &oid.to_string()[..12]),
                oid,
                true,
                "demo base commit",
            )
            .map_err(|e| git_err(repo, e))?;
            oid
        };
        let _ = got;
        // The index was only a means to honour .gitignore; a mirror has none.
        let _ = fs_err::remove_file(tmp.path().join("index"));
        if mirror.exists() {
            // Merge into an existing mirror of the same name: fetch the objects over.
            let r = git2::Repository::open_bare(mirror).map_err(|e| git_err(repo, e))?;
            let url = format!("file://{}", tmp.path().display());
            let mut remote = r.remote_anonymous(&url).map_err(|e| git_err(repo, e))?;
            remote
                .fetch(&["+refs/tags/*:refs/tags/*"], None, None)
                .map_err(|e| git_err(repo, e))?;
            return Ok(());
        }
        let tmp_path = tmp.keep();
        publish(&tmp_path, mirror)
    }

    fn clone_mirror(&self, repo: &str, mirror: &Path) -> Result<(), RepoError> {
        let url = self.remote_template.replace("{repo}", repo);
        fs_err::create_dir_all(&self.root).map_err(|source| RepoError::Io {
            path: self.root.clone(),
            source,
        })?;
        let tmp = tempfile::Builder::new()
            .prefix(".clone-")
            .tempdir_in(&self.root)
            .map_err(|source| RepoError::Io {
                path: self.root.clone(),
                source,
            })?;
        let dest = tmp.path().join("m.git");
        let out = std::process::Command::new("git")
            .args(["clone", "--mirror", "--quiet", &url])
            .arg(&dest)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|e| RepoError::Clone {
                repo: repo.into(),
                url: url.clone(),
                message: format!("running git: {e}"),
            })?;
        if !out.status.success() {
            return Err(RepoError::Clone {
                repo: repo.into(),
                url,
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        publish(&dest, mirror)
    }
}

/// Move a finished mirror into place. When another process (a cluster task sharing the
/// cache) got there first, its mirror stays and ours goes; the caller checks the commit.
fn publish(from: &Path, mirror: &Path) -> Result<(), RepoError> {
    match fs_err::rename(from, mirror) {
        Ok(()) => Ok(()),
        Err(_) if mirror.is_dir() => {
            let _ = fs_err::remove_dir_all(from);
            Ok(())
        }
        Err(source) => Err(RepoError::Io {
            path: mirror.to_path_buf(),
            source,
        }),
    }
}

fn fetch(repo: &str, mirror: &Path) -> Result<(), RepoError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(mirror)
        .args(["remote", "update", "--prune"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| RepoError::Git {
            repo: repo.into(),
            message: format!("running git: {e}"),
        })?;
    if !out.status.success() {
        tracing::warn!(
            repo,
            "fetching the mirror failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn has_commit(mirror: &Path, oid: git2::Oid) -> bool {
    git2::Repository::open_bare(mirror).is_ok_and(|r| r.find_commit(oid).is_ok())
}

fn mirror_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = LazyLock::new(Mutex::default);
    let mut map = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(path.to_path_buf()).or_default().clone()
}

fn list_files(repo: &str, mirror: &Path, oid: git2::Oid) -> Result<Vec<(String, git2::Oid)>, RepoError> {
    let r = git2::Repository::open_bare(mirror).map_err(|e| git_err(repo, e))?;
    let commit = r.find_commit(oid).map_err(|e| git_err(repo, e))?;
    let tree = commit.tree().map_err(|e| git_err(repo, e))?;
    let mut files = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob)
            && let Ok(name) = entry.name()
        {
            files.push((format!("{dir}{name}"), entry.id()));
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(|e| git_err(repo, e))?;
    Ok(files)
}

impl Snapshot {
    /// Every file path at the commit.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(p, _)| p.as_str())
    }

    /// The contents of the files at `paths` (in order), as UTF-8 text.
    pub fn read(&self, paths: &[&str]) -> Result<Vec<String>, RepoError> {
        let r = git2::Repository::open_bare(&self.mirror).map_err(|e| git_err(&self.repo, e))?;
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            let Some((_, oid)) = self.files.iter().find(|(p, _)| p == path) else {
                return Err(RepoError::NoSuchFile {
                    repo: self.repo.clone(),
                    path: (*path).to_owned(),
                    commit: self.commit.clone(),
                });
            };
            let blob = r.find_blob(*oid).map_err(|e| git_err(&self.repo, e))?;
            let text = std::str::from_utf8(blob.content()).map_err(|_| RepoError::NotText {
                repo: self.repo.clone(),
                path: (*path).to_owned(),
            })?;
            out.push(text.to_owned());
        }
        Ok(out)
    }
}
