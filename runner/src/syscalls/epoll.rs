//! epoll: epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait,
//! epoll_pwait2, over the same readiness poll uses (readiness.rs): pipes,
//! eventfds, /dev/null and synthesized directories answered by the
//! runner, standard streams and sockets by a host poll that does not wait.
//! Level-triggered by default; EPOLLET reports a ready bit again only
//! after it was seen clear or after a new edge on its side
//! (`kernel::events::Edges`: data arriving in a pipe, a program's read
//! finding a socket empty), and
//! EPOLLONESHOT silences a descriptor once reported until EPOLL_CTL_MOD.
//! An epoll_wait that finds nothing waits with no kernel lock held
//! (`Wait::Poll`). Differences from Linux, all refused loudly: an epoll
//! instance cannot watch another (EINVAL), and regular files and
//! directories cannot be watched (EPERM, as on Linux).

use super::poll::far_future;
use super::readiness::{self, HostItem, Wakes};
use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{
    EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLMSG, EPOLLONESHOT, EPOLLOUT,
    EPOLLPRI, EPOLLRDBAND, EPOLLRDHUP, EPOLLRDNORM, EPOLLWAKEUP, EPOLLWRBAND, EPOLLWRNORM,
    EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_EVENT_SIZE, EP_MAX_EVENTS,
};
use crate::abi::Errno;
use crate::kernel::events::{EpollSet, Interest};
use crate::kernel::fds::Object;
use crate::kernel::pipe_buffer::next_id;
use crate::tunnel::{Access, GuestPtr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The poll(2) bits an interest can ask for (EPOLLERR and EPOLLHUP are
/// always reported).
const POLL_BITS: u32 = EPOLLIN
    | EPOLLPRI
    | EPOLLOUT
    | EPOLLRDNORM
    | EPOLLRDBAND
    | EPOLLWRNORM
    | EPOLLWRBAND
    | EPOLLMSG
    | EPOLLRDHUP;

pub fn epoll_create(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[0] as i32 <= 0 {
        return Err(Errno::INVAL.into());
    }
    create(ctx, false)
}

pub fn epoll_create1(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[0] & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::INVAL.into());
    }
    create(ctx, a[0] & EPOLL_CLOEXEC != 0)
}

fn create(ctx: &mut Ctx<'_>, cloexec: bool) -> SyscallResult {
    let set = Arc::new(EpollSet::new(next_id()));
    Ok(ctx
        .process
        .fds
        .insert(Arc::new(Object::Epoll(set)), cloexec, 0)?)
}

/// The epoll instance `epfd` names.
fn instance(ctx: &mut Ctx<'_>, epfd: u64) -> Result<Arc<EpollSet>, Errno> {
    match &*ctx.process.fds.get(epfd)? {
        Object::Epoll(set) => Ok(set.clone()),
        _ => Err(Errno::INVAL),
    }
}

pub fn epoll_ctl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (epfd, op, fd, event) = (a[0], a[1], a[2], GuestPtr::new(a[3]));
    let set = instance(ctx, epfd)?;
    let target = ctx.process.fds.get(fd)?;
    if fd == epfd || matches!(&*target, Object::Epoll(_)) {
        return Err(Errno::INVAL.into());
    }
    if !pollable(&target) {
        return Err(Errno::PERM.into());
    }
    let mut ev = [0u8; EPOLL_EVENT_SIZE as usize];
    if op != EPOLL_CTL_DEL {
        ctx.tunnel()
            .read(event, &mut ev)
            .map_err(|_| Errno::FAULT)?;
    }
    let events = u32::from_le_bytes([ev[0], ev[1], ev[2], ev[3]]);
    let mut d = [0u8; 8];
    d.copy_from_slice(&ev[4..12]);
    let data = u64::from_le_bytes(d);
    let key = fd as i32;
    let mut interest = crate::kernel::lock(&set.interest);
    // An interest in a description since closed (or not the one `fd` names
    // now) is no longer there.
    if interest.get(&key).is_some_and(|i| !i.watches(&target)) {
        interest.remove(&key);
    }
    match op {
        EPOLL_CTL_ADD => {
            if interest.contains_key(&key) {
                return Err(Errno::EXIST.into());
            }
            let edges_seen = target.edges().map_or((0, 0), |d| d.counts());
            interest.insert(
                key,
                Interest {
                    events,
                    data,
                    object: Arc::downgrade(&target),
                    disabled: false,
                    reported: 0,
                    edges_seen,
                },
            );
        }
        EPOLL_CTL_MOD => {
            let Some(i) = interest.get_mut(&key) else {
                return Err(Errno::NOENT.into());
            };
            // EPOLLEXCLUSIVE can only be given at ADD.
            if events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::INVAL.into());
            }
            i.events = events;
            i.data = data;
            i.disabled = false;
            i.reported = 0;
        }
        EPOLL_CTL_DEL => {
            if interest.remove(&key).is_none() {
                return Err(Errno::NOENT.into());
            }
        }
        _ => return Err(Errno::INVAL.into()),
    }
    Ok(0)
}

/// Whether epoll can watch `obj`: not regular files or directories (as on
/// Linux, which refuses them with EPERM), also when a standard stream is
/// one.
fn pollable(obj: &Object) -> bool {
    match obj {
        Object::File(_) | Object::Dir(_) | Object::VirtualDir(_) => false,
        Object::Stdio { host, .. } => rustix::fs::fstat(host).map_or(true, |st| {
            let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
            !matches!(
                kind,
                rustix::fs::FileType::RegularFile | rustix::fs::FileType::Directory
            )
        }),
        _ => true,
    }
}

pub fn epoll_wait(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ms = a[3] as i32;
    let timeout = (ms >= 0).then(|| Duration::from_millis(ms as u64));
    wait(ctx, a[0], GuestPtr::new(a[1]), a[2], timeout)
}

/// epoll_pwait: epoll_wait with a signal mask for the wait.
pub fn epoll_pwait(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    wait_mask(ctx, a[4], a[5])?;
    epoll_wait(ctx, a)
}

pub fn epoll_pwait2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ts = GuestPtr::new(a[3]);
    let timeout = if ts.addr() == 0 {
        None
    } else {
        let (s, ns) = super::sleep::read_timespec(ctx, ts)?;
        Some(Duration::new(s as u64, ns as u32))
    };
    wait_mask(ctx, a[4], a[5])?;
    wait(ctx, a[0], GuestPtr::new(a[1]), a[2], timeout)
}

/// The mask epoll_pwait and epoll_pwait2 set for their wait, if any.
fn wait_mask(ctx: &mut Ctx<'_>, ptr: u64, size: u64) -> Result<(), Errno> {
    if ptr != 0 {
        let mask = super::sigwait::read_sigset(ctx, GuestPtr::new(ptr), size)?;
        super::sigwait::set_wait_mask(ctx, mask);
    }
    Ok(())
}

fn wait(
    ctx: &mut Ctx<'_>,
    epfd: u64,
    events: GuestPtr,
    max: u64,
    timeout: Option<Duration>,
) -> SyscallResult {
    let max = max as i32;
    if max <= 0 || max as u64 > EP_MAX_EVENTS {
        return Err(Errno::INVAL.into());
    }
    let max = max as u64;
    let set = instance(ctx, epfd)?;
    let out_len = max * EPOLL_EVENT_SIZE;
    if ctx.tunnel().check(events, out_len, Access::Write).is_err() {
        return Err(Errno::FAULT.into());
    }
    let until = match ctx.thread.resume.take() {
        Some(until) => until,
        None => timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future)),
    };
    let signals = super::readiness::pending_signals(ctx);
    let Collected {
        ready,
        watches_host,
        wakes,
    } = collect(&set, max, signals)?;
    if ready.is_empty() {
        if until.is_none_or(|u| u > Instant::now()) {
            return Err(Stop::Block(Wait::Poll {
                until,
                host: watches_host,
                timer: wakes.timer,
                signals: wakes.signals,
                restart: false,
            }));
        }
        return Ok(0);
    }
    let mut out = Vec::with_capacity(ready.len() * EPOLL_EVENT_SIZE as usize);
    for (bits, data) in &ready {
        out.extend_from_slice(&bits.to_le_bytes());
        out.extend_from_slice(&data.to_le_bytes());
    }
    ctx.tunnel().write(events, &out).map_err(|_| Errno::FAULT)?;
    Ok(ready.len() as u64)
}

/// What [`collect`] finds: the ready (events, data) pairs, whether a host
/// descriptor is watched, and what else must end a wait.
struct Collected {
    ready: Vec<(u32, u64)>,
    watches_host: bool,
    wakes: Wakes,
}

/// The bits of each side: what an edge of that side re-arms.
const READ_SIDE: u32 = EPOLLIN | EPOLLRDNORM | EPOLLRDBAND | EPOLLPRI;
const WRITE_SIDE: u32 = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;

/// EPOLLET: forgets having reported the bits of a side that had an edge
/// since the interest last looked (`kernel::events::Edges`), so that
/// readiness found now is reported again.
fn rearm(i: &mut crate::kernel::events::Interest, object: &Object) {
    let Some(edges) = object.edges() else {
        return;
    };
    let (read, write) = edges.counts();
    if read != i.edges_seen.0 {
        i.reported &= !READ_SIDE;
    }
    if write != i.edges_seen.1 {
        i.reported &= !WRITE_SIDE;
    }
    i.edges_seen = (read, write);
}

/// Up to `max` ready (events, data) pairs, in descriptor order, applying
/// EPOLLET and EPOLLONESHOT; whether any host descriptor is watched; and
/// what else must end a wait (timerfds, signalfds). `signals`: those
/// pending for the caller or its process.
fn collect(set: &EpollSet, max: u64, signals: u64) -> Result<Collected, Errno> {
    let mut wakes = Wakes::default();
    let mut interest = crate::kernel::lock(&set.interest);
    let mut host: Vec<HostItem> = Vec::new();
    let mut host_keys: Vec<i32> = Vec::new();
    let mut now: Vec<(i32, u32)> = Vec::new();
    // Interests in descriptions closed since are gone.
    interest.retain(|_, i| i.object.strong_count() > 0);
    for (&fd, i) in interest.iter_mut() {
        if i.disabled {
            continue;
        }
        let Some(object) = i.object.upgrade() else {
            continue;
        };
        let asked = ((i.events & POLL_BITS) | EPOLLERR | EPOLLHUP) as u16;
        wakes.add(&object);
        // Before readiness is looked at: an edge after this is seen by the
        // next wait, one before it re-arms this one.
        if i.events & EPOLLET != 0 {
            rearm(i, &object);
        }
        match readiness::local(&object, asked, signals) {
            Some(r) => now.push((fd, u32::from(r))),
            None => {
                host.push(HostItem {
                    object,
                    events: asked,
                    revents: 0,
                });
                host_keys.push(fd);
            }
        }
    }
    readiness::host_now(&mut host)?;
    now.extend(
        host_keys
            .iter()
            .zip(&host)
            .map(|(&fd, h)| (fd, u32::from(h.revents))),
    );
    now.sort_by_key(|&(fd, _)| fd);
    let mut ready = Vec::new();
    for (fd, bits) in now {
        let Some(i) = interest.get_mut(&fd) else {
            continue;
        };
        let bits = bits & ((i.events & POLL_BITS) | EPOLLERR | EPOLLHUP);
        let report = if i.events & EPOLLET != 0 {
            // Bits seen clear may be reported again when they come back.
            i.reported &= bits;
            bits & !i.reported != 0
        } else {
            bits != 0
        };
        if !report || ready.len() as u64 >= max {
            continue;
        }
        i.reported |= bits;
        if i.events & EPOLLONESHOT != 0 {
            i.disabled = true;
        }
        let _ = EPOLLWAKEUP;
        ready.push((bits, i.data));
    }
    Ok(Collected {
        ready,
        watches_host: !host_keys.is_empty(),
        wakes,
    })
}
