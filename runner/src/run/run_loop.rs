//! One guest thread's loop: run its vCPU, classify each exit, handle it in
//! user space under the kernel lock, resume. Every exit either resumes the
//! thread, ends it, or ends its thread group; none is ignored and none can
//! loop forever (the deadline bounds the run). The threads of a run and
//! what they share are in `threads.rs`.

use super::audited;
use super::deadline::Deadline;
use super::file_faults::FileFault;
use super::frame::{self, Frame};
use super::job_control;
use super::processes;
use super::signal_delivery::{self, Delivery};
use super::syscall_path::SyscallPath;
use super::threads::{self, Sandbox, Shared, State};
use super::timer_firing;
use super::tlb::{self, Redirect};
use super::traced;
use crate::abi::constants as signal;
use crate::abi::constants::{
    BUS_ADRALN, BUS_ADRERR, FPE_FLTINV, FPE_INTDIV, ILL_ILLOPN, SA_RESTART, SEGV_ACCERR,
    SEGV_MAPERR, SIG_DFL, SIG_IGN, SI_KERNEL, TRAP_BRKPT, TRAP_TRACE,
};
use crate::abi::sigframe::{SigInfo, Trap};
use crate::abi::Errno;
use crate::audit::Reason;
use crate::guest::cpu_area::CpuArea;
use crate::guest::entry_code as ec;
use crate::guest::layout::*;
use crate::guest::monitor_image as mi;
use crate::kernel::death::{self, Death};
use crate::kernel::parker::Parked;
use crate::kernel::thread_group::GroupEnd;
use crate::kernel::Thread;
use crate::monitor::{Monitor, MonitorError};
use crate::run::boot::Machine;
use crate::syscalls::{self, table, Args, CallerRegs, Ctx, Outcome, Wait};
use crate::trace::Ending;
use sandbox_policy::OnDeny;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::thread::Scope;
use std::time::Instant;
use thinvisor_kmod::{KmodError, Vcpu, VmExit};

pub use super::threads::run;

/// RFLAGS bits user code may hold: CF PF AF ZF SF TF DF OF AC ID; IF and the
/// reserved bit 1 are forced on; IOPL, NT, VM, VIF, VIP never.
pub const USER_RFLAGS: u64 = 0x0024_0dd5;

/// arch_prctl's number (setting GS turns the syscall ring off).
const ARCH_PRCTL: u64 = 158;
const RT_SIGRETURN: u64 = 15;

/// How a syscall entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Sysret,
    Frame(Frame),
}

/// What an exit means.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Syscall(Entry),
    Exception {
        vector: u8,
        frame: Frame,
    },
    /// IN/OUT executed by user code (kvm_pvm lets CPL3 port I/O exit).
    UserPortIo {
        port: u16,
    },
    /// The in-VM monitor refused an entry that did not come through a gate
    /// (`out 0x81` at its refusal stub).
    MonitorRefused,
    Interrupted,
    Unexpected(VmExit),
}

/// The run failed for a reason of the runner's own (status 125).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Kvm(#[from] KmodError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error("internal: {0}")]
    Internal(String),
}

/// True when `rip` is the entry stub's `out` whose end is `after_out`.
/// Hardware KVM reports RIP *at* the OUT (it skips it on the next KVM_RUN,
/// unless user space moved RIP); kvm_pvm reports RIP *after* it. Both are
/// supervisor-only addresses user code cannot execute.
fn at_stub_out(rip: u64, after_out: u64) -> bool {
    ec::at_out(rip, after_out, true)
}

/// Classifies an exit of the vCPU whose supervisor pages are `cpu`. An exit
/// from the entry code is trusted only at the exact RIP after its `out`
/// with that vCPU's interrupt stack where the stub left it.
pub fn classify(
    machine: &Machine,
    vcpu: &mut Vcpu,
    cpu: &CpuArea,
    exit: &VmExit,
    path: SyscallPath,
) -> Result<Event, RunError> {
    match *exit {
        VmExit::IoOut { port, .. } => {
            let regs = vcpu.regs()?;
            let (rip, rsp) = (regs.rip, regs.rsp);
            if port == 0x80 && at_stub_out(rip, ec::SYSCALL_AFTER_OUT) {
                return Ok(Event::Syscall(Entry::Sysret));
            }
            if port == 0x81
                && machine.monitor.is_some()
                && at_stub_out(rip, mi::MONITOR_REFUSE_AFTER_OUT)
            {
                return Ok(Event::MonitorRefused);
            }
            let vector = port as usize;
            if vector < 32 && at_stub_out(rip, ec::VECTOR_AFTER_OUT[vector]) {
                if rsp != cpu.frame_va() {
                    return Err(RunError::Internal(format!(
                        "exception stack at {rsp:#x}, expected {:#x}",
                        cpu.frame_va()
                    )));
                }
                let frame = frame::read(machine.vm.memory(machine.slot)?, cpu)?;
                // On kvm_pvm a SYSCALL shows up as a user-mode instruction
                // fetch fault at LSTAR (error code bits: user, fetch).
                if vector == 14
                    && path == SyscallPath::PageFaultFrame
                    && frame.rip == machine.lstar
                    && frame.error_code & 0x14 == 0x14
                {
                    return Ok(Event::Syscall(Entry::Frame(frame)));
                }
                return Ok(Event::Exception {
                    vector: vector as u8,
                    frame,
                });
            }
            Ok(Event::UserPortIo { port })
        }
        VmExit::IoIn { port, .. } => Ok(Event::UserPortIo { port }),
        VmExit::Interrupted => Ok(Event::Interrupted),
        ref other => Ok(Event::Unexpected(other.clone())),
    }
}

/// How a thread's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadEnd {
    /// This thread exited; its group may go on.
    Exited,
    /// The whole group ended (`ThreadGroup::outcome` says how).
    Group,
}

/// Runs thread `t` until it exits or its group ends. `deadline` is the
/// run's, given to the first thread only: its host thread is the one the
/// deadline's timer kicks, and it ends the group when the deadline passes.
pub fn run_thread<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    t: &mut Thread,
    deadline: Option<&Deadline>,
) -> Result<ThreadEnd, RunError>
where
    'a: 'env,
{
    loop {
        if t.group.is_ending() {
            return Ok(ThreadEnd::Group);
        }
        if t.zapped.load(Ordering::SeqCst) {
            return exit_zapped(sb, t);
        }
        // Every thread watches the run's deadline (the first one also its
        // client): each has a kernel timer that kicks it out of the guest,
        // or out of a blocking host call, once it has passed. The time
        // limit ends the whole run, whichever process sees it first.
        if deadline.is_some_and(Deadline::passed) || Instant::now() >= sb.deadline {
            let g = sb.lock();
            let rip = user_rip(g.machine, &mut t.vcpu, &t.cpu)?;
            sb.end_run(GroupEnd::Killed(time_limit(sb, rip)));
            return Ok(ThreadEnd::Group);
        }
        let (deferred, ring) = match prepare_entry(sb, t)? {
            Entering::Run {
                flush_deferred,
                ring,
            } => (flush_deferred, ring),
            Entering::End(end) => return Ok(end),
            Entering::Stopped => {
                t.parker.park(sb.deadline);
                continue;
            }
        };
        // A flush asked for after prepare_entry looked: leave and look
        // again (unless the vCPU is bound to exit before user code anyway).
        if t.cpu_sync.enter() && !deferred {
            t.cpu_sync.leave();
            continue;
        }
        // A vCPU with a run thread always runs through the serving loop,
        // slot or not: kick timers armed before it moved there under
        // `auto` (the deadline's) reach only this thread, and that loop
        // looks at the deadline and the client itself.
        let exit = if ring || t.vcpu.is_remote() {
            super::ring_loop::run(sb, t, deadline)
        } else {
            t.vcpu.run().map_err(RunError::from)
        };
        t.cpu_sync.leave();
        if let Some(end) = handle_exit(sb, scope, t, exit?, deadline)? {
            return Ok(end);
        }
    }
}

/// What [`prepare_entry`] found.
enum Entering {
    /// Run the vCPU; `flush_deferred`: a flush stays pending for its next
    /// exit (`Redirect::Deferred`); `ring`: serve the syscall ring while
    /// it runs (run/ring_loop.rs).
    Run { flush_deferred: bool, ring: bool },
    /// A signal's default action ended the group.
    End(ThreadEnd),
    /// The process is stopped (run/job_control.rs): park, then look again.
    Stopped,
}

/// Before a run, under the kernel lock: the clocks in the VM, the
/// monitor's view, a signal to deliver, the page-table root, and a pending
/// TLB flush.
fn prepare_entry(sb: &Sandbox<'_>, t: &mut Thread) -> Result<Entering, RunError> {
    let mut g = match wait_for_memory(sb, sb.lock(), t)? {
        Ok(g) => g,
        Err(end) => return Ok(Entering::End(end)),
    };
    let mut st = g.view(t.pid)?;
    if let Some(death) = timer_firing::fire_due(&mut st, t)? {
        return Ok(Entering::End(end_group(sb, &mut st, t, death)));
    }
    timer_firing::arm_kick(&st, t)?;
    let mut delivery = signal_delivery::deliver(&mut st, t)?;
    while let Delivery::Stop(sig) = delivery {
        // The process stops (or the signal is discarded): look again.
        job_control::stop(&mut g, t.pid, sig);
        st = g.view(t.pid)?;
        delivery = signal_delivery::deliver(&mut st, t)?;
    }
    match delivery {
        Delivery::Kill(death) => return Ok(Entering::End(end_group(sb, &mut st, t, death))),
        // Parked without the lock until SIGCONT or SIGKILL wakes it; the
        // wake cannot be lost once prepared under the lock.
        Delivery::Stopped | Delivery::Stop(_) => {
            t.parker.prepare();
            return Ok(Entering::Stopped);
        }
        // A mask a call set for its wait (rt_sigsuspend, ppoll, pselect6,
        // epoll_pwait) is the handler's to restore (its frame saved the
        // mask of before); with no handler to run, it is restored now.
        Delivery::Nothing => {
            if let Some(mask) = t.signals.saved_mask.take() {
                t.signals.mask = mask;
                // A signal the restored mask lets through is taken now.
                if let Delivery::Kill(death) = signal_delivery::deliver(&mut st, t)? {
                    return Ok(Entering::End(end_group(sb, &mut st, t, death)));
                }
            }
        }
        Delivery::Handler | Delivery::Deferred => {}
    }
    let State {
        machine,
        process,
        kernel,
        ..
    } = &mut st;
    // The vDSO's page has no sequence counter: it is retuned only while
    // no other vCPU can be reading it (docs/abi.md, "The vDSO").
    if !process.mm.frames.is_shared() && kernel.procs.len() == 1 {
        machine.retune_clock()?;
    }
    if let Some(m) = machine.monitor.as_mut() {
        m.before_resume(machine.vm.memory_mut(machine.slot)?, &process.mm, kernel)?;
    }
    let ring = super::ring_loop::prepare(&mut st, t)?;
    super::ring_loop::into_moved_entries(&mut st, t)?;
    let State {
        machine, process, ..
    } = &mut st;
    // A 2 MiB page was split or removed in copies of the tables
    // (page_table.rs): every thread continues on the new root.
    process.mm.before_entry();
    let root = process.mm.tables.root;
    if t.cr3 != root {
        t.vcpu.sregs_mut()?.cr3 = root;
        t.cr3 = root;
    }
    if t.cpu_sync.flush_pending() {
        let mem = machine.vm.memory_mut(machine.slot)?;
        match tlb::redirect(mem, &mut t.vcpu, &t.cpu, t.on_out)? {
            Redirect::Done => t.cpu_sync.flushed(),
            Redirect::Deferred => {
                return Ok(Entering::Run {
                    flush_deferred: true,
                    ring,
                })
            }
        }
    }
    Ok(Entering::Run {
        flush_deferred: false,
        ring,
    })
}

/// Handles one exit. Some(end) when the thread's loop ends.
fn handle_exit<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    t: &mut Thread,
    exit: VmExit,
    deadline: Option<&Deadline>,
) -> Result<Option<ThreadEnd>, RunError>
where
    'a: 'env,
{
    let mut g = sb.lock();
    let mut st = g.view(t.pid)?;
    {
        let State {
            machine,
            process,
            kernel,
            ..
        } = &mut st;
        if let Some(m) = machine.monitor.as_mut() {
            // Buffered output first: it precedes whatever happens next.
            let mem = machine.vm.memory_mut(machine.slot)?;
            m.after_exit(mem, &mut process.mm, &mut process.fds, &mut kernel.budget)?;
        }
    }
    // Hardware KVM completes an `out` on the next entry (signal delivery
    // and TLB redirects must know whether the vCPU is on one it ran).
    t.on_out = matches!(exit, VmExit::IoOut { .. });
    // A kick that stopped the thread in ring code: it continues where the
    // program is (before or after its call), never inside the stub.
    if exit == VmExit::Interrupted {
        ring_fixup_regs(&mut st, t)?;
    }
    let event = classify(st.machine, &mut t.vcpu, &t.cpu, &exit, sb.path)?;
    let death = match event {
        Event::Syscall(entry) => {
            st.stats.count_exit("syscall");
            return serve_syscall(sb, scope, g, t, entry);
        }
        Event::Exception { vector, frame } => {
            st.stats.count_exit("exception");
            // A fault is handled with the process's memory (a syscall
            // waits for it in serve_syscall).
            g = match wait_for_memory(sb, g, t)? {
                Ok(g) => g,
                Err(end) => return Ok(Some(end)),
            };
            st = g.view(t.pid)?;
            match copy_on_write(&mut st, t, vector, &frame)? {
                Cow::Copied => return Ok(None),
                Cow::OutOfMemory(death) => return Ok(Some(end_group(sb, &mut st, t, death))),
                Cow::NotOne => {}
            }
            // A fault in ring code (the program unmapped its slot, a
            // single step): the program continues at its site's `syscall`
            // (or after it), which traps as without the ring.
            if ring_fixup_frame(&mut st, t, &frame)? {
                return Ok(None);
            }
            let death = match super::file_faults::classify(&mut st, t, vector, &frame)? {
                FileFault::NotOne => exception_death(&mut t.vcpu, vector, &frame)?,
                FileFault::Revealed => return Ok(None),
                FileFault::PastEnd(addr) => Death::Signal {
                    signal: signal::SIGBUS,
                    cause: "bus error: access to a page of a mapped file past its end".into(),
                    rip: frame.rip,
                    addr: Some(addr),
                },
            };
            let handled = handled_fault(&st, t, vector, &frame, &death);
            audited::fault(
                &mut st,
                t,
                Some(vector),
                Some(&frame),
                &death,
                handled.is_some(),
            )?;
            if let Some(fault) = handled {
                // The program's handler runs before it does anything else
                // (prepare_entry); the frame is where it faulted.
                t.signals.fault = Some(fault);
                return Ok(None);
            }
            death
        }
        Event::UserPortIo { port } => {
            st.stats.count_exit("user_port_io");
            let death = Death::Signal {
                signal: signal::SIGSEGV,
                cause: format!(
                    "general protection fault: I/O port {port:#x} access from user mode"
                ),
                rip: t.vcpu.regs()?.rip,
                addr: None,
            };
            audited::fault(&mut st, t, None, None, &death, false)?;
            death
        }
        Event::MonitorRefused => {
            st.stats.count_exit("monitor_refused");
            let rcx = Monitor::saved_rcx(st.machine.vm.memory(st.machine.slot)?)?;
            let death = Death::Signal {
                signal: signal::SIGSYS,
                cause: "monitor entry not through a gate".into(),
                rip: rcx.wrapping_sub(2),
                addr: None,
            };
            audited::ended(&mut st, t, &death, Reason::ForgedEntry);
            death
        }
        Event::Interrupted => {
            st.stats.count_exit("interrupted");
            let Some(d) = deadline else {
                return Ok(None);
            };
            if d.passed() {
                let rip = user_rip(st.machine, &mut t.vcpu, &t.cpu)?;
                time_limit(sb, rip)
            } else if d.client_gone() {
                let rip = user_rip(st.machine, &mut t.vcpu, &t.cpu)?;
                Death::ClientGone { rip }
            } else {
                return Ok(None);
            }
        }
        Event::Unexpected(exit) => {
            st.stats.count_exit(exit.reason_name());
            let death = Death::Signal {
                signal: signal::SIGSEGV,
                cause: format!("unexpected VM exit: {exit:?}"),
                rip: t.vcpu.regs()?.rip,
                addr: None,
            };
            audited::ended(&mut st, t, &death, Reason::ForgedEntry);
            death
        }
    };
    Ok(Some(end_group(sb, &mut st, t, death)))
}

/// Moves thread `t`, stopped by a kick in ring code, to where the program
/// is (run/ring_loop.rs).
fn ring_fixup_regs(st: &mut State<'_>, t: &mut Thread) -> Result<(), RunError> {
    if !st.process.ring.has_code() {
        return Ok(());
    }
    let r = *t.vcpu.regs()?;
    if r.rip >= USER_END {
        return Ok(());
    }
    let Some(resume) = super::ring_loop::resume_for(st, t, r.rip, r.rcx)? else {
        return Ok(());
    };
    let mut s = super::ring_loop::UserState {
        rip: r.rip,
        rsp: r.rsp,
        rflags: r.rflags,
        rax: r.rax,
        rcx: r.rcx,
        r11: r.r11,
    };
    super::ring_loop::apply(resume, &mut s);
    let w = t.vcpu.regs_mut()?;
    (w.rip, w.rsp, w.rflags, w.rax, w.rcx, w.r11) = (s.rip, s.rsp, s.rflags, s.rax, s.rcx, s.r11);
    Ok(())
}

/// The same for an exception taken in ring code, whose frame holds RIP,
/// RSP and RFLAGS. True when it was ring code (the thread resumes).
fn ring_fixup_frame(st: &mut State<'_>, t: &mut Thread, frame: &Frame) -> Result<bool, RunError> {
    if !st.process.ring.has_code() {
        return Ok(false);
    }
    let r = *t.vcpu.regs()?;
    let Some(resume) = super::ring_loop::resume_for(st, t, frame.rip, r.rcx)? else {
        return Ok(false);
    };
    let mut s = super::ring_loop::UserState {
        rip: frame.rip,
        rsp: frame.rsp,
        rflags: frame.rflags,
        rax: r.rax,
        rcx: r.rcx,
        r11: r.r11,
    };
    super::ring_loop::apply(resume, &mut s);
    let f = Frame {
        rip: s.rip,
        rsp: s.rsp,
        rflags: s.rflags,
        ..*frame
    };
    frame::write(st.machine.vm.memory_mut(st.machine.slot)?, &t.cpu, &f)?;
    let w = t.vcpu.regs_mut()?;
    (w.rax, w.rcx, w.r11) = (s.rax, s.rcx, s.r11);
    Ok(true)
}

/// What a user write fault on a copy-on-write page became.
enum Cow {
    /// Not such a fault: an ordinary one (a signal).
    NotOne,
    /// The page is the process's own and writable now: the instruction
    /// runs again.
    Copied,
    /// No frame was left for the copy.
    OutOfMemory(Death),
}

/// A user-mode write to a present page (#PF error code P|W|U) may be a
/// write to a page fork shares (guest/address_space, `resolve_cow`): it is
/// copied, or made writable when no other process maps it any more, and
/// the faulting instruction runs again. Every other vCPU of the process
/// flushes the old translation first (tlb.rs), this one on its way back.
fn copy_on_write(
    st: &mut State<'_>,
    t: &mut Thread,
    vector: u8,
    frame: &Frame,
) -> Result<Cow, RunError> {
    if vector != 14 || frame.error_code & 7 != 7 || frame.cs & 3 != 3 {
        return Ok(Cow::NotOne);
    }
    let cr2 = t.vcpu.sregs()?.cr2;
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    match st.process.mm.resolve_cow(mem, cr2) {
        Ok(false) => return Ok(Cow::NotOne),
        Ok(true) => {}
        Err(crate::guest::address_space::MapError::NoMemory) => {
            let death = Death::Signal {
                signal: signal::SIGKILL,
                cause: "out of memory (limits.memory) copying a page shared with another process"
                    .into(),
                rip: frame.rip,
                addr: Some(cr2),
            };
            audited::ended(st, t, &death, Reason::Limit);
            return Ok(Cow::OutOfMemory(death));
        }
        Err(e) => return Err(RunError::Internal(format!("copy-on-write: {e}"))),
    }
    // An audited run watches writable code pages (audited::loaded).
    if st.kernel.audit.is_some() && st.process.mm.prot_at(cr2).is_some_and(|p| p.exec) {
        audited::code_written(st, t, frame.rip, cr2);
    }
    if flush_others(st, t)? {
        t.cpu_sync.request_flush();
    }
    Ok(Cow::Copied)
}

/// After thread `t` changed its process's page tables (`needs_tlb_flush`,
/// taken here): every other vCPU of the process is kicked out of the guest
/// and flushes before it runs user code again (tlb.rs); then what the
/// change held back while they could run is done: the hypervisor drops its
/// translations of downgraded frames, and freed frames become reusable.
/// True when there was a change (`t` must flush too).
pub(super) fn flush_others(st: &mut State<'_>, t: &Thread) -> Result<bool, RunError> {
    if !std::mem::take(&mut st.process.mm.needs_tlb_flush) {
        return Ok(false);
    }
    tlb::shoot_down(&t.group, t.tid);
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    st.process.mm.refresh_deferred(mem)?;
    st.process.mm.release_deferred(mem)?;
    Ok(true)
}

/// Ends thread `t`'s thread group with `death` (a fatal signal ends every
/// thread; a call `t` was making, if any, never returns).
fn end_group(_sb: &Sandbox<'_>, st: &mut State<'_>, t: &mut Thread, mut death: Death) -> ThreadEnd {
    // A death line names the program's address, never ring code's.
    if let Some(rip) = death.rip_mut() {
        *rip = st.process.ring.program_view(*rip, 0).0;
    }
    if st.kernel.trace.is_some() {
        traced::killed(st, t, &death);
    }
    st.process.threads.end(GroupEnd::Killed(death));
    ThreadEnd::Group
}

fn time_limit(sb: &Sandbox<'_>, rip: u64) -> Death {
    Death::TimeLimit {
        rip,
        limit_secs: sb.limit_secs,
    }
}

/// The guest's user-mode RIP, also when the vCPU stopped inside the entry
/// code (an interrupt that lands while a syscall is being returned): then it
/// is where that syscall returns to, RCX on the SYSRET path or the frame's
/// RIP (already rewritten by the runner) on the #PF path. Inside the in-VM
/// monitor's gates and code it is the return address of the syscall the
/// monitor is handling.
fn user_rip(machine: &Machine, vcpu: &mut Vcpu, cpu: &CpuArea) -> Result<u64, RunError> {
    let r = vcpu.regs()?;
    let (rip, rcx) = (r.rip, r.rcx);
    if rip < USER_END {
        return Ok(rip);
    }
    let mem = machine.vm.memory(machine.slot)?;
    if machine.monitor.is_some() {
        if (mi::GATE_START..mi::GATE_END).contains(&rip) {
            // The gates keep the program's return address in RCX, except
            // an ordinary page fault passing through gate_pf (its frame's
            // RIP is where the program faulted).
            if (mi::GATE_PF..mi::GATE_EXIT_SYSRET).contains(&rip) {
                let frame = frame::read(mem, cpu)?;
                if frame.rip != mi::GATE_SYSCALL {
                    return Ok(frame.rip);
                }
            }
            return Ok(rcx);
        }
        if (mi::MONITOR_START..mi::MONITOR_END).contains(&rip) {
            // RCX until the monitor has saved it, sv_rcx from then on (its
            // handlers may use RCX).
            if rip < mi::MONITOR_SAVED_REGS {
                return Ok(rcx);
            }
            return Ok(Monitor::saved_rcx(mem)?);
        }
    }
    let in_syscall_stub = (ec::SYSCALL_ENTRY..ec::FLUSH_RETURN).contains(&rip);
    if in_syscall_stub {
        return Ok(rcx);
    }
    Ok(frame::read(mem, cpu)?.rip)
}

/// The siginfo and trap details for a fault the program handles itself: a
/// user-mode fault whose signal has a handler and is not blocked. A
/// blocked or ignored fault signal kills, as Linux's force_sig does.
fn handled_fault(
    st: &State<'_>,
    t: &Thread,
    vector: u8,
    frame: &Frame,
    death: &Death,
) -> Option<(SigInfo, Trap)> {
    let Death::Signal {
        signal: sig, addr, ..
    } = *death
    else {
        return None;
    };
    if frame.cs & 3 != 3 || frame.rip >= USER_END {
        return None;
    }
    let sig = sig as u64;
    let action = st.process.signal_actions.action(sig);
    if action.handler == SIG_DFL
        || action.handler == SIG_IGN
        || t.signals.mask & (1 << (sig - 1)) != 0
    {
        return None;
    }
    // A page fault in a mapping that denies the access (a PROT_NONE guard
    // page, whose entries are not present) is SEGV_ACCERR, as on Linux,
    // which looks at the mappings, not at the hardware's present bit.
    let code = match vector {
        14 if sig == signal::SIGBUS as u64 => BUS_ADRERR,
        14 if frame.error_code & 1 == 0 && !addr.is_some_and(|a| st.process.mm.is_mapped(a)) => {
            SEGV_MAPERR
        }
        14 => SEGV_ACCERR,
        0 => FPE_INTDIV,
        16 | 19 => FPE_FLTINV,
        6 => ILL_ILLOPN,
        3 => TRAP_BRKPT,
        1 => TRAP_TRACE,
        17 => BUS_ADRALN,
        _ => SI_KERNEL,
    };
    // si_addr: the faulting address for page faults, the instruction for
    // the others (0 for #GP, as Linux).
    let si_addr = match vector {
        14 => addr.unwrap_or(0),
        11..=13 => 0,
        _ => frame.rip,
    };
    Some((
        SigInfo {
            signo: sig as i32,
            code,
            addr: Some(si_addr),
            pid: 0,
            uid: 0,
            value: 0,
        },
        Trap {
            err: frame.error_code,
            trapno: u64::from(vector),
            cr2: if vector == 14 { addr.unwrap_or(0) } else { 0 },
        },
    ))
}

fn exception_death(vcpu: &mut Vcpu, vector: u8, frame: &Frame) -> Result<Death, RunError> {
    let (sig, what) = death::exception(vector);
    let (cause, addr) = if vector == 14 {
        let cr2 = vcpu.sregs()?.cr2;
        (death::page_fault_cause(frame.error_code), Some(cr2))
    } else {
        (what.to_string(), None)
    };
    let cause = if frame.cs & 3 != 3 {
        format!("{cause} in the runner's entry code")
    } else {
        cause
    };
    Ok(Death::Signal {
        signal: sig,
        cause,
        rip: frame.rip,
        addr,
    })
}

/// Handles one syscall of thread `t`, under the kernel lock `st` (let go
/// while the call waits). Some(end) when the thread's loop ends.
fn serve_syscall<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    mut g: MutexGuard<'env, Shared<'a>>,
    t: &mut Thread,
    entry: Entry,
) -> Result<Option<ThreadEnd>, RunError>
where
    'a: 'env,
{
    let mut st = g.view(t.pid)?;
    let r = *t.vcpu.regs()?;
    let nr = r.rax;
    let args: Args = [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
    let ret = Return {
        entry,
        user_rip: r.rcx,
        user_flags: r.r11,
    };
    let user_rsp = match entry {
        Entry::Frame(f) => f.rsp,
        Entry::Sysret => r.rsp,
    };
    let name = table::name_of(nr);
    st.stats.count_syscall(&name);
    traced::begin(&mut st, t, nr, &args)?;
    let site = ret.user_rip.wrapping_sub(2);
    audited::entering(&mut st, t, nr, &args, site, user_rsp, ret.user_flags);
    if let Some(answer) = syscalls::refusal(&st.kernel.rules, nr, &args) {
        st.stats.denied += 1;
        audited::refused(&mut st, t, nr, site);
        if let Some(p) = t.trace.as_mut() {
            p.refused_by_policy();
        }
        return match answer {
            OnDeny::Kill => {
                let death = Death::PolicyKill {
                    syscall: name.into_owned(),
                    rip: ret.user_rip.wrapping_sub(2),
                };
                Ok(Some(end_group(sb, &mut st, t, death)))
            }
            OnDeny::Errno(e) => finish_syscall(sb, &mut st, t, &ret, (-i64::from(e)) as u64),
        };
    }
    // With the ring, a site the ring can serve jumps to it from now on
    // (one that traps while patched: the stub fell back).
    if st
        .process
        .ring
        .trapped_at_site(ret.user_rip.wrapping_sub(2))
    {
        st.stats.ring_trapped_at_sites += 1;
    }
    super::ring_loop::note_trap(&mut st, t, ret.user_rip.wrapping_sub(2))?;
    super::ring_loop::patch_site(&mut st, t, ret.user_rip.wrapping_sub(2), nr)?;
    // A site whose `syscall` just moved into ring code returns into its
    // entry: its old return address is inside the jump now.
    let ret = Return {
        user_rip: st.process.ring.ring_rip(
            &st.process.mm,
            st.machine.vm.memory(st.machine.slot)?,
            ret.user_rip,
        ),
        ..ret
    };
    // runner learn: the program an execve names, while its name is there.
    let exec_target = audited::exec_target(&mut st, nr, &args)?;
    // A signal ended the call's wait: it runs once more, and fails (or
    // restarts) only if it would wait again. As on Linux, whose waits look
    // at their condition before at pending signals: a wait4 woken by a
    // child's exit returns the child although its SIGCHLD came too.
    let mut signaled = false;
    loop {
        // A call that waited runs again only with the process's memory.
        g = match wait_for_memory(sb, g, t)? {
            Ok(g) => g,
            Err(end) => return Ok(Some(end)),
        };
        st = g.view(t.pid)?;
        let outcome = dispatch_call(&mut st, t, nr, &args, CallerRegs::Trapped { rsp: user_rsp })?;
        let wait = match outcome {
            Outcome::Return(v) => {
                audited::returned(&mut st, t, nr, &args, v, site)?;
                if nr == ARCH_PRCTL && args[0] == crate::abi::constants::ARCH_SET_GS && v == 0 {
                    super::ring_loop::gs_taken(&mut st, t)?;
                }
                return finish_syscall(sb, &mut st, t, &ret, v);
            }
            Outcome::Exit(code) => {
                traced::ended(&st, t, Ending::Exited(code));
                st.process.threads.end(GroupEnd::Exited(code));
                return Ok(Some(ThreadEnd::Group));
            }
            Outcome::Kill(d) => {
                if nr == RT_SIGRETURN {
                    audited::ended(&mut st, t, &d, Reason::ForgedEntry);
                }
                return Ok(Some(end_group(sb, &mut st, t, d)));
            }
            Outcome::ExitThread(code) => {
                traced::unfinished(&st, t, "");
                let State {
                    machine,
                    kernel,
                    process,
                    ..
                } = &mut st;
                let mem = machine.vm.memory_mut(machine.slot)?;
                super::thread_exit::release(kernel, process, mem, t);
                process.signal_info.forget_thread(t.tid);
                t.group.remove(t.tid, code);
                return Ok(Some(ThreadEnd::Exited));
            }
            Outcome::Spawn(new) => {
                let v = threads::spawn(sb, scope, &mut g, t, *new, &ret, &r)?;
                st = g.view(t.pid)?;
                audited::returned(&mut st, t, nr, &args, v, site)?;
                return finish_syscall(sb, &mut st, t, &ret, v);
            }
            Outcome::Fork(req) => {
                let vfork = req.vfork;
                let v = processes::fork(sb, scope, &mut g, t, *req, &ret, &r)?;
                st = g.view(t.pid)?;
                audited::returned(&mut st, t, nr, &args, v, site)?;
                // The parent's pages became copy-on-write: its other
                // threads flush (and the frames are refreshed) before the
                // child runs, and before a vfork parent waits unlocked.
                if flush_others(&mut st, t)? {
                    t.cpu_sync.request_flush();
                }
                let lent = (v as i64) > 0
                    && st
                        .kernel
                        .procs
                        .get(v)
                        .is_some_and(|e| e.borrowed_from.is_some());
                // vfork: the parent goes on once the child has execed or
                // ended, and has its address space back if it lent it. Only
                // the end of the run or of the process ends the wait early,
                // or a signal when nothing was lent.
                while vfork && (v as i64) > 0 && !t.group.is_ending() {
                    let done = st.kernel.procs.get(v).is_none_or(|e| {
                        (e.execed || e.zombie.is_some()) && e.borrowed_from.is_none()
                    });
                    if done {
                        if lent {
                            // The child ran on this address space on another
                            // vCPU: no translation of before survives.
                            t.cpu_sync.request_flush();
                        }
                        break;
                    }
                    t.parker.prepare();
                    st.kernel.retry_waiters.push(t.parker.clone());
                    drop(g);
                    let parked = t.parker.park(sb.deadline);
                    g = sb.lock();
                    st = g.view(t.pid)?;
                    match parked {
                        Parked::Interrupted => return Ok(Some(ThreadEnd::Group)),
                        Parked::Signaled if !lent => break,
                        _ if Instant::now() >= sb.deadline => {
                            return Ok(Some(end_group(
                                sb,
                                &mut st,
                                t,
                                time_limit(sb, ret.user_rip),
                            )))
                        }
                        _ => {}
                    }
                }
                return finish_syscall(sb, &mut st, t, &ret, v);
            }
            Outcome::Exec(mut start) => {
                if let Some((parent, mm)) = start.give_back.take() {
                    processes::give_back(&mut g, parent, mm)?;
                    st = g.view(t.pid)?;
                }
                processes::exec(&mut st, t, &start)?;
                audited::loaded(st.machine, st.kernel, st.process)?;
                audited::execed(&mut st, exec_target.clone());
                traced::finish(&mut st, t, 0)?;
                return Ok(None);
            }
            Outcome::SignalProcesses(req) => {
                let v = processes::signal(&mut g, t, &req);
                st = g.view(t.pid)?;
                return finish_syscall(sb, &mut st, t, &ret, v);
            }
            Outcome::SigReturn(restore) => {
                audited::sigreturn(&mut st, t, restore.regs.rflags, site);
                traced::finish(&mut st, t, restore.regs.rax)?;
                return sigreturn(sb, &mut st, t, &restore);
            }
            Outcome::ExecAlone => {
                // Another thread's execve got here first: this one ends.
                if t.zapped.load(Ordering::SeqCst) {
                    drop(g);
                    return exit_zapped(sb, t).map(Some);
                }
                t.group.zap_others(t.tid);
                while t.group.live() > 1 {
                    if t.group.is_ending() {
                        return Ok(Some(ThreadEnd::Group));
                    }
                    if Instant::now() >= sb.deadline {
                        return Ok(Some(end_group(
                            sb,
                            &mut st,
                            t,
                            time_limit(sb, ret.user_rip),
                        )));
                    }
                    drop(g);
                    t.parker.park(Instant::now() + ZAP_POLL);
                    g = sb.lock();
                    st = g.view(t.pid)?;
                }
                // Alone now: the call runs again (RIP back on the
                // `syscall`, RAX its number) and execs.
                traced::unfinished(&st, t, "");
                let again = Return {
                    user_rip: ret.user_rip.wrapping_sub(2),
                    ..ret
                };
                return finish_syscall(sb, &mut st, t, &again, nr);
            }
            Outcome::Block(w) => w,
        };
        match wait {
            Wait::Sleep { .. } | Wait::Signal => t.parker.prepare(),
            Wait::Retry | Wait::RetryUntil { .. } | Wait::Poll { .. } => {
                t.parker.prepare();
                st.kernel.retry_waiters.push(t.parker.clone());
            }
            // Queued (and prepared) by the handler.
            Wait::Futex { .. } => {}
        }
        let run_end = sb.deadline;
        let parked = if signaled {
            Parked::Signaled
        } else {
            loop {
                // A signal already waiting ends the wait before it starts, as
                // does one the call waits for even though it is blocked
                // (rt_sigtimedwait, a signalfd).
                t.signals
                    .take_posted(&t.inbox, &st.process.threads.shared_pending, wait.signals());
                // Another thread's execve ends this one, wherever it waits.
                if t.zapped.load(Ordering::SeqCst) {
                    st.kernel.futexes.cancel(t.tid);
                    drop(g);
                    return exit_zapped(sb, t).map(Some);
                }
                // A signal the process ignores ends no wait.
                signal_delivery::drop_ignored(st.process, t);
                // A stop signal stops the process without ending the call (as
                // Linux, which restarts it after SIGCONT): the thread goes on
                // waiting, and parks before it runs user code again.
                while let Some(sig) = signal_delivery::take_default_stop(st.process, t) {
                    job_control::stop(&mut g, t.pid, sig);
                    st = g.view(t.pid)?;
                }
                if t.signals.next_deliverable().is_some() || t.signals.pending & wait.signals() != 0
                {
                    break Parked::Signaled;
                }
                // The process's next timer ends the wait too (it raises a
                // signal, or a timerfd the call watches becomes readable).
                let timer = st.process.next_timer();
                drop(g);
                let parked = park(t, wait, timer.map_or(run_end, |a| a.min(run_end)));
                g = sb.lock();
                st = g.view(t.pid)?;
                if let Some(death) = timer_firing::fire_due(&mut st, t)? {
                    return Ok(Some(end_group(sb, &mut st, t, death)));
                }
                // A signal arrived: look again at the top. One the thread
                // blocks (and the call does not wait for) does not end the
                // wait, as on Linux.
                if parked == Parked::Signaled {
                    continue;
                }
                let now = Instant::now();
                let timer_ended_it = parked == Parked::TimedOut
                    && timer.is_some_and(|a| a <= now)
                    && now < run_end
                    && wait.until().is_none_or(|u| u > now);
                if !timer_ended_it {
                    break parked;
                }
                // A timer fired: a deliverable signal ends the wait at the
                // loop's top; a poll runs again (a timerfd may be readable).
                if matches!(wait, Wait::Poll { .. }) {
                    break Parked::Woken;
                }
                if wait.retries() {
                    t.parker.prepare();
                    st.kernel.retry_waiters.push(t.parker.clone());
                }
            }
        };
        let value = match (wait, parked) {
            (_, Parked::Interrupted) => {
                st.kernel.futexes.cancel(t.tid);
                return Ok(Some(ThreadEnd::Group));
            }
            // The call runs again and takes the signal it waits for.
            (Wait::Poll { until, signals, .. }, Parked::Signaled)
                if t.signals.pending & signals != 0 =>
            {
                t.resume = Some(until);
                continue;
            }
            (Wait::Retry | Wait::RetryUntil { .. }, Parked::Signaled) if !signaled => {
                signaled = true;
                continue;
            }
            (_, Parked::Signaled) => {
                st.kernel.futexes.cancel(t.tid);
                // A named pipe's open gives up its end (kernel/fifos.rs).
                t.fifo_wait = None;
                // A call that only waited for another thread restarts after
                // the handler when its action has SA_RESTART (RIP back on
                // the `syscall`, RAX the number again); others fail EINTR.
                let restart = wait.restarts()
                    && t.signals.next_deliverable().is_some_and(|sig| {
                        st.process.signal_actions.action(sig).flags & SA_RESTART != 0
                    });
                if restart {
                    let again = Return {
                        user_rip: ret.user_rip.wrapping_sub(2),
                        ..ret
                    };
                    traced::unfinished(&st, t, traced::RESTART);
                    return finish_syscall(sb, &mut st, t, &again, nr);
                }
                Outcome::errno_value(Errno::INTR)
            }
            (Wait::Retry | Wait::RetryUntil { .. }, Parked::Woken) => continue,
            // Its time came (before the run's end): the call runs again
            // and ends itself.
            (Wait::RetryUntil { until }, Parked::TimedOut) if until <= Instant::now() => continue,
            (Wait::Poll { until, .. }, _) => {
                let now = Instant::now();
                if now >= run_end && until.is_none_or(|u| u > run_end) {
                    return Ok(Some(end_group(
                        sb,
                        &mut st,
                        t,
                        time_limit(sb, ret.user_rip),
                    )));
                }
                // Run the call again; it keeps the end it computed.
                t.resume = Some(until);
                continue;
            }
            (Wait::Futex { .. }, Parked::Woken) => 0,
            (Wait::Futex { until }, Parked::TimedOut) => {
                let still_queued = st.kernel.futexes.cancel(t.tid);
                if !still_queued {
                    0
                } else if until.is_some_and(|u| u <= Instant::now()) {
                    Outcome::errno_value(Errno::TIMEDOUT)
                } else {
                    return Ok(Some(end_group(
                        sb,
                        &mut st,
                        t,
                        time_limit(sb, ret.user_rip),
                    )));
                }
            }
            (Wait::Sleep { until }, _) if until <= Instant::now() => 0,
            (_, _) => {
                return Ok(Some(end_group(
                    sb,
                    &mut st,
                    t,
                    time_limit(sb, ret.user_rip),
                )))
            }
        };
        return finish_syscall(sb, &mut st, t, &ret, value);
    }
}

/// Runs the handler of call `nr` for thread `t` under the kernel lock
/// (`st`), for the trap path and the syscall ring alike; then whoever
/// waited for another thread's syscall looks again. `return_rip`: where
/// the call returns when the vCPU cannot say (the ring's calls, made while
/// it runs).
pub(super) fn dispatch_call(
    st: &mut State<'_>,
    t: &mut Thread,
    nr: u64,
    args: &Args,
    caller: CallerRegs,
) -> Result<Outcome, RunError> {
    let outcome = {
        let State {
            machine,
            kernel,
            process,
            ..
        } = st;
        let mem = machine.vm.memory_mut(machine.slot)?;
        let mut ctx = Ctx::new(kernel, process, t, mem).with_caller(caller);
        syscalls::dispatch(&mut ctx, nr, args)
    };
    t.resume = None;
    for w in std::mem::take(&mut st.kernel.retry_waiters) {
        w.wake();
    }
    Ok(outcome)
}

/// Waits, parked without the lock, while thread `t`'s process has lent
/// its address space to a vfork child (`Process::mm_lent`): its memory is
/// not the process's to use until the child gives it back. Err: the
/// process or the run ended meanwhile.
fn wait_for_memory<'env, 'a>(
    sb: &'env Sandbox<'a>,
    mut g: MutexGuard<'env, Shared<'a>>,
    t: &mut Thread,
) -> Result<Result<MutexGuard<'env, Shared<'a>>, ThreadEnd>, RunError> {
    loop {
        if !g.view(t.pid)?.process.mm_lent {
            return Ok(Ok(g));
        }
        if t.group.is_ending() {
            return Ok(Err(ThreadEnd::Group));
        }
        if Instant::now() >= sb.deadline {
            let mut st = g.view(t.pid)?;
            let death = time_limit(sb, 0);
            return Ok(Err(end_group(sb, &mut st, t, death)));
        }
        t.parker.prepare();
        drop(g);
        t.parker.park(sb.deadline);
        g = sb.lock();
    }
}

/// How often an execve waiting for the process's other threads to end
/// looks again.
const ZAP_POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// Thread `t` ends because another thread of its process execs: what it
/// leaves behind is released as at its own exit (its clear_child_tid word
/// and robust futexes, in the address space about to be replaced).
fn exit_zapped(sb: &Sandbox<'_>, t: &mut Thread) -> Result<ThreadEnd, RunError> {
    let mut g = sb.lock();
    let st = g.view(t.pid)?;
    let State {
        machine,
        kernel,
        process,
        ..
    } = st;
    let mem = machine.vm.memory_mut(machine.slot)?;
    super::thread_exit::release(kernel, process, mem, t);
    process.signal_info.forget_thread(t.tid);
    t.group.remove(t.tid, 0);
    // Whoever waits for it (the execing thread) looks again.
    for w in std::mem::take(&mut kernel.retry_waiters) {
        w.wake();
    }
    Ok(ThreadEnd::Exited)
}

/// How often a waiting poll or epoll_wait that watches host descriptors
/// looks at them again (a change by another thread wakes it at once).
const HOST_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

/// Waits, with no lock held, for what `wait` names, at most until the run
/// ends at `run_end`. A sleep is only ever ended by its time or by an
/// interruption: a stray wake is ignored.
fn park(t: &Thread, wait: Wait, run_end: Instant) -> Parked {
    match wait {
        Wait::Futex { until } => t.parker.park(until.map_or(run_end, |u| u.min(run_end))),
        Wait::Retry => t.parker.park(run_end),
        Wait::RetryUntil { until } => t.parker.park(until.min(run_end)),
        Wait::Poll {
            until, host, timer, ..
        } => {
            let mut end = until.map_or(run_end, |u| u.min(run_end));
            if let Some(timer) = timer {
                end = end.min(timer);
            }
            if host {
                end = end.min(Instant::now() + HOST_POLL_INTERVAL);
            }
            t.parker.park(end)
        }
        Wait::Sleep { until } => loop {
            match t.parker.park(until.min(run_end)) {
                Parked::Woken => continue,
                other => break other,
            }
        },
        Wait::Signal => loop {
            match t.parker.park(run_end) {
                Parked::Woken => continue,
                other => break other,
            }
        },
    }
}

/// rt_sigreturn: back to the registers a handler's frame saved (read by
/// `syscalls::signals::rt_sigreturn`), through an IRET frame whatever the
/// syscall path, with the saved FPU state. A frame that names a
/// non-user RIP or an unreadable FPU image kills, as Linux's badframe.
fn sigreturn(
    sb: &Sandbox<'_>,
    st: &mut State<'_>,
    t: &mut Thread,
    restore: &crate::abi::sigframe::Restore,
) -> Result<Option<ThreadEnd>, RunError> {
    let mut regs = restore.regs;
    // An address inside a moved syscall site is the entry's now
    // (ring/sites.rs).
    regs.rip = st.process.ring.ring_rip(
        &st.process.mm,
        st.machine.vm.memory(st.machine.slot)?,
        regs.rip,
    );
    let bad = |cause: &str| Death::Signal {
        signal: signal::SIGSEGV,
        cause: format!("rt_sigreturn: {cause}"),
        rip: regs.rip,
        addr: None,
    };
    if regs.rip >= USER_END {
        let death = bad("the frame's RIP is not a user address");
        audited::ended(st, t, &death, Reason::ForgedEntry);
        return Ok(Some(end_group(sb, st, t, death)));
    }
    if let Err(why) = super::signal_delivery::restore_fpu(st, t, restore.fpstate)? {
        let death = bad(&why);
        audited::ended(st, t, &death, Reason::ForgedEntry);
        return Ok(Some(end_group(sb, st, t, death)));
    }
    let changed = std::mem::take(&mut st.process.mm.needs_tlb_flush);
    let flush = changed || t.cpu_sync.flush_pending();
    if flush {
        t.cpu_sync.flushed();
    }
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    super::signal_delivery::return_to(mem, &mut t.vcpu, &t.cpu, &regs, flush)?;
    Ok(None)
}

/// Where and how a syscall returns.
#[derive(Debug, Clone, Copy)]
pub struct Return {
    pub entry: Entry,
    /// RCX at the syscall: where it returns to.
    pub user_rip: u64,
    /// R11 at the syscall: the program's RFLAGS.
    pub user_flags: u64,
}

/// Returns `value` to thread `t` at its `user_rip` with its flags, through
/// the path the syscall came in on. After a page-table change every other
/// vCPU of the process is flushed first (tlb.rs), and this one flushes on
/// its way back (`flush_return`).
fn finish_syscall(
    sb: &Sandbox<'_>,
    st: &mut State<'_>,
    t: &mut Thread,
    ret: &Return,
    value: u64,
) -> Result<Option<ThreadEnd>, RunError> {
    // The call is over: a receiver it registered waits no more, nor does
    // a named pipe's open (kernel/fifos.rs).
    t.mq_receiver = None;
    t.fifo_wait = None;
    traced::finish(st, t, value)?;
    let user_rip = ret.user_rip;
    if user_rip >= USER_END {
        let death = Death::Signal {
            signal: signal::SIGSEGV,
            cause: "syscall return address is not a user address".into(),
            rip: user_rip,
            addr: None,
        };
        audited::ended(st, t, &death, Reason::ForgedEntry);
        return Ok(Some(end_group(sb, st, t, death)));
    }
    let flags = (ret.user_flags & USER_RFLAGS) | 0x202;
    let changed = flush_others(st, t)?;
    let flush = changed || t.cpu_sync.flush_pending();
    if flush {
        t.cpu_sync.flushed();
    }
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    match ret.entry {
        Entry::Sysret if flush => {
            let rsp = t.vcpu.regs()?.rsp;
            frame::write(
                mem,
                &t.cpu,
                &Frame {
                    error_code: 0,
                    rip: user_rip,
                    cs: u64::from(USER_CS),
                    rflags: flags,
                    rsp,
                    ss: u64::from(USER_DS),
                },
            )?;
            let r = t.vcpu.regs_mut()?;
            r.rax = value;
            r.r11 = flags;
            r.rsp = t.cpu.frame_va();
            r.rip = ec::FLUSH_RETURN;
        }
        Entry::Sysret => {
            // SYSRETQ returns to RCX: the syscall's own return address,
            // or the `syscall` instruction again for a restart.
            let r = t.vcpu.regs_mut()?;
            r.rax = value;
            r.rcx = user_rip;
            r.r11 = flags;
        }
        Entry::Frame(mut f) => {
            f.rip = user_rip;
            f.rflags = flags;
            f.cs = u64::from(USER_CS);
            f.ss = u64::from(USER_DS);
            frame::write(mem, &t.cpu, &f)?;
            let r = t.vcpu.regs_mut()?;
            r.rax = value;
            if flush {
                r.rip = ec::FLUSH_RETURN;
            }
        }
    }
    Ok(None)
}
