//! Keyed JSONL envelopes: the format of every stage file, its torn-line-tolerant reader and its
//! append-only writer.
//!
//! ```text
//! {"type":"begin","data":{"stage":"repair","format_version":1,"key":"sha256:…","started_at_unix":…}}
//! {"type":"record","data":{…}}
//! …
//! {"type":"end","data":{"records":40,"elapsed_ms":…}}
//! ```
//!
//! Each line is written with one `write` call, so a killed process leaves at most one torn
//! last line; the reader ignores it (and anything after a line that does not parse), and the
//! writer cuts it off before appending again.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ArtifactError, StageId, StageKey};

/// One line of a stage file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Envelope<T> {
    Begin(Begin),
    Record(T),
    End(End),
}

/// The first line: which stage, which format, which key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Begin {
    pub stage: StageId,
    pub format_version: u32,
    pub key: StageKey,
    pub started_at_unix: u64,
}

/// The last line of a finished stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub records: usize,
    pub elapsed_ms: u64,
}

/// What a stage file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct StageFile<T> {
    pub begin: Option<Begin>,
    pub records: Vec<T>,
    pub end: Option<End>,
    /// Byte length of the begin line and the records (what a resumed writer keeps).
    pub body_len: usize,
    /// Bytes ignored at the end (a torn line, or lines after one that does not parse).
    pub ignored_bytes: usize,
}

impl<T: DeserializeOwned> StageFile<T> {
    /// Parse the text of a stage file (any prefix of a valid file reads as the lines it
    /// completes).
    pub fn parse(text: &[u8]) -> StageFile<T> {
        let mut file = StageFile {
            begin: None,
            records: Vec::new(),
            end: None,
            body_len: 0,
            ignored_bytes: 0,
        };
        let mut offset = 0usize;
        for line in text.split_inclusive(|&b| b == b'\n') {
            if line.last() != Some(&b'\n') {
                break;
            }
            let parsed: Result<Envelope<T>, _> = serde_json::from_slice(line);
            match parsed {
                Ok(Envelope::Begin(b)) if file.begin.is_none() && offset == 0 => file.begin = Some(b),
                Ok(Envelope::Record(r)) if file.begin.is_some() && file.end.is_none() => file.records.push(r),
                Ok(Envelope::End(e)) if file.begin.is_some() && file.end.is_none() => {
                    file.end = Some(e);
                    offset += line.len();
                    break;
                }
                _ => break,
            }
            offset += line.len();
            file.body_len = offset;
        }
        file.ignored_bytes = text.len() - offset;
        file
    }

    /// Read a stage file; None when it does not exist.
    pub fn read(path: &Path) -> Result<Option<StageFile<T>>, ArtifactError> {
        match fs_err::read(path) {
            Ok(bytes) => Ok(Some(StageFile::parse(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ArtifactError::io(path, e)),
        }
    }

    /// Whether the file was written for `key` (and this format version).
    pub fn matches(&self, stage: StageId, format_version: u32, key: &StageKey) -> bool {
        self.begin
            .as_ref()
            .is_some_and(|b| b.stage == stage && b.format_version == format_version && &b.key == key)
    }
}

/// How a stage file was found when opened for a key.
#[derive(Debug)]
pub enum Opened<T> {
    /// Finished with this key: its records.
    Done(Vec<T>),
    /// Open for appending (new, or partial with this key, or reopened): the records so far.
    Open(Vec<T>, StageWriter),
}

/// Open the stage file at `path` for `key`: a finished file with the same key is `Done`; a
/// partial one with the same key is reopened after its last complete record; a file with
/// another key (or format) is moved aside as `*.stale-<unix time>` and a new one begun.
pub fn open_stage<T: DeserializeOwned>(
    path: &Path,
    stage: StageId,
    format_version: u32,
    key: &StageKey,
) -> Result<Opened<T>, ArtifactError> {
    match StageFile::<T>::read(path)? {
        Some(file) if file.matches(stage, format_version, key) => {
            if file.end.is_some() {
                Ok(Opened::Done(file.records))
            } else {
                let writer = StageWriter::reopen(path, file.body_len, file.records.len())?;
                Ok(Opened::Open(file.records, writer))
            }
        }
        existing => {
            if existing.is_some() {
                move_aside(path)?;
            }
            let begin = Begin {
                stage,
                format_version,
                key: key.clone(),
                started_at_unix: unix_now(),
            };
            Ok(Opened::Open(Vec::new(), StageWriter::create(path, &begin)?))
        }
    }
}

/// Reopen a finished stage file to add records (its `end` line is removed).
pub fn reopen_finished<T: DeserializeOwned>(path: &Path) -> Result<(Vec<T>, StageWriter), ArtifactError> {
    let file = StageFile::<T>::read(path)?
        .ok_or_else(|| ArtifactError::Invalid(format!("{}: no such stage file", path.display())))?;
    let writer = StageWriter::reopen(path, file.body_len, file.records.len())?;
    Ok((file.records, writer))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn move_aside(path: &Path) -> Result<(), ArtifactError> {
    let mut n = 0u32;
    loop {
        let suffix = if n == 0 { String::new() } else { format!(".{n}") };
        let stale = PathBuf::from(format!("{}.stale-{}{suffix}", path.display(), unix_now()));
        if !stale.exists() {
            return fs_err::rename(path, &stale).map_err(|e| ArtifactError::io(path, e));
        }
        n += 1;
    }
}

/// Appends lines to one stage file. One writer per file (the instance's task).
#[derive(Debug)]
pub struct StageWriter {
    path: PathBuf,
    file: fs_err::File,
    records: usize,
    started: Instant,
}

impl StageWriter {
    fn create(path: &Path, begin: &Begin) -> Result<StageWriter, ArtifactError> {
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
        }
        let file = fs_err::File::create(path).map_err(|e| ArtifactError::io(path, e))?;
        let mut w = StageWriter {
            path: path.to_path_buf(),
            file,
            records: 0,
            started: Instant::now(),
        };
        w.line(&Envelope::<()>::Begin(begin.clone()))?;
        Ok(w)
    }

    fn reopen(path: &Path, body_len: usize, records: usize) -> Result<StageWriter, ArtifactError> {
        let file = fs_err::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| ArtifactError::io(path, e))?;
        file.set_len(body_len as u64).map_err(|e| ArtifactError::io(path, e))?;
        drop(file);
        let file = fs_err::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| ArtifactError::io(path, e))?;
        Ok(StageWriter {
            path: path.to_path_buf(),
            file,
            records,
            started: Instant::now(),
        })
    }

    fn line<T: Serialize>(&mut self, env: &Envelope<T>) -> Result<(), ArtifactError> {
        let mut bytes =
            serde_json::to_vec(env).map_err(|e| ArtifactError::Invalid(format!("{}: {e}", self.path.display())))?;
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .map_err(|e| ArtifactError::io(&self.path, e))
    }

    /// Append one record (one `write` call).
    pub fn record<T: Serialize>(&mut self, record: &T) -> Result<(), ArtifactError> {
        self.line(&Envelope::Record(record))?;
        self.records += 1;
        Ok(())
    }

    /// Write the `end` line and sync the file.
    pub fn finish(mut self) -> Result<(), ArtifactError> {
        let end = End {
            records: self.records,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        };
        self.line(&Envelope::<()>::End(end))?;
        self.file.sync_data().map_err(|e| ArtifactError::io(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct R {
        i: usize,
        s: String,
    }

    fn key(s: &str) -> StageKey {
        StageKey(s.into())
    }

    fn sample_file(n: usize, finished: bool) -> String {
        let mut text = serde_json::to_string(&Envelope::<R>::Begin(Begin {
            stage: StageId::Repair,
            format_version: 1,
            key: key("k"),
            started_at_unix: 0,
        }))
        .unwrap()
            + "\n";
        for i in 0..n {
            text += &(serde_json::to_string(&Envelope::Record(R {
                i,
                s: format!("ré\n{i}\""),
            }))
            .unwrap()
                + "\n");
        }
        if finished {
            text += &(serde_json::to_string(&Envelope::<R>::End(End {
                records: n,
                elapsed_ms: 1,
            }))
            .unwrap()
                + "\n");
        }
        text
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let full = sample_file(3, true);
        let cut = &full[..full.len() - 12];
        let f = StageFile::<R>::parse(cut.as_bytes());
        assert_eq!(f.records.len(), 3);
        assert!(f.end.is_none());
        assert!(f.ignored_bytes > 0);
        let f = StageFile::<R>::parse(full.as_bytes());
        assert_eq!(
            f.end,
            Some(End {
                records: 3,
                elapsed_ms: 1
            })
        );
        assert_eq!(f.ignored_bytes, 0);
    }

    #[test]
    fn garbage_stops_reading() {
        let mut text = sample_file(2, false);
        text += "{not json}\n";
        text += &sample_file(1, false);
        let f = StageFile::<R>::parse(text.as_bytes());
        assert_eq!(f.records.len(), 2);
        assert!(f.end.is_none());
    }

    proptest! {
        #[test]
        fn every_prefix_reads_as_the_lines_it_completes(n in 0usize..6, cut in 0usize..2000, finished: bool) {
            let full = sample_file(n, finished);
            let cut = cut.min(full.len());
            let prefix = &full.as_bytes()[..cut];
            let f = StageFile::<R>::parse(prefix);
            let complete_lines = prefix.iter().filter(|&&b| b == b'\n').count();
            prop_assert_eq!(f.begin.is_some(), complete_lines >= 1);
            let expect_records = complete_lines.saturating_sub(1).min(n);
            prop_assert_eq!(f.records.len(), expect_records);
            for (i, r) in f.records.iter().enumerate() {
                prop_assert_eq!(r.i, i);
            }
            prop_assert_eq!(f.end.is_some(), finished && complete_lines == n + 2);
            prop_assert!(f.body_len + f.ignored_bytes <= prefix.len());
        }
    }

    #[test]
    fn open_resume_and_stale_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let Opened::Open(recs, mut w) = open_stage::<R>(&path, StageId::Repair, 1, &key("k")).unwrap() else {
            panic!()
        };
        assert!(recs.is_empty());
        w.record(&R { i: 0, s: "a".into() }).unwrap();
        w.record(&R { i: 1, s: "b".into() }).unwrap();
        drop(w);
        // Simulate a kill in the middle of a line.
        let mut f = fs_err::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"type\":\"record\",\"da").unwrap();
        drop(f);
        let Opened::Open(recs, mut w) = open_stage::<R>(&path, StageId::Repair, 1, &key("k")).unwrap() else {
            panic!()
        };
        assert_eq!(recs.len(), 2);
        w.record(&R { i: 2, s: "c".into() }).unwrap();
        w.finish().unwrap();
        let Opened::Done(recs) = open_stage::<R>(&path, StageId::Repair, 1, &key("k")).unwrap() else {
            panic!()
        };
        assert_eq!(recs.iter().map(|r| r.i).collect::<Vec<_>>(), [0, 1, 2]);
        // Reopen a finished file to add more.
        let (recs, mut w) = reopen_finished::<R>(&path).unwrap();
        assert_eq!(recs.len(), 3);
        w.record(&R { i: 3, s: "d".into() }).unwrap();
        w.finish().unwrap();
        let f = StageFile::<R>::read(&path).unwrap().unwrap();
        assert_eq!((f.records.len(), f.end.as_ref().map(|e| e.records)), (4, Some(4)));
        // Another key: moved aside, started over.
        let Opened::Open(recs, w) = open_stage::<R>(&path, StageId::Repair, 1, &key("other")).unwrap() else {
            panic!()
        };
        assert!(recs.is_empty());
        drop(w);
        let stale: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".stale-"))
            .collect();
        assert_eq!(stale.len(), 1);
        // Another format version is stale too.
        let Opened::Open(recs, _) = open_stage::<R>(&path, StageId::Repair, 2, &key("other")).unwrap() else {
            panic!()
        };
        assert!(recs.is_empty());
    }
}
