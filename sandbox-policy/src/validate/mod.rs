//! Raw schema → validated [`Policy`]: value parsing, range checks and
//! conflict detection, every error placed at a line and key path.
//!
//! One file per part of the policy: `limits` (with sizes and durations),
//! `stdio_env` (with `[identity]`), `files`, `network`, `syscalls` (lists, argument rules, the
//! vDSO) and `tunnel`.

mod files;
mod limits;
mod network;
mod stdio_env;
mod syscalls;
mod tunnel;

use crate::error::PolicyError;
use crate::location::Source;
use crate::schema::RawPolicy;
use crate::Policy;
use files::files;
use limits::limits;
use network::network;
use stdio_env::{env, identity, stdio};
use syscalls::syscalls;
use tunnel::tunnel;

type Result<T> = std::result::Result<T, PolicyError>;

/// Validates a deserialized document.
pub fn validate(raw: RawPolicy, src: &Source<'_>) -> Result<Policy> {
    let limits = limits(raw.limits, src)?;
    let stdio = stdio(raw.stdio);
    let env = env(raw.env, src)?;
    let identity = identity(raw.identity, src)?;
    let files = files(&raw.files, src)?;
    let network = network(&raw.network, src)?;
    let syscalls = syscalls(raw.syscalls, src)?;
    let tunnel = tunnel(&raw.tunnel, src)?;
    Ok(Policy {
        limits,
        stdio,
        env,
        identity,
        files,
        network,
        syscalls,
        tunnel,
    })
}
