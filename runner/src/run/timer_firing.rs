//! Firing the process's timers (run/run_loop.rs calls these under the
//! kernel lock): the alarm raises SIGALRM, a due POSIX timer sends its
//! signal with a siginfo naming the timer (si_code SI_TIMER, si_timerid,
//! si_overrun, si_value), and every thread keeps a kick timer set to the
//! next expiry, so its vCPU leaves the guest then even in a loop without
//! syscalls. Which thread fires a timer does not matter: the signal goes
//! where its sigevent says (the process or one thread).

use super::run_loop::RunError;
use super::threads::State;
use crate::abi::constants::{SIGALRM, SI_TIMER};
use crate::abi::sigframe::SigInfo;
use crate::kernel::death::Death;
use crate::kernel::process::Alarm;
use crate::kernel::timers::Notify;
use crate::kernel::Thread;
use crate::syscalls::signals::{self, Target};
use crate::syscalls::{Ctx, Stop};
use std::time::{Duration, Instant};

/// How often a due timer's kick repeats until a thread has fired it.
const KICK_REPEAT: Duration = Duration::from_millis(10);

/// Fires what is due: the alarm (SIGALRM to the process, re-arming a
/// periodic one) and each due POSIX timer. Some(death) when a signal's
/// default action ends the process.
pub fn fire_due(st: &mut State<'_>, t: &mut Thread) -> Result<Option<Death>, RunError> {
    let now = Instant::now();
    if st.process.next_timer().is_none_or(|n| n > now) {
        return Ok(None);
    }
    st.process.timers_changed += 1;
    let mut sends: Vec<(Target, SigInfo, &'static str)> = Vec::new();
    if let Some(alarm) = st.process.alarm.filter(|a| a.at <= now) {
        st.process.alarm = alarm.every.map(|every| Alarm {
            at: (alarm.at + every).max(now),
            every: Some(every),
        });
        let info = SigInfo {
            signo: SIGALRM,
            code: crate::abi::constants::SI_KERNEL,
            ..SigInfo::default()
        };
        // A signal to the process: a thread that blocks SIGALRM leaves it
        // to one that does not (signals::send), as on Linux.
        sends.push((Target::Process, info, "the alarm timer expired"));
    }
    for e in st.process.timers.fire(now) {
        let (target, sig) = match e.notify {
            Notify::Nothing => continue,
            Notify::Process { sig } => (Target::Process, sig),
            Notify::Thread { tid, sig } => (Target::Thread(tid), sig),
        };
        let info = SigInfo {
            signo: sig as i32,
            code: SI_TIMER,
            addr: None,
            pid: e.id as u32,
            uid: e.overrun,
            value: e.value,
        };
        sends.push((target, info, "a POSIX timer expired"));
    }
    let State {
        machine,
        kernel,
        process,
        ..
    } = &mut *st;
    let mem = machine.vm.memory_mut(machine.slot)?;
    let mut ctx = Ctx::new(kernel, process, t, mem);
    for (target, info, how) in sends {
        match signals::send(&mut ctx, target, info, how) {
            Err(Stop::Kill(death)) => return Ok(Some(death)),
            // A thread that has gone takes no signal.
            _ => continue,
        }
    }
    Ok(None)
}

/// Keeps this thread's kick timer on the process's next timer expiry
/// (re-armed whenever a timer was set or fired since it last looked).
pub fn arm_kick(st: &State<'_>, t: &mut Thread) -> Result<(), RunError> {
    if t.timers_seen == st.process.timers_changed {
        return Ok(());
    }
    t.timers_seen = st.process.timers_changed;
    t.timer_kick = match st.process.next_timer() {
        None => None,
        Some(at) => {
            let after = at.saturating_duration_since(Instant::now());
            Some(
                t.vcpu
                    .kick_timer(after.max(Duration::from_micros(1)), KICK_REPEAT)?,
            )
        }
    };
    Ok(())
}
