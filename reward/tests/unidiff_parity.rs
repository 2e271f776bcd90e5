//! Property test of the unidiff 0.7.5 port against unidiff 0.7.5 itself: real gold patches
//! (from the public reward vectors) and hand-made ones (renames, new/deleted/binary files,
//! mode-only sections, odd prefixes, timestamps), damaged at random — structural lines
//! inserted or deleted, CRLF, blank lines, `\ No newline` markers, hunk numbers with leading
//! zeros or non-ASCII digits, truncation — must parse to the same files with the same
//! rendered content, or fail alike.
//!
//! The interpreter comes from `UNIDIFF075_PYTHON` (a Python with `unidiff==0.7.5`, see
//! `scripts/setup-parity-env.sh`); without it this test fails.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use swerl_reward::unidiff::{filelevel_diff, parse_patch_set};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const HAND_MADE: &[&str] = &[
    "diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\nrename to new.py\nindex 1..2 100644\n--- a/old.py\n+++ b/new.py\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n",
    "diff --git a/n.py b/n.py\nnew file mode 100644\nindex 0000000..1\n--- /dev/null\n+++ b/n.py\n@@ -0,0 +1,2 @@\n+a\n+b\n",
    "diff --git a/d.py b/d.py\ndeleted file mode 100644\nindex 1..0000000\n--- a/d.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n",
    "diff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n",
    "diff --git a/img.png b/img.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nxyz\n\nliteral 0\n\n",
    "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n",
    "diff --git c/x.py w/x.py\n--- c/x.py\n+++ w/x.py\n@@ -1 +1 @@\n-a\n+b\n",
    "diff --git x.py x.py\n--- x.py\n+++ x.py\n@@ -1 +1 @@\n-a\n+b\n",
    "--- x.py.orig\t2024-01-01 10:00:00.000000000 +0000\n+++ x.py\t2024-01-01 10:00:01.000000000 +0000\n@@ -1,3 +1,3 @@ def f():\n a\n-b\n+c\n d\n\\ No newline at end of file\n",
    "diff --git \"a/sp ace.py\" \"b/sp ace.py\"\n--- \"a/sp ace.py\"\n+++ \"b/sp ace.py\"\n@@ -1 +1 @@\n-a\n+b\n",
    "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n\\ No newline at end of file\n+b\n+c\n\n\n",
];

const STRUCTURAL: &[&str] = &[
    "\n",
    "\r\n",
    "\\ No newline at end of file\n",
    "--- a/x.py\n",
    "+++ b/x.py\n",
    "+++ b/other.py\n",
    "@@ -1 +1 @@\n",
    "@@ -1,0 +1,0 @@\n",
    "@@ -0,0 +1 @@ section\r\n",
    "diff --git a/x.py b/y.py\n",
    "diff --git a/x.py b/x.py\n",
    "new file mode 100644\n",
    "deleted file mode 100644\n",
    "Binary files a/x and b/x differ\n",
    "GIT binary patch\n",
    "index 123..456 100644\n",
    "rename from x.py\n",
    "some prose\n",
    " context line\n",
    "+added\n",
    "-removed\n",
    "\rcarriage\n",
    "\u{2028}\n",
];

/// A damaged copy of `patch`.
fn damage(rng: &mut Rng, patch: &str) -> String {
    let mut lines: Vec<String> = patch.split_inclusive('\n').map(str::to_owned).collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(lines.len() + 1);
        match rng.below(9) {
            0 | 1 => lines.insert(at, STRUCTURAL[rng.below(STRUCTURAL.len())].to_owned()),
            2 if at < lines.len() => {
                lines.remove(at);
            }
            3 => lines.iter_mut().for_each(|l| {
                if l.ends_with('\n') && !l.ends_with("\r\n") {
                    l.insert(l.len() - 1, '\r');
                }
            }),
            4 if at < lines.len() && lines[at].starts_with("@@") => {
                let variants = ["@@ -01,", "@@ -\u{661},", "@@ -1,", "@@ -"];
                let v = variants[rng.below(variants.len())];
                lines[at] = lines[at].replacen("@@ -", v, 1);
            }
            5 if at < lines.len() => {
                let l = &mut lines[at];
                let cut = l
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(rng.below(l.chars().count().max(1)))
                    .unwrap_or(0);
                l.truncate(cut);
            }
            6 => lines.truncate(at),
            7 if at < lines.len() => {
                let l = lines[at].trim_end_matches('\n').to_owned();
                lines[at] = format!("{l}  \n");
            }
            _ => {
                let l = lines.get(at).cloned().unwrap_or_default();
                lines.insert(at, l);
            }
        }
    }
    lines.concat()
}

fn gold_patches() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/reward-vectors/public.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("vector JSON");
        for key in ["oracle_patches", "pred_patches"] {
            for p in v[key].as_array().into_iter().flatten() {
                if let Some(p) = p.as_str()
                    && !out.iter().any(|q| q == p)
                {
                    out.push(p.to_owned());
                }
            }
        }
    }
    out
}

fn unidiff_075(texts: &[String]) -> Vec<Value> {
    let python = std::env::var("UNIDIFF075_PYTHON").unwrap_or_else(|_| {
        panic!("UNIDIFF075_PYTHON must name a Python with unidiff==0.7.5 (eval \"$(scripts/setup-parity-env.sh)\")")
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/unidiff_oracle.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
    let input = serde_json::to_vec(texts).expect("JSON");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("python output");
    writer.join().expect("writer thread").expect("writing to python");
    assert!(output.status.success(), "{python} failed: {}", output.status);
    serde_json::from_slice(&output.stdout).expect("python JSON")
}

#[test]
fn unidiff_port_matches_unidiff_0_7_5() {
    let mut rng = Rng(75);
    let mut texts: Vec<String> = HAND_MADE.iter().map(|s| (*s).to_owned()).collect();
    texts.extend(gold_patches());
    let originals = texts.clone();
    for _ in 0..1500 {
        let base = &originals[rng.below(originals.len())];
        let mut t = damage(&mut rng, base);
        if rng.below(4) == 0 {
            t = format!("{t}{}", originals[rng.below(originals.len())]);
        }
        texts.push(t);
    }
    let want = unidiff_075(&texts);
    assert_eq!(want.len(), texts.len());
    let (mut failed, mut mismatches) = (0, Vec::new());
    for (text, want) in texts.iter().zip(&want) {
        let got = if parse_patch_set(text).is_err() {
            failed += 1;
            json!({"error": true})
        } else {
            json!({"files": filelevel_diff(text).iter().map(|(p, c)| json!([p, c])).collect::<Vec<_>>()})
        };
        if &got != want {
            mismatches.push(format!("{text:?}\n  rust:  {got}\n  0.7.5: {want}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} patch texts differ from unidiff 0.7.5:\n{}",
        mismatches.len(),
        texts.len(),
        mismatches.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    // Both outcomes must be well represented, or one side of the parser is untested.
    assert!(
        failed > 200 && texts.len() - failed > 600,
        "{failed} of {} texts fail to parse",
        texts.len()
    );
}
