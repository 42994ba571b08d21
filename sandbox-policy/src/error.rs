//! `PolicyError`: every way loading a policy can fail, with file and line.

use std::path::PathBuf;

/// An error loading a policy. `Display` gives one line in the form
/// `FILE:LINE: KEY: MESSAGE` (see `docs/policy.md`, "Errors").
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy file could not be read (missing, unreadable, not UTF-8).
    #[error("{}: cannot read policy file: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The text is not valid TOML (including duplicate keys).
    #[error("{file}:{line}:{col}: TOML syntax error: {message}")]
    Syntax {
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        col: usize,
        message: String,
    },

    /// Valid TOML, but a key or value is not acceptable: wrong type,
    /// unknown key, missing key, malformed or out-of-range value.
    #[error("{file}:{line}: {key}: {message}")]
    Invalid {
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// Dotted key path, e.g. `limits.memory`, `files[1].access`.
        key: String,
        message: String,
    },

    /// Two settings that cannot both hold (duplicates, allow+deny of the
    /// same syscall, overlapping tunnel ranges). Names both places.
    #[error("{file}:{line}: {key}: {message} (conflicts with {other_key} at line {other_line})")]
    Conflict {
        file: String,
        /// Line of the later of the two settings.
        line: usize,
        key: String,
        message: String,
        /// Line of the earlier setting.
        other_line: usize,
        other_key: String,
    },
}

impl PolicyError {
    /// The 1-based line the error points at, if it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyError::Io { .. } => None,
            PolicyError::Syntax { line, .. }
            | PolicyError::Invalid { line, .. }
            | PolicyError::Conflict { line, .. } => Some(*line),
        }
    }

    /// The key path the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            PolicyError::Io { .. } | PolicyError::Syntax { .. } => None,
            PolicyError::Invalid { key, .. } | PolicyError::Conflict { key, .. } => Some(key),
        }
    }
}
