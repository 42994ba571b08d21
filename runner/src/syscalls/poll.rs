//! poll and ppoll over the process's own descriptors: pipes, eventfds,
//! timerfds, signalfds, /dev/null streams and synthesized directories are
//! answered by the runner; objects with a host fd (the standard streams'
//! duplicates, files, directories, sockets) by a host poll that does not
//! wait (readiness.rs). A poll that finds nothing ready waits with no
//! kernel lock held (`Wait::Poll`) and runs again; waiting honours the
//! wall-clock limit. select and pselect6 (select.rs) share the core.

use super::readiness::{self, HostItem, Wakes};
use super::sigwait::{read_sigset, set_wait_mask};
use super::{sleep, Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::POLLNVAL;
use crate::abi::Errno;
use crate::tunnel::{Access, GuestPtr};
use std::time::{Duration, Instant};

/// An instant so far ahead that it never comes (a timeout too large for
/// `Instant`).
pub fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// One descriptor polled: its number, the bits asked for, the bits found.
#[derive(Clone, Copy)]
pub struct Item {
    pub fd: i32,
    pub events: u16,
    pub revents: u16,
}

fn parse(raw: &[u8]) -> Vec<Item> {
    raw.chunks_exact(8)
        .map(|c| Item {
            fd: i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            events: u16::from_le_bytes([c[4], c[5]]),
            revents: 0,
        })
        .collect()
}

/// The end of a wait of `timeout` (None: forever), kept across the runs of
/// a call that waited (`Thread::resume`).
pub fn wait_end(ctx: &mut Ctx<'_>, timeout: Option<Duration>) -> Option<Instant> {
    match ctx.thread.resume.take() {
        Some(until) => until,
        None => timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future)),
    }
}

/// Fills each item's `revents` (POLLNVAL for a closed descriptor); when
/// none is ready and `until` has not come, the call waits (`Wait::Poll`)
/// and runs again. Returns how many items are ready.
pub fn ready_or_wait(
    ctx: &mut Ctx<'_>,
    items: &mut [Item],
    until: Option<Instant>,
) -> Result<u64, Stop> {
    let signals = readiness::pending_signals(ctx);
    let mut host: Vec<HostItem> = Vec::new();
    let mut host_at: Vec<usize> = Vec::new();
    let mut wakes = Wakes::default();
    for (i, it) in items.iter_mut().enumerate() {
        if it.fd < 0 {
            continue;
        }
        let Ok(obj) = ctx.process.fds.get(it.fd as u64) else {
            it.revents = POLLNVAL;
            continue;
        };
        wakes.add(&obj);
        match readiness::local(&obj, it.events, signals) {
            Some(r) => it.revents = r,
            None => {
                host.push(HostItem {
                    object: obj,
                    events: it.events,
                    revents: 0,
                });
                host_at.push(i);
            }
        }
    }
    readiness::host_now(&mut host)?;
    for (h, &i) in host.iter().zip(&host_at) {
        items[i].revents = h.revents;
    }
    let ready = items.iter().filter(|i| i.revents != 0).count() as u64;
    if ready == 0 && until.is_none_or(|u| u > Instant::now()) {
        // Wait with no kernel lock held: another thread's syscall (a pipe
        // written, an eventfd signalled) runs the poll again at once; host
        // descriptors are polled again every few milliseconds.
        return Err(Stop::Block(Wait::Poll {
            until,
            host: !host.is_empty(),
            timer: wakes.timer,
            signals: wakes.signals,
            restart: false,
        }));
    }
    Ok(ready)
}

/// The shared core: `timeout` None waits forever.
fn do_poll(
    ctx: &mut Ctx<'_>,
    ptr: GuestPtr,
    nfds: u64,
    timeout: Option<Duration>,
) -> SyscallResult {
    // Linux refuses more entries than RLIMIT_NOFILE; small limits still
    // allow the arrays programs commonly pass.
    if nfds > (ctx.process.fds.limit() as u64).max(4096) {
        return Err(Errno::INVAL.into());
    }
    let len = nfds * 8;
    if ctx.tunnel().check(ptr, len, Access::Write).is_err() {
        return Err(Errno::FAULT.into());
    }
    let mut raw = vec![0u8; len as usize];
    if ctx.tunnel().read(ptr, &mut raw).is_err() {
        return Err(Errno::FAULT.into());
    }
    let mut items = parse(&raw);
    let until = wait_end(ctx, timeout);
    let ready = ready_or_wait(ctx, &mut items, until)?;
    let mut out = vec![0u8; len as usize];
    for (k, it) in items.iter().enumerate() {
        let o = k * 8;
        out[o..o + 4].copy_from_slice(&it.fd.to_le_bytes());
        out[o + 4..o + 6].copy_from_slice(&it.events.to_le_bytes());
        out[o + 6..o + 8].copy_from_slice(&it.revents.to_le_bytes());
    }
    if ctx.tunnel().write(ptr, &out).is_err() {
        return Err(Errno::FAULT.into());
    }
    Ok(ready)
}

pub fn poll(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ms = a[2] as i32;
    let timeout = (ms >= 0).then(|| Duration::from_millis(ms as u64));
    do_poll(ctx, GuestPtr::new(a[0]), a[1], timeout)
}

/// ppoll: poll with a timespec timeout and a signal mask for the wait.
pub fn ppoll(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (ptr, nfds, tsp, mask, size) = (GuestPtr::new(a[0]), a[1], GuestPtr::new(a[2]), a[3], a[4]);
    let timeout = if tsp.addr() != 0 {
        let (s, ns) = sleep::read_timespec(ctx, tsp)?;
        Some(Duration::new(s as u64, ns as u32))
    } else {
        None
    };
    if mask != 0 {
        let m = read_sigset(ctx, GuestPtr::new(mask), size)?;
        set_wait_mask(ctx, m);
    }
    do_poll(ctx, ptr, nfds, timeout)
}
