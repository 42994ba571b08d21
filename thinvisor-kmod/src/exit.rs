//! VM exits, normalised into a crate-owned enum with a catch-all.

/// Why `Vcpu::run` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmExit {
    /// The guest wrote to an I/O port (`OUT`); `data` holds `size` bytes.
    IoOut { port: u16, size: u8, data: u64 },
    /// The guest read an I/O port (`IN`); nothing answers it here.
    IoIn { port: u16, size: u8 },
    /// The guest touched guest-physical memory that no slot backs (or wrote a
    /// read-only slot).
    Mmio { gpa: u64, len: u32, write: bool },
    /// The guest executed `HLT` at CPL0.
    Hlt,
    /// Triple fault or another shutdown condition.
    Shutdown,
    /// The run was interrupted (EINTR / immediate exit): by an `Interrupter`
    /// or a signal. Not an error.
    Interrupted,
    /// The CPU refused to enter the guest (invalid guest state).
    FailEntry { reason: u64 },
    /// KVM could not handle something in the kernel (e.g. emulation failure).
    InternalError { suberror: u32 },
    /// A debug exit (single step or breakpoint).
    Debug,
    /// The guest touched an MSR the filter denies, and user-space MSR exits
    /// are on.
    MsrAccess { index: u32, write: bool },
    /// Any other KVM exit reason (raw number); always fatal to the guest.
    Other(u32),
}

impl VmExit {
    /// Stable snake_case name, used as the key of `exits_by_reason`.
    pub fn reason_name(&self) -> &'static str {
        match self {
            VmExit::IoOut { .. } => "io_out",
            VmExit::IoIn { .. } => "io_in",
            VmExit::Mmio { .. } => "mmio",
            VmExit::Hlt => "hlt",
            VmExit::Shutdown => "shutdown",
            VmExit::Interrupted => "interrupted",
            VmExit::FailEntry { .. } => "fail_entry",
            VmExit::InternalError { .. } => "internal_error",
            VmExit::Debug => "debug",
            VmExit::MsrAccess { .. } => "msr",
            VmExit::Other(_) => "other",
        }
    }
}
