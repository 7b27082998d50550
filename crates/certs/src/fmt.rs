//! Small formatting helpers shared by error messages and `ikegw pki show`:
//! UTC timestamps, "3 days" style durations and colon-separated hex.

use time::OffsetDateTime;

/// `2026-11-21 10:00:00 UTC` for a Unix time; out-of-range values print raw.
pub fn utc(unix: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("@{unix}"),
    }
}

/// A duration in the largest whole unit that fits: `3 days`, `1 hour`,
/// `5 minutes`, `42 seconds`. Negative inputs are printed as their magnitude.
pub fn duration(secs: i64) -> String {
    let secs = secs.unsigned_abs();
    let (n, unit) = if secs >= 86_400 {
        (secs / 86_400, "day")
    } else if secs >= 3_600 {
        (secs / 3_600, "hour")
    } else if secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// `0a:1b:ff`, the way strongSwan and OpenSSL print serials and hashes.
pub fn hex_colon(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(3));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_durations() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_255_200), "2026-11-21 10:00:00 UTC");
        assert_eq!(duration(3 * 86_400 + 5), "3 days");
        assert_eq!(duration(86_400), "1 day");
        assert_eq!(duration(-7_200), "2 hours");
        assert_eq!(duration(61), "1 minute");
        assert_eq!(duration(0), "0 seconds");
        assert_eq!(hex_colon(&[0x0a, 0x1b]), "0a:1b");
    }
}
