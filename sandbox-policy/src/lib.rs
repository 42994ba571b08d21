//! Policy schema, parsing and validation for thinvisor sandboxes.
//!
//! A policy is a TOML file (reference: `docs/policy.md`) saying what an
//! untrusted guest program may use: memory and time limits, standard
//! streams, environment, host files, network peers, emulated syscalls and
//! the tunnel table of guest buffer ranges.
//!
//! ```
//! use sandbox_policy::{Access, Policy};
//! let policy = Policy::from_str_named(
//!     "[limits]\nmemory = \"64MiB\"\n[[files]]\npath = \"/srv/data\"\naccess = \"read\"\n",
//!     "policy.toml",
//! ).expect("valid policy");
//! assert_eq!(policy.limits.memory_bytes, 64 << 20);
//! assert_eq!(policy.files[0].access, Access::Read);
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

mod decimal;
pub mod defaults;
mod duration;
mod effective;
pub mod errno;
mod error;
mod location;
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
pub use size::{format_size, parse_size};
pub use syscall_names::{syscall_name, syscall_number};
pub use tunnel::{Op, Perms, Tunnel, TunnelRange};
pub use types::{
    Access, ArgRule, Env, FileRule, Limits, NetRule, OnDeny, Protocol, Stdio, SyscallRules,
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
    pub files: Vec<FileRule>,
    pub network: Vec<NetRule>,
    pub syscalls: SyscallRules,
    pub tunnel: Tunnel,
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

    /// The `[[files]]` rule deciding `guest_path`: the most specific
    /// (longest) rule whose path is `guest_path` or one of its ancestors.
    /// `guest_path` must be absolute and already normalized by the caller.
    pub fn file_rule_for(&self, guest_path: &Path) -> Option<&FileRule> {
        self.files
            .iter()
            .filter(|rule| rule.covers(guest_path))
            .max_by_key(|rule| rule.guest_path.components().count())
    }

    /// Whether a `[[network]]` rule allows `protocol` traffic to `addr`.
    pub fn network_allows(&self, protocol: Protocol, addr: SocketAddr) -> bool {
        self.network.iter().any(|rule| rule.allows(protocol, addr))
    }
}
