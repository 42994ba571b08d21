//! Policy schema, parsing and validation for thinvisor sandboxes.
//!
//! A policy is a TOML file (reference: `docs/policy.md`) saying what an
//! untrusted guest program may use: memory and time limits, standard
//! streams, environment, host files, network peers, emulated syscalls and
//! the tunnel table of guest buffer ranges.
//!
//! ```
//! use sandbox_policy::{FileAccess, Policy};
//! use std::path::Path;
//! let policy = Policy::from_str_named(
//!     "[limits]\nmemory = \"64MiB\"\n[[files]]\npath = \"/srv/data\"\naccess = \"read\"\n",
//!     "policy.toml",
//! ).expect("valid policy");
//! assert_eq!(policy.limits.memory_bytes, 64 << 20);
//! let rule = policy.files.rule_for(Path::new("/srv/data/x.csv")).expect("covered");
//! assert_eq!(rule.access, FileAccess::Read);
//! ```

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

mod decimal;
pub mod defaults;
mod duration;
mod effective;
pub mod errno;
mod error;
mod files;
mod location;
mod network;
mod parse;
mod paths;
mod schema;
mod size;
pub mod syscall_names;
mod tunnel;
mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use decimal::ScaleError;
pub use duration::{format_duration, parse_duration};
pub use errno::{errno_name, errno_number};
pub use error::PolicyError;
pub use files::{FileAccess, FileRule, FileRules};
pub use network::{NetRule, NetRules, Protocol};
pub use size::{format_size, parse_size};
pub use syscall_names::{syscall_name, syscall_number};
pub use tunnel::{Op, Perms, TunnelRange, TunnelRanges};
pub use types::{
    ArgRule, Env, Identity, Limits, OnDeny, RingChoice, Stdio, SyscallRules, ALWAYS_ALLOWED,
    KILL_EXIT_STATUS,
};

/// A validated sandbox policy. `Policy::default()` is the documented safe
/// default: standard streams only, no files, no network, no extra syscall
/// restrictions, 256 MiB / 60 s / 64 descriptors / 1 GiB written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub limits: Limits,
    pub stdio: Stdio,
    pub env: Env,
    /// `[identity]`: who the guest is told it is.
    pub identity: Identity,
    /// `[[files]]`: the host files and trees the guest sees.
    pub files: FileRules,
    /// `[[network]]`: the peers the guest may reach.
    pub network: NetRules,
    pub syscalls: SyscallRules,
    /// `[[tunnel]]`: the guest ranges syscall buffers may lie in.
    pub tunnel: TunnelRanges,
}

impl Policy {
    /// Reads and validates a policy file. Errors name the path as given.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::from_str_named(&text, &path.display().to_string())
    }

    /// Parses and validates policy text; `file_name` is used in errors.
    pub fn from_str_named(text: &str, file_name: &str) -> Result<Policy, PolicyError> {
        parse::parse(text, file_name)
    }

    /// The policy as a complete TOML file with every default written out
    /// (what `runner check` prints). `from_str_named` reads it back to an
    /// equal `Policy`.
    pub fn to_effective_toml(&self) -> String {
        effective::render(self)
    }

    /// The same policy with `limits.wall_time` replaced (`--timeout`).
    pub fn with_wall_time(mut self, d: Duration) -> Policy {
        self.limits.wall_time = d;
        self
    }
}
