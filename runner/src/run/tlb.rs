//! TLB coherence between the vCPUs of one address space.
//!
//! The runner changes a process's page tables from the host (mmap, munmap,
//! mprotect, mremap, brk, madvise). The vCPU that asked flushes on its way
//! back (the entry code's `flush_return`, asm/entry.S). Every other vCPU of
//! the process may still hold the old translations, so before the call
//! returns, [`shoot_down`] marks each of them, kicks it out of the guest
//! and waits until it is out (`CpuSync::shoot_down`). A marked vCPU does
//! not run user code again until it has reloaded CR3: before its next
//! entry the runner sends it through `flush_return` ([`redirect`]), from
//! wherever it stopped. Frames the call freed are reused only by a later
//! call, which needs the kernel lock the caller still holds, so no vCPU
//! can reach a frame through a stale translation once it has a new owner.
//!
//! Hardware KVM tags TLB entries per vCPU (VPID/ASID) and keeps them
//! across exits; kvm_pvm's shadow MMU rebuilds its tables on a CR3 load.
//! A guest CR3 reload is what both honour, so both take this same path.

use super::boot::kernel_segments;
use super::frame::{self, Frame};
use super::run_loop::{RunError, USER_RFLAGS};
use crate::guest::cpu_area::CpuArea;
use crate::guest::entry_code as ec;
use crate::guest::layout::{USER_CS, USER_DS, USER_END};
use crate::kernel::thread_group::ThreadGroup;
use thinvisor_kmod::{GuestMemory, Vcpu};

/// Length of `add rsp, 8` (48 83 c4 08) in the exception stubs.
const ADD_RSP_LEN: u64 = 4;
/// Length of `mov rax, cr3` (0f 20 d8).
const MOV_FROM_CR3_LEN: u64 = 3;

/// Whether a pending flush was arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// The vCPU reloads CR3 before its next user instruction.
    Done,
    /// The vCPU stopped in the entry code before an exit to the runner
    /// (at or before an `out`), or in user mode with an exception queued in
    /// KVM: it runs no user code before that exit, and the flush stays
    /// pending for the return from it.
    Deferred,
}

/// Marks every other live thread of `group` for a flush, kicks it out of
/// the guest and waits until it is out. Called with the kernel lock held,
/// after a page-table change and before the call returns.
pub fn shoot_down(group: &ThreadGroup, me: u64) {
    for m in group.others(me) {
        m.cpu.shoot_down(m.interrupter.as_ref().map(|i| &i.0));
    }
}

/// Kicks every other live thread of `group` out of the guest and waits
/// until it is out; none runs user code again before it has prepared its
/// entry under the kernel lock, which the caller holds while it rewrites
/// the program's code (a syscall site for the ring: run/ring_loop.rs).
pub fn hold_out(group: &ThreadGroup, me: u64) {
    for m in group.others(me) {
        m.cpu.hold_out(m.interrupter.as_ref().map(|i| &i.0));
    }
}

/// Sends `vcpu`, stopped outside the guest with a flush pending, through
/// `flush_return` before it runs user code again, from wherever it
/// stopped: user mode (the runner builds the frame an interrupt would have
/// pushed and enters CPL0), an exception stub's return, the SYSRET return,
/// or the flush sequence itself (restarted where a stale CR3 could
/// survive). Every register the program sees comes back unchanged.
pub fn redirect(
    mem: &mut GuestMemory,
    vcpu: &mut Vcpu,
    cpu: &CpuArea,
    on_out: bool,
) -> Result<Redirect, RunError> {
    let r = *vcpu.regs()?;
    let rip = r.rip;
    let frame_va = cpu.frame_va();
    // A user-mode fault KVM has queued but not delivered (a write to a page
    // a fork had just made read-only, raised just before the kick) would be
    // pushed at `flush_return` with a kernel frame if the vCPU were moved
    // there. It goes first: the vCPU enters its stub and exits before any
    // user instruction, and the flush is done on the way back.
    if rip < USER_END && vcpu.exception_pending()? {
        return Ok(Redirect::Deferred);
    }
    if rip < USER_END {
        frame::write(
            mem,
            cpu,
            &Frame {
                error_code: 0,
                rip,
                cs: u64::from(USER_CS),
                rflags: r.rflags,
                rsp: r.rsp,
                ss: u64::from(USER_DS),
            },
        )?;
        let regs = vcpu.regs_mut()?;
        regs.rip = ec::FLUSH_RETURN;
        regs.rsp = frame_va;
        regs.rflags = 0x2;
        let (cs, ss) = kernel_segments();
        let s = vcpu.sregs_mut()?;
        s.cs = cs;
        s.ss = ss;
        return Ok(Redirect::Done);
    }
    // (On hardware KVM a vCPU that exited through a stub is still on its
    // `out`: `ec::at_out`. Moving RIP cancels KVM's skip of it.)
    let new_rip = if ec::at_vector_out(rip, on_out) && r.rsp == frame_va {
        ec::FLUSH_RETURN
    } else if ec::VECTOR_AFTER_OUT.iter().any(|&a| a + ADD_RSP_LEN == rip) && r.rsp == frame_va + 8
    {
        ec::FLUSH_IRET
    } else if ec::at_out(rip, ec::SYSCALL_AFTER_OUT, on_out) {
        // SYSRETQ pending: return through an IRET frame instead, as a
        // syscall's own flush does (run_loop::finish_syscall).
        frame::write(
            mem,
            cpu,
            &Frame {
                error_code: 0,
                rip: r.rcx,
                cs: u64::from(USER_CS),
                rflags: (r.r11 & USER_RFLAGS) | 0x202,
                rsp: r.rsp,
                ss: u64::from(USER_DS),
            },
        )?;
        vcpu.regs_mut()?.rsp = frame_va;
        ec::FLUSH_RETURN
    } else if rip == ec::FLUSH_RELOAD + MOV_FROM_CR3_LEN || rip == ec::FLUSH_POP {
        // RAX is saved on the stack; read CR3 again (a root switch may
        // have come since it was read).
        ec::FLUSH_RELOAD
    } else if rip == ec::FLUSH_IRETQ {
        ec::FLUSH_IRET
    } else if [ec::FLUSH_RETURN, ec::FLUSH_IRET, ec::FLUSH_RELOAD].contains(&rip) {
        return Ok(Redirect::Done);
    } else {
        return Ok(Redirect::Deferred);
    };
    vcpu.regs_mut()?.rip = new_rip;
    Ok(Redirect::Done)
}
