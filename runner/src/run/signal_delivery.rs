//! Delivering a signal to the program's handler, as Linux does on x86-64:
//! before a thread runs user code again, the lowest pending signal its mask
//! does not block (a CPU fault first) is taken; an ignored one is dropped, a
//! default one ends the run with 128+N, and a handler gets an
//! `rt_sigframe` (abi/sigframe.rs) on the thread's stack, or its
//! alternate stack with SA_ONSTACK, below the red zone: the registers it
//! interrupted, the mask to restore, siginfo, and the FPU/SSE state
//! (the XSAVE area, AVX and AVX-512 included, or FXSAVE without XSAVE:
//! run/fpu_state.rs). The handler starts with RDI = signal, RSI = &siginfo,
//! RDX = &ucontext and the FPU in its initial state, and returns to
//! sa_restorer, which calls rt_sigreturn.
//!
//! Where the thread's user state is depends on where its vCPU stopped
//! ([`locate`]): in user mode (an interrupt), at an exception stub's return
//! (a fault or a syscall on kvm_pvm: the IRET frame), or at SYSRETQ (a
//! syscall on hardware KVM). Elsewhere in the entry code delivery waits
//! for the vCPU's next exit.

use super::fpu_state;
use super::frame::{self, Frame};
use super::run_loop::{RunError, USER_RFLAGS};
use super::threads::State;
use crate::abi::constants::{
    SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTORER, SIGKILL, SIGSTOP, SIG_DFL, SIG_IGN,
    SI_TKILL, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS,
};
use crate::abi::sigframe::{self, SigInfo, Trap, UserRegs, FRAME_SIZE, RED_ZONE};
use crate::abi::xstate::{self, UC_FP_XSTATE};
use crate::guest::cpu_area::CpuArea;
use crate::guest::entry_code as ec;
use crate::guest::layout::{USER_CS, USER_DS, USER_END};
use crate::kernel::death::Death;
use crate::kernel::process::GUEST_IDENTITY;
use crate::kernel::signal_state::Action;
use crate::kernel::Thread;
use crate::syscalls::signals::{ignored, ignored_by_default, stops};
use crate::tunnel::{GuestPtr, Tunnel};
use thinvisor_kmod::{GuestMemory, Vcpu};

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
    /// A stop signal with its default action: the process stops
    /// (run/job_control.rs), unless it is discarded there.
    Stop(u64),
    /// The process is stopped: the thread runs no user code until SIGCONT
    /// (or dies of SIGKILL).
    Stopped,
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
    if t.signals.fault.is_none() {
        // A stopped process runs nothing; only SIGKILL ends it.
        if st.process.stopped.is_some() && t.signals.pending & (1 << (SIGKILL - 1)) == 0 {
            return Ok(Delivery::Stopped);
        }
        if let Some(sig) = take_default_stop(st.process, t) {
            return Ok(Delivery::Stop(sig));
        }
    }
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
    if action.handler == SIG_IGN || (action.handler == SIG_DFL && ignored_by_default(sig)) {
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
    let mut user = user_state(mem, &t.cpu, &regs, loc)?;
    // A thread in a moved syscall site's entry is, for the program, at the
    // matching address of the site (ring/sites.rs).
    (user.rip, user.rcx) = st.process.ring.program_view(user.rip, user.rcx);
    if let Some(tracer) = &st.kernel.trace {
        tracer.signal(t.pid, t.tid, sig, info.code, info.addr);
    }
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

/// Drops the pending signals thread `t` does not block that its process
/// ignores (SIG_IGN, or SIG_DFL for SIGCHLD, SIGCONT, SIGURG, SIGWINCH):
/// queued when sent, since a thread may block one to wait for it, they do
/// nothing once deliverable and end no wait.
pub fn drop_ignored(process: &mut crate::kernel::Process, t: &mut Thread) {
    let ready = t.signals.pending & !t.signals.mask;
    if ready == 0 {
        return;
    }
    for sig in 1..=64u64 {
        if ready & (1 << (sig - 1)) != 0 && ignored(&process.signal_actions, sig) {
            t.signals.pending &= !(1 << (sig - 1));
            while process.signal_info.take(t.tid, sig).is_some() {}
        }
    }
}

/// A stop signal thread `t` takes now with its default action, taken out
/// of its pending set (the caller stops the process: run/job_control.rs).
/// Before any other signal: Linux stops the process before a handler of
/// a lower-numbered signal runs an instruction.
pub fn take_default_stop(process: &mut crate::kernel::Process, t: &mut Thread) -> Option<u64> {
    let ready = t.signals.pending & !t.signals.mask;
    let sig = (SIGSTOP as u64..=SIGSTOP as u64 + 3).find(|&sig| {
        ready & (1 << (sig - 1)) != 0
            && stops(sig)
            && process.signal_actions.action(sig).handler == SIG_DFL
    })?;
    t.signals.pending &= !(1 << (sig - 1));
    process.signal_info.take(t.tid, sig);
    Some(sig)
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
    let layout = st.machine.cpu_setup.xstate;
    let fp_bytes = xstate::fpstate_bytes(layout.as_ref()) as u64;
    let fpstate = top.wrapping_sub(fp_bytes) & !63;
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
    let fp_image = fpu_state::frame_image(&mut t.vcpu, layout.as_ref())?;
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
        uc_flags: UC_SIGCONTEXT_SS
            | UC_STRICT_RESTORE_SS
            | if layout.is_some() { UC_FP_XSTATE } else { 0 },
    };
    let State {
        machine, process, ..
    } = st;
    let mem = machine.vm.memory_mut(machine.slot)?;
    let mut tunnel = Tunnel::for_runner_layout(&mut process.mm, mem);
    let wrote = tunnel
        .write(GuestPtr::new(fpstate), &fp_image)
        .and_then(|()| tunnel.write(GuestPtr::new(frame_at), &frame.to_bytes()));
    if let Err(e) = wrote {
        return Ok(Err(format!(
            "cannot build the frame for signal {sig}'s handler: {e}"
        )));
    }
    // Enter the handler, with the FPU in its initial state (as Linux).
    fpu_state::reset(&mut t.vcpu, layout.as_ref())?;
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

/// rt_sigreturn's FPU part: gives thread `t` the registers the frame's
/// fpstate at `at` holds (0: their initial state, as Linux does for a
/// frame without one). The software bytes decide how much is an XSAVE
/// area (abi/xstate.rs); every byte is read once, through the tunnel. The
/// inner error: a bad frame (unreadable, misaligned, or a state XRSTOR
/// would fault on), which kills with SIGSEGV as on Linux.
pub fn restore_fpu(
    st: &mut State<'_>,
    t: &mut Thread,
    at: u64,
) -> Result<Result<(), String>, RunError> {
    let layout = st.machine.cpu_setup.xstate;
    if at == 0 {
        fpu_state::reset(&mut t.vcpu, layout.as_ref())?;
        return Ok(Ok(()));
    }
    // XRSTOR needs 64-byte alignment, FXRSTOR 16.
    let align = if layout.is_some() { 64 } else { 16 };
    if !at.is_multiple_of(align) {
        return Ok(Err(format!(
            "the frame's FPU state at {at:#x} is not {align}-byte aligned"
        )));
    }
    let State {
        machine,
        process,
        kernel,
        ..
    } = st;
    let mem = machine.vm.memory_mut(machine.slot)?;
    let tunnel = Tunnel::new(&mut process.mm, mem, &kernel.tunnel_ranges);
    let unreadable = || Ok(Err("the frame's FPU state is not readable".to_string()));
    let mut fx = [0u8; xstate::FXSAVE_BYTES];
    if tunnel.read(GuestPtr::new(at), &mut fx).is_err() {
        return unreadable();
    }
    let mut frame = fx.to_vec();
    if let Some(size) = layout.as_ref().and_then(|l| xstate::claimed_size(&fx, l)) {
        let mut tail = [0u8; 4];
        let Some(tail_at) = at.checked_add(size as u64) else {
            return unreadable();
        };
        if tunnel.read(GuestPtr::new(tail_at), &mut tail).is_err() {
            return unreadable();
        }
        if xstate::is_magic2(tail) {
            frame.resize(size, 0);
            let rest = GuestPtr::new(at + xstate::FXSAVE_BYTES as u64);
            if tunnel
                .read(rest, &mut frame[xstate::FXSAVE_BYTES..])
                .is_err()
            {
                return unreadable();
            }
        }
    }
    Ok(fpu_state::load_frame(&mut t.vcpu, layout.as_ref(), &frame)?
        .map_err(|e| format!("the frame's FPU state: {e}")))
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
