//! poll and ppoll over the process's own descriptors: pipes, eventfds,
//! /dev/null streams and synthesized directories are answered by the
//! runner; objects with a host fd (the standard streams' duplicates, files,
//! directories, sockets) by a host poll that does not wait
//! (readiness.rs). A poll that finds nothing ready waits with no kernel
//! lock held (`Wait::Poll`) and runs again; waiting honours the wall-clock
//! limit.

use super::readiness::{self, HostItem};
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

#[derive(Clone, Copy)]
struct Item {
    fd: i32,
    events: u16,
    revents: u16,
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
    // A call run again after a wait keeps the end it computed first.
    let until = match ctx.thread.resume.take() {
        Some(until) => until,
        None => timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future)),
    };
    let mut host: Vec<HostItem> = Vec::new();
    let mut host_at: Vec<usize> = Vec::new();
    for (i, it) in items.iter_mut().enumerate() {
        if it.fd < 0 {
            continue;
        }
        let Ok(obj) = ctx.process.fds.get(it.fd as u64) else {
            it.revents = POLLNVAL;
            continue;
        };
        match readiness::local(&obj, it.events) {
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
    let none_ready = items.iter().all(|i| i.revents == 0);
    if none_ready && until.is_none_or(|u| u > Instant::now()) {
        // Wait with no kernel lock held: another thread's syscall (a pipe
        // written, an eventfd signalled) runs the poll again at once; host
        // descriptors are polled again every few milliseconds.
        return Err(Stop::Block(Wait::Poll {
            until,
            host: !host.is_empty(),
        }));
    }
    let mut out = vec![0u8; len as usize];
    let mut ready = 0u64;
    for (k, it) in items.iter().enumerate() {
        let o = k * 8;
        out[o..o + 4].copy_from_slice(&it.fd.to_le_bytes());
        out[o + 4..o + 6].copy_from_slice(&it.events.to_le_bytes());
        out[o + 6..o + 8].copy_from_slice(&it.revents.to_le_bytes());
        if it.revents != 0 {
            ready += 1;
        }
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

pub fn ppoll(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (ptr, nfds, tsp, mask, size) = (GuestPtr::new(a[0]), a[1], GuestPtr::new(a[2]), a[3], a[4]);
    if mask != 0 && size != 8 {
        return Err(Errno::INVAL.into());
    }
    let timeout = if tsp.addr() != 0 {
        match sleep::read_timespec(ctx, tsp) {
            Ok((s, ns)) => Some(Duration::new(s as u64, ns as u32)),
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    do_poll(ctx, ptr, nfds, timeout)
}
