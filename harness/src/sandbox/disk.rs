//! Measuring a container's writable layer for the disk watchdog.
//!
//! Where the engine's storage driver names the layer's upper directory (overlay2,
//! fuse-overlayfs) and this process can read it (a local engine, run as root), the directory is
//! walked here: allocated blocks, each inode once, symlinks never followed. Otherwise the
//! engine's own `SizeRw` is asked for. The walk exists because `SizeRw` costs a naive diff of
//! the whole root filesystem on fuse-overlayfs: 1.4–3.4 s per poll on an idle 2-core machine,
//! and long enough under load that a CI run let a patch write 600 MiB past a 48 MiB limit
//! before one measurement came back. The walk of an upper directory takes milliseconds.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// How the writable layer is measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerProbe {
    /// Walk this upper directory on the host.
    UpperDir(PathBuf),
    /// Ask the engine (`SizeRw`).
    Engine,
}

impl LayerProbe {
    /// The probe for a container whose storage driver reported `graph_data` (the inspect's
    /// `GraphDriver.Data`): its `UpperDir` where that is a directory this process can list.
    pub fn from_graph_data(graph_data: Option<&std::collections::HashMap<String, String>>) -> LayerProbe {
        graph_data
            .and_then(|d| d.get("UpperDir"))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && std::fs::read_dir(p).is_ok())
            .map_or(LayerProbe::Engine, LayerProbe::UpperDir)
    }
}

/// Bytes allocated under `dir` (blocks × 512), counting each inode once and following no
/// symlink. Entries that vanish during the walk are skipped; an unreadable `dir` is an error.
pub fn allocated_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    let mut first = true;
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if first => return Err(e),
            Err(_) => continue,
        };
        first = false;
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.nlink() > 1 && !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total = total.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_blocks_once_per_inode_and_follows_no_symlink() {
        let tmp = tempfile::tempdir().expect("tmp");
        let d = tmp.path();
        std::fs::create_dir_all(d.join("a/b")).expect("mkdir");
        std::fs::write(d.join("a/b/f"), vec![7u8; 1 << 20]).expect("write");
        let one = allocated_bytes(d).expect("walk");
        assert!(one >= 1 << 20, "{one}");
        // A hard link adds no blocks; a symlink to a big outside file adds only itself.
        std::fs::hard_link(d.join("a/b/f"), d.join("a/g")).expect("link");
        let outside = tempfile::tempdir().expect("tmp");
        std::fs::write(outside.path().join("big"), vec![1u8; 4 << 20]).expect("write");
        std::os::unix::fs::symlink(outside.path(), d.join("s")).expect("symlink");
        let two = allocated_bytes(d).expect("walk");
        assert!(two < one + (1 << 20), "{one} -> {two}");
        assert!(allocated_bytes(&d.join("missing")).is_err());
    }

    #[test]
    fn the_probe_falls_back_to_the_engine() {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = |p: &str| std::collections::HashMap::from([("UpperDir".to_owned(), p.to_owned())]);
        assert_eq!(LayerProbe::from_graph_data(None), LayerProbe::Engine);
        assert_eq!(
            LayerProbe::from_graph_data(Some(&data("/no/such/dir"))),
            LayerProbe::Engine
        );
        assert_eq!(LayerProbe::from_graph_data(Some(&data("relative"))), LayerProbe::Engine);
        let here = tmp.path().to_str().expect("utf8");
        assert_eq!(
            LayerProbe::from_graph_data(Some(&data(here))),
            LayerProbe::UpperDir(tmp.path().to_path_buf())
        );
    }
}
