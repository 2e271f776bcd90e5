//! The demo split ([`super::Split::Demo`]), all in one place: its instances and the repository
//! trees they are built from, both embedded in the library (`datasets/demo/`), so `--split demo`
//! needs no download and works from an installed binary, wherever it is started.
//!
//! The trees are written out once into a cache folder named by their fingerprint
//! ([`materialize_repos`]); the folder appears whole or not at all, so concurrent runs and a
//! run killed midway never see a partial tree. Where the trees come from for a run (a folder
//! given by the user, `repos/` beside a dataset file, or the embedded ones) is
//! [`DemoRepos::resolve`]'s decision.

use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::{DatasetError, Instance, parse_json_rows};

const INSTANCES_JSONL: &str = include_str!("../../../datasets/demo/instances.jsonl");

include!(concat!(env!("OUT_DIR"), "/demo_repos.rs"));

/// The demo instances, in file order.
pub fn instances() -> Result<Vec<Instance>, DatasetError> {
    parse_json_rows(Path::new("datasets/demo/instances.jsonl"), INSTANCES_JSONL)
}

/// The embedded repository trees: (path under the trees' root, content), sorted by path.
pub fn repo_files() -> &'static [(&'static str, &'static [u8])] {
    FILES
}

/// A short fingerprint of the embedded trees (paths and contents).
pub fn repos_fingerprint() -> String {
    let mut h = sha2::Sha256::new();
    for (path, content) in FILES {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((content.len() as u64).to_le_bytes());
        h.update(content);
    }
    hex::encode(&h.finalize()[..8])
}

/// Why the embedded trees could not be written out.
#[derive(Debug, thiserror::Error)]
#[error("writing the embedded demo repositories under {path}: {source}")]
pub struct MaterializeError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Write the embedded trees under `cache_root/<fingerprint>/` unless they are there already,
/// and return that folder. The trees are written into a temporary folder beside it and
/// renamed into place.
pub fn materialize_repos(cache_root: &Path) -> Result<PathBuf, MaterializeError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MaterializeError { path, source }
    };
    let dest = cache_root.join(repos_fingerprint());
    if dest.is_dir() {
        return Ok(dest);
    }
    fs_err::create_dir_all(cache_root).map_err(err(cache_root))?;
    let tmp = tempfile::Builder::new()
        .prefix(".demo-repos-")
        .tempdir_in(cache_root)
        .map_err(err(cache_root))?;
    for (rel, content) in FILES {
        let path = tmp.path().join(rel);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(err(dir))?;
        }
        fs_err::write(&path, content).map_err(err(&path))?;
    }
    match fs_err::rename(tmp.path(), &dest) {
        Ok(()) => {
            // The folder now lives at `dest`; nothing is left for the guard to remove.
            let _ = tmp.keep();
            Ok(dest)
        }
        // Another process put it there first: theirs is as good as ours.
        Err(_) if dest.is_dir() => Ok(dest),
        Err(e) => Err(err(&dest)(e)),
    }
}

/// Where a run's demo repository trees come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoRepos {
    /// A folder given on the command line (`--demo-repos`).
    Given(PathBuf),
    /// `repos/` beside a dataset file (a copy of the demo split with its trees).
    BesideDataset(PathBuf),
    /// The trees embedded in the tool.
    Embedded,
}

impl DemoRepos {
    /// The given folder, else `repos/` beside the dataset file when there is one, else the
    /// embedded trees.
    pub fn resolve(given: Option<&Path>, dataset_file: Option<&Path>) -> DemoRepos {
        if let Some(d) = given {
            return DemoRepos::Given(d.to_path_buf());
        }
        if let Some(file) = dataset_file {
            let beside = file.parent().unwrap_or(Path::new(".")).join("repos");
            if beside.is_dir() {
                return DemoRepos::BesideDataset(beside);
            }
        }
        DemoRepos::Embedded
    }

    /// The folder of the trees; the embedded ones are written under `cache_root` first.
    pub fn dir(&self, cache_root: &Path) -> Result<PathBuf, MaterializeError> {
        match self {
            DemoRepos::Given(d) | DemoRepos::BesideDataset(d) => Ok(d.clone()),
            DemoRepos::Embedded => materialize_repos(cache_root),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_instances_parse() {
        let all = instances().unwrap();
        assert!(!all.is_empty());
        assert!(all.iter().all(|i| i.repo.starts_with("agentless-demo/")));
    }

    #[test]
    fn every_demo_repository_is_embedded() {
        for i in instances().unwrap() {
            let name = i.repo.trim_start_matches("agentless-demo/");
            assert!(
                FILES.iter().any(|(p, _)| p.starts_with(&format!("{name}/"))),
                "no embedded tree for {name}"
            );
        }
        assert!(FILES.iter().all(|(p, _)| !p.contains("__pycache__")));
    }

    #[test]
    fn materialized_trees_match_the_embedded_files_and_are_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = materialize_repos(tmp.path()).unwrap();
        assert_eq!(dir, tmp.path().join(repos_fingerprint()));
        for (rel, content) in FILES {
            assert_eq!(&fs_err::read(dir.join(rel)).unwrap(), content, "{rel}");
        }
        // A second call reuses the folder (a marker file survives) and leaves no temporary one.
        fs_err::write(dir.join("marker"), "x").unwrap();
        assert_eq!(materialize_repos(tmp.path()).unwrap(), dir);
        assert!(dir.join("marker").exists());
        let names: Vec<_> = fs_err::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn resolution_order() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("instances.jsonl");
        assert_eq!(DemoRepos::resolve(None, Some(&file)), DemoRepos::Embedded);
        fs_err::create_dir(tmp.path().join("repos")).unwrap();
        assert_eq!(
            DemoRepos::resolve(None, Some(&file)),
            DemoRepos::BesideDataset(tmp.path().join("repos"))
        );
        assert_eq!(
            DemoRepos::resolve(Some(Path::new("/x")), Some(&file)),
            DemoRepos::Given(PathBuf::from("/x"))
        );
        assert_eq!(DemoRepos::resolve(None, None), DemoRepos::Embedded);
    }
}
