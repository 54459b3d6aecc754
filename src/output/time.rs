//! RFC 3339 timestamps without a date library.

use std::fmt::Write;

/// `ns` since the Unix epoch as `YYYY-MM-DDThh:mm:ss.uuuuuuZ` (UTC, microseconds).
pub fn format_rfc3339(ns: i64, out: &mut String) {
    let secs = ns.div_euclid(1_000_000_000);
    let micros = ns.rem_euclid(1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
#[test]
fn known_dates() {
    let mut s = String::new();
    format_rfc3339(0, &mut s);
    assert_eq!(s, "1970-01-01T00:00:00.000000Z");
    s.clear();
    format_rfc3339(1_764_042_506_123_456_789, &mut s);
    assert_eq!(s, "2025-11-25T03:48:26.123456Z");
    s.clear();
    format_rfc3339(951_782_400_000_000_000, &mut s); // leap day 2000
    assert_eq!(s, "2000-02-29T00:00:00.000000Z");
}
