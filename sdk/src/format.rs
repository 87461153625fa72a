//! Human-readable companions for numbers in tool output (`*_human` fields).

/// Formats a byte count with binary units: `31.25 GiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        let text = format!("{value:.2}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text} {}", UNITS[unit])
    }
}

/// Formats a duration in seconds: `3d 4h 5m`, `42s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

/// Formats a fraction (0.0–1.0) as a percentage with one decimal: `12.5%`.
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// Formats a Unix time as ISO-8601 UTC: `2026-12-03T07:00:00Z`.
pub fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// How long ago `then` was at `now`: `3h 12m ago`, `in 5m` for the future.
pub fn age(now: u64, then: u64) -> String {
    if then > now { format!("in {}", duration(then - now)) } else { format!("{} ago", duration(now - then)) }
}

/// The current Unix time, from the sandbox's wall clock.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_are_calendar_dates_and_ages_read_both_ways() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
        assert_eq!(utc(1_796_280_000), "2026-12-03T06:40:00Z");
        assert_eq!(age(20_000, 20_000 - 11_520), "3h 12m ago");
        assert_eq!(age(100, 400), "in 5m 0s");
    }

    #[test]
    fn bytes_use_binary_units_and_trim_zeros() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1 KiB");
        assert_eq!(bytes(33_554_432_000), "31.25 GiB");
        assert_eq!(bytes(1_610_612_736), "1.5 GiB");
    }

    #[test]
    fn durations_pick_the_two_largest_units() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(125), "2m 5s");
        assert_eq!(duration(3 * 3600 + 61), "3h 1m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 5 * 60), "3d 4h 5m");
    }

    #[test]
    fn percent_has_one_decimal() {
        assert_eq!(percent(0.125), "12.5%");
    }
}
