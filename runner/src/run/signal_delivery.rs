//! Delivering a signal to the program's handler, as Linux does on x86-64:
//! before a thread runs user code again, the lowest pending signal its mask
//! does not block (a CPU fault first) is taken; an ignored one is dropped, a
//! default one ends the run with 128+N, and a handler gets an
//! `rt_sigframe` (abi/sigframe.rs) on the thread's stack, or its
//! alternate stack with SA_ONSTACK, below the red zone: the registers it
//! interrupted, the mask to restore, siginfo, and the FPU/SSE state
//! (FXSAVE). The handler starts with RDI = signal, RSI = &siginfo,
//! RDX = &ucontext and returns to sa_restorer, which calls rt_sigreturn.
//!
//! Where the thread's user state is depends on where its vCPU stopped
//! ([`locate`]): in user mode (an interrupt), at an exception stub's return
//! (a fault or a syscall on kvm_pvm: the IRET frame), or at SYSRETQ (a
//! syscall on hardware KVM). Elsewhere in the entry code delivery waits
//! for the vCPU's next exit.

use super::frame::{self, Frame};
use super::run_loop::{RunError, USER_RFLAGS};
use super::threads::State;
use crate::abi::constants::{
    SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTORER, SIGKILL, SIGSTOP, SIG_DFL, SIG_IGN,
    SI_TKILL, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS,
};
use crate::abi::sigframe::{self, SigInfo, Trap, UserRegs, FPSTATE_SIZE, FRAME_SIZE, RED_ZONE};
use crate::guest::cpu_area::CpuArea;
use crate::guest::entry_code as ec;
use crate::guest::layout::{USER_CS, USER_DS, USER_END};
use crate::kernel::death::Death;
use crate::kernel::process::GUEST_IDENTITY;
use crate::kernel::signal_state::Action;
use crate::kernel::Thread;
use crate::syscalls::signals::{ignored_by_default, stops};
use crate::tunnel::{GuestPtr, Tunnel};
use thinvisor_kmod::{Fpu, GuestMemory, Vcpu};

/// RFLAGS bits a handler starts without: TF, DF, RF (as Linux).
const HANDLER_CLEARS: u64 = (1 << 8) | (1 << 10) | (1 << 16);

/// What delivery did.
#[derive(Debug)]
pub enum Delivery {
    /// Nothing to deliver (or an ignored signal was dropped).
    Nothing,
    /// The thread now starts in a handler.
    Handler,
    /// A signal is pending but the vCPU is inside the entry code: it is
    /// delivered at the next exit.
    Deferred,
    /// The signal's action ends the process.
    Kill(Death),
}

/// Where a stopped vCPU's user state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// In user mode: the registers are the program's.
    User,
    /// At an IRET back to user mode: RIP, RSP and RFLAGS are in the frame
    /// on the vCPU's interrupt stack, the rest in the registers.
    IretFrame,
    /// At SYSRETQ: RIP is RCX, RFLAGS R11.
    Sysret,
}

/// Where `vcpu` (supervisor pages `cpu`) has the program's state, if
/// delivery can edit it now.
pub fn locate(regs: &thinvisor_kmod::Regs, cpu: &CpuArea, on_out: bool) -> Option<Location> {
    let (rip, rsp) = (regs.rip, regs.rsp);
    if rip < USER_END {
        return Some(Location::User);
    }
    let frame = cpu.frame_va();
    // On hardware KVM the vCPU is still on the stub's `out` (KVM skips it
    // on the next entry): editing registers other than RIP, or the frame,
    // keeps that skip.
    let at_iret = (ec::at_vector_out(rip, on_out) || rip == ec::FLUSH_RETURN) && rsp == frame;
    if at_iret {
        return Some(Location::IretFrame);
    }
    ec::at_out(rip, ec::SYSCALL_AFTER_OUT, on_out).then_some(Location::Sysret)
}

/// Delivers the next signal of thread `t`, if any (see the module docs).
pub fn deliver(st: &mut State<'_>, t: &mut Thread) -> Result<Delivery, RunError> {
    t.signals
        .take_posted(&t.inbox, &st.process.threads.shared_pending, 0);
    let (info, trap) = match t.signals.fault.take() {
        Some(f) => f,
        None => {
            let Some(sig) = t.signals.next_deliverable() else {
                return Ok(Delivery::Nothing);
            };
            let info = st.process.signal_info.take(t.tid, sig).unwrap_or(SigInfo {
                signo: sig as i32,
                code: SI_TKILL,
                addr: None,
                pid: GUEST_IDENTITY.pid as u32,
                uid: GUEST_IDENTITY.uid as u32,
                value: 0,
            });
            (info, Trap::default())
        }
    };
    let sig = info.signo as u64;
    let action = st.process.signal_actions.action(sig);
    let is_fault = trap.trapno != 0 || info.addr.is_some();
    if action.handler == SIG_IGN
        || (action.handler == SIG_DFL && (ignored_by_default(sig) || stops(sig)))
    {
        t.signals.pending &= !(1 << (sig - 1));
        st.process.signal_info.discard(sig);
        return Ok(Delivery::Nothing);
    }
    let regs = *t.vcpu.regs()?;
    let Some(loc) = locate(&regs, &t.cpu, t.on_out) else {
        if is_fault {
            t.signals.fault = Some((info, trap));
        }
        return Ok(Delivery::Deferred);
    };
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    let user = user_state(mem, &t.cpu, &regs, loc)?;
    if action.handler == SIG_DFL || sig == SIGKILL as u64 || sig == SIGSTOP as u64 {
        t.signals.pending &= !(1 << (sig - 1));
        let cause = t.signals.pending_cause[(sig - 1) as usize];
        return Ok(Delivery::Kill(Death::Signal {
            signal: sig as i32,
            cause: if cause.is_empty() {
                "raised by the program itself".into()
            } else {
                cause.into()
            },
            rip: user.rip,
            addr: None,
        }));
    }
    t.signals.pending &= !(1 << (sig - 1));
    if !is_fault && st.process.signal_info.more(t.tid, sig) {
        // Another real-time signal of the number is queued.
        t.signals.pending |= 1 << (sig - 1);
    }
    match build(st, t, &action, &info, &trap, &user, loc)? {
        Ok(()) => Ok(Delivery::Handler),
        Err(why) => Ok(Delivery::Kill(Death::Signal {
            signal: crate::abi::constants::SIGSEGV,
            cause: why,
            rip: user.rip,
            addr: None,
        })),
    }
}

/// The program's registers at `loc`.
fn user_state(
    mem: &GuestMemory,
    cpu: &CpuArea,
    r: &thinvisor_kmod::Regs,
    loc: Location,
) -> Result<UserRegs, RunError> {
    let mut u = UserRegs {
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rdi: r.rdi,
        rsi: r.rsi,
        rbp: r.rbp,
        rbx: r.rbx,
        rdx: r.rdx,
        rax: r.rax,
        rcx: r.rcx,
        rsp: r.rsp,
        rip: r.rip,
        rflags: r.rflags,
    };
    match loc {
        Location::User => {}
        Location::IretFrame => {
            let f = frame::read(mem, cpu)?;
            u.rip = f.rip;
            u.rsp = f.rsp;
            u.rflags = f.rflags;
        }
        Location::Sysret => {
            u.rip = r.rcx;
            u.rflags = (r.r11 & USER_RFLAGS) | 0x202;
        }
    }
    Ok(u)
}

/// Builds the frame and points the thread at the handler. The inner
/// error: the frame cannot be written (the program's stack is not
/// writable memory), which kills as Linux does, with SIGSEGV.
fn build(
    st: &mut State<'_>,
    t: &mut Thread,
    action: &Action,
    info: &SigInfo,
    trap: &Trap,
    user: &UserRegs,
    loc: Location,
) -> Result<Result<(), String>, RunError> {
    let sig = info.signo as u64;
    if action.flags & SA_RESTORER == 0 {
        return Ok(Err(format!(
            "signal {sig}'s handler has no SA_RESTORER (x86-64 programs must give one)"
        )));
    }
    // The stack: the alternate one with SA_ONSTACK, unless already on it.
    // Its base and size are the program's, unchecked (as on Linux): the
    // arithmetic wraps, and a frame that lands nowhere writable kills.
    let alt = t.signals.altstack;
    let on_alt = alt.is_some_and(|(sp, _, size)| user.rsp > sp && user.rsp - sp <= size);
    let top = match alt {
        Some((sp, _, size)) if action.flags & SA_ONSTACK != 0 && !on_alt => sp.wrapping_add(size),
        _ => user.rsp.wrapping_sub(RED_ZONE),
    };
    let fpstate = top.wrapping_sub(FPSTATE_SIZE) & !63;
    let frame_at = (fpstate.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    let old_mask = t.signals.saved_mask.take().unwrap_or(t.signals.mask);
    let altstack = match alt {
        Some((sp, flags, size)) => (
            sp,
            (flags | if on_alt { SS_ONSTACK } else { 0 }) as u32,
            size,
        ),
        None => (0, SS_DISABLE as u32, 0),
    };
    let fpu = *t.vcpu.fpu()?;
    let frame = sigframe::Frame {
        restorer: action.restorer,
        regs: *user,
        trap: *trap,
        cs: USER_CS,
        ss: USER_DS,
        old_mask,
        altstack,
        info: *info,
        fpstate,
        uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
    };
    let State {
        machine, process, ..
    } = st;
    let mem = machine.vm.memory_mut(machine.slot)?;
    let mut tunnel = Tunnel::for_runner_layout(&mut process.mm, mem);
    let wrote = tunnel
        .write(GuestPtr::new(fpstate), &fxsave_image(&fpu))
        .and_then(|()| tunnel.write(GuestPtr::new(frame_at), &frame.to_bytes()));
    if let Err(e) = wrote {
        return Ok(Err(format!(
            "cannot build the frame for signal {sig}'s handler: {e}"
        )));
    }
    // Enter the handler.
    let flags = user.rflags & !HANDLER_CLEARS;
    let info_at = frame_at + sigframe::INFO_OFFSET;
    let uc_at = frame_at + sigframe::UC_OFFSET;
    let regs = t.vcpu.regs_mut()?;
    regs.rdi = sig;
    regs.rsi = info_at;
    regs.rdx = uc_at;
    regs.rax = 0;
    match loc {
        Location::User => {
            regs.rip = action.handler;
            regs.rsp = frame_at;
            regs.rflags = flags;
        }
        Location::Sysret => {
            regs.rcx = action.handler;
            regs.r11 = flags;
            regs.rsp = frame_at;
        }
        Location::IretFrame => {
            let mut f = frame::read(mem, &t.cpu)?;
            f.rip = action.handler;
            f.rsp = frame_at;
            f.rflags = (flags & USER_RFLAGS) | 0x202;
            f.cs = u64::from(USER_CS);
            f.ss = u64::from(USER_DS);
            frame::write(mem, &t.cpu, &f)?;
        }
    }
    // The mask while the handler runs; one-shot handlers; the alternate
    // stack disarmed with SS_AUTODISARM.
    let mut mask = t.signals.mask | action.mask;
    if action.flags & SA_NODEFER == 0 {
        mask |= 1 << (sig - 1);
    }
    t.signals.mask = mask & !((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1)));
    if action.flags & SA_RESETHAND != 0 {
        process.signal_actions.set(sig, Action::default());
    }
    if action.flags & SA_ONSTACK != 0 && !on_alt {
        if let Some((_, f, _)) = alt {
            if f & SS_AUTODISARM != 0 {
                t.signals.altstack = None;
            }
        }
    }
    Ok(Ok(()))
}

/// The FXSAVE image of `fpu` (what the frame's fpstate points at).
pub fn fxsave_image(fpu: &Fpu) -> [u8; FPSTATE_SIZE as usize] {
    let mut b = [0u8; FPSTATE_SIZE as usize];
    b[0..2].copy_from_slice(&fpu.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&fpu.fsw.to_le_bytes());
    b[4] = fpu.ftwx;
    b[6..8].copy_from_slice(&fpu.last_opcode.to_le_bytes());
    b[8..16].copy_from_slice(&fpu.last_ip.to_le_bytes());
    b[16..24].copy_from_slice(&fpu.last_dp.to_le_bytes());
    b[24..28].copy_from_slice(&fpu.mxcsr.to_le_bytes());
    b[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
    for (i, st) in fpu.fpr.iter().enumerate() {
        b[32 + i * 16..48 + i * 16].copy_from_slice(st);
    }
    for (i, x) in fpu.xmm.iter().enumerate() {
        b[160 + i * 16..176 + i * 16].copy_from_slice(x);
    }
    b
}

/// The FPU state an FXSAVE image `b` describes, with MXCSR's reserved bits
/// cleared (a forged image cannot make the state unloadable).
pub fn fpu_from_image(b: &[u8; FPSTATE_SIZE as usize]) -> Fpu {
    let mut fpu = Fpu::default();
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u64_at = |i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(x)
    };
    fpu.fcw = u16_at(0);
    fpu.fsw = u16_at(2);
    fpu.ftwx = b[4];
    fpu.last_opcode = u16_at(6);
    fpu.last_ip = u64_at(8);
    fpu.last_dp = u64_at(16);
    fpu.mxcsr = u32::from_le_bytes([b[24], b[25], b[26], b[27]]) & 0xffbf;
    for (i, st) in fpu.fpr.iter_mut().enumerate() {
        st.copy_from_slice(&b[32 + i * 16..48 + i * 16]);
    }
    for (i, x) in fpu.xmm.iter_mut().enumerate() {
        x.copy_from_slice(&b[160 + i * 16..176 + i * 16]);
    }
    fpu
}

/// Sets `vcpu` to return to user mode with `regs` (already checked: RIP a
/// user address) through an IRET frame, whatever path the syscall came
/// in on: rt_sigreturn restores RCX and R11 too, which SYSRETQ cannot.
pub fn return_to(
    mem: &mut GuestMemory,
    vcpu: &mut Vcpu,
    cpu: &CpuArea,
    regs: &UserRegs,
    flush: bool,
) -> Result<(), RunError> {
    frame::write(
        mem,
        cpu,
        &Frame {
            error_code: 0,
            rip: regs.rip,
            cs: u64::from(USER_CS),
            rflags: (regs.rflags & USER_RFLAGS) | 0x202,
            rsp: regs.rsp,
            ss: u64::from(USER_DS),
        },
    )?;
    let r = vcpu.regs_mut()?;
    r.r8 = regs.r8;
    r.r9 = regs.r9;
    r.r10 = regs.r10;
    r.r11 = regs.r11;
    r.r12 = regs.r12;
    r.r13 = regs.r13;
    r.r14 = regs.r14;
    r.r15 = regs.r15;
    r.rdi = regs.rdi;
    r.rsi = regs.rsi;
    r.rbp = regs.rbp;
    r.rbx = regs.rbx;
    r.rdx = regs.rdx;
    r.rax = regs.rax;
    r.rcx = regs.rcx;
    r.rsp = cpu.frame_va();
    // The exception stubs' return (`add rsp, 8; iretq`), or the flush.
    r.rip = if flush {
        ec::FLUSH_RETURN
    } else {
        ec::VECTOR_AFTER_OUT[14]
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fxsave_images_round_trip_and_mxcsr_is_sanitised() {
        let mut fpu = Fpu {
            fcw: 0x37f,
            mxcsr: 0x1f80,
            ..Fpu::default()
        };
        fpu.xmm[3][0] = 0xab;
        fpu.fpr[7][9] = 0xcd;
        let back = fpu_from_image(&fxsave_image(&fpu));
        assert_eq!(
            (back.fcw, back.mxcsr, back.xmm[3][0], back.fpr[7][9]),
            (0x37f, 0x1f80, 0xab, 0xcd)
        );
        let mut forged = fxsave_image(&fpu);
        forged[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(fpu_from_image(&forged).mxcsr, 0xffbf);
    }
}
