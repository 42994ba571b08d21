//! Where the run loop tells `--trace` (crate::trace) what a thread did:
//! a call made, returned, left unfinished; a process ended. Each is one
//! branch when tracing is off.

use super::threads::State;
use crate::kernel::Thread;
use crate::syscalls::Args;
use crate::trace::Ending;
use crate::tunnel::Tunnel;
use thinvisor_kmod::KmodError;

/// Thread `t` makes call `nr` with `args`.
pub fn begin(st: &mut State<'_>, t: &mut Thread, nr: u64, args: &Args) -> Result<(), KmodError> {
    let Some(tracer) = st.kernel.trace.clone() else {
        return Ok(());
    };
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    let tunnel = Tunnel::new(&mut st.process.mm, mem, &st.kernel.tunnel_ranges);
    t.trace = Some(tracer.begin(t.pid, t.tid, nr, args, &tunnel));
    Ok(())
}

/// Thread `t`'s call returns `value`.
pub fn finish(st: &mut State<'_>, t: &mut Thread, value: u64) -> Result<(), KmodError> {
    let (Some(tracer), Some(p)) = (st.kernel.trace.clone(), t.trace.take()) else {
        return Ok(());
    };
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    let tunnel = Tunnel::new(&mut st.process.mm, mem, &st.kernel.tunnel_ranges);
    tracer.finish(p, value, &tunnel);
    Ok(())
}

/// Thread `t`'s call does not return here: `why` (strace's words after
/// `= ?`; empty for a call that never returns).
pub fn unfinished(st: &State<'_>, t: &mut Thread, why: &str) {
    if let (Some(tracer), Some(p)) = (st.kernel.trace.as_ref(), t.trace.take()) {
        tracer.unfinished(p, why);
    }
}

/// Thread `t`'s process ended (its call, if any, never returns).
pub fn ended(st: &State<'_>, t: &mut Thread, end: Ending<'_>) {
    unfinished(st, t, "");
    if let Some(tracer) = st.kernel.trace.as_ref() {
        tracer.ended(t.pid, t.tid, end);
    }
}

/// Thread `t`'s process is killed by `death`, as strace shows it: the
/// call that raised the fatal signal returns (0 for a signal it sent
/// itself, EPIPE for a write with no reader), the signal is delivered,
/// the process is gone.
pub fn killed(st: &mut State<'_>, t: &mut Thread, death: &crate::kernel::death::Death) {
    use crate::kernel::death::Death;
    let Some(tracer) = st.kernel.trace.clone() else {
        return;
    };
    if let Death::Signal { signal, addr, .. } = death {
        let sig = u64::from(signal.unsigned_abs());
        let returned = match t.trace.as_ref().map(|p| p.name()) {
            Some("kill" | "tkill" | "tgkill" | "rt_sigqueueinfo" | "rt_tgsigqueueinfo") => Some(0),
            _ if *signal == libc::SIGPIPE => Some(crate::syscalls::Outcome::errno_value(
                crate::abi::Errno::PIPE,
            )),
            _ => None,
        };
        if let Some(value) = returned {
            let _ = finish(st, t, value);
        } else {
            unfinished(st, t, "");
        }
        // SI_TKILL for a signal a call sent, SI_KERNEL otherwise.
        let code = if returned == Some(0) { -6 } else { 0x80 };
        tracer.signal(t.pid, t.tid, sig, code, *addr);
    }
    let how = death.to_string();
    let how = how.strip_prefix("guest killed by ").unwrap_or(&how);
    ended(st, t, Ending::Killed(how));
}

/// What strace says of a call a handler interrupted that runs again.
pub const RESTART: &str = "ERESTARTSYS (To be restarted if SA_RESTART is set)";
