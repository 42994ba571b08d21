//! select and pselect6: the descriptor bitmaps become poll items
//! (poll.rs's core), and the ready ones go back into the bitmaps as Linux
//! sets them (readable: POLLIN, POLLHUP or POLLERR; writable: POLLOUT or
//! POLLERR; exceptional: POLLPRI). Both write the time left back into the
//! timeout, as Linux does; pselect6 also sets a signal mask for the wait.

use super::poll::{ready_or_wait, wait_end, Item};
use super::sigwait::{read_sigset, set_wait_mask};
use super::{sleep, Args, Ctx, SyscallResult};
use crate::abi::constants::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use crate::abi::Errno;
use crate::tunnel::GuestPtr;
use std::time::{Duration, Instant};

const READABLE: u16 = POLLIN | POLLRDNORM | POLLHUP | POLLERR;
const WRITABLE: u16 = POLLOUT | POLLWRNORM | POLLERR;

/// The three bitmaps (read, write, except) of `nfds` bits: None for a
/// null pointer.
type Sets = [Option<Vec<u64>>; 3];

fn read_sets(ctx: &mut Ctx<'_>, ptrs: [GuestPtr; 3], words: usize) -> Result<Sets, Errno> {
    let mut sets: Sets = [None, None, None];
    for (set, ptr) in sets.iter_mut().zip(ptrs) {
        if ptr.addr() == 0 {
            continue;
        }
        let mut raw = vec![0u8; words * 8];
        ctx.tunnel().read(ptr, &mut raw).map_err(|_| Errno::FAULT)?;
        *set = Some(
            raw.chunks_exact(8)
                .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        );
    }
    Ok(sets)
}

fn has(set: &Option<Vec<u64>>, fd: usize) -> bool {
    set.as_ref()
        .is_some_and(|w| w.get(fd / 64).is_some_and(|b| b & (1 << (fd % 64)) != 0))
}

/// The shared core; returns the number of bits set, and writes the sets
/// back. `timeout` None waits forever.
fn do_select(
    ctx: &mut Ctx<'_>,
    nfds: u64,
    ptrs: [GuestPtr; 3],
    timeout: Option<Duration>,
) -> Result<(u64, Option<Instant>), super::Stop> {
    let nfds = nfds as i32;
    if nfds < 0 {
        return Err(Errno::INVAL.into());
    }
    // As Linux: bits past the table's size are ignored.
    let nfds = (nfds as usize).min(ctx.process.fds.limit().max(1024));
    let words = nfds.div_ceil(64);
    let sets = read_sets(ctx, ptrs, words)?;
    let mut items = Vec::new();
    for fd in 0..nfds {
        let (r, w, e) = (has(&sets[0], fd), has(&sets[1], fd), has(&sets[2], fd));
        if !(r || w || e) {
            continue;
        }
        if ctx.process.fds.get(fd as u64).is_err() {
            return Err(Errno::BADF.into());
        }
        let mut events = 0;
        if r {
            events |= POLLIN | POLLRDNORM;
        }
        if w {
            events |= POLLOUT | POLLWRNORM;
        }
        if e {
            events |= POLLPRI;
        }
        items.push(Item {
            fd: fd as i32,
            events,
            revents: 0,
        });
    }
    let until = wait_end(ctx, timeout);
    ready_or_wait(ctx, &mut items, until)?;
    let mut out: [Vec<u64>; 3] = [vec![0; words], vec![0; words], vec![0; words]];
    let mut count = 0;
    for it in &items {
        let fd = it.fd as usize;
        let found = [
            has(&sets[0], fd) && it.revents & READABLE != 0,
            has(&sets[1], fd) && it.revents & WRITABLE != 0,
            has(&sets[2], fd) && it.revents & POLLPRI != 0,
        ];
        for (k, hit) in found.iter().enumerate() {
            if *hit {
                out[k][fd / 64] |= 1 << (fd % 64);
                count += 1;
            }
        }
    }
    for (k, ptr) in ptrs.iter().enumerate() {
        if ptr.addr() == 0 {
            continue;
        }
        let bytes: Vec<u8> = out[k].iter().flat_map(|w| w.to_le_bytes()).collect();
        ctx.tunnel().write(*ptr, &bytes).map_err(|_| Errno::FAULT)?;
    }
    Ok((count, until))
}

/// The time left until `until` (zero once it passed).
fn left(until: Option<Instant>) -> Duration {
    until.map_or(Duration::ZERO, |u| {
        u.saturating_duration_since(Instant::now())
    })
}

pub fn select(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ptrs = [
        GuestPtr::new(a[1]),
        GuestPtr::new(a[2]),
        GuestPtr::new(a[3]),
    ];
    let tv = GuestPtr::new(a[4]);
    let timeout = if tv.addr() != 0 {
        let mut b = [0u8; 16];
        ctx.tunnel().read(tv, &mut b).map_err(|_| Errno::FAULT)?;
        let (s, us) = (
            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            i64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        );
        if s < 0 || us < 0 {
            return Err(Errno::INVAL.into());
        }
        // Linux normalises microseconds of a second or more.
        let d = Duration::from_secs(s as u64).checked_add(Duration::from_micros(us as u64));
        Some(d.ok_or(Errno::INVAL)?)
    } else {
        None
    };
    let (count, until) = do_select(ctx, a[0], ptrs, timeout)?;
    if tv.addr() != 0 {
        let d = left(until);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
        b[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_le_bytes());
        ctx.tunnel().write(tv, &b).map_err(|_| Errno::FAULT)?;
    }
    Ok(count)
}

/// pselect6(nfds, r, w, e, timespec, {sigset_t *, size}).
pub fn pselect6(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ptrs = [
        GuestPtr::new(a[1]),
        GuestPtr::new(a[2]),
        GuestPtr::new(a[3]),
    ];
    let ts = GuestPtr::new(a[4]);
    let timeout = if ts.addr() != 0 {
        let (s, ns) = sleep::read_timespec(ctx, ts)?;
        Some(Duration::new(s as u64, ns as u32))
    } else {
        None
    };
    let sig = GuestPtr::new(a[5]);
    if sig.addr() != 0 {
        let mut b = [0u8; 16];
        ctx.tunnel().read(sig, &mut b).map_err(|_| Errno::FAULT)?;
        let set = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let size = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        if set != 0 {
            let mask = read_sigset(ctx, GuestPtr::new(set), size)?;
            set_wait_mask(ctx, mask);
        }
    }
    let (count, until) = do_select(ctx, a[0], ptrs, timeout)?;
    if ts.addr() != 0 {
        let d = left(until);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
        b[8..].copy_from_slice(&i64::from(d.subsec_nanos()).to_le_bytes());
        ctx.tunnel().write(ts, &b).map_err(|_| Errno::FAULT)?;
    }
    Ok(count)
}
