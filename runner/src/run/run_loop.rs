//! The run loop: run the vCPU, classify each exit, handle it in user space,
//! resume. Every exit either resumes the guest or ends the run; none is
//! ignored and none can loop forever (the deadline bounds the run).

use super::deadline::Deadline;
use super::stats::Stats;
use super::syscall_path::SyscallPath;
use crate::abi::constants as signal;
use crate::guest::entry_code as ec;
use crate::guest::layout::*;
use crate::guest::monitor_image as mi;
use crate::kernel::death::{self, Death};
use crate::kernel::Objects;
use crate::monitor::{Monitor, MonitorError};
use crate::run::boot::Machine;
use crate::syscalls::{self, table, Args, Ctx, Outcome};
use sandbox_policy::OnDeny;
use thinvisor_kmod::{KmodError, Vcpu, VmExit};

/// The exception frame the CPU pushed on the IST stack (error code first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const FRAME_PA: u64 = IST_STACK_TOP_PA - 48;
const FRAME_VA: u64 = IST_STACK_TOP_VA - 48;
/// Guest-physical address of `syscall_result` in the entry data page.
const SYSCALL_RESULT_PA: u64 = ENTRY_DATA_PA + (ec::SYSCALL_RESULT - kva(ENTRY_DATA_PA));
/// RFLAGS bits user code may hold: CF PF AF ZF SF TF DF OF AC ID; IF and the
/// reserved bit 1 are forced on; IOPL, NT, VM, VIF, VIP never.
const USER_RFLAGS: u64 = 0x0024_0dd5;

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

fn read_frame(machine: &Machine) -> Result<Frame, RunError> {
    let m = machine.vm.memory(machine.slot)?;
    let q = |i: u64| m.read_u64(FRAME_PA + i * 8);
    Ok(Frame {
        error_code: q(0)?,
        rip: q(1)?,
        cs: q(2)?,
        rflags: q(3)?,
        rsp: q(4)?,
        ss: q(5)?,
    })
}

fn write_frame(machine: &mut Machine, f: &Frame) -> Result<(), RunError> {
    let m = machine.vm.memory_mut(machine.slot)?;
    for (i, v) in [f.error_code, f.rip, f.cs, f.rflags, f.rsp, f.ss]
        .iter()
        .enumerate()
    {
        m.write_u64(FRAME_PA + i as u64 * 8, *v)?;
    }
    Ok(())
}

/// Length of `out imm8, al`.
const OUT_LEN: u64 = 2;

/// True when `rip` is the entry stub's `out` whose end is `after_out`.
/// Hardware KVM reports RIP *at* the OUT (it skips it on the next KVM_RUN,
/// unless user space moved RIP); kvm_pvm reports RIP *after* it. Both are
/// supervisor-only addresses user code cannot execute.
fn at_stub_out(rip: u64, after_out: u64) -> bool {
    rip == after_out || rip == after_out - OUT_LEN
}

/// Classifies an exit. An exit from the entry code is trusted only at the
/// exact RIP after its `out` with the IST stack where the stub left it.
pub fn classify(
    machine: &Machine,
    vcpu: &mut Vcpu,
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
                if rsp != FRAME_VA {
                    return Err(RunError::Internal(format!(
                        "exception stack at {rsp:#x}, expected {FRAME_VA:#x}"
                    )));
                }
                let frame = read_frame(machine)?;
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

/// Runs the guest until it exits or dies. Returns the exit status.
pub fn run(
    machine: &mut Machine,
    objects: &mut Objects,
    path: SyscallPath,
    deadline: &Deadline,
    limit_secs: f64,
    stats: &mut Stats,
) -> Result<Result<i32, Death>, RunError> {
    loop {
        // Before every run: the timer's kick is lost when it lands between
        // two runs (the guest exits often enough for this to catch it).
        if deadline.passed() {
            let rip = user_rip(machine, &mut objects.thread.vcpu)?;
            return Ok(Err(Death::TimeLimit { rip, limit_secs }));
        }
        machine.retune_clock()?;
        if let Some(m) = machine.monitor.as_mut() {
            m.before_resume(
                machine.vm.memory_mut(machine.slot)?,
                &objects.process.mm,
                &objects.kernel,
            )?;
        }
        if let Some(root) = objects.process.mm.before_entry() {
            // A 2 MiB page was split or removed in copies of the tables
            // (page_table.rs): the guest continues on the new root.
            objects.thread.vcpu.sregs_mut()?.cr3 = root;
        }
        let exit = objects.thread.vcpu.run()?;
        if let Some(m) = machine.monitor.as_mut() {
            // Buffered output first: it precedes whatever happens next.
            let mem = machine.vm.memory_mut(machine.slot)?;
            m.after_exit(
                mem,
                &mut objects.process.mm,
                &mut objects.process.fds,
                &mut objects.kernel.budget,
            )?;
        }
        let event = classify(machine, &mut objects.thread.vcpu, &exit, path)?;
        match event {
            Event::Syscall(entry) => {
                stats.count_exit("syscall");
                if let Some(end) = syscall(machine, objects, entry, stats)? {
                    return Ok(end);
                }
            }
            Event::Exception { vector, frame } => {
                stats.count_exit("exception");
                return Ok(Err(exception_death(
                    &mut objects.thread.vcpu,
                    vector,
                    &frame,
                )?));
            }
            Event::UserPortIo { port } => {
                stats.count_exit("user_port_io");
                let rip = objects.thread.vcpu.regs()?.rip;
                return Ok(Err(Death::Signal {
                    signal: signal::SIGSEGV,
                    cause: format!(
                        "general protection fault: I/O port {port:#x} access from user mode"
                    ),
                    rip,
                    addr: None,
                }));
            }
            Event::MonitorRefused => {
                stats.count_exit("monitor_refused");
                let rcx = Monitor::saved_rcx(machine.vm.memory(machine.slot)?)?;
                return Ok(Err(Death::Signal {
                    signal: signal::SIGSYS,
                    cause: "monitor entry not through a gate".into(),
                    rip: rcx.wrapping_sub(2),
                    addr: None,
                }));
            }
            Event::Interrupted => {
                stats.count_exit("interrupted");
                if deadline.passed() {
                    let rip = user_rip(machine, &mut objects.thread.vcpu)?;
                    return Ok(Err(Death::TimeLimit { rip, limit_secs }));
                }
                if deadline.client_gone() {
                    let rip = user_rip(machine, &mut objects.thread.vcpu)?;
                    return Ok(Err(Death::ClientGone { rip }));
                }
            }
            Event::Unexpected(exit) => {
                stats.count_exit(exit.reason_name());
                let rip = objects.thread.vcpu.regs()?.rip;
                return Ok(Err(Death::Signal {
                    signal: signal::SIGSEGV,
                    cause: format!("unexpected VM exit: {exit:?}"),
                    rip,
                    addr: None,
                }));
            }
        }
    }
}

/// The guest's user-mode RIP, also when the vCPU stopped inside the entry
/// code (an interrupt that lands while a syscall is being returned): then it
/// is where that syscall returns to, RCX on the SYSRET path or the frame's
/// RIP (already rewritten by the runner) on the #PF path. Inside the in-VM
/// monitor's gates and code it is the return address of the syscall the
/// monitor is handling.
fn user_rip(machine: &Machine, vcpu: &mut Vcpu) -> Result<u64, RunError> {
    let r = vcpu.regs()?;
    let (rip, rcx) = (r.rip, r.rcx);
    if rip < USER_END {
        return Ok(rip);
    }
    if machine.monitor.is_some() {
        if (mi::GATE_START..mi::GATE_END).contains(&rip) {
            // The gates keep the program's return address in RCX, except
            // an ordinary page fault passing through gate_pf (its frame's
            // RIP is where the program faulted).
            if (mi::GATE_PF..mi::GATE_EXIT_SYSRET).contains(&rip) {
                let frame = read_frame(machine)?;
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
            return Ok(Monitor::saved_rcx(machine.vm.memory(machine.slot)?)?);
        }
    }
    let in_syscall_stub = (ec::SYSCALL_ENTRY..ec::ENTRY_END).contains(&rip);
    if in_syscall_stub {
        return Ok(rcx);
    }
    Ok(read_frame(machine)?.rip)
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

/// Handles one syscall. Some(result) when the run ends.
fn syscall(
    machine: &mut Machine,
    objects: &mut Objects,
    entry: Entry,
    stats: &mut Stats,
) -> Result<Option<Result<i32, Death>>, RunError> {
    let r = objects.thread.vcpu.regs()?;
    let nr = r.rax;
    let args: Args = [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
    let (user_rip, user_flags) = (r.rcx, r.r11);
    let name = table::name_of(nr);
    stats.count_syscall(&name);
    if let Some(answer) = syscalls::refusal(&objects.kernel.rules, nr, &args) {
        stats.denied += 1;
        match answer {
            OnDeny::Kill => {
                return Ok(Some(Err(Death::PolicyKill {
                    syscall: name.into_owned(),
                    rip: user_rip.wrapping_sub(2),
                })));
            }
            OnDeny::Errno(e) => {
                return finish_syscall(
                    machine,
                    objects,
                    entry,
                    (-i64::from(e)) as u64,
                    user_rip,
                    user_flags,
                )
            }
        }
    }
    let outcome = {
        let mem = machine.vm.memory_mut(machine.slot)?;
        let mut ctx = Ctx::new(
            &mut objects.kernel,
            &mut objects.process,
            &mut objects.thread,
            mem,
        );
        syscalls::dispatch(&mut ctx, nr, &args)
    };
    let value = match outcome {
        Outcome::Return(v) => v,
        Outcome::Exit(code) => return Ok(Some(Ok(code))),
        Outcome::Kill(d) => return Ok(Some(Err(d))),
    };
    finish_syscall(machine, objects, entry, value, user_rip, user_flags)
}

/// Returns `value` to the guest at `user_rip` with `user_flags`, through the
/// path the syscall came in on (flushing the TLB first when needed).
fn finish_syscall(
    machine: &mut Machine,
    objects: &mut Objects,
    entry: Entry,
    value: u64,
    user_rip: u64,
    user_flags: u64,
) -> Result<Option<Result<i32, Death>>, RunError> {
    if user_rip >= USER_END {
        return Ok(Some(Err(Death::Signal {
            signal: signal::SIGSEGV,
            cause: "syscall return address is not a user address".into(),
            rip: user_rip,
            addr: None,
        })));
    }
    let flags = (user_flags & USER_RFLAGS) | 0x202;
    let flush = std::mem::take(&mut objects.process.mm.needs_tlb_flush);
    if flush {
        machine
            .vm
            .memory_mut(machine.slot)?
            .write_u64(SYSCALL_RESULT_PA, value)?;
    }
    match entry {
        Entry::Sysret => {
            let r = objects.thread.vcpu.regs_mut()?;
            r.rax = value;
            r.r11 = flags;
            if flush {
                r.rip = ec::SYSRET_FLUSH;
            }
        }
        Entry::Frame(mut f) => {
            f.rip = user_rip;
            f.rflags = flags;
            f.cs = USER_CS as u64;
            f.ss = USER_DS as u64;
            write_frame(machine, &f)?;
            let r = objects.thread.vcpu.regs_mut()?;
            r.rax = value;
            if flush {
                r.rip = ec::PF_RETURN_FLUSH;
            }
        }
    }
    Ok(None)
}
