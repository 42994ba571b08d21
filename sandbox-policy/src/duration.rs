//! Durations: `"5s"`, `"250ms"`, `"2m"`, `"1h"`, `"1.5s"`.
//!
//! A unit is required: `ns`, `us` (or `µs`), `ms`, `s`, `m` (minutes), `h`.
//! Units are case-sensitive (`m` is minutes, `ms` milliseconds). One number,
//! one unit: `"1m30s"` is not accepted; write `"90s"`.

use std::time::Duration;

use crate::decimal::{scale, split_number_unit, ScaleError};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Units and their length in nanoseconds, largest first (also print order).
const UNITS: &[(&str, u64)] = &[
    ("h", 3600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
];

/// Parses a duration string.
pub fn parse_duration(text: &str) -> Result<Duration, ScaleError> {
    let (number, unit) = split_number_unit(text);
    let multiplier = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, m)| *m)
        .ok_or(ScaleError::Malformed)?;
    scale(number, multiplier).map(Duration::from_nanos)
}

/// Units used when printing: `m` is skipped so that "1m" is never misread
/// as a millisecond; minutes print as seconds (`"90s"`, `"60s"`).
const PRINT_UNITS: &[&str] = &["h", "s", "ms", "us", "ns"];

/// Prints a duration with the largest unit that divides it exactly
/// (`"5s"`, `"1500ms"`, `"2h"`). Durations beyond `u64` nanoseconds (584
/// years) are clamped. The result is accepted by [`parse_duration`].
pub fn format_duration(d: Duration) -> String {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let printable = UNITS.iter().filter(|(name, _)| PRINT_UNITS.contains(name));
    for (name, length) in printable {
        if nanos != 0 && nanos % length == 0 {
            return format!("{}{}", nanos / length, name);
        }
    }
    format!("{nanos}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_units() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0.5h"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("5 s"), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn rejects_bad_durations() {
        assert_eq!(parse_duration("5"), Err(ScaleError::Malformed));
        assert_eq!(parse_duration("5S"), Err(ScaleError::Malformed));
        assert_eq!(parse_duration("1m30s"), Err(ScaleError::Malformed));
        assert_eq!(parse_duration("five seconds"), Err(ScaleError::Malformed));
        assert_eq!(parse_duration("0.5ns"), Err(ScaleError::NotWhole));
        assert_eq!(parse_duration("999999999999h"), Err(ScaleError::TooLarge));
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::from_secs(5),
            Duration::from_millis(250),
            Duration::from_millis(1500),
            Duration::from_secs(120),
            Duration::from_secs(3600),
            Duration::from_nanos(7),
            Duration::ZERO,
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}
