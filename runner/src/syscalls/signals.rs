//! Signals within one process: dispositions (shared by the threads), each
//! thread's mask and alternate stack, and signals the program sends itself
//! (kill, tkill, tgkill: to itself or to another of its threads).
//!
//! A signal with a handler is left pending; the run loop delivers it with
//! a Linux signal frame before the thread runs user code again
//! (run/signal_delivery.rs), and rt_sigreturn comes back from it (the frame
//! is checked: it cannot change privilege, segments or IOPL). A signal
//! whose action is to terminate ends the run with status 128+N and a
//! stderr line. Ignored signals (SIG_IGN, or ignored by default: SIGCHLD,
//! SIGCONT, SIGURG, SIGWINCH) and stop signals do nothing. A blocked signal
//! stays pending until the thread unblocks it. CPU exceptions go to the
//! program's handler when it has one and does not block the signal
//! (run/run_loop.rs), else they end the run. SIGPIPE from a write with no
//! reader takes its default effect or makes the write fail with EPIPE;
//! its handler is not run.

use super::{Args, Ctx, Recipients, SignalRequest, Stop, SyscallResult};
use crate::abi::constants::{
    MINSIGSTKSZ, NSIG, SIGKILL, SIGPIPE, SIGSTOP, SIG_BLOCK, SIG_DFL, SIG_IGN, SIG_SETMASK,
    SIG_UNBLOCK, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK,
};
use crate::abi::sigframe;
use crate::abi::Errno;
use crate::kernel::death::Death;
use crate::kernel::signal_state::Action;
use crate::tunnel::GuestPtr;

fn bit(sig: u64) -> u64 {
    1u64 << (sig - 1)
}

/// Signals that cannot be blocked, caught or ignored.
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// Ignored by default: SIGCHLD, SIGCONT, SIGURG, SIGWINCH.
pub fn ignored_by_default(sig: u64) -> bool {
    matches!(sig, 17 | 18 | 23 | 28)
}

/// Stop signals: SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU. With the default
/// action they stop the whole process until SIGCONT (run/job_control.rs).
pub fn stops(sig: u64) -> bool {
    matches!(sig, 19..=22)
}

/// Whether signal `sig`, raised by the program with its default action,
/// ends the run (what [`raise`] kills with): 1..=64 except the signals
/// ignored by default and the stop signals.
pub fn ends_the_run_by_default(sig: u64) -> bool {
    (1..=NSIG as u64).contains(&sig) && !ignored_by_default(sig) && !stops(sig)
}

/// Delivers `sig` to the process itself, as raised by `how`. Returns
/// `Err(stop)` when the run ends, `Ok` when the signal had no effect
/// (ignored, or left pending because it is blocked).
pub fn raise(ctx: &mut Ctx<'_>, sig: u64, how: &'static str) -> Result<(), Stop> {
    if sig == 0 || sig > NSIG as u64 {
        return Ok(());
    }
    let s = &mut ctx.thread.signals;
    if sig != SIGKILL as u64 && sig != SIGSTOP as u64 && s.mask & bit(sig) != 0 {
        s.pending |= bit(sig);
        s.pending_cause[(sig - 1) as usize] = how;
        return Ok(());
    }
    let action = ctx.process.signal_actions.action(sig);
    if sig != SIGKILL as u64
        && (action.handler == SIG_IGN || (action.handler == SIG_DFL && ignored_by_default(sig)))
    {
        return Ok(());
    }
    if sig != SIGKILL as u64 && (action.handler != SIG_DFL || stops(sig)) {
        // The handler runs (or a stop signal stops the process) before the
        // thread runs user code again (run/signal_delivery.rs).
        s.pending |= bit(sig);
        s.pending_cause[(sig - 1) as usize] = how;
        return Ok(());
    }
    let cause = how.to_string();
    let rip = ctx.user_rip();
    Err(Stop::Kill(Death::Signal {
        signal: sig as i32,
        cause,
        rip,
        addr: None,
    }))
}

/// Takes the signals posted to the calling thread and the process-directed
/// ones it does not block (or waits for: `wanted`) into its pending set.
pub fn take_posted(ctx: &mut Ctx<'_>, wanted: u64) {
    let shared = ctx.process.threads.shared_pending.clone();
    let t = &mut *ctx.thread;
    t.signals.take_posted(&t.inbox, &shared, wanted);
}

/// Where a signal is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The process (kill, SIGEV_SIGNAL): the calling thread takes it when
    /// it does not block it; otherwise it waits for a thread that does not.
    Process,
    /// One thread (tkill, tgkill, SIGEV_THREAD_ID).
    Thread(u64),
}

/// Sends `info.signo` (1..=64) to `target`, carrying `info` to the
/// handler, rt_sigtimedwait or a signalfd. Err(stop) when it ends the
/// run at once; ESRCH when the thread is gone.
pub fn send(
    ctx: &mut Ctx<'_>,
    target: Target,
    info: sigframe::SigInfo,
    how: &'static str,
) -> Result<(), Stop> {
    let sig = info.signo as u64;
    if sig == 0 || sig > NSIG as u64 {
        return Err(Errno::INVAL.into());
    }
    let me = ctx.thread.tid;
    let to_me = match target {
        Target::Thread(tid) => tid == me,
        Target::Process => {
            sig == SIGKILL as u64
                || ctx.thread.signals.mask & bit(sig) == 0
                || ctx.process.threads.live() == 1
        }
    };
    if to_me {
        ctx.process.signal_info.put(me, info);
        raise(ctx, sig, how)?;
        if ctx.thread.signals.pending & bit(sig) == 0 {
            ctx.process.signal_info.forget(me, sig);
        }
        return Ok(());
    }
    let action = ctx.process.signal_actions.action(sig);
    if action.handler == SIG_IGN || (action.handler == SIG_DFL && ignored_by_default(sig)) {
        // Discarded when sent, as on Linux.
        return Ok(());
    }
    match target {
        Target::Process => {
            ctx.process.signal_info.put(0, info);
            ctx.process.threads.post_process(sig);
        }
        Target::Thread(tid) => {
            if !ctx.process.threads.is_alive(tid) {
                return Err(Errno::SRCH.into());
            }
            ctx.process.signal_info.put(tid, info);
            ctx.process.threads.post(tid, sig);
        }
    }
    Ok(())
}

/// The siginfo of kill and tkill from the program itself.
pub fn user_info(sig: u64, code: i32, ctx: &Ctx<'_>) -> sigframe::SigInfo {
    sigframe::SigInfo {
        signo: sig as i32,
        code,
        addr: None,
        pid: ctx.process.identity.pid as u32,
        uid: ctx.process.identity.uid as u32,
        value: 0,
    }
}

/// After the mask changed: a pending signal now unblocked takes effect (a
/// handled one stays pending: it is delivered on the way back to user
/// mode).
fn deliver_unblocked(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    take_posted(ctx, 0);
    let s = &mut ctx.thread.signals;
    let ready = s.pending & !s.mask;
    if ready == 0 {
        return Ok(());
    }
    let sig = u64::from(ready.trailing_zeros()) + 1;
    let handler = ctx.process.signal_actions.action(sig).handler;
    if handler != SIG_DFL && handler != SIG_IGN {
        return Ok(());
    }
    let s = &mut ctx.thread.signals;
    s.pending &= !bit(sig);
    let how = s.pending_cause[(sig - 1) as usize];
    raise(
        ctx,
        sig,
        if how.is_empty() {
            "raised by the program itself"
        } else {
            how
        },
    )
}

/// A write to a pipe or stream with no reader: SIGPIPE takes its effect
/// (status 141 by default); when it is ignored, blocked or handled the write
/// fails with EPIPE.
pub fn broken_pipe(ctx: &mut Ctx<'_>) -> SyscallResult {
    let action = ctx.process.signal_actions.action(SIGPIPE as u64);
    if action.handler == SIG_DFL && ctx.thread.signals.mask & bit(SIGPIPE as u64) == 0 {
        raise(ctx, SIGPIPE as u64, "write to a pipe with no reader")?;
    }
    Err(Errno::PIPE.into())
}

pub fn rt_sigaction(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (sig, act, oact, size) = (a[0], GuestPtr::new(a[1]), GuestPtr::new(a[2]), a[3]);
    if size != 8 || sig == 0 || sig > NSIG as u64 {
        return Err(Errno::INVAL.into());
    }
    let new = if act.addr() != 0 {
        if sig == SIGKILL as u64 || sig == SIGSTOP as u64 {
            return Err(Errno::INVAL.into());
        }
        let mut b = [0u8; 32];
        if ctx.tunnel().read(act, &mut b).is_err() {
            return Err(Errno::FAULT.into());
        }
        let mut a = Action::from_bytes(&b);
        a.mask &= !UNBLOCKABLE;
        Some(a)
    } else {
        None
    };
    let old = ctx.process.signal_actions.action(sig);
    if oact.addr() != 0 && ctx.tunnel().write(oact, &old.to_bytes()).is_err() {
        return Err(Errno::FAULT.into());
    }
    if let Some(n) = new {
        ctx.process.signal_actions.set(sig, n);
        // Ignoring a pending signal discards it, as on Linux.
        if n.handler == SIG_IGN || (n.handler == SIG_DFL && ignored_by_default(sig)) {
            ctx.thread.signals.pending &= !bit(sig);
            ctx.process
                .threads
                .shared_pending
                .fetch_and(!bit(sig), std::sync::atomic::Ordering::SeqCst);
            ctx.process.signal_info.discard(sig);
        }
    }
    Ok(0)
}

pub fn rt_sigprocmask(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (how, set, oset, size) = (a[0], GuestPtr::new(a[1]), GuestPtr::new(a[2]), a[3]);
    if size != 8 {
        return Err(Errno::INVAL.into());
    }
    let new = if set.addr() != 0 {
        let Ok(v) = ctx.tunnel().read_u64(set) else {
            return Err(Errno::FAULT.into());
        };
        Some(v)
    } else {
        None
    };
    if new.is_some() && !matches!(how, SIG_BLOCK | SIG_UNBLOCK | SIG_SETMASK) {
        return Err(Errno::INVAL.into());
    }
    let old = ctx.thread.signals.mask;
    if oset.addr() != 0 && ctx.tunnel().write(oset, &old.to_le_bytes()).is_err() {
        return Err(Errno::FAULT.into());
    }
    if let Some(v) = new {
        let mask = match how {
            SIG_BLOCK => old | v,
            SIG_UNBLOCK => old & !v,
            _ => v,
        };
        ctx.thread.signals.mask = mask & !UNBLOCKABLE;
        deliver_unblocked(ctx)?;
    }
    Ok(0)
}

pub fn rt_sigpending(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[1] != 8 {
        return Err(Errno::INVAL.into());
    }
    take_posted(ctx, 0);
    let shared = ctx
        .process
        .threads
        .shared_pending
        .load(std::sync::atomic::Ordering::SeqCst);
    let p = (ctx.thread.signals.pending | shared) & ctx.thread.signals.mask;
    match ctx.tunnel().write(GuestPtr::new(a[0]), &p.to_le_bytes()) {
        Ok(()) => Ok(0),
        Err(_) => Err(Errno::FAULT.into()),
    }
}

pub fn sigaltstack(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (ss, old) = (GuestPtr::new(a[0]), GuestPtr::new(a[1]));
    let new = if ss.addr() != 0 {
        let mut b = [0u8; 24];
        if ctx.tunnel().read(ss, &mut b).is_err() {
            return Err(Errno::FAULT.into());
        }
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(x)
        };
        let (sp, flags, size) = (w(0), w(1) & 0xffff_ffff, w(2));
        if flags & !(SS_DISABLE | SS_ONSTACK | SS_AUTODISARM) != 0 {
            return Err(Errno::INVAL.into());
        }
        if flags & SS_DISABLE != 0 {
            Some(None)
        } else if size < MINSIGSTKSZ {
            return Err(Errno::NOMEM.into());
        } else {
            Some(Some((sp, flags & SS_AUTODISARM, size)))
        }
    } else {
        None
    };
    if old.addr() != 0 {
        let (sp, flags, size) = ctx.thread.signals.altstack.unwrap_or((0, SS_DISABLE, 0));
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&sp.to_le_bytes());
        b[8..12].copy_from_slice(&(flags as u32).to_le_bytes());
        b[16..].copy_from_slice(&size.to_le_bytes());
        if ctx.tunnel().write(old, &b).is_err() {
            return Err(Errno::FAULT.into());
        }
    }
    if let Some(n) = new {
        ctx.thread.signals.altstack = n;
    }
    Ok(0)
}

fn send_to_self(ctx: &mut Ctx<'_>, sig: u64, how: &'static str) -> SyscallResult {
    if sig > NSIG as u64 {
        return Err(Errno::INVAL.into());
    }
    if sig == 0 {
        return Ok(0);
    }
    raise(ctx, sig, how)?;
    Ok(0)
}

pub fn kill(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, sig) = (a[0] as i32 as i64, a[1]);
    if sig > NSIG as u64 {
        return Err(Errno::INVAL.into());
    }
    let me = ctx.process.identity.pid;
    let own_group = ctx.kernel.procs.get(me).map_or(me, |e| e.pgid);
    let to = match pid {
        p if p == me as i64 => Recipients::Pid(me),
        0 => Recipients::Group(own_group),
        -1 => Recipients::All,
        // Init, outside the sandbox.
        1 => return Err(Errno::PERM.into()),
        p if p < -1 => Recipients::Group(p.unsigned_abs()),
        p => Recipients::Pid(p as u64),
    };
    let only_me = match to {
        Recipients::Pid(p) => p == me,
        Recipients::Group(g) => ctx.kernel.procs.group_members(g) == [me],
        Recipients::All => false,
    };
    let info = user_info(sig, crate::abi::constants::SI_USER, ctx);
    if only_me {
        // The calling thread takes it unless it blocks it (send).
        if sig != 0 {
            send(
                ctx,
                Target::Process,
                info,
                "raised by the program itself with kill",
            )?;
        }
        return Ok(0);
    }
    // Other processes: the run loop reaches them (run/processes.rs).
    Err(Stop::SignalProcesses(Box::new(SignalRequest {
        to,
        sig,
        info,
    })))
}

/// Whether `sig` does nothing to a process with dispositions `actions`
/// when it is delivered: ignored, or ignored by default. SIGKILL never is.
pub fn ignored(actions: &crate::kernel::signal_state::SignalActions, sig: u64) -> bool {
    let action = actions.action(sig);
    sig != SIGKILL as u64
        && (action.handler == SIG_IGN || (action.handler == SIG_DFL && ignored_by_default(sig)))
}

pub fn tkill(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (tid, sig) = (a[0] as i32 as i64, a[1]);
    if tid <= 0 {
        return Err(Errno::INVAL.into());
    }
    send_to_thread(
        ctx,
        tid as u64,
        sig,
        "raised by the program itself with tkill",
    )
}

pub fn tgkill(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (tgid, tid, sig) = (a[0] as i32 as i64, a[1] as i32 as i64, a[2]);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::INVAL.into());
    }
    if tgid as u64 != ctx.process.identity.pid {
        return Err(Errno::SRCH.into());
    }
    send_to_thread(
        ctx,
        tid as u64,
        sig,
        "raised by the program itself with tgkill",
    )
}

/// The siginfo of rt_sigqueueinfo/rt_tgsigqueueinfo at `ptr`, for signal
/// `sig` sent to process `to`: its code and data as the program wrote them
/// (si_pid, si_uid, si_value: sigqueue fills them), its number `sig`.
/// EPERM for a code that claims to come from the kernel or from kill or
/// tkill (si_code >= 0, SI_TKILL) sent to another process, as on Linux;
/// EAGAIN when the queue of real-time signals is full.
fn queued_info(ctx: &mut Ctx<'_>, to: u64, sig: u64, ptr: u64) -> Result<sigframe::SigInfo, Errno> {
    if sig > NSIG as u64 {
        return Err(Errno::INVAL);
    }
    let mut b = [0u8; 32];
    ctx.tunnel()
        .read(GuestPtr::new(ptr), &mut b)
        .map_err(|_| Errno::FAULT)?;
    let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let code = word(8) as i32;
    if (code >= 0 || code == crate::abi::constants::SI_TKILL) && to != ctx.process.identity.pid {
        return Err(Errno::PERM);
    }
    if ctx.process.signal_info.full() {
        return Err(Errno::AGAIN);
    }
    Ok(sigframe::SigInfo {
        signo: sig as i32,
        code,
        addr: None,
        pid: word(16),
        uid: word(20),
        value: u64::from(word(24)) | (u64::from(word(28)) << 32),
    })
}

/// rt_sigqueueinfo (sigqueue): a signal with the program's siginfo to a
/// process (this one, or another of the sandbox).
pub fn rt_sigqueueinfo(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, sig) = (a[0] as i32 as i64, a[1]);
    if pid <= 0 {
        return Err(Errno::SRCH.into());
    }
    let info = queued_info(ctx, pid as u64, sig, a[2])?;
    if pid as u64 == ctx.process.identity.pid {
        if sig != 0 {
            send(ctx, Target::Process, info, "queued by the program itself")?;
        }
        return Ok(0);
    }
    if ctx.kernel.procs.get(pid as u64).is_none() {
        return Err(Errno::SRCH.into());
    }
    Err(Stop::SignalProcesses(Box::new(SignalRequest {
        to: Recipients::Pid(pid as u64),
        sig,
        info,
    })))
}

/// rt_tgsigqueueinfo (pthread_sigqueue): a signal with the program's
/// siginfo to a thread of this process.
pub fn rt_tgsigqueueinfo(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (tgid, tid, sig) = (a[0] as i32 as i64, a[1] as i32 as i64, a[2]);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::INVAL.into());
    }
    if tgid as u64 != ctx.process.identity.pid {
        return Err(Errno::SRCH.into());
    }
    let info = queued_info(ctx, tgid as u64, sig, a[3])?;
    let tid = tid as u64;
    if tid != ctx.thread.tid && !ctx.process.threads.is_alive(tid) {
        return Err(Errno::SRCH.into());
    }
    if sig != 0 {
        send(
            ctx,
            Target::Thread(tid),
            info,
            "queued by the program itself",
        )?;
    }
    Ok(0)
}

/// A signal to thread `tid` of this process: the caller itself, or another
/// thread, which is kicked out of the guest (or out of its wait) to take it.
fn send_to_thread(ctx: &mut Ctx<'_>, tid: u64, sig: u64, how: &'static str) -> SyscallResult {
    if sig > NSIG as u64 {
        return Err(Errno::INVAL.into());
    }
    if tid == ctx.thread.tid {
        return send_to_self(ctx, sig, how);
    }
    if !ctx.process.threads.is_alive(tid) {
        return Err(Errno::SRCH.into());
    }
    if sig != 0 {
        let info = user_info(sig, crate::abi::constants::SI_TKILL, ctx);
        send(ctx, Target::Thread(tid), info, how)?;
    }
    Ok(0)
}

/// rt_sigreturn: back from a handler to what its frame saved. The frame is
/// the program's memory, so everything read back is checked where it is
/// used (the run loop): RIP must be a user address, RFLAGS keeps only the
/// bits user code may hold, CS and SS are the user selectors whatever the
/// frame says, and the FPU image's reserved MXCSR bits are cleared.
pub fn rt_sigreturn(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    // The restorer runs with RSP just above pretcode: the ucontext.
    let uc = GuestPtr::new(ctx.user_rsp());
    let mut b = vec![0u8; sigframe::UCONTEXT_SIZE as usize];
    if ctx.tunnel().read(uc, &mut b).is_err() {
        return bad_frame(ctx, "rt_sigreturn: the signal frame is not readable");
    }
    let Some(mut r) = sigframe::decode_ucontext(&b) else {
        return bad_frame(ctx, "rt_sigreturn: the signal frame is truncated");
    };
    r.mask &= !UNBLOCKABLE;
    ctx.thread.signals.mask = r.mask;
    Err(Stop::SigReturn(Box::new(r)))
}

/// A frame rt_sigreturn cannot use: the process dies of SIGSEGV, as on
/// Linux.
fn bad_frame(ctx: &mut Ctx<'_>, why: &str) -> SyscallResult {
    let rip = ctx.user_rip();
    Err(Stop::Kill(Death::Signal {
        signal: crate::abi::constants::SIGSEGV,
        cause: why.into(),
        rip,
        addr: None,
    }))
}

/// rt_sigsuspend: waits with `mask` until a signal is delivered, then
/// EINTR; the handler returns to the mask of before.
pub fn rt_sigsuspend(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[1] != 8 {
        return Err(Errno::INVAL.into());
    }
    let Ok(mask) = ctx.tunnel().read_u64(GuestPtr::new(a[0])) else {
        return Err(Errno::FAULT.into());
    };
    let s = &mut ctx.thread.signals;
    s.saved_mask = Some(s.mask);
    s.mask = mask & !UNBLOCKABLE;
    Err(Stop::Block(super::Wait::Signal))
}

/// restart_syscall: Linux runs it to resume a call that a stop signal or
/// a handler-less signal interrupted (its restart block); the runner
/// resumes such calls itself, without returning to the guest, so a guest
/// that calls it finds no block pending and gets Linux's answer for that
/// case, EINTR.
pub fn restart_syscall(_: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Err(Errno::INTR.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_round_trips_and_defaults() {
        let a = Action {
            handler: 0x401000,
            flags: 0x0400_0000,
            restorer: 0x402000,
            mask: 5,
        };
        assert_eq!(Action::from_bytes(&a.to_bytes()), a);
        let s = crate::kernel::signal_state::SignalActions::default();
        assert_eq!(s.action(6), Action::default());
        assert_eq!(s.action(0), Action::default());
        assert_eq!(s.action(65), Action::default());
        assert!(ignored_by_default(17) && !ignored_by_default(6));
        assert_eq!(UNBLOCKABLE, (1 << 8) | (1 << 18));
    }
}
