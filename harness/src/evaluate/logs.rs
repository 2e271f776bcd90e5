//! The per-instance log folder, laid out as officially
//! (`logs/run_evaluation/<run_id>/<model>/<instance_id>/`), and `run_instance.log` written
//! in the official line format (`<time> - INFO - <message>`, UTC here).

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Names of the files in an instance's log folder.
pub const PATCH_FILE: &str = "patch.diff";
pub const EVAL_FILE: &str = "eval.sh";
pub const TEST_OUTPUT_FILE: &str = "test_output.txt";
pub const REPORT_FILE: &str = "report.json";
pub const INSTANCE_LOG_FILE: &str = "run_instance.log";
/// agentless-mini's own file: the inputs of a finished instance (for resume).
pub const KEY_FILE: &str = "agentless-mini.key.json";

/// The official log root below the working directory.
pub const RUN_EVALUATION_DIR: &str = "logs/run_evaluation";

/// `<root>/<run_id>/<model with / → __>/<instance_id>`.
pub fn instance_log_dir(root: &Path, run_id: &str, model: &str, instance_id: &str) -> PathBuf {
    root.join(run_id).join(model.replace('/', "__")).join(instance_id)
}

/// Reject names that would escape the log root when used as one path component.
pub fn check_component(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!("{kind} {name:?} cannot be used as a folder name"));
    }
    Ok(())
}

/// `run_instance.log`, truncated when opened.
pub struct InstanceLog {
    file: Option<fs_err::File>,
}

impl InstanceLog {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(InstanceLog {
            file: Some(fs_err::File::create(path)?),
        })
    }

    /// A log that goes nowhere (when the folder could not be created).
    pub fn none() -> Self {
        InstanceLog { file: None }
    }

    /// One `INFO` record. Write failures are logged by tracing and otherwise ignored: the
    /// log is a record, not a result.
    pub fn info(&mut self, message: &str) {
        self.record("INFO", message);
    }

    pub fn error(&mut self, message: &str) {
        self.record("ERROR", message);
    }

    fn record(&mut self, level: &str, message: &str) {
        if let Some(f) = &mut self.file
            && let Err(e) = writeln!(f, "{} - {level} - {message}", timestamp())
        {
            tracing::warn!("writing run_instance.log: {e}");
            self.file = None;
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS,mmm` (UTC), Python logging's default `asctime` layout.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02},{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Python's `f"{x:_.2f}"`: two decimals, `_` between thousands.
pub fn python_underscore_2f(x: f64) -> String {
    let s = format!("{:.2}", x.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('_');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{frac}", if x < 0.0 { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_numbers_format_like_python() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_534), (2026, 3, 22));
        assert_eq!(python_underscore_2f(55.087), "55.09");
        assert_eq!(python_underscore_2f(1234567.5), "1_234_567.50");
        assert_eq!(python_underscore_2f(0.0), "0.00");
        assert_eq!(timestamp().len(), "2026-03-22 09:45:52,719".len());
    }

    #[test]
    fn log_dirs_and_bad_components() {
        let d = instance_log_dir(Path::new("logs/run_evaluation"), "r1", "org/model", "a__b-1");
        assert_eq!(d, Path::new("logs/run_evaluation/r1/org__model/a__b-1"));
        assert!(check_component("model", "..").is_err());
        assert!(check_component("instance id", "a/b").is_err());
        assert!(check_component("run id", "ok-1.2").is_ok());
    }
}
