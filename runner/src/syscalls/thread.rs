//! Threads and child processes: clone and clone3, fork and vfork, exit of
//! one thread, and the robust list. A child process is made by the run
//! loop (`Stop::Fork`, run/processes.rs). The run loop starts a thread a handler asks for
//! (`Stop::Spawn`) on its own vCPU and host thread (run/threads.rs), and
//! ends one that exits (`Stop::ExitThread`): its clear_child_tid word is
//! cleared and woken, its robust futexes released (run/thread_exit.rs).

use super::{Args, Ctx, ForkRequest, NewThread, Stop, SyscallResult};
use crate::abi::constants::{
    CLONE_ARGS_SIZE_VER0, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_DETACHED, CLONE_FILES,
    CLONE_FS, CLONE_PARENT_SETTID, CLONE_PIDFD, CLONE_SETTLS, CLONE_SIGHAND, CLONE_SYSVSEM,
    CLONE_THREAD, CLONE_VFORK, CLONE_VM, CSIGNAL, ROBUST_LIST_HEAD_SIZE, SIGCHLD,
};
use crate::abi::Errno;
use crate::guest::layout::USER_END;
use crate::kernel::thread_group::AddError;
use crate::tunnel::GuestPtr;

/// The flags every thread-creating clone has: one address space, file
/// system view, descriptor table and signal handlers, one thread group.
const THREAD: u64 = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
/// What may come with them (CLONE_DETACHED is ignored, as by Linux).
const THREAD_EXTRAS: u64 = CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID
    | CLONE_DETACHED;

/// Syscall numbers, for the once-per-number reports.
const NR_CLONE: u64 = 56;
const NR_CLONE3: u64 = 435;

/// What clone and clone3 ask for, decoded.
struct Request {
    nr: u64,
    flags: u64,
    exit_signal: u64,
    /// The new thread's stack pointer (0: the caller's).
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
    /// CLONE_PIDFD: where the parent gets the child's pidfd.
    pidfd: u64,
}

pub fn clone(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    start_thread(
        ctx,
        Request {
            nr: NR_CLONE,
            flags: a[0] & !CSIGNAL,
            exit_signal: a[0] & CSIGNAL,
            stack: a[1],
            parent_tid: a[2],
            child_tid: a[3],
            tls: a[4],
            // clone's CLONE_PIDFD shares the parent_tid argument.
            pidfd: a[2],
        },
    )
}

pub fn clone3(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (ptr, size) = (GuestPtr::new(a[0]), a[1]);
    if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
        return Err(Errno::INVAL.into());
    }
    let mut raw = vec![0u8; size as usize];
    ctx.tunnel().read(ptr, &mut raw).map_err(|_| Errno::FAULT)?;
    let field = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[i * 8..i * 8 + 8]);
        u64::from_le_bytes(b)
    };
    // flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
    // tls; then set_tid, set_tid_size, cgroup, which a thread never needs.
    if raw[CLONE_ARGS_SIZE_VER0 as usize..].iter().any(|&b| b != 0) {
        return Err(Errno::INVAL.into());
    }
    let (flags, stack, stack_size) = (field(0), field(5), field(6));
    if flags & CSIGNAL != 0 || (stack == 0) != (stack_size == 0) {
        return Err(Errno::INVAL.into());
    }
    start_thread(
        ctx,
        Request {
            nr: NR_CLONE3,
            flags,
            exit_signal: field(4),
            stack: if stack == 0 {
                0
            } else {
                stack.wrapping_add(stack_size)
            },
            parent_tid: field(3),
            child_tid: field(2),
            tls: field(7),
            pidfd: field(1),
        },
    )
}

fn start_thread(ctx: &mut Ctx<'_>, r: Request) -> SyscallResult {
    // Linux's own consistency rules come first (a pidfd names a process,
    // and clone's pidfd pointer is its parent_tid one).
    if (r.flags & CLONE_THREAD != 0 && r.flags & CLONE_SIGHAND == 0)
        || (r.flags & CLONE_SIGHAND != 0 && r.flags & CLONE_VM == 0)
        || (r.flags & CLONE_PIDFD != 0
            && (r.flags & (CLONE_THREAD | CLONE_DETACHED) != 0
                || (r.nr == NR_CLONE && r.flags & CLONE_PARENT_SETTID != 0)))
    {
        return Err(Errno::INVAL.into());
    }
    // A child process: without CLONE_VM, or a vfork-style CLONE_VM|CLONE_VFORK.
    let vfork = r.flags & CLONE_VFORK != 0;
    if r.flags & CLONE_THREAD == 0 && (r.flags & CLONE_VM == 0 || vfork) {
        return fork_child(ctx, &r, vfork);
    }
    if r.flags & THREAD != THREAD || r.flags & !(THREAD | THREAD_EXTRAS) != 0 || r.exit_signal != 0
    {
        if ctx.kernel.reports.first(r.nr) {
            crate::say!(
                "runner: clone with flags {:#x} refused: only threads are supported \
                 (CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD), not child processes; \
                 returned ENOSYS",
                r.flags | r.exit_signal
            );
        }
        return Err(Errno::NOSYS.into());
    }
    if unholdable_tls(&r) {
        return Err(Errno::PERM.into());
    }
    let member = match ctx.process.threads.add() {
        Ok(m) => m,
        Err(AddError::Limit) => {
            if ctx.kernel.reports.first(r.nr) {
                crate::say!(
                    "runner: clone refused: limits.threads ({}) threads are alive; returned EAGAIN",
                    ctx.process.threads.max_threads()
                );
            }
            return Err(Errno::AGAIN.into());
        }
        Err(AddError::Ending) => return Err(Errno::AGAIN.into()),
    };
    let tid = (member.tid as u32).to_le_bytes();
    for (flag, at) in [
        (CLONE_PARENT_SETTID, r.parent_tid),
        (CLONE_CHILD_SETTID, r.child_tid),
    ] {
        if r.flags & flag != 0 && ctx.tunnel().write(GuestPtr::new(at), &tid).is_err() {
            ctx.process.threads.remove(member.tid, 0);
            return Err(Errno::FAULT.into());
        }
    }
    Err(Stop::Spawn(Box::new(NewThread {
        member,
        stack: r.stack,
        tls: (r.flags & CLONE_SETTLS != 0).then_some(r.tls),
        clear_child_tid: if r.flags & CLONE_CHILD_CLEARTID != 0 {
            r.child_tid
        } else {
            0
        },
        signal_mask: ctx.thread.signals.mask,
    })))
}

/// A TLS base the CPU cannot hold (KVM would refuse the vCPU's FS base
/// and the run would fail): Linux's set_new_tls refuses it with EPERM, as
/// arch_prctl does, before the tids are written.
fn unholdable_tls(r: &Request) -> bool {
    r.flags & CLONE_SETTLS != 0 && r.tls >= USER_END
}

/// What a child process may be cloned with: the flags fork, vfork,
/// posix_spawn and Go's os/exec use, and CLONE_PIDFD. Namespaces, CLONE_PARENT,
/// shared descriptor tables or file-system views between processes are
/// not supported (refused with a report, never ignored).
const PROCESS_FLAGS: u64 = CLONE_VM
    | CLONE_VFORK
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_PIDFD;

fn fork_child(ctx: &mut Ctx<'_>, r: &Request, vfork: bool) -> SyscallResult {
    if r.flags & !PROCESS_FLAGS != 0 || r.exit_signal > 64 {
        if ctx.kernel.reports.first(r.nr) {
            crate::say!(
                "runner: clone with flags {:#x} refused: a child process may be created \
                 with CLONE_VM|CLONE_VFORK, CLONE_SETTLS and the tid flags only; returned EINVAL",
                r.flags | r.exit_signal
            );
        }
        return Err(Errno::INVAL.into());
    }
    if unholdable_tls(r) {
        return Err(Errno::PERM.into());
    }
    let flag = |f: u64, v: u64| (r.flags & f != 0).then_some(v);
    Err(Stop::Fork(Box::new(ForkRequest {
        exit_signal: r.exit_signal,
        stack: r.stack,
        tls: flag(CLONE_SETTLS, r.tls),
        parent_tid: flag(CLONE_PARENT_SETTID, r.parent_tid),
        pidfd: flag(CLONE_PIDFD, r.pidfd),
        child_tid: flag(CLONE_CHILD_SETTID, r.child_tid),
        clear_child_tid: flag(CLONE_CHILD_CLEARTID, r.child_tid).unwrap_or(0),
        vfork,
        share_memory: vfork && r.flags & CLONE_VM != 0,
    })))
}

/// fork: a child process with a copy-on-write copy of the memory.
pub fn fork(_: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Err(Stop::Fork(Box::new(ForkRequest {
        exit_signal: SIGCHLD as u64,
        ..ForkRequest::default()
    })))
}

/// vfork: as fork (docs/architecture.md, "Processes", says how it differs).
pub fn vfork(_: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Err(Stop::Fork(Box::new(ForkRequest {
        exit_signal: SIGCHLD as u64,
        vfork: true,
        share_memory: true,
        ..ForkRequest::default()
    })))
}

/// exit: this thread only; the process goes on while others live.
pub fn exit(_: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Err(Stop::ExitThread((a[0] & 0xff) as i32))
}

/// set_robust_list: recorded; walked when the thread exits.
pub fn set_robust_list(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[1] != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::INVAL.into());
    }
    ctx.thread.robust_list = a[0];
    Ok(0)
}

/// get_robust_list: the calling thread's (pid 0 or its own tid).
pub fn get_robust_list(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, head, len) = (a[0], GuestPtr::new(a[1]), GuestPtr::new(a[2]));
    if pid != 0 && pid != ctx.thread.tid {
        return Err(if ctx.process.threads.is_alive(pid) {
            Errno::PERM
        } else {
            Errno::SRCH
        }
        .into());
    }
    let list = ctx.thread.robust_list.to_le_bytes();
    let size = ROBUST_LIST_HEAD_SIZE.to_le_bytes();
    let mut t = ctx.tunnel();
    if t.write(head, &list).is_err() || t.write(len, &size).is_err() {
        return Err(Errno::FAULT.into());
    }
    Ok(0)
}
