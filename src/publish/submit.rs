//! The sb-cli submission flow (`sb-cli submit`, sb-cli 0.1.5) against the SWE-bench API:
//!
//! 1. `POST <base>/submit` once per prediction, JSON `{split, subset, instance_ids, run_id,
//!    prediction: {instance_id, model_patch, model_name_or_path}}`, header `x-api-key`;
//!    the answer `{launched, instance_id}` says whether it was new (an already submitted id
//!    is not evaluated again, which also makes a retried POST harmless);
//! 2. `GET <base>/poll-jobs` with JSON `{run_id, subset, split}` → `{running, completed}`
//!    until nothing is pending, then until everything is completed;
//! 3. `POST <base>/get-report` with the same JSON → `{report, ...}`; the report is saved as
//!    `<out>/<subset>__<split>__<run_id>.json` and the rest as `….response.json`, as sb-cli
//!    does (an existing file is kept and a `-N` suffix added unless `overwrite`).
//!
//! Differences from sb-cli, on purpose: every request is retried on 5xx, 429 and connection
//! failures (sb-cli gives up at once) within the workspace's one retry policy
//! ([`RetryPolicy`], the model crate's: exponential backoff with jitter, `Retry-After`
//! honoured, bounded attempts and time); the key is never part of an error or a log line (any
//! echo of it by the server is masked).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use agentless_harness::predictions::Prediction;
pub use agentless_model::retry::RetryPolicy;
use agentless_model::retry::{GiveUp, jitter, parse_retry_after};
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};

/// The SWE-bench API (sb-cli's default; `SWEBENCH_API_URL` overrides it).
pub const DEFAULT_API_URL: &str = "https://api.swebench.com";

/// The API key: never shown by `Debug`, masked in every error.
#[derive(Clone)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Result<Self, SubmitError> {
        let key = key.into().trim().to_owned();
        if key.is_empty() {
            return Err(SubmitError::Invalid("the API key is empty".into()));
        }
        if reqwest::header::HeaderValue::from_str(&key).is_err() {
            return Err(SubmitError::Invalid(
                "the API key holds characters an HTTP header cannot carry".into(),
            ));
        }
        Ok(ApiKey(key))
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

/// The datasets the API evaluates (sb-cli's `Subset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Subset {
    #[serde(rename = "swe-bench-m")]
    Multimodal,
    #[serde(rename = "swe-bench_lite")]
    Lite,
    #[serde(rename = "swe-bench_verified")]
    Verified,
}

impl Subset {
    pub fn as_str(self) -> &'static str {
        match self {
            Subset::Multimodal => "swe-bench-m",
            Subset::Lite => "swe-bench_lite",
            Subset::Verified => "swe-bench_verified",
        }
    }
}

impl std::str::FromStr for Subset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "swe-bench-m" | "multimodal" => Ok(Subset::Multimodal),
            "swe-bench_lite" | "lite" => Ok(Subset::Lite),
            "swe-bench_verified" | "verified" => Ok(Subset::Verified),
            _ => Err(format!(
                "unknown subset {s:?} (swe-bench_verified, swe-bench_lite, swe-bench-m)"
            )),
        }
    }
}

/// The retry budget of one request by default: 5 attempts, backoff from 1 s doubling up to
/// 30 s (with jitter), a `Retry-After` of up to 2 min honoured.
pub fn default_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
        ..RetryPolicy::default()
    }
}

/// Everything a submission needs besides the predictions.
#[derive(Debug, Clone)]
pub struct SubmitConfig {
    pub base_url: String,
    pub api_key: ApiKey,
    pub subset: Subset,
    pub split: String,
    pub run_id: String,
    /// Sent as `instance_ids` (null when empty), as sb-cli does.
    pub instance_ids: Vec<String>,
    /// Where the report is saved.
    pub output_dir: PathBuf,
    pub overwrite: bool,
    /// Wait for evaluation and fetch the report (sb-cli `--gen_report`).
    pub wait: bool,
    pub poll_interval: Duration,
    /// How long to wait until every instance is at least running (sb-cli: 5 min).
    pub running_timeout: Duration,
    /// How long to wait until every instance is completed (sb-cli: 10 min).
    pub completion_timeout: Duration,
    /// Requests in flight at once while uploading (sb-cli: 24 threads).
    pub concurrency: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl SubmitConfig {
    pub fn new(base_url: &str, api_key: ApiKey, subset: Subset, split: &str, run_id: &str) -> Self {
        SubmitConfig {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            subset,
            split: split.to_owned(),
            run_id: run_id.to_owned(),
            instance_ids: Vec::new(),
            output_dir: PathBuf::from("sb-cli-reports"),
            overwrite: false,
            wait: true,
            poll_interval: Duration::from_secs(8),
            running_timeout: Duration::from_secs(5 * 60),
            completion_timeout: Duration::from_secs(30 * 60),
            concurrency: 24,
            request_timeout: Duration::from_secs(60),
            retry: default_retry(),
        }
    }
}

/// Why a submission stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    #[error("{0}")]
    Invalid(String),
    #[error("{endpoint}: HTTP {status}: {message}")]
    Http {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint}: {message} (after {attempts} attempts)")]
    Unreachable {
        endpoint: String,
        message: String,
        attempts: u32,
    },
    #[error("{endpoint}: unexpected answer: {message}")]
    BadAnswer { endpoint: String, message: String },
    #[error(
        "{phase}: {done} of {total} instances after {seconds} s; re-run submit with the same run id to continue (submitted predictions are kept)"
    )]
    Timeout {
        phase: &'static str,
        done: usize,
        total: usize,
        seconds: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Progress of a submission (the CLI draws it; tests record it).
pub trait SubmitProgress: Send + Sync {
    fn uploaded(&self, _instance_id: &str, _launched: bool) {}
    fn retrying(&self, _endpoint: &str, _attempt: u32, _delay: Duration, _reason: &str) {}
    fn polled(&self, _phase: &'static str, _done: usize, _total: usize) {}
}

pub struct NoSubmitProgress;
impl SubmitProgress for NoSubmitProgress {}

/// What a submission did.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitOutcome {
    /// Uploaded and launched now.
    pub new_ids: Vec<String>,
    /// Already submitted earlier (not evaluated again).
    pub existing_ids: Vec<String>,
    /// The report (`None` when not waited for).
    pub report: Option<Value>,
    pub report_path: Option<PathBuf>,
    pub response_path: Option<PathBuf>,
}

/// Check predictions as sb-cli does: one model, no duplicate ids, filtered to
/// `instance_ids` when given.
pub fn select_predictions(predictions: &[Prediction], instance_ids: &[String]) -> Result<Vec<Prediction>, SubmitError> {
    let wanted: BTreeSet<&str> = instance_ids.iter().map(String::as_str).collect();
    let preds: Vec<Prediction> = predictions
        .iter()
        .filter(|p| wanted.is_empty() || wanted.contains(p.instance_id.as_str()))
        .cloned()
        .collect();
    let models: BTreeSet<&str> = preds.iter().map(|p| p.model_name_or_path.as_str()).collect();
    if models.len() > 1 {
        return Err(SubmitError::Invalid(format!(
            "all predictions must be for the same model; found {}",
            models.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut seen = BTreeSet::new();
    for p in &preds {
        if !seen.insert(p.instance_id.as_str()) {
            return Err(SubmitError::Invalid(format!("duplicate instance id {}", p.instance_id)));
        }
    }
    if preds.is_empty() {
        return Err(SubmitError::Invalid("no predictions to submit".into()));
    }
    Ok(preds)
}

/// The client: one reqwest client, the key and the retry policy.
struct Client<'a> {
    http: reqwest::Client,
    cfg: &'a SubmitConfig,
    progress: &'a dyn SubmitProgress,
}

enum Method {
    Get,
    Post,
}

impl Client<'_> {
    /// One JSON request with retries on 5xx / 429 / connection failures.
    async fn call(&self, method: Method, path: &str, body: &Value) -> Result<Value, SubmitError> {
        let url = format!("{}/{path}", self.cfg.base_url);
        let endpoint = format!("/{path}");
        let key = &self.cfg.api_key;
        let start = Instant::now();
        let mut rng = jitter();
        let mut attempt = 1;
        loop {
            let req = match method {
                Method::Get => self.http.get(&url),
                Method::Post => self.http.post(&url),
            };
            let result = req.header("x-api-key", &key.0).json(body).send().await;
            let mut retry_after = None;
            let retry_reason = match result {
                Ok(resp) => {
                    let status = resp.status();
                    retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    match resp.bytes().await {
                        Ok(bytes) if status.is_success() => {
                            return serde_json::from_slice(&bytes).map_err(|e| SubmitError::BadAnswer {
                                endpoint: endpoint.clone(),
                                message: key.mask(&format!("not JSON ({e})")),
                            });
                        }
                        Ok(bytes) => {
                            // Masked before the excerpt is cut: a key straddling the cut
                            // would otherwise keep its start.
                            let message = error_message(&bytes, |t| key.mask(t));
                            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                                format!("HTTP {}: {message}", status.as_u16())
                            } else {
                                return Err(SubmitError::Http {
                                    endpoint,
                                    status: status.as_u16(),
                                    message,
                                });
                            }
                        }
                        Err(e) => key.mask(&format!("reading the answer: {}", error_chain(&e))),
                    }
                }
                Err(e) => key.mask(&error_chain(&e)),
            };
            let delay = match self
                .cfg
                .retry
                .next_delay(attempt, start.elapsed(), retry_after, &mut rng)
            {
                Ok(d) => d,
                Err(why) => {
                    let message = match why {
                        GiveUp::Attempts(_) => retry_reason,
                        other => format!("{retry_reason}; {other}"),
                    };
                    return Err(SubmitError::Unreachable {
                        endpoint,
                        message,
                        attempts: attempt,
                    });
                }
            };
            tracing::debug!(
                "{endpoint}: {retry_reason}; retrying in {delay:?} (attempt {} of {})",
                attempt + 1,
                self.cfg.retry.max_attempts
            );
            self.progress.retrying(&endpoint, attempt + 1, delay, &retry_reason);
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    fn run_payload(&self) -> Value {
        json!({ "run_id": self.cfg.run_id, "subset": self.cfg.subset.as_str(), "split": self.cfg.split })
    }

    /// `(running, completed)` among `ids`.
    async fn poll(&self, ids: &BTreeSet<String>) -> Result<(usize, usize), SubmitError> {
        let v = self.call(Method::Get, "poll-jobs", &self.run_payload()).await?;
        let list = |k: &str| -> Result<BTreeSet<String>, SubmitError> {
            let arr = v
                .get(k)
                .and_then(Value::as_array)
                .ok_or_else(|| SubmitError::BadAnswer {
                    endpoint: "/poll-jobs".into(),
                    message: format!("no `{k}` list"),
                })?;
            Ok(arr
                .iter()
                .filter_map(Value::as_str)
                .filter(|id| ids.contains(*id))
                .map(str::to_owned)
                .collect())
        };
        let completed = list("completed")?;
        let running: BTreeSet<String> = list("running")?.difference(&completed).cloned().collect();
        Ok((running.len(), completed.len()))
    }

    /// Poll until `done(running, completed)` or the timeout.
    async fn wait(
        &self,
        phase: &'static str,
        ids: &BTreeSet<String>,
        timeout: Duration,
        done: impl Fn(usize, usize) -> usize,
    ) -> Result<(), SubmitError> {
        let start = Instant::now();
        loop {
            let (running, completed) = self.poll(ids).await?;
            let n = done(running, completed);
            self.progress.polled(phase, n, ids.len());
            if n >= ids.len() {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(SubmitError::Timeout {
                    phase,
                    done: n,
                    total: ids.len(),
                    seconds: timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.cfg.poll_interval).await;
        }
    }
}

/// The message of an error answer: `message` / `detail` of a JSON body, else the text.
fn error_message(bytes: &[u8], mask: impl Fn(&str) -> String) -> String {
    let text = String::from_utf8_lossy(bytes);
    let from_json = serde_json::from_slice::<Value>(bytes).ok().and_then(|v| {
        ["message", "detail", "error"].iter().find_map(|k| {
            v.get(*k)
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
        })
    });
    let m = mask(&from_json.unwrap_or_else(|| text.trim().to_owned()));
    if m.chars().count() > 500 {
        format!("{}…", m.chars().take(500).collect::<String>())
    } else {
        m
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// Submit `predictions` and (with `cfg.wait`) wait for the evaluation and save the report.
pub async fn submit(
    predictions: &[Prediction],
    cfg: &SubmitConfig,
    progress: &dyn SubmitProgress,
) -> Result<SubmitOutcome, SubmitError> {
    let preds = select_predictions(predictions, &cfg.instance_ids)?;
    if cfg.run_id.trim().is_empty() || cfg.run_id.contains(['/', '\\']) {
        return Err(SubmitError::Invalid(format!(
            "run id {:?} cannot name a report file",
            cfg.run_id
        )));
    }
    let http = reqwest::Client::builder()
        .timeout(cfg.request_timeout)
        .build()
        .map_err(|e| SubmitError::Invalid(format!("HTTP client: {e}")))?;
    let client = Client { http, cfg, progress };
    let ids_field = if cfg.instance_ids.is_empty() {
        Value::Null
    } else {
        json!(cfg.instance_ids)
    };
    let payloads: Vec<(String, Value)> = preds
        .iter()
        .map(|p| {
            let body = json!({
                "split": cfg.split,
                "subset": cfg.subset.as_str(),
                "instance_ids": ids_field,
                "run_id": cfg.run_id,
                "prediction": {
                    "instance_id": p.instance_id,
                    "model_patch": p.model_patch,
                    "model_name_or_path": p.model_name_or_path,
                },
            });
            (p.instance_id.clone(), body)
        })
        .collect();
    let client_ref = &client;
    let results: Vec<Result<(String, bool), SubmitError>> = futures::stream::iter(payloads)
        .map(|(id, body)| async move {
            let v = client_ref.call(Method::Post, "submit", &body).await?;
            let launched = v
                .get("launched")
                .and_then(Value::as_bool)
                .ok_or_else(|| SubmitError::BadAnswer {
                    endpoint: "/submit".into(),
                    message: format!("no `launched` flag for {id}"),
                })?;
            let answered = v.get("instance_id").and_then(Value::as_str).unwrap_or(&id).to_owned();
            client_ref.progress.uploaded(&answered, launched);
            Ok((answered, launched))
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let mut new_ids = Vec::new();
    let mut existing_ids = Vec::new();
    for r in results {
        let (id, launched) = r?;
        if launched {
            new_ids.push(id)
        } else {
            existing_ids.push(id)
        }
    }
    new_ids.sort();
    existing_ids.sort();
    let mut outcome = SubmitOutcome {
        new_ids,
        existing_ids,
        report: None,
        report_path: None,
        response_path: None,
    };
    if !cfg.wait {
        return Ok(outcome);
    }
    let all: BTreeSet<String> = outcome.new_ids.iter().chain(&outcome.existing_ids).cloned().collect();
    client
        .wait("waiting for the jobs to start", &all, cfg.running_timeout, |r, c| r + c)
        .await?;
    client
        .wait("waiting for the evaluation", &all, cfg.completion_timeout, |_, c| c)
        .await?;
    let mut answer = client.call(Method::Post, "get-report", &client.run_payload()).await?;
    let report = match answer.as_object_mut().and_then(|m| m.remove("report")) {
        Some(r @ Value::Object(_)) => r,
        _ => {
            return Err(SubmitError::BadAnswer {
                endpoint: "/get-report".into(),
                message: "no `report` object".into(),
            });
        }
    };
    let name = format!("{}__{}__{}", cfg.subset.as_str(), cfg.split, cfg.run_id);
    fs_err::create_dir_all(&cfg.output_dir).map_err(|source| SubmitError::Io {
        path: cfg.output_dir.clone(),
        source,
    })?;
    let report_path = save_json(&cfg.output_dir.join(format!("{name}.json")), &report, cfg.overwrite)?;
    let rest_is_empty = answer.as_object().is_none_or(serde_json::Map::is_empty);
    outcome.response_path = if rest_is_empty {
        None
    } else {
        Some(save_json(
            &cfg.output_dir.join(format!("{name}.response.json")),
            &answer,
            false,
        )?)
    };
    outcome.report = Some(report);
    outcome.report_path = Some(report_path);
    Ok(outcome)
}

/// Write JSON (4-space indent, as `json.dump(indent=4)`); keep an existing file and use
/// `<stem>-N.json` unless `overwrite` (sb-cli's `safe_save_json`).
fn save_json(path: &Path, value: &Value, overwrite: bool) -> Result<PathBuf, SubmitError> {
    let mut target = path.to_path_buf();
    if target.exists() && !overwrite {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut n = 1;
        while dir.join(format!("{stem}-{n}.json")).exists() {
            n += 1;
        }
        target = dir.join(format!("{stem}-{n}.json"));
    }
    let text = agentless_harness::report::to_python_json(value);
    fs_err::write(&target, text).map_err(|source| SubmitError::Io {
        path: target.clone(),
        source,
    })?;
    Ok(target)
}

/// A short text of a sb-cli report (sb-cli's `get_str_report`).
pub fn report_text(report: &Value) -> String {
    let n = |k: &str| report.get(k).and_then(Value::as_u64).unwrap_or(0);
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
    let (resolved, total, submitted) = (n("resolved_instances"), n("total_instances"), n("submitted_instances"));
    format!(
        "Resolved (total): {:.2}% ({resolved} / {total})\nResolved (submitted): {:.2}% ({resolved} / {submitted})\n\
         Submitted: {:.2}% ({submitted})\nErrors: {}\nPending: {}\nSuccessful runs: {}\nFailed runs: {}",
        pct(resolved, total),
        pct(resolved, submitted),
        pct(submitted, total),
        n("error_instances"),
        n("pending_instances"),
        n("completed_instances"),
        n("failed_instances"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_never_debug_printed_and_is_masked() {
        let k = ApiKey::new("sk-secret-123").unwrap();
        assert_eq!(format!("{k:?}"), "ApiKey(***)");
        assert_eq!(k.mask("bad key sk-secret-123!"), "bad key ***!");
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("a\nb").is_err());
    }

    #[test]
    fn a_key_across_the_excerpt_limit_is_masked_whole() {
        let key = format!("sk-SEC{}", "Qz7".repeat(50));
        let k = ApiKey::new(key.clone()).unwrap();
        let body = serde_json::json!({"detail": format!("{}{key} is invalid", "x".repeat(490))}).to_string();
        let m = error_message(body.as_bytes(), |t| k.mask(t));
        assert!(m.contains("***") && !m.contains("sk-SEC"), "{m}");
    }

    #[test]
    fn predictions_are_checked_like_sb_cli() {
        let p = |id: &str, m: &str| Prediction {
            instance_id: id.into(),
            model_name_or_path: m.into(),
            model_patch: Some("x".into()),
        };
        assert!(
            select_predictions(&[p("a", "m"), p("b", "n")], &[])
                .unwrap_err()
                .to_string()
                .contains("same model")
        );
        assert_eq!(
            select_predictions(&[p("a", "m"), p("b", "n")], &["b".into()])
                .unwrap()
                .len(),
            1
        );
        assert!(
            select_predictions(&[p("a", "m"), p("a", "m")], &[])
                .unwrap_err()
                .to_string()
                .contains("duplicate")
        );
        assert!(select_predictions(&[p("a", "m")], &["z".into()]).is_err());
    }
}
