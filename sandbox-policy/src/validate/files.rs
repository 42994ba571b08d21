//! `[[files]]`: guest and host paths (absolute, normalized), access, and
//! paths listed twice.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::Result;
use crate::effective::quote;
use crate::files::{FileAccess, FileRule, FileRules};
use crate::location::Source;
use crate::paths::check_absolute_normalized;
use crate::schema::RawFile;

fn path(value: &Spanned<String>, key: &str, src: &Source<'_>) -> Result<std::path::PathBuf> {
    check_absolute_normalized(value.get_ref()).map_err(|expected| {
        src.invalid(
            &value.span(),
            key,
            format!("expected {expected}, found {}", quote(value.get_ref())),
        )
    })
}

pub(super) fn files(raw: &[Spanned<RawFile>], src: &Source<'_>) -> Result<FileRules> {
    let mut rules = Vec::with_capacity(raw.len());
    // guest path → (index, span of its `path`)
    let mut seen: BTreeMap<std::path::PathBuf, (usize, Range<usize>)> = BTreeMap::new();
    for (i, entry) in raw.iter().enumerate() {
        let entry = entry.get_ref();
        let path_key = format!("files[{i}].path");
        let guest_path = path(&entry.path, &path_key, src)?;
        let private = entry.private.as_ref().is_some_and(|p| *p.get_ref());
        let host_path = match (&entry.host_path, private) {
            (Some(host), true) => return Err(src.invalid(
                &host.span(),
                &format!("files[{i}].host_path"),
                "a private tree has no host path (the runner makes a fresh directory for each run)"
                    .to_string(),
            )),
            (Some(host), false) => path(host, &format!("files[{i}].host_path"), src)?,
            // Set by the runner when it makes the directory.
            (None, true) => std::path::PathBuf::new(),
            (None, false) => guest_path.clone(),
        };
        let (access, exec) = match entry.access.get_ref().as_str() {
            "read" => (FileAccess::Read, false),
            "read-exec" => (FileAccess::Read, true),
            "read-write" => (FileAccess::ReadWrite, false),
            "read-write-exec" => (FileAccess::ReadWrite, true),
            other => {
                return Err(src.invalid(
                    &entry.access.span(),
                    &format!("files[{i}].access"),
                    format!(
                        "expected \"read\", \"read-exec\", \"read-write\" or \"read-write-exec\", found {}",
                        quote(other)
                    ),
                ))
            }
        };
        if let (true, Some(p)) = (private && access != FileAccess::ReadWrite, &entry.private) {
            return Err(src.invalid(
                &p.span(),
                &format!("files[{i}].private"),
                format!(
                    "a private tree is the guest's to write: access must be \"read-write\" or \"read-write-exec\", found {}",
                    quote(entry.access.get_ref())
                ),
            ));
        }
        if let Some((j, other_span)) = seen.get(&guest_path) {
            let other: &FileRule = &rules[*j];
            let message = if other.access == access && other.exec == exec {
                format!("{} is listed twice", quote(entry.path.get_ref()))
            } else {
                format!(
                    "{} is listed twice with conflicting access ({} here, {} there)",
                    quote(entry.path.get_ref()),
                    quote(entry.access.get_ref()),
                    quote(other.access_str())
                )
            };
            return Err(src.conflict(
                &entry.path.span(),
                &path_key,
                message,
                other_span,
                &format!("files[{j}].path"),
            ));
        }
        seen.insert(guest_path.clone(), (i, entry.path.span()));
        rules.push(FileRule {
            guest_path,
            host_path,
            access,
            exec,
            private,
        });
    }
    Ok(FileRules::from_checked(rules))
}
