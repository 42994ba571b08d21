//! `[[tunnel]]`: guest address ranges (user half, page-aligned, not
//! overlapping) and their permissions.

use toml::Spanned;

use super::Result;
use crate::defaults;
use crate::effective::quote;
use crate::location::Source;
use crate::schema::{RawInt, RawTunnel};
use crate::tunnel::{Perms, TunnelRange, TunnelRanges};

fn hex(n: i128) -> String {
    if n < 0 {
        n.to_string()
    } else {
        format!("{n:#x}")
    }
}

fn address_bound(value: &Spanned<RawInt>, key: &str, src: &Source<'_>) -> Result<u64> {
    let RawInt(n) = *value.get_ref();
    let limit = defaults::USER_ADDRESS_END;
    let in_user_half = u64::try_from(n).ok().filter(|a| *a <= limit);
    let Some(address) = in_user_half else {
        return Err(src.invalid(
            &value.span(),
            key,
            format!(
                "expected an address in the user half (0 to {limit:#x}), found {}",
                hex(n)
            ),
        ));
    };
    if address % defaults::PAGE_SIZE != 0 {
        return Err(src.invalid(
            &value.span(),
            key,
            format!(
                "expected a page-aligned address (a multiple of 0x1000), found {}",
                hex(n)
            ),
        ));
    }
    Ok(address)
}

pub(super) fn tunnel(raw: &[Spanned<RawTunnel>], src: &Source<'_>) -> Result<TunnelRanges> {
    let mut ranges: Vec<TunnelRange> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let entry = entry.get_ref();
        let start = address_bound(&entry.start, &format!("tunnel[{i}].start"), src)?;
        let end = address_bound(&entry.end, &format!("tunnel[{i}].end"), src)?;
        if end <= start {
            return Err(src.invalid(
                &entry.end.span(),
                &format!("tunnel[{i}].end"),
                format!("expected an end above start ({start:#x}), found {end:#x}"),
            ));
        }
        let perms = Perms::parse(entry.access.get_ref()).ok_or_else(|| {
            src.invalid(
                &entry.access.span(),
                &format!("tunnel[{i}].access"),
                format!(
                    "expected \"r\", \"rw\", \"rx\" or \"rwx\" (letters of \"rwx\" in that order), found {}",
                    quote(entry.access.get_ref())
                ),
            )
        })?;
        if let Some(j) = ranges.iter().position(|r| r.start < end && start < r.end) {
            let other = &ranges[j];
            return Err(src.conflict(
                &entry.start.span(),
                &format!("tunnel[{i}]"),
                format!(
                    "range {start:#x}..{end:#x} overlaps range {:#x}..{:#x}",
                    other.start, other.end
                ),
                &raw[j].get_ref().start.span(),
                &format!("tunnel[{j}]"),
            ));
        }
        ranges.push(TunnelRange { start, end, perms });
    }
    Ok(TunnelRanges::from_checked(ranges))
}
