//! A vCPU's state as KVM keeps it, read once and written back whole: how a
//! vCPU that ran one guest is made to start the next one as it started the
//! first (`Vcpu::snapshot` on a fresh vCPU, `Vcpu::restore` after a run).
//!
//! What it covers is everything a run can change in KVM's per-vCPU state:
//! general, segment and control registers, the FPU/SSE/AVX state (the whole
//! XSAVE area), XCR0, the guest-state MSRs the runner sets or the guest's
//! entry code can reach (msr.rs: SYSCALL and SYSENTER entry, FS/GS bases,
//! TSC_AUX, PAT), pending exceptions, interrupts and NMIs (and whatever KVM
//! still owed the last exit: an MMIO read's or an MSR access's data), the debug
//! registers (DR6 records a single-step trap) and the run state. Two parts
//! are left as they are, on purpose:
//!
//! - the time-stamp counter keeps counting: writing IA32_TSC back would make
//!   KVM treat it as a TSC synchronisation attempt, and a guest only learns
//!   how long the VM has existed, not anything a previous guest did;
//! - the local APIC: a guest has no way to reach it (its page tables never
//!   map the APIC page and the MSR filter denies the x2APIC MSRs), and the
//!   runner never programs it.

use crate::counters::VcpuCounters;
use crate::error::{KmodError, Result};
use crate::exit::VmExit;
use crate::msr;
use crate::state_cache::StateCache;
use crate::vcpu::Vcpu;
use kvm_bindings::{
    kvm_debugregs, kvm_fpu, kvm_mp_state, kvm_msr_entry, kvm_regs, kvm_sregs, kvm_vcpu_events,
    kvm_xcrs, kvm_xsave, Msrs, KVM_SYNC_X86_REGS, KVM_SYNC_X86_SREGS,
    KVM_VCPUEVENT_VALID_NMI_PENDING,
};
use kvm_ioctls::SyncReg;

/// IA32_TSC: not part of a snapshot (see the module's documentation).
const IA32_TSC: u32 = 0x10;

/// Everything [`Vcpu::restore`] writes back.
pub struct VcpuSnapshot {
    regs: kvm_regs,
    sregs: kvm_sregs,
    /// The x87/SSE state (the XSAVE area's legacy region).
    fpu: kvm_fpu,
    /// The whole XSAVE area (x87, SSE, AVX, AVX-512 state).
    xsave: Box<kvm_xsave>,
    xcrs: Option<kvm_xcrs>,
    msrs: Vec<kvm_msr_entry>,
    events: kvm_vcpu_events,
    debug: kvm_debugregs,
    mp_state: kvm_mp_state,
    /// The vCPU's counters when the snapshot was taken.
    counters: VcpuCounters,
}

impl Vcpu {
    /// Reads the vCPU's whole state (about ten ioctls), after writing what
    /// was deferred to the next run. Taken on a vCPU that has never run and
    /// was never changed, it is the state KVM gives a new vCPU.
    pub fn snapshot(&mut self) -> Result<VcpuSnapshot> {
        self.flush()?;
        let counters = self.counters;
        let ioctl = |op: &'static str| move |e| KmodError::ioctl(op, e);
        // With sync_regs, registers changed since the last exit wait in the
        // run page for the next KVM_RUN, which applies them after the MSRs
        // `flush` wrote: KVM is given them now, in that order, so that what
        // is read below is the state the next run would have started with.
        let pending = self.fd.get_kvm_run().kvm_dirty_regs;
        if self.sync_regs && pending & u64::from(KVM_SYNC_X86_REGS) != 0 {
            let regs = self.fd.sync_regs().regs;
            self.fd.set_regs(&regs).map_err(ioctl("KVM_SET_REGS"))?;
            self.fd.clear_sync_dirty_reg(SyncReg::Register);
        }
        if self.sync_regs && pending & u64::from(KVM_SYNC_X86_SREGS) != 0 {
            let sregs = self.fd.sync_regs().sregs;
            self.fd.set_sregs(&sregs).map_err(ioctl("KVM_SET_SREGS"))?;
            self.fd.clear_sync_dirty_reg(SyncReg::SystemRegister);
        }
        let regs = self.fd.get_regs().map_err(ioctl("KVM_GET_REGS"))?;
        let sregs = self.fd.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?;
        Ok(VcpuSnapshot {
            regs,
            sregs,
            fpu: self.fd.get_fpu().map_err(ioctl("KVM_GET_FPU"))?,
            xsave: Box::new(self.fd.get_xsave().map_err(ioctl("KVM_GET_XSAVE"))?),
            // Without XSAVE on the host there is no XCR0 to keep.
            xcrs: self.fd.get_xcrs().ok(),
            msrs: self.readable_msrs()?,
            events: self
                .fd
                .get_vcpu_events()
                .map_err(ioctl("KVM_GET_VCPU_EVENTS"))?,
            debug: self
                .fd
                .get_debug_regs()
                .map_err(ioctl("KVM_GET_DEBUGREGS"))?,
            mp_state: self.fd.get_mp_state().map_err(ioctl("KVM_GET_MP_STATE"))?,
            counters,
        })
    }

    /// The guest-state MSRs KVM supports, with their values: KVM_GET_MSRS
    /// stops at the first MSR it does not know, which is skipped.
    fn readable_msrs(&mut self) -> Result<Vec<kvm_msr_entry>> {
        let mut wanted: Vec<u32> = msr::GUEST_STATE_MSRS
            .iter()
            .map(|&(i, _)| i)
            .filter(|&i| i != IA32_TSC)
            .collect();
        let mut read = Vec::new();
        while !wanted.is_empty() {
            let entries: Vec<kvm_msr_entry> = wanted
                .iter()
                .map(|&index| kvm_msr_entry {
                    index,
                    ..Default::default()
                })
                .collect();
            let mut msrs =
                Msrs::from_entries(&entries).map_err(|_| KmodError::Filtered("MSR list".into()))?;
            let n = self
                .fd
                .get_msrs(&mut msrs)
                .map_err(|e| KmodError::ioctl("KVM_GET_MSRS", e))?;
            read.extend_from_slice(&msrs.as_slice()[..n.min(entries.len())]);
            // Skip the one KVM refused and go on after it.
            wanted.drain(..(n + 1).min(wanted.len()));
        }
        Ok(read)
    }

    /// Writes `snapshot` back: the vCPU is in the state it was in when the
    /// snapshot was taken, its counters included, with nothing pending
    /// (no deferred write, no interruption request). Its run thread, if it
    /// has one, stays.
    pub fn restore(&mut self, snapshot: &VcpuSnapshot) -> Result<()> {
        self.idle()?;
        let ioctl = |op: &'static str| move |e| KmodError::ioctl(op, e);
        // Nothing deferred from the last run may be written over the
        // snapshot at the next one.
        self.cache = StateCache::default();
        if self.sync_regs {
            for r in [
                SyncReg::Register,
                SyncReg::SystemRegister,
                SyncReg::VcpuEvents,
            ] {
                self.fd.clear_sync_dirty_reg(r);
            }
        }
        // What KVM still owes the last exit (the data of an MMIO read or of
        // an MSR access handed to user space) it completes at the next
        // KVM_RUN, before anything else, even with `immediate_exit` set:
        // that run happens now, on state about to be overwritten, and
        // returns at once (KVM's documented way to flush it).
        self.interrupt.set_immediate_exit();
        let flushed = self.run();
        self.interrupt.clear();
        match flushed {
            Ok(VmExit::Interrupted) => {}
            Ok(other) => {
                return Err(KmodError::Filtered(format!(
                    "KVM_RUN with immediate_exit set returned {other:?}"
                )))
            }
            Err(e) => return Err(e),
        }
        self.fd
            .set_regs(&snapshot.regs)
            .map_err(ioctl("KVM_SET_REGS"))?;
        self.fd
            .set_sregs(&snapshot.sregs)
            .map_err(ioctl("KVM_SET_SREGS"))?;
        if let Some(x) = &snapshot.xcrs {
            self.fd.set_xcrs(x).map_err(ioctl("KVM_SET_XCRS"))?;
        }
        // SAFETY: a whole 4096-byte kvm_xsave that KVM itself returned for
        // this vCPU; KVM reads past it only for dynamically enabled XSTATE
        // features, which this crate never requests (as in
        // `Vcpu::write_xsave`).
        unsafe { self.fd.set_xsave(&snapshot.xsave) }.map_err(ioctl("KVM_SET_XSAVE"))?;
        // Then the x87/SSE registers themselves: an XSAVE area whose header
        // marks them as in their initial state (a new vCPU's) makes KVM
        // keep the old bytes in its copy, which KVM_GET_FPU (signal frames)
        // would read back.
        self.fd
            .set_fpu(&snapshot.fpu)
            .map_err(ioctl("KVM_SET_FPU"))?;
        let msrs = Msrs::from_entries(&snapshot.msrs)
            .map_err(|_| KmodError::Filtered("MSR list".into()))?;
        let n = self.fd.set_msrs(&msrs).map_err(ioctl("KVM_SET_MSRS"))?;
        if n != snapshot.msrs.len() {
            return Err(KmodError::Filtered(format!(
                "KVM refused MSR {:#x} it had read",
                snapshot.msrs.get(n).map_or(0, |e| e.index)
            )));
        }
        // KVM_GET_VCPU_EVENTS never marks the pending-NMI field valid, so
        // without the flag a pending NMI would stay.
        let mut events = snapshot.events;
        events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
        self.fd
            .set_vcpu_events(&events)
            .map_err(ioctl("KVM_SET_VCPU_EVENTS"))?;
        self.fd
            .set_debug_regs(&snapshot.debug)
            .map_err(ioctl("KVM_SET_DEBUGREGS"))?;
        self.fd
            .set_mp_state(snapshot.mp_state)
            .map_err(ioctl("KVM_SET_MP_STATE"))?;
        if self.sync_regs {
            // What the run page shows must be what the vCPU now holds.
            let page = self.fd.sync_regs_mut();
            page.regs = snapshot.regs;
            page.sregs = snapshot.sregs;
        }
        self.interrupt.clear();
        self.counters = snapshot.counters;
        Ok(())
    }
}
