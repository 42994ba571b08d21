//! Whether a descriptor is ready, as poll(2) bits (POLLIN, POLLOUT, ...;
//! epoll's low bits are the same): for objects the runner holds itself
//! ([`local`]), and for host descriptors by one host poll that does not
//! wait ([`host_now`]). poll, ppoll and epoll_wait share them.

use crate::abi::constants::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::kernel::fds::Object;
use rustix::event::{PollFd, PollFlags, Timespec};
use std::sync::Arc;

/// The ready bits of `obj` among `events` (plus POLLERR and POLLHUP, which
/// are always reported), when the runner knows them; None when the object
/// is a host descriptor ([`host_now`]).
/// `signals`: the signals pending for the polling thread or its process
/// (a signalfd is readable while one of its mask is).
pub fn local(obj: &Object, events: u16, signals: u64) -> Option<u16> {
    let r = match obj {
        // As Linux's pipe_poll.
        Object::Pipe(p) => {
            let (_, _, hup) = p.readiness();
            let mut r = 0;
            if p.write {
                if p.available() < super::pipe::PIPE_CAPACITY {
                    r |= events & (POLLOUT | POLLWRNORM);
                }
                if hup {
                    r |= POLLERR;
                }
            } else {
                if p.available() > 0 {
                    r |= events & (POLLIN | POLLRDNORM);
                }
                if hup {
                    r |= POLLHUP;
                }
            }
            r
        }
        Object::EventFd(e) => ready_bits(e.readiness(), events),
        // As Linux's mqueue_poll_file, whatever the access mode.
        Object::MsgQueue(m) => ready_bits(m.queue.readiness(), events),
        Object::TimerFd(t) => {
            if t.ticks(std::time::Instant::now()) > 0 {
                events & (POLLIN | POLLRDNORM)
            } else {
                0
            }
        }
        Object::SignalFd(s) => {
            if signals & s.mask() != 0 {
                events & (POLLIN | POLLRDNORM)
            } else {
                0
            }
        }
        // A pidfd is readable once its process has ended.
        Object::PidFd(p) => {
            if p.ended() {
                events & (POLLIN | POLLRDNORM)
            } else {
                0
            }
        }
        // An epoll instance is readable when one of its descriptors is
        // ready; nested instances are refused at epoll_ctl, so it is only
        // ever polled by poll(2), which is answered "not ready".
        Object::Epoll(_) => 0,
        // /dev/null, the devices and directories: always ready
        // (DEFAULT_POLLMASK).
        Object::Null { .. } | Object::Device { .. } | Object::VirtualDir(_) => {
            events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)
        }
        Object::Stdio { .. }
        | Object::File(_)
        | Object::Dir(_)
        | Object::Socket(_)
        | Object::Inotify(_) => return None,
    };
    Some(r)
}

/// The bits of `events` that (readable, writable) make ready.
fn ready_bits((readable, writable): (bool, bool), events: u16) -> u16 {
    let mut r = 0;
    if readable {
        r |= events & (POLLIN | POLLRDNORM);
    }
    if writable {
        r |= events & (POLLOUT | POLLWRNORM);
    }
    r
}

/// What must end a wait on `obj` besides another thread's syscall: a
/// timerfd's next expiry, a signalfd's signals.
pub fn wakes(obj: &Object) -> (Option<std::time::Instant>, u64) {
    match obj {
        Object::TimerFd(t) => (t.next_expiry(), 0),
        Object::SignalFd(s) => (None, s.mask()),
        _ => (None, 0),
    }
}

/// The wake-ups of several objects together: the earliest time, every
/// signal.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wakes {
    pub timer: Option<std::time::Instant>,
    pub signals: u64,
}

impl Wakes {
    pub fn add(&mut self, obj: &Object) {
        let (timer, signals) = wakes(obj);
        self.timer = match (self.timer, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.signals |= signals;
    }
}

/// The signals pending for the calling thread or its process, once posted
/// ones are taken (what a signalfd's readiness looks at).
pub fn pending_signals(ctx: &mut super::Ctx<'_>) -> u64 {
    super::signals::take_posted(ctx, 0);
    ctx.thread.signals.pending
        | ctx
            .process
            .threads
            .shared_pending
            .load(std::sync::atomic::Ordering::SeqCst)
}

/// One host descriptor to poll: the object (kept alive, with its host fd,
/// while polled), the bits asked for, and the bits found.
pub struct HostItem {
    pub object: Arc<Object>,
    pub events: u16,
    pub revents: u16,
}

/// Polls the host descriptors of `items` once, without waiting. An
/// interrupted poll leaves them all not ready.
pub fn host_now(items: &mut [HostItem]) -> Result<(), rustix::io::Errno> {
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(items.len());
    let mut polled: Vec<usize> = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        if let Some(fd) = it.object.host_fd() {
            fds.push(PollFd::from_borrowed_fd(
                fd,
                PollFlags::from_bits_truncate(it.events),
            ));
            polled.push(i);
        }
    }
    let found: Vec<(usize, u16)> = match rustix::event::poll(&mut fds, Some(&zero)) {
        Ok(_) => fds
            .iter()
            .zip(&polled)
            .map(|(p, &i)| (i, p.revents().bits()))
            .collect(),
        Err(rustix::io::Errno::INTR) => Vec::new(),
        Err(e) => return Err(e),
    };
    for (i, bits) in found {
        items[i].revents = bits;
    }
    Ok(())
}

/// A blocking host call on `fd` must not hold the kernel lock while it
/// waits when other threads could need it (they may be the ones to make
/// `fd` ready, or to end the process): the other threads of the process,
/// and every thread of the sandbox's other processes (a server's child
/// serving the connection its parent accepted, while the parent waits in
/// `accept` for the next). So, unless the caller is the sandbox's only
/// thread, a call whose host descriptor blocks and is not ready for
/// `events` waits with no lock held (`Wait::Poll`: another thread's
/// syscall or a few milliseconds) and runs again. The only thread makes
/// the host call directly (its wait ends at the deadline's kick), unless
/// signals come from outside the sandbox (`--forward-signals`: the host
/// thread that posts them needs the lock too).
pub fn wait_unless_ready(
    ctx: &super::Ctx<'_>,
    fd: rustix::fd::BorrowedFd<'_>,
    events: u16,
) -> Result<(), super::Stop> {
    let alone = ctx.process.threads.live() <= 1 && ctx.kernel.procs.len() <= 1;
    if alone && !ctx.kernel.signals_from_outside {
        return Ok(());
    }
    if rustix::fs::fcntl_getfl(fd).is_ok_and(|f| f.contains(rustix::fs::OFlags::NONBLOCK)) {
        return Ok(());
    }
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut pfd = [PollFd::from_borrowed_fd(
        fd,
        PollFlags::from_bits_truncate(events),
    )];
    match rustix::event::poll(&mut pfd, Some(&zero)) {
        Ok(0) => Err(super::Stop::Block(super::Wait::Poll {
            until: None,
            host: true,
            timer: None,
            signals: 0,
            restart: false,
        })),
        _ => Ok(()),
    }
}
