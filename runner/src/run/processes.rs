//! Child processes, on the run's side: fork (a new process with a
//! copy-on-write copy of the caller's memory, started on a vCPU of the
//! pool), the caller's registers after execve, signals to other
//! processes, and a process's end (its memory and descriptors released,
//! a zombie for its parent, SIGCHLD).
//!
//! Every process runs in the one VM: its own page-table root over the
//! VM's one memory slot, the supervisor half shared (docs/architecture.md,
//! "Processes"). All of this runs under the kernel lock (`Shared`).

use super::fpu_state::{self, FpuState};
use super::run_loop::{Return, RunError};
use super::threads::{self, Job, Sandbox, Shared, State};
use crate::abi::constants::{MSR_FS_BASE, MSR_GS_BASE, SA_NOCLDWAIT, SIG_DFL, SIG_IGN};
use crate::abi::sigframe::{SigInfo, UserRegs};
use crate::abi::Errno;
use crate::guest::address_space::{AddressSpace, MapError};
use crate::kernel::death::Death;
use crate::kernel::fds::Object;
use crate::kernel::parker::Parker;
use crate::kernel::pidfd::PidFd;
use crate::kernel::pipe_buffer::next_id;
use crate::kernel::process::Identity;
use crate::kernel::process_table::ChildStatus;
use crate::kernel::thread_group::{GroupEnd, ThreadGroup};
use crate::kernel::{Process, Thread};
use crate::syscalls::{ExecStart, ForkRequest, NewThread, Outcome, Recipients, SignalRequest};
use crate::tunnel::{GuestPtr, Tunnel};
use std::sync::{Arc, MutexGuard};
use std::thread::Scope;
use thinvisor_kmod::Regs;

fn internal(e: MapError) -> RunError {
    RunError::Internal(format!("releasing an address space: {e}"))
}

/// Report keys (kernel::Reports) of fork refusals.
const REPORT_FORK_LIMIT: u64 = u64::MAX - 20;
const REPORT_FORK_MONITOR: u64 = u64::MAX - 21;
const REPORT_FORK_HOST: u64 = u64::MAX - 22;

/// Forks the process of thread `t`, which asked with `req` in the syscall
/// returning through `ret` (registers `r` at the syscall). Returns the
/// value for `t`: the child's pid, or a negative errno.
pub fn fork<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    g: &mut MutexGuard<'env, Shared<'a>>,
    t: &mut Thread,
    req: ForkRequest,
    ret: &Return,
    r: &Regs,
) -> Result<u64, RunError>
where
    'a: 'env,
{
    let refuse = |e: Errno| Ok(Outcome::errno_value(e));
    if g.machine.monitor.is_some() {
        if g.kernel.reports.first(REPORT_FORK_MONITOR) {
            crate::say!(
                "runner: fork refused: the in-VM monitor runs one program; run with --monitor off; returned ENOSYS"
            );
        }
        return refuse(Errno::NOSYS);
    }
    if !g.kernel.procs.has_room() {
        if g.kernel.reports.first(REPORT_FORK_LIMIT) {
            crate::say!(
                "runner: fork refused: limits.processes ({}) processes exist (zombies count until reaped); returned EAGAIN",
                g.kernel.procs.max()
            );
        }
        return refuse(Errno::AGAIN);
    }
    let pid = t.group.tids().next();
    let group = Arc::new(ThreadGroup::with_leader(
        pid,
        t.group.tids(),
        t.group.max_threads(),
        Arc::new(Parker::default()),
    ));
    // A vfork child runs in the parent's own address space, lent to it
    // while the parent waits (the parent keeps an empty one meanwhile);
    // any other child in a copy-on-write copy. The parent's other threads,
    // if any, leave the guest first and run nothing until it is given back
    // (`mm_lent`): on Linux they would go on beside the child, which only
    // scheduling could tell apart.
    let lend = req.share_memory;
    let st = g.view(t.pid)?;
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    let made = if lend {
        st.process
            .mm
            .new_empty(mem)
            .map(|empty| std::mem::replace(&mut st.process.mm, empty))
    } else {
        // The parent's syscall ring slots (the pages the runner mapped,
        // never the program's own) are not the child's: its threads map
        // their own (run/ring_loop.rs).
        let slots: Vec<u64> = st.process.ring.slots().collect();
        st.process.mm.fork(mem).and_then(|mut mm| {
            for va in slots {
                mm.munmap(mem, va, thinvisor_kmod::PAGE_SIZE)?;
            }
            Ok(mm)
        })
    };
    let mut mm = match made {
        Ok(mm) => mm,
        Err(MapError::NoMemory) => return refuse(Errno::NOMEM),
        Err(e) => return Err(RunError::Internal(format!("fork: {e}"))),
    };
    // CLONE_PIDFD: the parent's pidfd for the child, made before the
    // child's copy of the descriptors, which then drops it (Linux makes it
    // after unsharing the table: the child never has it).
    let pidfd = match req.pidfd {
        Some(_) => {
            let fd = PidFd::new(pid, group.clone(), false, next_id());
            st.process
                .fds
                .insert(Arc::new(Object::PidFd(Arc::new(fd))), true, 0)
                .map(Some)
        }
        None => Ok(None),
    };
    // The caller's other threads still hold writable translations of pages
    // that are copy-on-write now: the run loop flushes them (`flush_others`)
    // before it lets the kernel lock go, so before the child can run.
    let pid_bytes = (pid as u32).to_le_bytes();
    let fd_bytes = pidfd.ok().flatten().map(|fd| (fd as u32).to_le_bytes());
    let ranges = &st.kernel.tunnel_ranges;
    let put = |mm: &mut crate::guest::address_space::AddressSpace,
               mem: &mut thinvisor_kmod::GuestMemory,
               at: Option<u64>,
               bytes: &[u8]| {
        at.is_none_or(|at| {
            Tunnel::new(mm, mem, ranges)
                .write(GuestPtr::new(at), bytes)
                .is_ok()
        })
    };
    let failed = match pidfd {
        Err(e) => Some(e),
        Ok(_) => {
            let parent_mm = if lend { &mut mm } else { &mut st.process.mm };
            let written = put(parent_mm, mem, req.parent_tid, &pid_bytes)
                && fd_bytes.is_none_or(|b| put(parent_mm, mem, req.pidfd, &b))
                && put(&mut mm, mem, req.child_tid, &pid_bytes);
            (!written).then_some(Errno::FAULT)
        }
    };
    if let Some(e) = failed {
        if let Ok(Some(fd)) = pidfd {
            let _ = st.process.fds.close(fd);
        }
        if lend {
            let empty = std::mem::replace(&mut st.process.mm, mm);
            empty.release(mem).map_err(internal)?;
        } else {
            mm.release(mem).map_err(internal)?;
        }
        return refuse(e);
    }
    if lend && t.group.live() > 1 {
        st.process.mm_lent = true;
        super::tlb::shoot_down(&t.group, t.tid);
    }
    let parent = &*st.process;
    let child = Process {
        identity: Identity {
            pid,
            ppid: t.pid,
            ..parent.identity
        },
        fds: {
            let mut fds = parent.fds.fork_copy();
            if let Ok(Some(fd)) = pidfd {
                let _ = fds.close(fd);
            }
            fds
        },
        vfs: parent.vfs.clone(),
        signal_actions: parent.signal_actions.clone(),
        limits: parent.limits.clone(),
        mm,
        threads: group.clone(),
        alarm: None,
        timers: Default::default(),
        timers_changed: 0,
        signal_info: Default::default(),
        parent_death_signal: 0,
        stopped: None,
        mm_lent: false,
        file_maps: parent.file_maps.clone(),
        shm_attached: parent.shm_attached.clone(),
        umask: parent.umask,
        sched: parent.sched.for_child(),
        personality: parent.personality,
        membarrier: parent.membarrier,
        exe: parent.exe.clone(),
        cmdline: parent.cmdline.clone(),
        ring: parent.ring.for_child(),
    };
    st.kernel
        .procs
        .add(pid, t.pid, group.clone(), req.exit_signal)
        .map_err(|e| RunError::Internal(format!("fork: process table: {e}")))?;
    if let Some(e) = st.kernel.procs.get_mut(pid).filter(|_| lend) {
        e.borrowed_from = Some(t.pid);
    }
    g.others.insert(pid, child);
    sb.add_child(group.clone());
    let member = group
        .member(pid)
        .ok_or_else(|| RunError::Internal("fork: the child has no first thread".into()))?;
    let regs = threads::child_regs(r, ret, req.stack);
    let job = Job {
        new: NewThread {
            member,
            stack: req.stack,
            tls: req.tls,
            clear_child_tid: req.clear_child_tid,
            signal_mask: t.signals.mask,
        },
        group: group.clone(),
        regs,
        fpu: FpuState::save(&mut t.vcpu, g.machine.cpu_setup.xstate.as_ref())?,
        fs_base: req.tls.unwrap_or(t.fs_base),
        gs_base: t.gs_base,
        comm: t.comm,
    };
    let others = g.pool_threads();
    if let Err(e) = threads::start(sb, scope, Box::new(job), others) {
        if let Some(p) = g.others.remove(&pid) {
            let lender = g
                .kernel
                .procs
                .get_mut(pid)
                .and_then(|e| e.borrowed_from.take());
            match lender {
                Some(parent) => give_back(g, parent, p.mm)?,
                None => {
                    let slot = g.machine.slot;
                    let mem = g.machine.vm.memory_mut(slot)?;
                    p.mm.release(mem).map_err(internal)?;
                }
            }
        }
        g.kernel.procs.exited(pid, ChildStatus::Killed(9));
        g.kernel.procs.reap(pid);
        group.end(GroupEnd::Exited(0));
        group.mark_gone();
        // After the run's end nothing sees the answer.
        if e.is_reported() && g.kernel.reports.first(REPORT_FORK_HOST) {
            crate::say!("runner: fork failed: {e}; returned EAGAIN");
        }
        return refuse(Errno::AGAIN);
    }
    g.stats.forks += 1;
    Ok(pid)
}

/// After a successful execve: thread `t` starts the new program at
/// `start` with fresh registers, FPU state and TLS bases, through an IRET
/// frame (whatever path the syscall came in on), on the new page-table
/// root (the run loop loads it before the thread runs: `prepare_entry`).
pub fn exec(st: &mut State<'_>, t: &mut Thread, start: &ExecStart) -> Result<(), RunError> {
    // The only thread left takes over the pid as its tid (de_thread).
    if t.tid != t.pid {
        st.process.signal_info.forget_thread(t.tid);
        t.group.take_over_leader(t.tid);
        t.tid = t.pid;
    }
    let regs = UserRegs {
        rip: start.entry,
        rsp: start.rsp,
        rflags: 0x202,
        ..UserRegs::default()
    };
    fpu_state::reset(&mut t.vcpu, st.machine.cpu_setup.xstate.as_ref())?;
    t.fs_base = 0;
    t.gs_base = 0;
    let s = t.vcpu.sregs_mut()?;
    s.fs.base = 0;
    s.gs.base = 0;
    t.vcpu.set_msr(MSR_FS_BASE, 0)?;
    t.vcpu.set_msr(MSR_GS_BASE, 0)?;
    st.process.mm.needs_tlb_flush = false;
    // A new address space: no ring code or slot in it yet.
    st.process.ring = Default::default();
    // Its System V segments are detached (the old address space is gone).
    st.process.shm_attached.clear();
    st.kernel.ipc.purge_segments();
    st.process.membarrier = 0;
    t.ring_slot = None;
    t.ring_due = false;
    t.cpu_sync.flushed();
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    super::signal_delivery::return_to(mem, &mut t.vcpu, &t.cpu, &regs, true)
}

/// A vfork child is done with the address space `mm` its parent lent it
/// (it execed or ended): the parent gets it back and the empty one it kept
/// meanwhile is released; a parent that has ended meanwhile gets nothing,
/// and `mm` is released.
pub fn give_back(g: &mut Shared<'_>, parent: u64, mm: AddressSpace) -> Result<(), RunError> {
    let spare = match g.process_mut(parent) {
        Some(p) => {
            p.mm_lent = false;
            p.threads.wake_all();
            std::mem::replace(&mut p.mm, mm)
        }
        None => mm,
    };
    let slot = g.machine.slot;
    let mem = g.machine.vm.memory_mut(slot)?;
    spare.release(mem).map_err(internal)?;
    for w in std::mem::take(&mut g.kernel.retry_waiters) {
        w.wake();
    }
    Ok(())
}

/// Sends `req` to the processes it names (thread `t`'s own included when
/// a group or -1 names it... -1 never does). Returns 0, or -ESRCH when it
/// names no process.
pub fn signal(g: &mut Shared<'_>, t: &Thread, req: &SignalRequest) -> u64 {
    let procs = &g.kernel.procs;
    let targets: Vec<u64> = match req.to {
        Recipients::Pid(p) => match procs.get(p) {
            // A zombie takes the signal and nothing happens.
            Some(e) if e.zombie.is_some() => Vec::new(),
            Some(_) => vec![p],
            None => return Outcome::errno_value(Errno::SRCH),
        },
        Recipients::Group(pg) => {
            let m = procs.group_members(pg);
            if m.is_empty() {
                return Outcome::errno_value(Errno::SRCH);
            }
            m
        }
        Recipients::All => {
            let m: Vec<u64> = procs.live().into_iter().filter(|&p| p != t.pid).collect();
            if m.is_empty() {
                return Outcome::errno_value(Errno::SRCH);
            }
            m
        }
    };
    if req.sig == 0 {
        return 0;
    }
    for pid in targets {
        super::job_control::on_send(g, pid, req.sig);
        if let Some(p) = g.process_mut(pid) {
            post(p, req.sig, req.info);
        }
    }
    0
}

/// Signal `sig` from outside the sandbox (`--forward-signals`) to process
/// `pid`, as a kill whose sender the guest cannot see (SI_USER, pid 0).
pub fn signal_from_outside(g: &mut Shared<'_>, pid: u64, sig: u64) {
    if !(1..=64).contains(&sig) {
        return;
    }
    // A container's init ignores what it does not handle (Linux's
    // SIGNAL_UNKILLABLE for a pid namespace's init, signals from outside).
    let init = g.kernel.first_is_init && pid == g.kernel.procs.first();
    if init
        && g.process_mut(pid)
            .is_some_and(|p| p.signal_actions.action(sig).handler == SIG_DFL)
    {
        return;
    }
    super::job_control::on_send(g, pid, sig);
    if let Some(p) = g.process_mut(pid) {
        let info = SigInfo {
            signo: sig as i32,
            code: crate::abi::constants::SI_USER,
            addr: None,
            pid: 0,
            uid: 0,
            value: 0,
        };
        post(p, sig, info);
    }
}

/// A process-directed signal to `p`: pending for the process with its
/// siginfo, every thread woken or kicked so one that does not block it
/// takes it. One `p` ignores is queued too (a thread may block it to wait
/// for it, as a blocked signal is never ignored on Linux) and dropped by
/// the first thread that does not block it (`signal_delivery::drop_ignored`).
pub fn post(p: &mut Process, sig: u64, info: SigInfo) {
    p.signal_info.put(0, info);
    p.threads.post_process(sig);
}

/// The line a child's end deserves on stderr: a fault of its own (a CPU
/// exception, an exit the runner cannot model) or a runner failure. Not a
/// signal a process sent, a pipe's SIGPIPE, or the run's end.
fn fault_line(pid: u64, end: &GroupEnd) -> Option<String> {
    match end {
        GroupEnd::Killed(d @ Death::Signal { cause, .. }) => {
            let sent = cause.starts_with("raised by")
                || cause.starts_with("sent ")
                || cause.starts_with("write to a pipe")
                || cause.starts_with("the first program ended")
                || cause.contains("timer expired");
            (!sent).then(|| format!("runner: process {pid}: {d}"))
        }
        GroupEnd::Killed(d @ Death::PolicyKill { .. }) => {
            Some(format!("runner: process {pid}: {d}"))
        }
        GroupEnd::Failed(why) => Some(format!("runner: process {pid}: the runner failed: {why}")),
        GroupEnd::Killed(_) | GroupEnd::Exited(_) => None,
    }
}

/// Child process `pid` (threads `group`) has ended and its last host
/// thread is out: releases its memory and descriptors (pipe ends close),
/// leaves a zombie for its parent (or none when the parent ignores
/// SIGCHLD or set SA_NOCLDWAIT), sends the parent its exit signal, and
/// wakes every waiter (a parent in wait4, a reader of a pipe it held).
pub fn tear_down(sb: &Sandbox<'_>, pid: u64, group: &ThreadGroup) -> Result<(), RunError> {
    let mut g = sb.lock();
    // A child killed by its own fault (or by the runner) gets a line, as
    // the first program does; one killed by a signal another process sent
    // does not (its parent sees that in its wait status).
    // (Not in fuzzing, which turns reports off: its programs fault by the
    // thousand.)
    if let Some(end) = group.outcome().filter(|_| g.kernel.reports.enabled) {
        if let Some(line) = fault_line(pid, &end) {
            crate::say!("{line}");
        }
    }
    let status = match group.outcome() {
        Some(GroupEnd::Exited(code)) => ChildStatus::Exited(code & 0xff),
        Some(GroupEnd::Killed(death)) => ChildStatus::Killed(death.exit_status() - 128),
        Some(GroupEnd::Failed(_)) | None => ChildStatus::Killed(crate::abi::constants::SIGKILL),
    };
    let Some(p) = g.others.remove(&pid) else {
        group.mark_gone();
        return Ok(());
    };
    g.kernel.file_locks.exit(pid);
    let Process {
        mut mm,
        mut fds,
        file_maps,
        identity,
        shm_attached,
        ..
    } = p;
    // Its shared file mappings' writes reach their files, as when Linux
    // unmaps them at exit (a failure there has no one to report to).
    if !file_maps.is_empty() {
        let slot = g.machine.slot;
        let Shared {
            machine, kernel, ..
        } = &mut *g;
        let mem = machine.vm.memory_mut(slot)?;
        let _ =
            crate::kernel::file_maps::write_back_all(&file_maps, &mut mm, mem, &mut kernel.budget);
    }
    let lender = g
        .kernel
        .procs
        .get_mut(pid)
        .and_then(|e| e.borrowed_from.take());
    match lender {
        Some(parent) => give_back(&mut g, parent, mm)?,
        None => {
            let slot = g.machine.slot;
            let mem = g.machine.vm.memory_mut(slot)?;
            mm.release(mem).map_err(internal)?;
        }
    }
    fds.close_all();
    let uid = identity.uid as u32;
    // Its children that asked (PR_SET_PDEATHSIG) get their signal.
    for child in g.kernel.procs.children_of(pid) {
        if let Some(c) = g.process_mut(child) {
            let sig = c.parent_death_signal;
            if sig != 0 {
                let info = SigInfo {
                    signo: sig as i32,
                    code: crate::abi::constants::SI_USER,
                    addr: None,
                    pid: pid as u32,
                    uid,
                    value: 0,
                };
                post(c, sig, info);
            }
        }
    }
    // Its semaphore adjustments (SEM_UNDO) are undone; its segments were
    // detached with its address space (`p` is gone).
    g.kernel.ipc.process_exited(pid);
    // Its message queue registrations go, as its descriptors closed.
    g.kernel.mqueues.process_exited(pid);
    drop(shm_attached);
    g.kernel.ipc.purge_segments();
    if let Some((ppid, exit_signal)) = g.kernel.procs.exited(pid, status) {
        let (code, value) = status.code_and_status();
        let info = SigInfo {
            signo: exit_signal as i32,
            code,
            addr: None,
            pid: pid as u32,
            uid,
            value: value as u32 as u64,
        };
        let chld = crate::abi::constants::SIGCHLD as u64;
        let mut reap = false;
        if let Some(parent) = g.process_mut(ppid) {
            let action = parent.signal_actions.action(chld);
            reap = action.handler == SIG_IGN || action.flags & SA_NOCLDWAIT != 0;
            if exit_signal != 0 {
                post(parent, exit_signal, info);
            }
        }
        if reap {
            g.kernel.procs.reap(pid);
        }
    }
    group.mark_gone();
    for w in std::mem::take(&mut g.kernel.retry_waiters) {
        w.wake();
    }
    Ok(())
}
