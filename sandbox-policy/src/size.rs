//! Byte sizes: `"64MiB"`, `"1GiB"`, `"512KiB"`, `"4096"`, `"1.5GiB"`.
//!
//! All multipliers are powers of 1024. `K`/`KB`/`KiB` are synonyms (and so on
//! for M, G, T), matched case-insensitively; a bare number or `B` means bytes.
//! There are no decimal (1000-based) units: in a memory ceiling "MB" almost
//! always means MiB, and 1000-based sizes are not page multiples.

use crate::decimal::{scale, split_number_unit, ScaleError};

/// Unit suffixes (lower case) and their multipliers.
const UNITS: &[(&[&str], u64)] = &[
    (&["", "b"], 1),
    (&["k", "kb", "kib"], 1 << 10),
    (&["m", "mb", "mib"], 1 << 20),
    (&["g", "gb", "gib"], 1 << 30),
    (&["t", "tb", "tib"], 1 << 40),
];

/// Units used when printing, largest first.
const PRINT_UNITS: &[(&str, u64)] = &[
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

/// Parses a size string into bytes.
pub fn parse_size(text: &str) -> Result<u64, ScaleError> {
    let (number, unit) = split_number_unit(text);
    let unit = unit.to_ascii_lowercase();
    let multiplier = UNITS
        .iter()
        .find(|(names, _)| names.contains(&unit.as_str()))
        .map(|(_, m)| *m)
        .ok_or(ScaleError::Malformed)?;
    scale(number, multiplier)
}

/// Prints bytes with the largest binary unit that divides them exactly
/// (`"64MiB"`), or as `"1000B"`. The result is accepted by [`parse_size`].
pub fn format_size(bytes: u64) -> String {
    for (name, multiplier) in PRINT_UNITS {
        if bytes != 0 && bytes.checked_rem(*multiplier) == Some(0) {
            return format!("{}{}", bytes / multiplier, name);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("512KB"), Ok(512 << 10));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
    }

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(parse_size("64 parsecs"), Err(ScaleError::Malformed));
        assert_eq!(parse_size("MiB"), Err(ScaleError::Malformed));
        assert_eq!(parse_size(""), Err(ScaleError::Malformed));
        assert_eq!(parse_size("-5MiB"), Err(ScaleError::Malformed));
        assert_eq!(parse_size("1.5B"), Err(ScaleError::NotWhole));
        assert_eq!(parse_size("16777216TiB"), Err(ScaleError::TooLarge));
    }

    #[test]
    fn formats_round_trip() {
        for bytes in [
            0,
            1,
            1000,
            4096,
            512 << 10,
            64 << 20,
            3 << 29,
            1 << 30,
            5 << 40,
            u64::MAX,
        ] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{bytes}");
        }
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(format_size(0), "0B");
    }
}
