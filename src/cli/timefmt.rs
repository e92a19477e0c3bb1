//! Timestamps as Kafka's consumer perf tool prints them (`yyyy-MM-dd HH:mm:ss:SSS`), in UTC,
//! without pulling a date crate in for one format.

/// Formats `ms` since the epoch as `yyyy-MM-dd HH:mm:ss:SSS` (UTC).
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}:{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_kafka() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00:000");
        // 2024-02-29T23:59:59.007Z, a leap day.
        assert_eq!(format_ms(1_709_251_199_007), "2024-02-29 23:59:59:007");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00:000");
    }
}
