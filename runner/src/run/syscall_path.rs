//! How the guest's `SYSCALL` reaches the runner, which differs by platform:
//!
//! - hardware KVM: SYSCALL enters the entry code at CPL0 (LSTAR), which exits
//!   with `out 0x80`; the runner's answer returns with SYSRETQ.
//! - kvm_pvm: SYSCALL jumps to LSTAR *without* leaving CPL3, so fetching from
//!   the supervisor-only entry page faults (#PF, error code 0x15 = user
//!   instruction fetch of a present page, RIP = CR2 = LSTAR). The #PF vector
//!   exits with `out 14`; the runner recognises the frame as a syscall,
//!   rewrites it to return to RCX with RFLAGS = R11, and the stub IRETQs.
//!
//! The SYSRET exit can only happen after a real SYSCALL into CPL0, so it is
//! accepted on every platform; the #PF form is a syscall only on kvm_pvm (on
//! hardware, a #PF at LSTAR means user code jumped there: SIGSEGV).

use crate::run::boot::{self, Guest, StartInfo};
use std::fmt;
use thinvisor_kmod::{Hypervisor, Platform};

/// The syscall path a run expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallPath {
    /// SYSCALL -> CPL0 entry -> exit -> SYSRETQ (hardware KVM).
    Sysret,
    /// SYSCALL -> #PF frame -> exit -> IRETQ (kvm_pvm).
    PageFaultFrame,
}

impl fmt::Display for SyscallPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyscallPath::Sysret => "syscall-sysret (SYSCALL enters CPL0, exit, SYSRETQ)",
            SyscallPath::PageFaultFrame => {
                "pagefault-iret (SYSCALL faults on the supervisor-only LSTAR page, exit, IRETQ)"
            }
        })
    }
}

impl SyscallPath {
    /// Short name for --stats.
    pub fn short(&self) -> &'static str {
        match self {
            SyscallPath::Sysret => "syscall-sysret",
            SyscallPath::PageFaultFrame => "pagefault-iret",
        }
    }

    /// The path for a platform whose backend is known; None when it must be
    /// probed.
    pub fn for_platform(p: Platform) -> Option<SyscallPath> {
        match p {
            Platform::Pvm => Some(SyscallPath::PageFaultFrame),
            Platform::HardwareSvm | Platform::HardwareVmx => Some(SyscallPath::Sysret),
            Platform::Unknown => None,
        }
    }
}

/// Runs a two-instruction guest (`syscall` with RAX = getpid, then `ud2`)
/// and reports which path its SYSCALL took.
pub fn probe(hv: &Hypervisor) -> Result<SyscallPath, String> {
    run_probe(&mut probe_guest(hv)?)
}

/// The probe's guest, built (so that it can run after lock-down).
pub fn probe_guest(hv: &Hypervisor) -> Result<Guest, String> {
    // mov eax, 39 ; syscall ; ud2
    let image = crate::loader::flat::built_in(vec![0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b]);
    let argv = [b"probe".to_vec()];
    boot::boot(
        hv,
        &image,
        &StartInfo {
            argv: &argv,
            envp: &[],
            memory_limit: 4 << 20,
            monitor: None,
            vdso: false,
            huge_pages: false,
            identity: crate::kernel::process::GUEST_IDENTITY,
        },
    )
    .map_err(|e| e.to_string())
}

/// Runs the probe's guest up to its SYSCALL and tells which path it took.
pub fn run_probe(guest: &mut Guest) -> Result<SyscallPath, String> {
    let exit = guest.vcpu.run().map_err(|e| e.to_string())?;
    match super::run_loop::classify(
        &guest.machine,
        &mut guest.vcpu,
        &crate::guest::cpu_area::CpuArea::first(),
        &exit,
        SyscallPath::PageFaultFrame,
    ) {
        Ok(super::run_loop::Event::Syscall(super::run_loop::Entry::Sysret)) => {
            Ok(SyscallPath::Sysret)
        }
        Ok(super::run_loop::Event::Syscall(super::run_loop::Entry::Frame(_))) => {
            Ok(SyscallPath::PageFaultFrame)
        }
        Ok(other) => Err(format!("the probe's SYSCALL produced {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}
