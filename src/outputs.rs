//! Refusing an output path that is one of the command's inputs: writing it would destroy the
//! input before (or while) it is read. Paths are compared by file identity (device and inode),
//! so links and `./x` vs `x` are caught; an output that does not exist yet cannot be an input.

use std::path::Path;

use crate::commands::UsageError;

/// Same file on disk (both exist and share device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs_err::metadata(a), fs_err::metadata(b)) {
        (Ok(x), Ok(y)) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt as _;
                x.dev() == y.dev() && x.ino() == y.ino()
            }
            #[cfg(not(unix))]
            {
                let _ = (x, y);
                matches!((a.canonicalize(), b.canonicalize()), (Ok(p), Ok(q)) if p == q)
            }
        }
        _ => false,
    }
}

/// A usage error when `output` is the same file as any of `inputs` (flag names for the message).
pub fn refuse_overwrite(output: (&str, &Path), inputs: &[(&str, &Path)]) -> Result<(), UsageError> {
    for (flag, input) in inputs {
        if same_file(output.1, input) {
            return Err(UsageError(format!(
                "{} {} is the same file as {flag} {}: it would be overwritten before it is read; choose another output",
                output.0,
                output.1.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inode_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("a.jsonl");
        fs_err::write(&a, "x").expect("write");
        let via_dot = dir.path().join(".").join("a.jsonl");
        assert!(same_file(&a, &via_dot));
        let link = dir.path().join("l.jsonl");
        fs_err::hard_link(&a, &link).expect("link");
        assert!(refuse_overwrite(("--output", &link), &[("--input", &a)]).is_err());
        let other = dir.path().join("b.jsonl");
        assert!(refuse_overwrite(("--output", &other), &[("--input", &a)]).is_ok());
        fs_err::write(&other, "y").expect("write");
        assert!(refuse_overwrite(("--output", &other), &[("--input", &a)]).is_ok());
    }
}
