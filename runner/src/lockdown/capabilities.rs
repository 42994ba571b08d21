//! Capabilities: the ambient, bounding, inheritable, effective and permitted
//! sets of the calling thread emptied, in that order (emptying the bounding
//! set needs CAP_SETPCAP, so it goes before the effective set). Threads
//! created afterwards inherit the empty sets.

use caps::errors::CapsError;
use caps::{CapSet, Capability};

#[derive(Debug, thiserror::Error)]
pub enum CapabilitiesError {
    #[error("cannot clear the {set} capability set: {source}")]
    Clear {
        set: &'static str,
        #[source]
        source: CapsError,
    },
    #[error("the {set} capability set is not empty after clearing it")]
    Left { set: &'static str },
    #[error(
        "the kernel has capabilities up to number {kernel_last}, this runner can drop only up to {known_last}"
    )]
    UnknownCapabilities { kernel_last: u8, known_last: u8 },
}

/// What was done to the bounding set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounding {
    Emptied,
    /// The runner lacks CAP_SETPCAP (it was started without privileges), so
    /// it cannot empty its bounding set. With no_new_privs and no `execve`
    /// (the seccomp filter) the bounding set can never grant anything.
    KeptWithoutPrivilege,
}

const SETS: [(CapSet, &str); 5] = [
    (CapSet::Ambient, "ambient"),
    (CapSet::Bounding, "bounding"),
    (CapSet::Inheritable, "inheritable"),
    (CapSet::Effective, "effective"),
    (CapSet::Permitted, "permitted"),
];

/// The highest capability number this runner can name.
fn known_last() -> u8 {
    caps::all().iter().map(Capability::index).max().unwrap_or(0)
}

/// Empties every capability set of the calling thread. `kernel_last` is
/// the kernel's highest capability number (`/proc/sys/kernel/cap_last_cap`).
pub fn drop_all(kernel_last: u8) -> Result<Bounding, CapabilitiesError> {
    let may_drop_bounding = caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)
        .map_err(|source| CapabilitiesError::Clear {
            set: "effective",
            source,
        })?;
    if may_drop_bounding && kernel_last > known_last() {
        return Err(CapabilitiesError::UnknownCapabilities {
            kernel_last,
            known_last: known_last(),
        });
    }
    for (set, name) in SETS {
        if matches!(set, CapSet::Bounding) && !may_drop_bounding {
            continue;
        }
        caps::clear(None, set).map_err(|source| CapabilitiesError::Clear { set: name, source })?;
        let left = caps::read(None, set)
            .map_err(|source| CapabilitiesError::Clear { set: name, source })?;
        if !left.is_empty() {
            return Err(CapabilitiesError::Left { set: name });
        }
    }
    Ok(if may_drop_bounding {
        Bounding::Emptied
    } else {
        Bounding::KeptWithoutPrivilege
    })
}
