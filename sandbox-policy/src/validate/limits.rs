//! `[limits]`: memory, wall and CPU time, open files, bytes written; and
//! the size and duration values they are written in.

use std::time::Duration;

use toml::Spanned;

use super::Result;
use crate::decimal::ScaleError;
use crate::defaults;
use crate::duration::parse_duration;
use crate::effective::quote;
use crate::location::Source;
use crate::schema::{RawCpus, RawDuration, RawInt, RawLimits, RawSize};
use crate::size::parse_size;
use crate::types::Limits;

pub(super) fn limits(raw: Option<RawLimits>, src: &Source<'_>) -> Result<Limits> {
    let mut limits = Limits::default();
    let Some(raw) = raw else { return Ok(limits) };
    if let Some(memory) = &raw.memory {
        let key = "limits.memory";
        let bytes = size(memory, key, src)?;
        if bytes < defaults::MIN_MEMORY_BYTES {
            return Err(src.invalid(
                &memory.span(),
                key,
                format!(
                    "expected at least 1MiB, found {}",
                    show_size(memory.get_ref())
                ),
            ));
        }
        if bytes % defaults::PAGE_SIZE != 0 {
            return Err(src.invalid(
                &memory.span(),
                key,
                format!(
                    "expected a multiple of 4KiB (4096 bytes), found {}",
                    show_size(memory.get_ref())
                ),
            ));
        }
        limits.memory_bytes = bytes;
    }
    if let Some(wall_time) = &raw.wall_time {
        limits.wall_time = duration(wall_time, "limits.wall_time", src)?;
    }
    if let Some(cpu_time) = &raw.cpu_time {
        limits.cpu_time = if cpu_time.get_ref().0 == "unlimited" {
            None
        } else {
            Some(duration(cpu_time, "limits.cpu_time", src)?)
        };
    }
    if let Some(open_files) = &raw.open_files {
        limits.open_files = int_in(
            open_files,
            "limits.open_files",
            defaults::MIN_OPEN_FILES,
            defaults::MAX_OPEN_FILES,
            " (stdin, stdout and stderr count)",
            src,
        )?;
    }
    if let Some(threads) = &raw.threads {
        limits.threads = int_in(
            threads,
            "limits.threads",
            defaults::MIN_THREADS,
            defaults::MAX_THREADS,
            " (live threads, the first one included)",
            src,
        )?;
    }
    if let Some(processes) = &raw.processes {
        limits.processes = int_in(
            processes,
            "limits.processes",
            defaults::MIN_PROCESSES,
            defaults::MAX_PROCESSES,
            " (live processes, the first program and unreaped zombies included)",
            src,
        )?;
    }
    if let Some(cpus) = &raw.cpus {
        limits.cpus = match cpus.get_ref() {
            RawCpus::Text(t) if t == "all" => None,
            RawCpus::Text(t) => {
                return Err(src.invalid(
                    &cpus.span(),
                    "limits.cpus",
                    format!("expected a number of CPUs or \"all\", found {}", quote(t)),
                ))
            }
            RawCpus::Count(n) => Some(int_in(
                &Spanned::new(cpus.span(), RawInt(*n)),
                "limits.cpus",
                defaults::MIN_CPUS,
                defaults::MAX_CPUS,
                " (host CPUs the threads run on at once), or \"all\"",
                src,
            )?),
        };
    }
    if let Some(bytes_written) = &raw.bytes_written {
        limits.bytes_written = size(bytes_written, "limits.bytes_written", src)?;
    }
    if let Some(created) = &raw.created_entries {
        limits.created_entries = int_in(
            created,
            "limits.created_entries",
            0,
            defaults::MAX_CREATED_ENTRIES,
            " (files and directories made in read-write trees)",
            src,
        )?;
    }
    Ok(limits)
}

/// An integer setting in `min..=max`; `hint` follows the range in the error.
fn int_in(
    raw: &Spanned<RawInt>,
    name: &str,
    min: u32,
    max: u32,
    hint: &str,
    src: &Source<'_>,
) -> Result<u32> {
    let RawInt(n) = *raw.get_ref();
    match u32::try_from(n) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(src.invalid(
            &raw.span(),
            name,
            format!("expected an integer from {min} to {max}{hint}, found {n}"),
        )),
    }
}

fn show_size(raw: &RawSize) -> String {
    match raw {
        RawSize::Text(text) => quote(text),
        RawSize::Bytes(n) => n.to_string(),
    }
}

fn size(value: &Spanned<RawSize>, key: &str, src: &Source<'_>) -> Result<u64> {
    let found = show_size(value.get_ref());
    let result = match value.get_ref() {
        RawSize::Text(text) => parse_size(text),
        RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| ScaleError::Malformed),
    };
    result.map_err(|e| {
        let message = match e {
            ScaleError::Malformed => format!("expected a size such as \"64MiB\", found {found}"),
            ScaleError::NotWhole => format!("expected a whole number of bytes, found {found}"),
            ScaleError::TooLarge => format!("expected a size that fits in 64 bits, found {found}"),
        };
        src.invalid(&value.span(), key, message)
    })
}

fn duration(value: &Spanned<RawDuration>, key: &str, src: &Source<'_>) -> Result<Duration> {
    let text = &value.get_ref().0;
    let found = quote(text);
    let message = match parse_duration(text) {
        Ok(d) if d.is_zero() => format!("expected a duration greater than zero, found {found}"),
        Ok(d) => return Ok(d),
        Err(ScaleError::Malformed) => {
            let unlimited = if key == "limits.cpu_time" {
                " or \"unlimited\""
            } else {
                ""
            };
            format!("expected a duration such as \"5s\", \"250ms\" or \"1.5s\"{unlimited}, found {found}")
        }
        Err(ScaleError::NotWhole) => {
            format!("expected a whole number of nanoseconds, found {found}")
        }
        Err(ScaleError::TooLarge) => {
            format!("expected a duration below 584 years, found {found}")
        }
    };
    Err(src.invalid(&value.span(), key, message))
}
