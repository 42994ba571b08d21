//! The vCPU state cache: reads come from what KVM already returned with the
//! exit (sync_regs) or are fetched once per exit; writes are deferred and
//! flushed on the next run, through the run page where KVM allows it, so the
//! common exit costs exactly one ioctl (KVM_RUN).

use kvm_bindings::{kvm_fpu, kvm_regs, kvm_sregs};

/// Cached and pending vCPU state between two runs.
#[derive(Default)]
pub(crate) struct StateCache {
    /// Registers, when sync_regs is unavailable (else they live in the run page).
    pub regs: Option<kvm_regs>,
    pub regs_dirty: bool,
    /// Segment and control registers, fetched on first use after an exit.
    pub sregs: Option<kvm_sregs>,
    pub sregs_dirty: bool,
    /// FPU/SSE state, fetched on first use after an exit.
    pub fpu: Option<kvm_fpu>,
    pub fpu_dirty: bool,
    /// The whole XSAVE area (x87, SSE, AVX, AVX-512 ...), fetched on first
    /// use after an exit. It and `fpu` describe the same registers: at
    /// most one of them is dirty, and changing one forgets the other
    /// (vcpu.rs).
    pub xsave: Option<Box<crate::vcpu::XsaveArea>>,
    pub xsave_dirty: bool,
    /// MSR writes to issue in one KVM_SET_MSRS before the next run.
    pub pending_msrs: Vec<(u32, u64)>,
    /// XCR0 to set before the next run.
    pub pending_xcr0: Option<u64>,
}

impl StateCache {
    /// Forgets everything read from the vCPU: called when a run returns.
    pub fn invalidate_reads(&mut self) {
        self.regs = None;
        self.sregs = None;
        self.fpu = None;
        self.xsave = None;
    }
}
