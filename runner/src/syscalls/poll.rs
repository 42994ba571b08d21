//! poll and ppoll over the process's own descriptors: pipes, /dev/null
//! streams and synthesized directories are answered by the runner; objects
//! with a host fd (the standard streams' duplicates, files, directories,
//! sockets) by one host poll. Waiting honours the wall-clock limit.

use super::{sleep, Args, Ctx, SyscallResult};
use crate::abi::constants::{POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::tunnel::{Access, GuestPtr};
use rustix::event::{PollFd, PollFlags, Timespec};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// What the runner can answer without the host: pipes, objects without a
/// host fd, closed descriptors. Returns the indices that need a host poll.
fn answer_locally(ctx: &mut Ctx<'_>, items: &mut [Item]) -> Vec<usize> {
    let mut host = Vec::new();
    for (i, it) in items.iter_mut().enumerate() {
        if it.fd < 0 {
            continue;
        }
        let Ok(obj) = ctx.process.fds.get(it.fd as u64) else {
            it.revents = POLLNVAL;
            continue;
        };
        match &*obj {
            // As Linux's pipe_poll.
            Object::Pipe(p) => {
                let (_, _, hup) = p.readiness();
                let mut r = 0;
                if p.write {
                    if p.available() < super::pipe::PIPE_CAPACITY {
                        r |= it.events & (POLLOUT | POLLWRNORM);
                    }
                    if hup {
                        r |= POLLERR;
                    }
                } else {
                    if p.available() > 0 {
                        r |= it.events & (POLLIN | POLLRDNORM);
                    }
                    if hup {
                        r |= POLLHUP;
                    }
                }
                it.revents = r;
            }
            // /dev/null and directories: always ready (DEFAULT_POLLMASK).
            Object::Null { .. } | Object::VirtualDir(_) => {
                it.revents = it.events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
            }
            other => {
                if other.host_fd().is_some() {
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
) -> Result<(), Errno> {
    let ts = Timespec {
        tv_sec: wait.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    // Shared references keep the objects (and their host fds) alive while
    // the host polls them.
    let objects: Vec<(usize, Arc<Object>)> = which
        .iter()
        .filter_map(|&i| Some((i, ctx.process.fds.get(items[i].fd as u64).ok()?)))
        .collect();
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(objects.len());
    let mut polled: Vec<usize> = Vec::with_capacity(objects.len());
    for (i, obj) in &objects {
        let Some(fd) = obj.host_fd() else {
            continue;
        };
        fds.push(PollFd::from_borrowed_fd(
            fd,
            PollFlags::from_bits_truncate(items[*i].events),
        ));
        polled.push(*i);
    }
    match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(_) => {
            for (p, &i) in fds.iter().zip(&polled) {
                items[i].revents = p.revents().bits();
            }
            Ok(())
        }
        Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e),
    }
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
        let to_deadline = ctx.kernel.clock.deadline.saturating_duration_since(now);
        if !host.is_empty() {
            let wait = if ready_locally {
                Duration::ZERO
            } else {
                left.min(to_deadline)
            };
            if let Err(e) = host_poll(ctx, &mut items, &host, wait) {
                return Err(e.into());
            }
        } else if !ready_locally {
            // Nothing can change while the process waits on itself.
            // Another thread may change it: wait for any thread's next
            // syscall and poll again. With a timeout, sleep it out (a
            // change by another thread during it is seen only after it).
            if timeout.is_none() {
                return sleep::hang();
            }
            if !left.is_zero() {
                return sleep::sleep_for(left).map(|_| 0);
            }
            break;
        }
        if items.iter().any(|i| i.revents != 0) || left.is_zero() {
            break;
        }
        if Instant::now() >= ctx.kernel.clock.deadline {
            return sleep::sleep_for(Duration::ZERO);
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
