//! Value parsers for limit flags (`--memory`, `--disk`, `--cpus`, `--pids-limit`, sizes and
//! seconds): a value outside the accepted range is refused when the command line is parsed,
//! with a message that states the range, instead of failing later at the engine.

/// Bytes from `8g`, `512m`, `64k`, `100` (binary units; `b`, `ib` suffixes accepted). A
/// fraction is allowed with a unit (`1.5g`), not for plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches("ib").trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 8g, 512m)"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("size must be positive: {s:?}"));
    }
    if mult == 1 && n.fract() != 0.0 {
        return Err(format!("{s:?} is a fraction of a byte; give a unit (e.g. {s}g)"));
    }
    let bytes = n * mult as f64;
    if bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("size too large: {s:?}"));
    }
    Ok(bytes as u64)
}

/// Human form of a byte count for range messages: `6m`, `1t`, `1536`.
pub fn show_size(bytes: u64) -> String {
    for (unit, shift) in [("t", 40), ("g", 30), ("m", 20), ("k", 10)] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A clap value parser of sizes within `min..=max` bytes.
pub fn size_in(min: u64, max: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let v = parse_size(s)?;
        if v < min || v > max {
            return Err(format!(
                "{s} is out of range: accepted sizes are {} to {}",
                show_size(min),
                show_size(max)
            ));
        }
        Ok(v)
    }
}

/// Docker refuses memory limits under 6 MiB.
pub const MIN_MEMORY: u64 = 6 << 20;
/// Largest accepted memory or disk limit.
pub const MAX_SIZE_LIMIT: u64 = 1 << 50;
/// Smallest accepted writable-layer limit.
pub const MIN_DISK: u64 = 1 << 20;

/// `--memory`: 6m to 1024t.
pub fn memory(s: &str) -> Result<u64, String> {
    size_in(MIN_MEMORY, MAX_SIZE_LIMIT)(s)
}

/// `--disk`: 1m to 1024t.
pub fn disk(s: &str) -> Result<u64, String> {
    size_in(MIN_DISK, MAX_SIZE_LIMIT)(s)
}

/// `--memory-gib`: 0.01 to 1048576 GiB.
pub fn memory_gib(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("not a number: {s:?}"))?;
    if !v.is_finite() || v < 0.01 || v > 1_048_576.0 {
        return Err(format!(
            "{s} is out of range: accepted values are 0.01 to 1048576 (GiB)"
        ));
    }
    Ok(v)
}

/// `--cpus`: 0.01 to 1024 (Docker's smallest share is 0.01 CPU; 0 is refused, not "unlimited").
pub fn cpus(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("not a number: {s:?}"))?;
    if !v.is_finite() || v < 0.01 || v > 1024.0 {
        return Err(format!("{s} is out of range: accepted values are 0.01 to 1024"));
    }
    Ok(v)
}

/// `--pids-limit`: 1 to 4194304 (0 and negative values would mean unlimited to Docker).
pub fn pids(s: &str) -> Result<i64, String> {
    let v: i64 = s.trim().parse().map_err(|_| format!("not a whole number: {s:?}"))?;
    if !(1..=4_194_304).contains(&v) {
        return Err(format!("{s} is out of range: accepted values are 1 to 4194304"));
    }
    Ok(v)
}

/// Timeouts in seconds: 1 to 604800 (a week).
pub fn seconds(s: &str) -> Result<u64, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("not a whole number of seconds: {s:?}"))?;
    if !(1..=604_800).contains(&v) {
        return Err(format!("{s} is out of range: accepted values are 1 to 604800 seconds"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8g"), Ok(8 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("1.5").unwrap_err().contains("fraction"));
        assert_eq!(show_size(6 << 20), "6m");
    }

    #[test]
    fn ranges_are_stated() {
        let e = memory("1k").unwrap_err();
        assert!(e.contains("6m to 1024t"), "{e}");
        assert!(memory("1.5").is_err());
        assert_eq!(memory("1.5g"), Ok(3 << 29));
        assert!(cpus("0").unwrap_err().contains("0.01 to 1024"));
        assert!(cpus("nan").is_err());
        assert_eq!(cpus("0.5"), Ok(0.5));
        assert!(pids("0").unwrap_err().contains("1 to 4194304"));
        assert!(pids("-1").is_err());
        assert_eq!(pids("64"), Ok(64));
        assert!(seconds("0").is_err());
        assert!(disk("10g").is_ok());
    }
}
