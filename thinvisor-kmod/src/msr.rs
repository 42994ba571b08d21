//! MSR filtering: which MSRs are guest state (readable and writable through
//! the vCPU cache), and which the guest may touch natively.

/// MSRs that are part of a guest's state, each with why it is open.
/// Anything else is host or control state and has no API.
pub const GUEST_STATE_MSRS: &[(u32, &str)] = &[
    (0x0000_0010, "IA32_TSC: the guest's own time stamp counter"),
    (0x0000_0174, "SYSENTER_CS: legacy fast-syscall entry"),
    (0x0000_0175, "SYSENTER_ESP: legacy fast-syscall entry"),
    (0x0000_0176, "SYSENTER_EIP: legacy fast-syscall entry"),
    (
        0x0000_0277,
        "PAT: guest memory types of its own page tables",
    ),
    (0xC000_0081, "STAR: SYSCALL/SYSRET segment selectors"),
    (0xC000_0082, "LSTAR: 64-bit SYSCALL entry point"),
    (0xC000_0083, "CSTAR: compatibility-mode SYSCALL entry point"),
    (0xC000_0084, "SFMASK: RFLAGS bits cleared on SYSCALL"),
    (0xC000_0100, "FS_BASE: thread-local storage base"),
    (0xC000_0101, "GS_BASE: per-CPU base"),
    (0xC000_0102, "KERNEL_GS_BASE: SWAPGS shadow"),
    (0xC000_0103, "TSC_AUX: RDTSCP/RDPID value"),
];

/// MSRs the guest may be allowed to read and write natively (without an
/// exit) through [`crate::Vm::allow_native_msr`]: KVM switches each of them
/// per guest, so native access reaches guest state only.
pub const NATIVE_ALLOWABLE_MSRS: &[(u32, &str)] = &[
    (
        0xC000_0100,
        "FS_BASE: TLS base, switched by KVM on every entry",
    ),
    (0xC000_0101, "GS_BASE: switched by KVM on every entry"),
    (
        0xC000_0102,
        "KERNEL_GS_BASE: switched by KVM on every entry",
    ),
    (0xC000_0103, "TSC_AUX: switched by KVM on every entry"),
];

/// True when `msr` is guest state.
pub fn is_guest_state(msr: u32) -> bool {
    GUEST_STATE_MSRS.iter().any(|&(m, _)| m == msr)
}

/// True when `msr` may be opened for native guest access.
pub fn is_native_allowable(msr: u32) -> bool {
    NATIVE_ALLOWABLE_MSRS.iter().any(|&(m, _)| m == msr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_control_msrs_are_not_guest_state() {
        // EFER is set through the segment/control registers, never as an MSR;
        // APIC base, feature control and VMX MSRs are host control state.
        for msr in [0xC000_0080, 0x1B, 0x3A, 0x480] {
            assert!(!is_guest_state(msr), "{msr:#x}");
            assert!(!is_native_allowable(msr), "{msr:#x}");
        }
        assert!(is_guest_state(0xC000_0082));
        for &(m, _) in NATIVE_ALLOWABLE_MSRS {
            assert!(is_guest_state(m));
        }
    }
}
