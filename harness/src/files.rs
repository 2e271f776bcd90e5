//! Whole-file writes that readers never see half of: the one `write_atomic` of the workspace
//! (the harness's log folders, the binary's run directory and reports all use it).

use std::io::Write as _;
use std::path::Path;

/// Write `contents` to `path` through a temporary sibling and a rename, so that a reader sees
/// the old file or the new one, never part of it. The parent folder is created when missing.
/// Errors name the path.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(named)?;
    tmp.write_all(contents).map_err(named)?;
    tmp.persist(path).map_err(|e| named(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_names_the_path_on_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // Only the file itself is left: no temporary siblings.
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        // A folder where the file should be: the error names the path.
        let dir_in_the_way = d.path().join("a/b");
        let e = write_atomic(&dir_in_the_way, b"x").unwrap_err();
        assert!(e.to_string().contains(&dir_in_the_way.display().to_string()), "{e}");
    }
}
