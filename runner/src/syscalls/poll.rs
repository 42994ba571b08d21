//! poll and ppoll over the process's own descriptors: pipes are answered by
//! the runner, the standard streams by a host poll of the runner's
//! duplicates. Waiting honours the wall-clock limit.

use super::errno::*;
use super::fds::FdEntry;
use super::{sleep, Args, Ctx, Outcome};
use crate::tunnel::{Access, GuestPtr};
use rustix::event::{PollFd, PollFlags, Timespec};
use std::time::{Duration, Instant};

const POLLIN: u16 = 0x1;
const POLLOUT: u16 = 0x4;
const POLLERR: u16 = 0x8;
const POLLHUP: u16 = 0x10;
const POLLNVAL: u16 = 0x20;
const POLLRDNORM: u16 = 0x40;
const POLLWRNORM: u16 = 0x100;

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

/// What the runner can answer without the host: pipes, closed descriptors.
/// Returns the indices that need a host poll.
fn answer_locally(ctx: &mut Ctx<'_>, items: &mut [Item]) -> Vec<usize> {
    let mut host = Vec::new();
    for (i, it) in items.iter_mut().enumerate() {
        if it.fd < 0 {
            continue;
        }
        match ctx.state.fds.get_ref(it.fd as u64) {
            None => it.revents = POLLNVAL,
            Some(FdEntry::Pipe(p)) => {
                let (readable, writable, hup) = p.readiness();
                let mut r = 0;
                if p.write {
                    if writable && !hup {
                        r |= it.events & (POLLOUT | POLLWRNORM);
                    }
                    if hup {
                        r |= POLLERR;
                    }
                } else {
                    if readable && p.available() > 0 {
                        r |= it.events & (POLLIN | POLLRDNORM);
                    }
                    if hup {
                        r |= POLLHUP;
                    }
                }
                it.revents = r;
            }
            Some(e) => {
                if e.host_fd().is_some() {
                    host.push(i);
                }
            }
        }
    }
    host
}

/// Polls the host streams among `items` once, waiting at most `wait`.
fn host_poll(
    ctx: &mut Ctx<'_>,
    items: &mut [Item],
    which: &[usize],
    wait: Duration,
) -> Result<(), i64> {
    let ts = Timespec {
        tv_sec: wait.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(which.len());
    for &i in which {
        let Some(fd) = ctx
            .state
            .fds
            .get_ref(items[i].fd as u64)
            .and_then(FdEntry::host_fd)
        else {
            continue;
        };
        fds.push(PollFd::from_borrowed_fd(
            fd,
            PollFlags::from_bits_truncate(items[i].events),
        ));
    }
    match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(_) => {
            for (k, &i) in which.iter().enumerate() {
                if let Some(p) = fds.get(k) {
                    items[i].revents = p.revents().bits();
                }
            }
            Ok(())
        }
        Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(i64::from(e.raw_os_error())),
    }
}

/// The shared core: `timeout` None waits forever.
fn do_poll(ctx: &mut Ctx<'_>, ptr: GuestPtr, nfds: u64, timeout: Option<Duration>) -> Outcome {
    if nfds > ctx.state.run.fd_limit().max(4096) {
        return Outcome::err(EINVAL);
    }
    let len = nfds * 8;
    if ctx.tunnel().check(ptr, len, Access::Write).is_err() {
        return Outcome::err(EFAULT);
    }
    let mut raw = vec![0u8; len as usize];
    if ctx.tunnel().read(ptr, &mut raw).is_err() {
        return Outcome::err(EFAULT);
    }
    let mut items = parse(&raw);
    let start = Instant::now();
    let end = timeout.and_then(|t| start.checked_add(t));
    loop {
        let host = answer_locally(ctx, &mut items);
        let ready_locally = items.iter().any(|i| i.revents != 0);
        let now = Instant::now();
        let left = match end {
            Some(e) => e.saturating_duration_since(now),
            None => Duration::MAX,
        };
        let to_deadline = ctx.state.run.deadline.saturating_duration_since(now);
        if !host.is_empty() {
            let wait = if ready_locally {
                Duration::ZERO
            } else {
                left.min(to_deadline)
            };
            if let Err(e) = host_poll(ctx, &mut items, &host, wait) {
                return Outcome::err(e);
            }
        } else if !ready_locally {
            // Nothing can change while the process waits on itself.
            if timeout.is_none() {
                return sleep::hang(ctx);
            }
            if let Some(o) = sleep::sleep_for(ctx, left) {
                return o;
            }
            break;
        }
        if items.iter().any(|i| i.revents != 0) || left.is_zero() {
            break;
        }
        if Instant::now() >= ctx.state.run.deadline {
            return sleep::hang(ctx);
        }
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
        return Outcome::err(EFAULT);
    }
    Outcome::ok(ready)
}

pub fn poll(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let ms = a[2] as i32;
    let timeout = (ms >= 0).then(|| Duration::from_millis(ms as u64));
    do_poll(ctx, GuestPtr::new(a[0]), a[1], timeout)
}

pub fn ppoll(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (ptr, nfds, tsp, mask, size) = (GuestPtr::new(a[0]), a[1], GuestPtr::new(a[2]), a[3], a[4]);
    if mask != 0 && size != 8 {
        return Outcome::err(EINVAL);
    }
    let timeout = if tsp.addr() != 0 {
        match sleep::read_timespec(ctx, tsp) {
            Ok((s, ns)) => Some(Duration::new(s as u64, ns as u32)),
            Err(e) => return Outcome::err(e),
        }
    } else {
        None
    };
    do_poll(ctx, ptr, nfds, timeout)
}
