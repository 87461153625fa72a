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

#[cfg(test)]
mod tests {
    use super::*;

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
