//! Property test of the difflib port against CPython itself: a batch of random and adversarial
//! string pairs (small alphabets, long repetitive strings that trigger the popular-element
//! heuristic, non-ASCII and astral code points, Python's exotic line breaks, real gold patches
//! from the public reward vectors) goes to `python3` (`tests/support/difflib_oracle.py`);
//! ratios (as bits), matching blocks, opcodes and grouped opcodes must be identical in both
//! autojunk modes, and so must `splitlines`, `strip` and `unified_diff` output.
//!
//! python3 must be on PATH: without it this test fails.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use swerl_reward::difflib::{Opcode, SequenceMatcher, unified_diff};
use swerl_reward::py::{splitlines, strip};
use swerl_reward::search_replace::{ANSWER_END, ANSWER_START, THINK_END, THINK_START, parse_search_replace};

/// splitmix64: a small deterministic generator, so a failure reproduces.
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
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const ALPHABETS: &[&str] = &[
    "ab",
    "abc",
    "abcd ",
    "abcdefghij",
    " \n\te=()x_",
    "aé中😀\u{301}",
    "a\r\n\u{2028}\u{85}\x0b\x0c\x1c\x1d\x1e\x1f b",
];

fn random_string(rng: &mut Rng, alphabet: &str, len: usize) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    (0..len).map(|_| *rng.pick(&chars)).collect()
}

/// `s` with a few random edits (insert, delete, replace, duplicate a slice).
fn mutate(rng: &mut Rng, s: &str, alphabet: &str, edits: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let pool: Vec<char> = alphabet.chars().collect();
    for _ in 0..edits {
        let at = if chars.is_empty() {
            0
        } else {
            rng.below(chars.len() + 1)
        };
        match rng.below(4) {
            0 => chars.insert(at, *rng.pick(&pool)),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at < chars.len() => chars[at] = *rng.pick(&pool),
            _ if !chars.is_empty() => {
                let start = rng.below(chars.len());
                let end = (start + 1 + rng.below(20)).min(chars.len());
                let slice: Vec<char> = chars[start..end].to_vec();
                let at = at.min(chars.len());
                chars.splice(at..at, slice);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn char_pairs(rng: &mut Rng) -> Vec<(String, String)> {
    let mut pairs = vec![
        (String::new(), String::new()),
        (String::new(), "abc".into()),
        ("abc".into(), String::new()),
        ("tide".into(), "diet".into()),
        (" abcd".into(), "abcd abcd".into()),
        ("a".repeat(10), "a".repeat(300)),
        (format!("b{}", "a".repeat(10)), "a".repeat(300)),
        ("ab".repeat(150), "ba".repeat(151)),
        ("😀𝔘𠜎".repeat(80), "𠜎😀".repeat(120)),
    ];
    for _ in 0..700 {
        let alphabet = *rng.pick(ALPHABETS);
        let len = match rng.below(4) {
            0 => rng.below(12),
            1 => rng.below(80),
            2 => 150 + rng.below(200),
            _ => 190 + rng.below(30),
        };
        let a = random_string(rng, alphabet, len);
        let b = if rng.below(3) == 0 {
            let len = 150 + rng.below(200);
            random_string(rng, alphabet, len)
        } else {
            let edits = 1 + rng.below(12);
            mutate(rng, &a, alphabet, edits)
        };
        if rng.below(2) == 0 {
            pairs.push((a, b))
        } else {
            pairs.push((b, a))
        }
    }
    // Repetitive strings with a period: many equal-length candidate blocks (tie-breaking).
    for _ in 0..60 {
        let alphabet = *rng.pick(ALPHABETS);
        let len = 1 + rng.below(5);
        let unit = random_string(rng, alphabet, len);
        let a = unit.repeat(20 + rng.below(100));
        let (reps, edits) = (20 + rng.below(100), rng.below(4));
        let b = mutate(rng, &unit.repeat(reps), "xyz", edits);
        pairs.push((a, b));
    }
    pairs
}

fn code_lines() -> Vec<&'static str> {
    vec![
        "",
        "    return x",
        "def f(x):",
        "    if x:",
        "        pass",
        "class A:",
        "    \"\"\"Doc.\"\"\"",
        "import os",
        "    x = 1",
        "}",
        "    ",
        "café = '中'",
        "# 😀",
    ]
}

fn text_pairs(rng: &mut Rng, gold: &[String]) -> Vec<(String, String)> {
    let breaks = ["\n", "\n", "\n", "\r\n", "\r", "\u{2028}", "\x0c", "\u{85}", "\x1e"];
    let vocab = code_lines();
    let mut pairs = vec![
        (String::new(), String::new()),
        ("a\n".into(), String::new()),
        (" \x1c x \u{3000}".into(), "x".into()),
    ];
    for _ in 0..250 {
        let n = match rng.below(3) {
            0 => rng.below(10),
            1 => rng.below(60),
            _ => 200 + rng.below(150),
        };
        let vocab_size = 2 + rng.below(vocab.len() - 1);
        let mut a_lines: Vec<&str> = (0..n).map(|_| vocab[rng.below(vocab_size)]).collect();
        let text = |lines: &[&str], rng: &mut Rng| {
            let mut s = String::new();
            for l in lines {
                s.push_str(l);
                let brk: &&str = rng.pick(&breaks);
                s.push_str(brk);
            }
            if rng.below(4) == 0 {
                s.pop();
            }
            s
        };
        let a = text(&a_lines, rng);
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(a_lines.len() + 1);
            match rng.below(3) {
                0 => a_lines.insert(at, vocab[rng.below(vocab.len())]),
                1 if at < a_lines.len() => {
                    a_lines.remove(at);
                }
                _ if at < a_lines.len() => a_lines[at] = vocab[rng.below(vocab.len())],
                _ => {}
            }
        }
        let b = text(&a_lines, rng);
        pairs.push((a, b));
    }
    for pair in gold.chunks(2) {
        if let [a, b] = pair {
            pairs.push((a.clone(), b.clone()));
        }
    }
    pairs
}

/// Gold and predicted patch texts from the public reward vectors (real SWE-bench diffs).
fn gold_patches() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/reward-vectors/public.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("vector JSON");
        if v["kind"] == "unidiff"
            && let (Some([o, ..]), Some([p, ..])) = (
                v["oracle_patches"].as_array().map(Vec::as_slice),
                v["pred_patches"].as_array().map(Vec::as_slice),
            )
            && let (Some(o), Some(p)) = (o.as_str(), p.as_str())
            && !o.is_empty()
            && !p.is_empty()
        {
            out.push(o.to_owned());
            out.push(p.to_owned());
        }
    }
    out.truncate(120);
    out
}

/// Model outputs built from the pieces the tag check and the edit regex look at.
fn model_outputs(rng: &mut Rng) -> Vec<String> {
    let pieces = [
        "<think>",
        "</think>",
        "<solution>",
        "</solution>",
        "```",
        "```python",
        "```py thon\t",
        "\n",
        "\n",
        "\n",
        "\r\n",
        "### ",
        "### a.py",
        "### a b.py\r",
        "<<<<<<< SEARCH",
        "=======",
        "======",
        ">>>>>>> REPLACE",
        "x = 1",
        "  y\u{2028}z",
        " ",
        "\u{3000}",
        "\x1c",
        "é😀",
    ];
    let block = |rng: &mut Rng| {
        let mut s = String::from("```python\n### a.py\n<<<<<<< SEARCH\n");
        for _ in 0..rng.below(3) {
            s.push_str(pieces[rng.below(pieces.len())]);
        }
        s.push_str("\n=======\n");
        for _ in 0..rng.below(3) {
            s.push_str(pieces[rng.below(pieces.len())]);
        }
        s.push_str("\n>>>>>>> REPLACE\n```");
        s
    };
    let mut out = Vec::new();
    for _ in 0..600 {
        let mut s = String::new();
        if rng.below(3) > 0 {
            s.push_str("<think>\nwhy\n</think>\n<solution>\n");
            for _ in 0..1 + rng.below(3) {
                s.push_str(&block(rng));
                s.push('\n');
            }
            for _ in 0..rng.below(4) {
                let at = (0..=s.len())
                    .filter(|&i| s.is_char_boundary(i))
                    .nth(rng.below(s.chars().count() + 1))
                    .unwrap_or(0);
                s.insert_str(at, pieces[rng.below(pieces.len())]);
            }
            s.push_str("</solution>");
        } else {
            for _ in 0..rng.below(40) {
                s.push_str(pieces[rng.below(pieces.len())]);
            }
        }
        out.push(s);
    }
    out
}

fn output_json(text: &str) -> Value {
    let counts: Vec<usize> = [THINK_START, THINK_END, ANSWER_START, ANSWER_END]
        .iter()
        .map(|t| text.matches(t).count())
        .collect();
    if counts != [1, 1, 1, 1] {
        return json!({ "counts": counts });
    }
    let between = |a: &str, b: &str| {
        let after = text.split_once(a).map_or("", |x| x.1);
        strip(after.split_once(b).map_or(after, |x| x.0)).to_owned()
    };
    let answer = between(ANSWER_START, ANSWER_END);
    // parse_search_replace groups by path; flatten back to findall's order to compare.
    let mut edits = Vec::new();
    let grouped = parse_search_replace(&answer);
    let mut cursor: Vec<usize> = vec![0; grouped.len()];
    let re = regex::Regex::new(swerl_reward::search_replace::SEARCH_REPLACE_REGEX).expect("regex");
    for caps in re.captures_iter(&answer) {
        let path = &caps[1];
        let g = grouped.iter().position(|(p, _)| p == path).expect("grouped path");
        let e = &grouped[g].1[cursor[g]];
        cursor[g] += 1;
        edits.push(json!([path, e.search, e.replace]));
    }
    json!({ "counts": counts, "thought": between(THINK_START, THINK_END), "answer": answer, "edits": edits })
}

fn ops_json(ops: &[Opcode]) -> Value {
    ops.iter()
        .map(|o| json!([o.tag.as_str(), o.i1, o.i2, o.j1, o.j2]))
        .collect()
}

fn matcher_json(mut sm: SequenceMatcher) -> Value {
    json!({
        "ratio_bits": sm.ratio().to_bits(),
        "blocks": sm.get_matching_blocks().iter().map(|m| json!([m.a, m.b, m.size])).collect::<Value>(),
        "opcodes": ops_json(&sm.get_opcodes()),
        "groups": sm.get_grouped_opcodes(3).iter().map(|g| ops_json(g)).collect::<Value>(),
    })
}

fn cpython(cases: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/difflib_oracle.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 is required for the difflib parity test and could not be started: {e}"));
    let input = serde_json::to_vec(cases).expect("cases JSON");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("python3 output");
    writer.join().expect("writer thread").expect("writing cases to python3");
    assert!(output.status.success(), "python3 failed: {}", output.status);
    serde_json::from_slice(&output.stdout).expect("python3 JSON")
}

#[test]
fn difflib_port_matches_cpython() {
    let mut rng = Rng(20_250_316);
    let gold = gold_patches();
    let mut chars = char_pairs(&mut rng);
    for pair in gold.chunks(2) {
        if let [a, b] = pair {
            chars.push((a.clone(), b.clone()));
            chars.push((b.clone(), a.clone()));
        }
    }
    let texts = text_pairs(&mut rng, &gold);
    let outputs = model_outputs(&mut rng);
    let cases = json!({ "chars": chars, "texts": texts, "outputs": outputs });
    let want = cpython(&cases);

    let mut mismatches = Vec::new();
    let mut popular_cases = 0;
    for (n, (a, b)) in chars.iter().enumerate() {
        let got = json!({
            "junk": matcher_json(SequenceMatcher::from_chars(a, b, true)),
            "nojunk": matcher_json(SequenceMatcher::from_chars(a, b, false)),
        });
        if got["junk"] != got["nojunk"] {
            popular_cases += 1;
        }
        if got != want["chars"][n] {
            mismatches.push(format!(
                "chars #{n}: {a:?} vs {b:?}\n  rust:    {got}\n  cpython: {}",
                want["chars"][n]
            ));
        }
    }
    for (n, (a, b)) in texts.iter().enumerate() {
        let (al, bl) = (splitlines(a), splitlines(b));
        let diffs: serde_json::Map<String, Value> = [0, 1, 3, 5]
            .iter()
            .map(|&k| {
                (
                    k.to_string(),
                    json!(unified_diff(&al, &bl, "old", "new", "", "", k, "")),
                )
            })
            .collect();
        let got = json!({
            "a_lines": al,
            "b_lines": bl,
            "a_strip": strip(a),
            "lines": matcher_json(SequenceMatcher::new(&al, &bl, true)),
            "diffs": diffs,
            "diff_dates": unified_diff(&al, &bl, "a.py", "b.py", "d1", "d2", 2, "\n"),
        });
        if got != want["texts"][n] {
            mismatches.push(format!(
                "texts #{n}: {a:?} vs {b:?}\n  rust:    {got}\n  cpython: {}",
                want["texts"][n]
            ));
        }
    }
    let mut with_edits = 0;
    for (n, text) in outputs.iter().enumerate() {
        let got = output_json(text);
        if got["edits"].as_array().is_some_and(|e| !e.is_empty()) {
            with_edits += 1;
        }
        if got != want["outputs"][n] {
            mismatches.push(format!(
                "outputs #{n}: {text:?}\n  rust:    {got}\n  cpython: {}",
                want["outputs"][n]
            ));
        }
    }
    assert!(with_edits > 100, "only {with_edits} outputs with edits");
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ from CPython:\n{}",
        mismatches.len(),
        chars.len() + texts.len() + outputs.len(),
        mismatches.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    // The batch must exercise the popular-element heuristic, or autojunk is untested.
    assert!(
        popular_cases > 50,
        "only {popular_cases} char pairs where autojunk changes the result"
    );
    assert!(
        chars.len() > 800 && texts.len() > 300,
        "{} char pairs, {} text pairs",
        chars.len(),
        texts.len()
    );
}
