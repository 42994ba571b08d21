//! Exact decimal arithmetic shared by sizes and durations ("1.5GiB", "1.5s").

/// Why a decimal number with a unit could not be turned into an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleError {
    /// Not `digits` or `digits.digits`.
    Malformed,
    /// The fraction does not come out as a whole number of base units.
    NotWhole,
    /// The result does not fit in 64 bits.
    TooLarge,
}

/// Most fraction digits accepted; keeps `10^digits` well inside `u128`.
const MAX_FRACTION_DIGITS: usize = 18;

/// `number * multiplier`, where `number` is `123` or `1.25`, computed exactly.
pub fn scale(number: &str, multiplier: u64) -> Result<u64, ScaleError> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
        || (number.contains('.') && frac_part.is_empty())
    {
        return Err(ScaleError::Malformed);
    }
    if frac_part.len() > MAX_FRACTION_DIGITS {
        return Err(ScaleError::NotWhole);
    }
    let int_value: u128 = int_part.parse().map_err(|_| ScaleError::TooLarge)?;
    let mult = u128::from(multiplier);
    let whole = int_value.checked_mul(mult).ok_or(ScaleError::TooLarge)?;
    let mut frac_total: u128 = 0;
    if !frac_part.is_empty() {
        let frac_value: u128 = frac_part.parse().map_err(|_| ScaleError::Malformed)?;
        let denominator = 10u128.pow(frac_part.len() as u32);
        let scaled = frac_value * mult; // < 10^18 * 2^64, fits in u128
        if scaled.checked_rem(denominator) != Some(0) {
            return Err(ScaleError::NotWhole);
        }
        frac_total = scaled / denominator;
    }
    let total = whole.checked_add(frac_total).ok_or(ScaleError::TooLarge)?;
    u64::try_from(total).map_err(|_| ScaleError::TooLarge)
}

/// Splits `"64MiB"` / `"64 MiB"` into the number and the unit (trimmed).
pub fn split_number_unit(text: &str) -> (&str, &str) {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_exactly() {
        assert_eq!(scale("64", 1024), Ok(65536));
        assert_eq!(scale("1.5", 1000), Ok(1500));
        assert_eq!(scale("0.5", 1024), Ok(512));
        assert_eq!(scale("1.25", 4), Ok(5));
        assert_eq!(scale("1.3", 4), Err(ScaleError::NotWhole));
        assert_eq!(scale("", 1), Err(ScaleError::Malformed));
        assert_eq!(scale(".5", 1), Err(ScaleError::Malformed));
        assert_eq!(scale("5.", 1), Err(ScaleError::Malformed));
        assert_eq!(scale("1.2.3", 1), Err(ScaleError::Malformed));
        assert_eq!(scale("18446744073709551615", 1), Ok(u64::MAX));
        assert_eq!(scale("18446744073709551616", 1), Err(ScaleError::TooLarge));
        assert_eq!(
            scale("99999999999999999999999999999999999999999", 1),
            Err(ScaleError::TooLarge)
        );
        assert_eq!(scale("17179869184", 1 << 30), Err(ScaleError::TooLarge));
    }

    #[test]
    fn splits() {
        assert_eq!(split_number_unit("64MiB"), ("64", "MiB"));
        assert_eq!(split_number_unit(" 64 MiB "), ("64", "MiB"));
        assert_eq!(split_number_unit("1.5s"), ("1.5", "s"));
        assert_eq!(split_number_unit("4096"), ("4096", ""));
        assert_eq!(split_number_unit("MiB"), ("", "MiB"));
    }
}
