//! Small helpers: data directory, durations, timestamps, number formatting, colors.

use crate::error::Error;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The control socket's file name inside the data directory.
pub const SOCKET_FILE: &str = "control.sock";
/// The identity key's file name inside the data directory.
pub const KEY_FILE: &str = "node.key";
/// The peer database's file name inside the data directory.
pub const DB_FILE: &str = "peers.redb";
/// The configuration file's name inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";

/// The longest control socket path, in bytes: a Unix socket address holds 108 bytes on Linux
/// and 104 on the BSDs and macOS, the terminating NUL included; kept below both.
pub const MAX_SOCKET_PATH_LEN: usize = 99;

/// `Err` (one line for the operator) when `sock` is longer than [`MAX_SOCKET_PATH_LEN`].
pub fn check_socket_path(sock: &Path) -> Result<(), Error> {
    let len = sock.as_os_str().len();
    if len > MAX_SOCKET_PATH_LEN {
        return Err(Error::Files(format!(
            "control socket path {} is too long for a Unix socket ({len} bytes, at most {MAX_SOCKET_PATH_LEN}; use a shorter --data-dir)",
            sock.display()
        )));
    }
    Ok(())
}

/// The longest duration `--for` and `--duration` accept: 100 years (36,500 days). Longer is
/// no different from a permanent ban (leave `--for` out) and would overflow clocks.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// Writes `text` to stdout. A closed pipe (`qudag peer list | head -1`) is not an error: the
/// reader has stopped reading and gets nothing more. Any other failure (`> /dev/full`) is,
/// with a clear message instead of a panic.
pub fn out(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Output(e)),
    }
}

/// Writes one line to stderr; a failure is ignored (there is nowhere left to report it).
pub fn err_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `--data-dir`, else `QUDAG_DATA_DIR` (clap reads it), else `~/.qudag`.
pub fn data_dir(arg: Option<&Path>) -> PathBuf {
    if let Some(p) = arg {
        return p.to_path_buf();
    }
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h).join(".qudag"),
        _ => PathBuf::from(".qudag"),
    }
}

/// Parses `90`, `90s`, `10m`, `2h`, `7d`, `1w` (whole units), at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    if num.is_empty() {
        return Err(format!(
            "invalid duration {s:?}: expected a whole number and a unit, e.g. 90s, 10m, 2h, 7d or 1w"
        ));
    }
    // Only digits are left: the one way parsing fails is a number beyond u64.
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: too long"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ))
        }
    };
    if n == 0 {
        return Err(format!("invalid duration {s:?}: must be positive"));
    }
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| {
            format!(
                "invalid duration {s:?}: too long (at most {}d, 100 years)",
                MAX_DURATION.as_secs() / 86_400
            )
        })
}

/// A duration in the largest whole unit that fits, e.g. `2h`, `90s`, `3d4h`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (v, u) in [(days, "d"), (h, "h"), (m, "m"), (sec, "s")] {
        if v > 0 {
            out.push_str(&format!("{v}{u}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// RFC 3339 UTC time (seconds precision) for milliseconds since the Unix epoch.
pub fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether to color stdout: a terminal, and `NO_COLOR` unset or empty.
pub fn color_stdout() -> bool {
    no_color_unset() && std::io::stdout().is_terminal()
}

/// Whether to color stderr (logs).
pub fn color_stderr() -> bool {
    no_color_unset() && std::io::stderr().is_terminal()
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1w").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("").unwrap_err().contains("whole number"));
        assert!(parse_duration("1.5h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("99999999999999999999s")
            .unwrap_err()
            .contains("too long"));
        assert!(parse_duration("99999999999999999w")
            .unwrap_err()
            .contains("too long"));
        // At the limit.
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
        assert_eq!(
            parse_duration(&format!("{}s", MAX_DURATION.as_secs())).unwrap(),
            MAX_DURATION
        );
        assert!(parse_duration("36501d").unwrap_err().contains("too long"));
        assert!(parse_duration(&format!("{}s", MAX_DURATION.as_secs() + 1)).is_err());
        assert_eq!(
            format_duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn times_and_numbers() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_705_487_400_000), "2024-01-17T10:30:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(100), "100");
    }
}
