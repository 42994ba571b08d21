//! Landlock: the runner's file system shrinks to the policy's `[[files]]`
//! roots, and TCP to the policy's `[[network]]` ports.
//!
//! The file rules are built from the descriptors [`Vfs::prepare`] opened,
//! never from the policy's path names: Landlock grants exactly the objects
//! the emulation reaches, even if a host path was renamed or replaced after
//! preparation.
//!
//! Compatibility: restricting the file system (Landlock ABI 1, Linux 5.13)
//! is required; a kernel without Landlock makes the runner refuse to run.
//! The rights of later ABIs (cross-directory rename, truncate, TCP ports,
//! device ioctls, signal and abstract-socket scoping, up to ABI 6) are
//! enforced wherever the kernel knows them, and silently skipped where it
//! does not (the seccomp filter and the emulation's own checks still apply).
//! Descriptors opened before the restriction (the program file, `/dev/kvm`,
//! the standard streams, directory descriptors) keep working.

use crate::vfs::Vfs;
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetError, RulesetStatus, Scope, ABI,
};
use sandbox_policy::{FileAccess, NetRules};

/// The ABI whose file-system rights are required.
const REQUIRED_ABI: ABI = ABI::V1;
/// The newest ABI whose rights this module handles (best effort). ABI 7
/// adds only audit-log controls.
const BEST_EFFORT_ABI: ABI = ABI::V6;

#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error(
        "Landlock cannot restrict the file system on this kernel ({0}); the runner refuses to run \
         without it (it needs Linux 5.13 or later with Landlock enabled, e.g. \"landlock\" in the lsm= boot parameter)"
    )]
    Unavailable(#[source] RulesetError),
    #[error("the kernel accepted the Landlock ruleset but enforces none of it; the runner refuses to run without it")]
    NotEnforced,
    #[error("cannot build the Landlock ruleset: {0}")]
    Ruleset(#[source] RulesetError),
}

/// How completely the kernel enforces the ruleset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Every right of ABI 1 to 6 is enforced.
    Full,
    /// The file system is restricted, some newer rights are not enforced.
    Partial,
}

fn read_rights(is_dir: bool) -> BitFlags<AccessFs> {
    if is_dir {
        AccessFs::ReadFile | AccessFs::ReadDir
    } else {
        AccessFs::ReadFile.into()
    }
}

fn write_rights(is_dir: bool) -> BitFlags<AccessFs> {
    let file = AccessFs::WriteFile | AccessFs::Truncate;
    if is_dir {
        file | AccessFs::MakeReg
            | AccessFs::MakeDir
            | AccessFs::RemoveFile
            | AccessFs::RemoveDir
            | AccessFs::Refer
    } else {
        file
    }
}

/// The rights a `[[files]]` rule grants on its host path: read = open for
/// reading and list directories; read-write adds writing, truncating,
/// creating regular files and directories, removing and renaming, and in
/// a private tree (made for the run and removed at its end) making
/// symbolic links and named pipes (which the runner never opens: their
/// bytes flow through its own pipes). Never execute, device nodes,
/// sockets or device ioctls, nor symbolic links or named pipes anywhere
/// the host keeps after the run.
pub fn rights(access: FileAccess, is_dir: bool, private: bool) -> BitFlags<AccessFs> {
    match access {
        FileAccess::Read => read_rights(is_dir),
        FileAccess::ReadWrite if private && is_dir => {
            read_rights(is_dir) | write_rights(is_dir) | AccessFs::MakeSym | AccessFs::MakeFifo
        }
        FileAccess::ReadWrite => read_rights(is_dir) | write_rights(is_dir),
    }
}

/// Restricts the calling thread (and every thread it creates afterwards)
/// to the roots `vfs` holds open, the TCP ports of `network` to connect to
/// and its `listen` ports to bind.
pub fn restrict(vfs: &Vfs, network: &NetRules) -> Result<Enforcement, LandlockError> {
    let ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(REQUIRED_ABI))
        .map_err(LandlockError::Unavailable)?
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(BEST_EFFORT_ABI))
        .and_then(|r| r.handle_access(AccessNet::from_all(BEST_EFFORT_ABI)))
        .and_then(|r| r.scope(Scope::from_all(BEST_EFFORT_ABI)))
        .map_err(LandlockError::Ruleset)?;
    let mut created = ruleset.create().map_err(LandlockError::Ruleset)?;
    for root in vfs.roots() {
        created = created
            .add_rule(PathBeneath::new(
                root.fd,
                rights(root.access, root.is_dir, root.private),
            ))
            .map_err(LandlockError::Ruleset)?;
    }
    for port in network.tcp_ports() {
        created = created
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(LandlockError::Ruleset)?;
    }
    for port in network.listen_ports() {
        created = created
            .add_rule(NetPort::new(port, AccessNet::BindTcp))
            .map_err(LandlockError::Ruleset)?;
    }
    let status = created.restrict_self().map_err(LandlockError::Ruleset)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(Enforcement::Full),
        RulesetStatus::PartiallyEnforced => Ok(Enforcement::Partial),
        // Not reachable with the hard requirement above; refuse anyway.
        RulesetStatus::NotEnforced => Err(LandlockError::NotEnforced),
    }
}
