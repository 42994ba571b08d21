//! setsockopt: the options servers and clients set, as a table. Each one
//! is applied to the host socket with its typed setter; every other option
//! is ENOPROTOOPT, reported once (a program that sets an option it cannot
//! have is told, not silently ignored).

use super::net::socket_of;
use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{IPPROTO_TCP, SOL_SOCKET};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::socket_pairs::END_BUFFER;
use crate::tunnel::GuestPtr;
use rustix::fd::BorrowedFd;
use rustix::net::sockopt;
use std::time::Duration;

/// `IPPROTO_IPV6`.
const IPPROTO_IPV6: u32 = 41;
/// The report key of unsupported options (one line per run).
const REPORT_OPTION: u64 = u64::MAX - 30;

/// An option setsockopt applies, by its host setter.
#[derive(Clone, Copy)]
enum Opt {
    ReuseAddr,
    ReusePort,
    KeepAlive,
    SendBuffer,
    RecvBuffer,
    Linger,
    RecvTimeout,
    SendTimeout,
    NoDelay,
    KeepIdle,
    KeepInterval,
    KeepCount,
    V6Only,
}

/// (level, name, what it is, which): the options setsockopt applies.
const OPTIONS: &[(u32, u32, &str, Opt)] = &[
    (
        SOL_SOCKET,
        2,
        "SO_REUSEADDR: rebind a port with connections in TIME_WAIT (servers restart)",
        Opt::ReuseAddr,
    ),
    (
        SOL_SOCKET,
        15,
        "SO_REUSEPORT: several sockets on one listen port",
        Opt::ReusePort,
    ),
    (
        SOL_SOCKET,
        9,
        "SO_KEEPALIVE: TCP keepalive probes",
        Opt::KeepAlive,
    ),
    (
        SOL_SOCKET,
        7,
        "SO_SNDBUF: the send buffer's size (the host's limits apply)",
        Opt::SendBuffer,
    ),
    (
        SOL_SOCKET,
        8,
        "SO_RCVBUF: the receive buffer's size (the host's limits apply)",
        Opt::RecvBuffer,
    ),
    (
        SOL_SOCKET,
        13,
        "SO_LINGER: how close waits for unsent data (struct linger)",
        Opt::Linger,
    ),
    (
        SOL_SOCKET,
        20,
        "SO_RCVTIMEO: a receive's time limit (struct timeval)",
        Opt::RecvTimeout,
    ),
    (
        SOL_SOCKET,
        21,
        "SO_SNDTIMEO: a send's time limit (struct timeval)",
        Opt::SendTimeout,
    ),
    (IPPROTO_TCP, 1, "TCP_NODELAY: no Nagle delay", Opt::NoDelay),
    (
        IPPROTO_TCP,
        4,
        "TCP_KEEPIDLE: idle seconds before keepalive probes",
        Opt::KeepIdle,
    ),
    (
        IPPROTO_TCP,
        5,
        "TCP_KEEPINTVL: seconds between keepalive probes",
        Opt::KeepInterval,
    ),
    (
        IPPROTO_TCP,
        6,
        "TCP_KEEPCNT: keepalive probes before the connection drops",
        Opt::KeepCount,
    ),
    (
        IPPROTO_IPV6,
        26,
        "IPV6_V6ONLY: an IPv6 socket without IPv4-mapped peers",
        Opt::V6Only,
    ),
];

/// Bytes of an option's value.
fn value_size(opt: Opt) -> usize {
    match opt {
        Opt::Linger => 8,
        Opt::RecvTimeout | Opt::SendTimeout => 16,
        _ => 4,
    }
}

/// Applies `opt` with the guest's value `b` to the host socket `fd`.
fn apply(fd: BorrowedFd<'_>, opt: Opt, b: &[u8; 16]) -> Result<(), Errno> {
    let int = |at: usize| i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let size = || usize::try_from(int(0)).map_err(|_| Errno::INVAL);
    let positive = || {
        u32::try_from(int(0))
            .ok()
            .filter(|&v| v > 0)
            .ok_or(Errno::INVAL)
    };
    let timeval = || {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            i64::from_le_bytes(w)
        };
        let (sec, usec) = (word(0), word(8));
        if sec < 0 || !(0..1_000_000).contains(&usec) {
            return Err(Errno::DOM);
        }
        let d = Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64);
        Ok((!d.is_zero()).then_some(d))
    };
    match opt {
        Opt::ReuseAddr => sockopt::set_socket_reuseaddr(fd, int(0) != 0)?,
        Opt::ReusePort => sockopt::set_socket_reuseport(fd, int(0) != 0)?,
        Opt::KeepAlive => sockopt::set_socket_keepalive(fd, int(0) != 0)?,
        Opt::SendBuffer => sockopt::set_socket_send_buffer_size(fd, size()?)?,
        Opt::RecvBuffer => sockopt::set_socket_recv_buffer_size(fd, size()?)?,
        Opt::Linger => {
            let secs = u64::try_from(int(4)).map_err(|_| Errno::INVAL)?;
            sockopt::set_socket_linger(fd, (int(0) != 0).then(|| Duration::from_secs(secs)))?
        }
        Opt::RecvTimeout => sockopt::set_socket_timeout(fd, sockopt::Timeout::Recv, timeval()?)?,
        Opt::SendTimeout => sockopt::set_socket_timeout(fd, sockopt::Timeout::Send, timeval()?)?,
        Opt::NoDelay => sockopt::set_tcp_nodelay(fd, int(0) != 0)?,
        Opt::KeepIdle => sockopt::set_tcp_keepidle(fd, Duration::from_secs(positive()?.into()))?,
        Opt::KeepInterval => {
            sockopt::set_tcp_keepintvl(fd, Duration::from_secs(positive()?.into()))?
        }
        Opt::KeepCount => sockopt::set_tcp_keepcnt(fd, positive()?)?,
        Opt::V6Only => sockopt::set_ipv6_v6only(fd, int(0) != 0)?,
    }
    Ok(())
}

pub fn setsockopt(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (level, name, optval, optlen) = (a[1] as u32, a[2] as u32, a[3], a[4] as u32);
    let obj = socket_of(ctx, a[0])?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    let Some(&(_, _, _, opt)) = OPTIONS
        .iter()
        .find(|&&(l, n, _, _)| l == level && n == name)
    else {
        if ctx.kernel.reports.first(REPORT_OPTION) {
            crate::say!(
                "runner: setsockopt level {level} option {name} is not emulated; returned ENOPROTOOPT (later ones are not reported)"
            );
        }
        return Err(Errno::NOPROTOOPT.into());
    };
    let size = value_size(opt);
    if (optlen as usize) < size {
        return Err(Errno::INVAL.into());
    }
    let mut b = [0u8; 16];
    ctx.tunnel()
        .read(GuestPtr::new(optval), &mut b[..size])
        .map_err(|_| Errno::FAULT)?;
    // A socketpair end's buffers are host kernel memory the run's budget
    // counts at END_BUFFER each (kernel/socket_pairs.rs): no larger.
    if s.charge.is_some() && matches!(opt, Opt::SendBuffer | Opt::RecvBuffer) {
        let asked = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let kept = asked.min(END_BUFFER as i32);
        b[..4].copy_from_slice(&kept.to_le_bytes());
    }
    apply(rustix::fd::AsFd::as_fd(&s.fd), opt, &b)?;
    Ok(0)
}
