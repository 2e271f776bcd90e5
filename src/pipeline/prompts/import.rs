//! `prompts import`: read the prompt constants of a user's checkout of swe-rl or Agentless and
//! make a prompt set of them. The Python files are not run: [`python_constants`] reads every
//! assignment of a string constant (`NAME = "..."`, at any indentation, so class attributes
//! too) with Python's literal rules — all quote forms, `r`/`u` prefixes, escapes, implicit
//! concatenation inside parentheses or across `\` line ends, `+` between constants, and
//! `.strip()` / `.lstrip()` / `.rstrip()` — and follows `from m import A as B` between the files
//! read. f-strings, bytes and anything computed are not constants and are left out.
//!
//! Which constant feeds which stage:
//!
//! | checkout | file | constant | stage |
//! |---|---|---|---|
//! | swe-rl | `src/swerl/agentless_mini/utils/prompts.py` | `LOCALIZATION` | localize |
//! | swe-rl | `src/swerl/core/prompts.py` (as `REPAIR` in the file above) | `AGENTLESS_REPAIR` | repair |
//! | swe-rl | `src/swerl/core/prompts.py` | `CODE_FILE` | repair's `file_block` |
//! | swe-rl | `src/swerl/core/prompts.py` | `THINKING_SYSTEM` | repair's system message (only with `--thinking-system`) |
//! | Agentless | `agentless/test/generate_reproduction_tests.py` | `generate_tests_prompt_template` | repro (issue only: no test file is predicted) |
//! | Agentless | `agentless/test/select_regression_tests.py` | `select_tests_prompt_template` | regression |
//!
//! The swe-rl and Agentless code strips every rendered message (`.format(...).strip()`), joins
//! repair file blocks with a blank line and regression tests with `\n`: the imported set says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{PromptFile, PromptSpec, PromptStage};
use crate::artifact::key::sha256_hex;

/// Why a checkout cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Missing(String),
}

/// A string constant read from a Python file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constant {
    pub value: String,
    pub line: usize,
}

/// What an import read: one entry per stage filled, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub file: PromptFile,
    /// (stage, "path:line CONSTANT")
    pub origins: Vec<(PromptStage, String)>,
    /// The Python files read, with their sha256.
    pub read: Vec<(PathBuf, String)>,
}

// ---------------------------------------------------------------------------------------------
// Python tokens (only what constants need)

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    /// A string literal: its value, and whether it is a constant str (not f-string / bytes).
    Str(String, bool),
    Op(char),
    Other,
    Newline,
}

struct Lexer<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    line: usize,
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Lexer<'a> {
        Lexer {
            s: text.as_bytes(),
            text,
            i: 0,
            line: 1,
            depth: 0,
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.text[self.i..].chars().next()
    }

    /// All tokens with their line numbers.
    fn tokens(mut self) -> Result<Vec<(Tok, usize)>, (usize, String)> {
        let mut out = Vec::new();
        while let Some(c) = self.peek_char() {
            let line = self.line;
            match c {
                '\n' => {
                    self.i += 1;
                    self.line += 1;
                    if self.depth == 0 && !matches!(out.last(), Some((Tok::Newline, _)) | None) {
                        out.push((Tok::Newline, line));
                    }
                }
                '#' => {
                    while let Some(c) = self.peek_char() {
                        if c == '\n' {
                            break;
                        }
                        self.i += c.len_utf8();
                    }
                }
                '\\' if self.text[self.i + 1..].starts_with('\n') => {
                    self.i += 2;
                    self.line += 1;
                }
                '\\' if self.text[self.i + 1..].starts_with("\r\n") => {
                    self.i += 3;
                    self.line += 1;
                }
                '\'' | '"' => {
                    let v = self.string("")?;
                    out.push((v, line));
                }
                c if is_ident_start(c) => {
                    let start = self.i;
                    while let Some(c) = self.peek_char() {
                        if !is_ident(c) {
                            break;
                        }
                        self.i += c.len_utf8();
                    }
                    let word = &self.text[start..self.i];
                    let prefix = word.to_ascii_lowercase();
                    if word.len() <= 2
                        && matches!(prefix.as_str(), "r" | "u" | "b" | "f" | "rb" | "br" | "fr" | "rf")
                        && matches!(self.peek_char(), Some('\'' | '"'))
                    {
                        let v = self.string(&prefix)?;
                        out.push((v, line));
                    } else {
                        out.push((Tok::Name(word.to_owned()), line));
                    }
                }
                '(' | '[' | '{' => {
                    self.depth += 1;
                    self.i += 1;
                    out.push((Tok::Op(c), line));
                }
                ')' | ']' | '}' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.i += 1;
                    out.push((Tok::Op(c), line));
                }
                c if c.is_whitespace() => self.i += c.len_utf8(),
                '=' | '+' | '.' | ',' | ':' | '*' => {
                    self.i += 1;
                    out.push((Tok::Op(c), line));
                }
                c => {
                    self.i += c.len_utf8();
                    out.push((Tok::Other, line));
                }
            }
        }
        out.push((Tok::Newline, self.line));
        Ok(out)
    }

    /// A string literal starting at the quote, `prefix` already consumed.
    fn string(&mut self, prefix: &str) -> Result<Tok, (usize, String)> {
        let raw = prefix.contains('r');
        let constant = !prefix.contains('f') && !prefix.contains('b');
        let q = self.s[self.i];
        let triple = self.s.get(self.i + 1) == Some(&q) && self.s.get(self.i + 2) == Some(&q);
        let start_line = self.line;
        self.i += if triple { 3 } else { 1 };
        let body_start = self.i;
        loop {
            let Some(c) = self.peek_char() else {
                return Err((start_line, "unterminated string literal".into()));
            };
            if c == '\\' {
                self.i += 1;
                if let Some(n) = self.peek_char() {
                    if n == '\n' {
                        self.line += 1;
                    }
                    self.i += n.len_utf8();
                }
                continue;
            }
            if c == '\n' {
                if !triple {
                    return Err((start_line, "end of line in a string literal".into()));
                }
                self.line += 1;
            }
            if c as u32 == u32::from(q) {
                if !triple {
                    let body = &self.text[body_start..self.i];
                    self.i += 1;
                    return Ok(Tok::Str(decode(body, raw).map_err(|m| (start_line, m))?, constant));
                }
                if self.s.get(self.i + 1) == Some(&q) && self.s.get(self.i + 2) == Some(&q) {
                    let body = &self.text[body_start..self.i];
                    self.i += 3;
                    return Ok(Tok::Str(decode(body, raw).map_err(|m| (start_line, m))?, constant));
                }
            }
            self.i += c.len_utf8();
        }
    }
}

/// The value of a string literal's body (Python 3 rules).
fn decode(body: &str, raw: bool) -> Result<String, String> {
    // Universal newlines: Python reads source files with \r\n and \r turned into \n.
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    if raw {
        return Ok(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut it = body.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push('\\');
            break;
        };
        match e {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'a' => out.push('\u{07}'),
            'b' => out.push('\u{08}'),
            'f' => out.push('\u{0c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{0b}'),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match it.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).ok_or("octal escape out of range")?);
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| it.next()).collect();
                let v = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == n)
                    .ok_or_else(|| format!("bad \\{e} escape"))?;
                out.push(char::from_u32(v).ok_or_else(|| format!("\\{e}{hex} is not a character"))?);
            }
            'N' => return Err("\\N{...} escapes are not supported".into()),
            other => {
                // Unknown escapes keep their backslash (a SyntaxWarning in Python, same value).
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Evaluate `tokens` as a constant string expression: string literals (adjacent ones
/// concatenated), names of known constants, `+`, parentheses, and `.strip()`-like calls.
fn eval(tokens: &[Tok], known: &BTreeMap<String, Constant>) -> Option<String> {
    let (v, rest) = eval_sum(tokens, known)?;
    rest.is_empty().then_some(v)
}

fn eval_sum<'t>(mut t: &'t [Tok], known: &BTreeMap<String, Constant>) -> Option<(String, &'t [Tok])> {
    let (mut v, rest) = eval_term(t, known)?;
    t = rest;
    while let [Tok::Op('+'), rest @ ..] = t {
        let (w, rest) = eval_term(rest, known)?;
        v.push_str(&w);
        t = rest;
    }
    Some((v, t))
}

fn eval_term<'t>(t: &'t [Tok], known: &BTreeMap<String, Constant>) -> Option<(String, &'t [Tok])> {
    let (mut v, mut t) = match t {
        [Tok::Op('('), rest @ ..] => {
            let (v, rest) = eval_sum(rest, known)?;
            match rest {
                [Tok::Op(')'), rest @ ..] => (v, rest),
                _ => return None,
            }
        }
        [Tok::Str(..), ..] => {
            let mut v = String::new();
            let mut t = t;
            while let [Tok::Str(s, constant), rest @ ..] = t {
                if !constant {
                    return None;
                }
                v.push_str(s);
                t = rest;
            }
            (v, t)
        }
        [Tok::Name(n), rest @ ..] => (known.get(n)?.value.clone(), rest),
        _ => return None,
    };
    while let [Tok::Op('.'), Tok::Name(m), Tok::Op('('), Tok::Op(')'), rest @ ..] = t {
        v = match m.as_str() {
            "strip" => swerl_reward::py::strip(&v).to_owned(),
            "lstrip" => v.trim_start_matches(swerl_reward::py::is_space).to_owned(),
            "rstrip" => v.trim_end_matches(swerl_reward::py::is_space).to_owned(),
            _ => return None,
        };
        t = rest;
    }
    Some((v, t))
}

/// The string constants of a Python source text; `imported` are constants of other modules
/// by (module, name), for `from module import name [as alias]`.
pub fn python_constants(
    text: &str,
    imported: &BTreeMap<(String, String), Constant>,
) -> Result<BTreeMap<String, Constant>, (usize, String)> {
    let tokens = Lexer::new(text).tokens()?;
    let mut out: BTreeMap<String, Constant> = BTreeMap::new();
    for stmt in tokens.split(|(t, _)| *t == Tok::Newline) {
        let Some((_, line)) = stmt.first() else { continue };
        let toks: Vec<Tok> = stmt.iter().map(|(t, _)| t.clone()).collect();
        match toks.as_slice() {
            [Tok::Name(kw), rest @ ..] if kw == "from" => {
                // from a.b import X [as Y], Z
                let Some(pos) = rest.iter().position(|t| *t == Tok::Name("import".into())) else {
                    continue;
                };
                let module: String = rest[..pos]
                    .iter()
                    .map(|t| match t {
                        Tok::Name(n) => n.as_str(),
                        Tok::Op('.') => ".",
                        _ => "?",
                    })
                    .collect();
                let names: Vec<&Tok> = rest[pos + 1..]
                    .iter()
                    .filter(|t| !matches!(t, Tok::Op('(' | ')')))
                    .collect();
                for item in names.split(|t| **t == Tok::Op(',')) {
                    let (name, alias) = match item {
                        [Tok::Name(n)] => (n, n),
                        [Tok::Name(n), Tok::Name(a), Tok::Name(b)] if a == "as" => (n, b),
                        _ => continue,
                    };
                    if let Some(c) = imported.get(&(module.clone(), name.clone())) {
                        out.insert(alias.clone(), c.clone());
                    }
                }
            }
            [Tok::Name(name), Tok::Op('='), expr @ ..] => {
                if let Some(v) = eval(expr, &out) {
                    out.insert(name.clone(), Constant { value: v, line: *line });
                }
            }
            [Tok::Name(name), Tok::Op(':'), rest @ ..] => {
                if let Some(eq) = rest.iter().position(|t| *t == Tok::Op('='))
                    && let Some(v) = eval(&rest[eq + 1..], &out)
                {
                    out.insert(name.clone(), Constant { value: v, line: *line });
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Checkouts

const SWERL_CORE: &str = "src/swerl/core/prompts.py";
const SWERL_MINI: &str = "src/swerl/agentless_mini/utils/prompts.py";
const AGENTLESS_REPRO: &str = "agentless/test/generate_reproduction_tests.py";
const AGENTLESS_REGRESSION: &str = "agentless/test/select_regression_tests.py";

fn read(dir: &Path, rel: &str) -> Result<Option<(PathBuf, String)>, ImportError> {
    let path = dir.join(rel);
    match fs_err::read_to_string(&path) {
        Ok(t) => Ok(Some((path, t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ImportError::Io { path, source: e }),
    }
}

fn constants_of(
    path: &Path,
    text: &str,
    imported: &BTreeMap<(String, String), Constant>,
) -> Result<BTreeMap<String, Constant>, ImportError> {
    python_constants(text, imported).map_err(|(line, message)| ImportError::Syntax {
        path: path.to_path_buf(),
        line,
        message,
    })
}

fn spec(template: &str) -> PromptSpec {
    PromptSpec {
        template: template.to_owned(),
        strip: true,
        ..PromptSpec::default()
    }
}

/// Import the prompts of the checkouts in `dirs` (the first to give a stage wins).
pub fn import(dirs: &[PathBuf], thinking_system: bool) -> Result<Imported, ImportError> {
    let mut file = PromptFile {
        format: super::FORMAT,
        name: "imported".into(),
        ..PromptFile::default()
    };
    let mut origins: Vec<(PromptStage, String)> = Vec::new();
    let mut read_files: Vec<(PathBuf, String)> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let origin = |path: &Path, c: &Constant, name: &str| format!("{}:{} {name}", path.display(), c.line);
    for dir in dirs {
        let mut found = false;
        // swe-rl
        let core = read(dir, SWERL_CORE)?;
        let mut imported: BTreeMap<(String, String), Constant> = BTreeMap::new();
        let mut core_consts = BTreeMap::new();
        if let Some((path, text)) = &core {
            found = true;
            read_files.push((path.clone(), sha256_hex(text)));
            core_consts = constants_of(path, text, &BTreeMap::new())?;
            for (k, v) in &core_consts {
                imported.insert(("swerl.core.prompts".into(), k.clone()), v.clone());
            }
        }
        if let Some((path, text)) = read(dir, SWERL_MINI)? {
            found = true;
            read_files.push((path.clone(), sha256_hex(&text)));
            let c = constants_of(&path, &text, &imported)?;
            if file.localize.is_none()
                && let Some(l) = c.get("LOCALIZATION")
            {
                file.localize = Some(spec(&l.value));
                origins.push((PromptStage::Localize, origin(&path, l, "LOCALIZATION")));
            }
            if file.repair.is_none()
                && let Some(r) = c.get("REPAIR")
            {
                file.repair = Some(spec(&r.value));
                origins.push((PromptStage::Repair, origin(&path, r, "REPAIR")));
            }
        }
        if let Some((path, _)) = &core {
            if file.repair.is_none()
                && let Some(r) = core_consts.get("AGENTLESS_REPAIR")
            {
                file.repair = Some(spec(&r.value));
                origins.push((PromptStage::Repair, origin(path, r, "AGENTLESS_REPAIR")));
            }
            if let Some(rep) = file.repair.as_mut() {
                if rep.file_block.is_none()
                    && let Some(cf) = core_consts.get("CODE_FILE")
                {
                    rep.file_block = Some(cf.value.clone());
                    rep.file_separator = Some("\n\n".into());
                }
                if thinking_system
                    && rep.system.is_none()
                    && let Some(ts) = core_consts.get("THINKING_SYSTEM")
                {
                    rep.system = Some(ts.value.clone());
                    origins.push((
                        PromptStage::Repair,
                        origin(path, ts, "THINKING_SYSTEM (system message)"),
                    ));
                }
            }
        }
        // Agentless
        if let Some((path, text)) = read(dir, AGENTLESS_REPRO)? {
            found = true;
            read_files.push((path.clone(), sha256_hex(&text)));
            let c = constants_of(&path, &text, &BTreeMap::new())?;
            if file.repro.is_none()
                && let Some(t) = c.get("generate_tests_prompt_template")
            {
                file.repro = Some(spec(&t.value));
                origins.push((PromptStage::Repro, origin(&path, t, "generate_tests_prompt_template")));
            }
        }
        if let Some((path, text)) = read(dir, AGENTLESS_REGRESSION)? {
            found = true;
            read_files.push((path.clone(), sha256_hex(&text)));
            let c = constants_of(&path, &text, &BTreeMap::new())?;
            if file.regression.is_none()
                && let Some(t) = c.get("select_tests_prompt_template")
            {
                let mut s = spec(&t.value);
                s.test_separator = Some("\n".into());
                file.regression = Some(s);
                origins.push((
                    PromptStage::Regression,
                    origin(&path, t, "select_tests_prompt_template"),
                ));
            }
        }
        if !found {
            return Err(ImportError::Missing(format!(
                "{}: neither a swe-rl checkout ({SWERL_CORE}, {SWERL_MINI}) nor an Agentless checkout ({AGENTLESS_REPRO}, {AGENTLESS_REGRESSION})",
                dir.display()
            )));
        }
        sources.push(dir.display().to_string());
    }
    if origins.is_empty() {
        return Err(ImportError::Missing(
            "the checkout's prompt files hold none of the known prompt constants".into(),
        ));
    }
    file.source = Some(format!("prompts import --from {}", sources.join(" --from ")));
    Ok(Imported {
        file,
        origins,
        read: read_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consts(src: &str) -> BTreeMap<String, String> {
        python_constants(src, &BTreeMap::new())
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect()
    }

    #[test]
    fn python_string_literals() {
        let c = consts(concat!(
            "# A = 'comment'\n",
            "A = \"\"\"\nline {x}\n  \\\"q\\\" \\t\\x41\\u00e9\\101\\\n end\n\"\"\".strip()\n",
            "B = ('one '\n     \"two \"  # comment\n     r'\\n{y}')\n",
            "C = 'a' \\\n    'b' + A[:0] if 0 else 'z'\n",
            "class K:\n    D = '''\n    indented\n'''\n",
            "E: str = u'\\w'\n",
            "F = f'{A}'\n",
            "G = b'bytes'\n",
            "H = A + '\\n' + B.rstrip()\n",
            "def f():\n    return 'not a constant'\n",
            "I = \"\"\"a \"quoted\" 'word' \\\"\\\"\\\" end\"\"\"\n",
        ));
        assert_eq!(c["A"], "line {x}\n  \"q\" \tAéA end");
        assert_eq!(c["B"], "one two \\n{y}");
        assert!(!c.contains_key("C"), "computed, not a constant");
        assert_eq!(c["D"], "\n    indented\n");
        assert_eq!(c["E"], "\\w");
        assert!(!c.contains_key("F") && !c.contains_key("G"));
        assert_eq!(c["H"], format!("{}\n{}", c["A"], c["B"]));
        assert_eq!(c["I"], "a \"quoted\" 'word' \"\"\" end");
    }

    #[test]
    fn from_imports_are_followed() {
        let mut imported = BTreeMap::new();
        imported.insert(
            ("pkg.core".to_owned(), "X".to_owned()),
            Constant {
                value: "x!".into(),
                line: 1,
            },
        );
        let c = python_constants(
            "from pkg.core import X as Y, Z\nW = Y.strip('!') \nV = Y + 'v'\n",
            &imported,
        )
        .unwrap();
        assert_eq!(c["Y"].value, "x!");
        assert!(!c.contains_key("W"), "strip with an argument is not supported");
        assert_eq!(c["V"].value, "x!v");
    }

    #[test]
    fn a_folder_without_prompt_files_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let e = import(&[tmp.path().to_path_buf()], false).unwrap_err().to_string();
        assert!(e.contains("neither a swe-rl checkout"), "{e}");
    }
}
