//! The `memory_limit` setting and the process's peak resident set size.

/// `memory_limit` when the config does not set it: 256 MB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 256 << 20;

/// The share of `memory_limit` given to data in flight between source and destination; the
/// rest is headroom for the page being decoded, the destination's write buffers and the
/// runtime. With the default limit this is 64 MB.
pub fn in_flight_budget(memory_limit: u64) -> usize {
    usize::try_from(memory_limit / 4).unwrap_or(usize::MAX)
}

/// Parses `memory_limit`: an integer number of bytes, or a string such as `"256 MB"`,
/// `"1GiB"`, `"512MiB"` (KB/MB/GB and KiB/MiB/GiB all count in powers of 1024).
pub fn parse_memory_limit(value: &toml::Value) -> Result<u64, String> {
    let bytes = match value {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| "must not be negative".to_string())?
        }
        toml::Value::String(s) => parse_size(s)?,
        other => {
            return Err(format!(
                "must be a size such as \"256 MB\" or a number of bytes, not a {}",
                other.type_str()
            ));
        }
    };
    if bytes < 16 << 20 {
        return Err(format!(
            "{bytes} bytes is too small; use at least \"16 MB\""
        ));
    }
    Ok(bytes)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as \"256 MB\""))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("{s:?}: unknown unit; use B, KB, MB or GB")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// The process's peak resident set size in bytes (`VmHWM` in `/proc/self/status`), or `None`
/// where that is not available.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// `peak RSS: 93.1 MB` or `peak RSS: unknown`.
pub fn peak_rss_line() -> String {
    match peak_rss() {
        Some(b) => format!("peak RSS: {:.1} MB", b as f64 / (1 << 20) as f64),
        None => "peak RSS: unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let v = |s: &str| parse_memory_limit(&toml::Value::String(s.into()));
        assert_eq!(v("256 MB"), Ok(256 << 20));
        assert_eq!(v("1GiB"), Ok(1 << 30));
        assert_eq!(v(" 64mb "), Ok(64 << 20));
        assert_eq!(
            parse_memory_limit(&toml::Value::Integer(100 << 20)),
            Ok(100 << 20)
        );
        assert!(v("lots").unwrap_err().contains("not a size"));
        assert!(v("5 TB").unwrap_err().contains("unknown unit"));
        assert!(v("1 MB").unwrap_err().contains("too small"));
        assert!(parse_memory_limit(&toml::Value::Integer(-1)).is_err());
        assert!(parse_memory_limit(&toml::Value::Boolean(true)).is_err());
        assert_eq!(in_flight_budget(DEFAULT_MEMORY_LIMIT), 64 << 20);
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss().is_some_and(|b| b > 0));
            assert!(peak_rss_line().ends_with(" MB"));
        } else {
            assert_eq!(peak_rss_line(), "peak RSS: unknown");
        }
    }
}
