//! Typed errors of the thin hypervisor.

use std::io;

/// Everything the thin hypervisor can fail at. Each variant names the
/// operation, so a caller can report it without knowing about ioctls.
#[derive(Debug, thiserror::Error)]
pub enum KmodError {
    /// `/dev/kvm` could not be opened (missing, or no permission).
    #[error("cannot open /dev/kvm: {0} (is KVM available and accessible?)")]
    Open(#[source] io::Error),
    /// KVM reports an API version other than 12.
    #[error("unsupported KVM API version {0} (expected 12)")]
    ApiVersion(i32),
    /// A capability the thin hypervisor cannot work without is missing.
    #[error("KVM lacks a required capability: {0}")]
    MissingCapability(&'static str),
    /// An ioctl failed; `op` names it.
    #[error("{op} failed: {source}")]
    Ioctl {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// Guest memory could not be allocated on the host.
    #[error("cannot allocate {bytes} bytes of guest memory: {source}")]
    Allocate {
        bytes: usize,
        #[source]
        source: io::Error,
    },
    /// A guest-physical range or memory offset falls outside its region.
    #[error("range {offset:#x}+{len:#x} is outside guest memory of {size:#x} bytes")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    /// The request is well formed but the filter refuses it (a control setting
    /// outside the allowed table, an MSR that is not guest state, ...).
    #[error("refused by the thin-hypervisor filter: {0}")]
    Filtered(String),
    /// A memory slot that does not exist, or an overlapping mapping.
    #[error("invalid memory slot request: {0}")]
    Slot(String),
    /// The kick timer could not be set up.
    #[error("{what} failed: {source}")]
    Timer {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

impl KmodError {
    pub(crate) fn ioctl(op: &'static str, e: kvm_ioctls::Error) -> Self {
        KmodError::Ioctl {
            op,
            source: io::Error::from_raw_os_error(e.errno()),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, KmodError>;
