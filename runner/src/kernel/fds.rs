//! The guest's file-descriptor table: the runner's own numbering, never
//! host fd numbers.
//!
//! A slot holds an `Arc<Object>` (the open file description: `dup` shares it,
//! with its offset and status flags, as on Linux) and the guest's
//! `FD_CLOEXEC` bit. Every host fd inside is the runner's own, opened with
//! `O_CLOEXEC`. At most `limit` slots exist (the policy's `open_files`,
//! counting 0, 1 and 2) and every guest fd number is below it, like
//! `RLIMIT_NOFILE`. A pipe (`pipe_buffer.rs`) has no host fd at all: both ends are
//! objects of this table sharing a buffer in the runner.

use super::events::Edges;
use super::pipe_buffer::PipeEnd;
use crate::abi::Errno;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use sandbox_policy::Protocol;
use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// Which standard stream a descriptor started as, or `/dev/null` opened
/// by path (with the access it was opened for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdin,
    Stdout,
    Stderr,
    DevNull { read: bool, write: bool },
}

impl Stream {
    pub fn readable(self) -> bool {
        match self {
            Stream::DevNull { read, .. } => read,
            s => s == Stream::Stdin,
        }
    }
    pub fn writable(self) -> bool {
        match self {
            Stream::DevNull { write, .. } => write,
            s => s != Stream::Stdin,
        }
    }
}

/// A character device every guest has (`/dev/zero`, `/dev/full`,
/// `/dev/random`, `/dev/urandom`), answered by the runner: no host device
/// is ever opened for the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// Reads zeros, swallows writes; mmap is anonymous memory.
    Zero,
    /// Reads zeros, writes fail with ENOSPC.
    Full,
    /// Reads the host's random bytes (getrandom), swallows writes.
    Random,
}

impl Device {
    /// The guest path of each device, and its number (major 1, as Linux).
    pub const ALL: [(&'static str, Device, u32); 4] = [
        ("/dev/zero", Device::Zero, 5),
        ("/dev/full", Device::Full, 7),
        ("/dev/random", Device::Random, 8),
        ("/dev/urandom", Device::Random, 9),
    ];

    /// The device at a guest path, with its minor number.
    pub fn at(path: &std::path::Path) -> Option<(Device, u32)> {
        Device::ALL
            .iter()
            .find(|(p, _, _)| std::path::Path::new(p) == path)
            .map(|&(_, d, minor)| (d, minor))
    }
}

/// A regular file (or other non-directory host object) inside a rule.
#[derive(Debug)]
pub struct FileObj {
    pub fd: OwnedFd,
    pub readable: bool,
    pub writable: bool,
    /// Its rule lets programs run it (`-exec`): it may be mapped
    /// executable.
    pub exec: bool,
    /// It lies where the guest may modify (a read-write rule, not a
    /// protected subtree): fchmod may change its mode.
    pub in_writable_tree: bool,
    /// A memfd (syscalls/memfd.rs): it lives in host memory, so a write to
    /// it is charged to `bytes_written` by the pages it may fill, not by
    /// its bytes.
    pub memfd: bool,
    /// The guest path it was opened by (for diagnostics and `runner
    /// learn`; never shown as a host path).
    pub guest_path: PathBuf,
}

impl FileObj {
    /// A host memfd the guest may read and write (memfd_create, a System
    /// V shared memory segment), shown as `guest_path`.
    pub fn memfd(fd: OwnedFd, guest_path: PathBuf) -> FileObj {
        FileObj {
            fd,
            readable: true,
            writable: true,
            exec: false,
            in_writable_tree: false,
            memfd: true,
            guest_path,
        }
    }
}

/// Where a directory listing stands.
#[derive(Debug, Default)]
pub struct DirCursor {
    /// The host directory has been read to its end.
    pub host_done: bool,
    /// Next entry of `extras` to return.
    pub extra_next: usize,
    /// Names of `extras` the host listing already returned.
    pub seen: Vec<OsString>,
}

/// A host directory inside a rule.
#[derive(Debug)]
pub struct DirObj {
    /// `O_RDONLY | O_DIRECTORY`, for getdents64.
    pub fd: OwnedFd,
    /// It lies where the guest may modify (see `FileObj`).
    pub in_writable_tree: bool,
    pub guest_path: PathBuf,
    /// Names of rule paths (or their ancestors) directly below this
    /// directory, listed after the host's entries unless the host has them.
    pub extras: Vec<(OsString, u8)>,
    pub cursor: Mutex<DirCursor>,
}

/// A synthesized directory (an ancestor of rule paths).
#[derive(Debug)]
pub struct VirtualDirObj {
    pub guest_path: PathBuf,
    /// `.`, `..`, then the children, with their `d_type`.
    pub entries: Vec<(OsString, u8)>,
    pub pos: AtomicUsize,
}

/// A guest socket: a host socket the runner holds for it.
#[derive(Debug)]
pub struct SocketObj {
    pub fd: OwnedFd,
    pub kind: SocketKind,
    /// A socketpair end's place in the run's budget
    /// (kernel/socket_pairs.rs), given back when the end closes.
    pub charge: Option<super::socket_pairs::EndCharge>,
    /// Edges for edge-triggered epoll: nonblocking calls that found it not
    /// ready (syscalls/edges.rs).
    pub edges: Edges,
    /// An AF_UNIX socket's runner side (kernel/unix_sockets.rs): its
    /// names, connection, and what travels beside its bytes.
    pub unix: Option<Arc<super::unix_sockets::UnixSocket>>,
}

/// What a guest socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// An AF_INET or AF_INET6 socket of a protocol a `[[network]]` rule
    /// names.
    Inet { v6: bool, protocol: Protocol },
    /// One end of an AF_UNIX socketpair of this type (SOCK_STREAM,
    /// SOCK_DGRAM or SOCK_SEQPACKET): a host socketpair, which has no name
    /// and reaches nothing but its other end, in this sandbox. Its place in
    /// the run's budget is `SocketObj::charge`.
    UnixPair { ty: u32 },
    /// An AF_UNIX socket of `socket()` (or one `accept` returned) of this
    /// type, whose names are the sandbox's own (kernel/unix_names.rs).
    Unix { ty: u32 },
}

impl SocketObj {
    /// The internet socket's family and protocol (None: a socketpair end).
    pub fn inet(&self) -> Option<(bool, Protocol)> {
        match self.kind {
            SocketKind::Inet { v6, protocol } => Some((v6, protocol)),
            SocketKind::UnixPair { .. } | SocketKind::Unix { .. } => None,
        }
    }

    /// An AF_UNIX socket's type (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET).
    pub fn unix_type(&self) -> Option<u32> {
        match self.kind {
            SocketKind::UnixPair { ty } | SocketKind::Unix { ty } => Some(ty),
            SocketKind::Inet { .. } => None,
        }
    }

    /// Whether it is a UDP socket (whose datagrams the policy filters by
    /// peer).
    pub fn is_udp(&self) -> bool {
        matches!(
            self.kind,
            SocketKind::Inet {
                protocol: Protocol::Udp,
                ..
            }
        )
    }

    /// Whether it is a TCP socket.
    pub fn is_tcp(&self) -> bool {
        matches!(
            self.kind,
            SocketKind::Inet {
                protocol: Protocol::Tcp,
                ..
            }
        )
    }
}

/// What a guest descriptor refers to (an open file description).
#[derive(Debug)]
pub enum Object {
    /// A standard stream connected to the runner's own (a duplicate, so the
    /// guest closing it never closes the runner's).
    Stdio {
        stream: Stream,
        host: OwnedFd,
        /// As a socket's.
        edges: Edges,
        /// The host file is a regular file or a block device, whose reads
        /// and writes never wait for another process (the syscall ring
        /// serves them, run/ring_calls.rs); a pipe, socket or terminal may.
        never_waits: bool,
    },
    /// A standard stream the policy disconnected: reads return end-of-file,
    /// writes succeed and are discarded, like /dev/null.
    Null {
        stream: Stream,
    },
    /// A device of /dev, opened for reading and/or writing.
    Device {
        device: Device,
        minor: u32,
        read: bool,
        write: bool,
    },
    File(FileObj),
    Dir(DirObj),
    VirtualDir(VirtualDirObj),
    Socket(SocketObj),
    /// One end of a pipe inside the process; the end closes when the last
    /// descriptor sharing this description does.
    Pipe(PipeEnd),
    /// An eventfd (kernel/events.rs).
    EventFd(Arc<super::events::EventFd>),
    /// An epoll instance (kernel/events.rs).
    Epoll(Arc<super::events::EpollSet>),
    /// A timerfd (kernel/timers.rs).
    TimerFd(Arc<super::timers::TimerFd>),
    /// A signalfd (kernel/events.rs).
    SignalFd(Arc<super::events::SignalFd>),
    /// A pidfd (kernel/pidfd.rs).
    PidFd(Arc<super::pidfd::PidFd>),
    /// An inotify instance: a host one the runner holds (kernel/inotify.rs).
    Inotify(Arc<super::inotify::Inotify>),
    /// A POSIX message queue descriptor (kernel/posix_mq.rs).
    MsgQueue(super::posix_mq::MqDesc),
}

impl Object {
    /// The host fd behind the object, if any.
    pub fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Object::Stdio { host, .. } => Some(host.as_fd()),
            Object::File(f) => Some(f.fd.as_fd()),
            Object::Dir(d) => Some(d.fd.as_fd()),
            Object::Socket(s) => Some(s.fd.as_fd()),
            Object::Inotify(i) => Some(i.fd.as_fd()),
            Object::Null { .. }
            | Object::Device { .. }
            | Object::VirtualDir(_)
            | Object::Pipe(_)
            | Object::EventFd(_)
            | Object::Epoll(_)
            | Object::TimerFd(_)
            | Object::SignalFd(_)
            | Object::PidFd(_)
            | Object::MsgQueue(_) => None,
        }
    }

    /// Its edges for edge-triggered epoll (`Edges`), if it can be not
    /// ready at all (files, directories and devices never are).
    pub fn edges(&self) -> Option<&Edges> {
        match self {
            Object::Stdio { edges, .. } => Some(edges),
            Object::Socket(s) => Some(&s.edges),
            Object::Pipe(p) => Some(&p.edges),
            Object::EventFd(e) => Some(&e.edges),
            Object::TimerFd(t) => Some(&t.edges),
            Object::SignalFd(s) => Some(&s.edges),
            Object::PidFd(p) => Some(&p.edges),
            Object::Inotify(i) => Some(&i.edges),
            Object::MsgQueue(m) => Some(&m.queue.edges),
            Object::Null { .. }
            | Object::Device { .. }
            | Object::File(_)
            | Object::Dir(_)
            | Object::VirtualDir(_)
            | Object::Epoll(_) => None,
        }
    }

    /// The guest path a regular file was opened by.
    pub fn file_path(&self) -> Option<&PathBuf> {
        match self {
            Object::File(f) => Some(&f.guest_path),
            _ => None,
        }
    }

    /// The guest path of a directory object (for `*at` calls and fchdir).
    pub fn dir_path(&self) -> Option<&PathBuf> {
        match self {
            Object::Dir(d) => Some(&d.guest_path),
            Object::VirtualDir(v) => Some(&v.guest_path),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    object: Arc<Object>,
    cloexec: bool,
}

/// Guest fd number -> slot.
#[derive(Debug)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
    limit: usize,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable {
            slots: Vec::new(),
            limit: sandbox_policy::defaults::OPEN_FILES as usize,
        }
    }
}

impl FdTable {
    /// The three standard streams: a connected one is a duplicate of the
    /// runner's own; a disconnected one still exists, as /dev/null.
    pub fn with_stdio(stdin: bool, stdout: bool, stderr: bool) -> std::io::Result<FdTable> {
        let dup = |fd: BorrowedFd<'_>| fd.try_clone_to_owned().map(std::fs::File::from);
        Ok(FdTable::with_files(
            if stdin {
                Some(dup(std::io::stdin().as_fd())?)
            } else {
                None
            },
            if stdout {
                Some(dup(std::io::stdout().as_fd())?)
            } else {
                None
            },
            if stderr {
                Some(dup(std::io::stderr().as_fd())?)
            } else {
                None
            },
        ))
    }

    /// Standard streams backed by the given files (the fuzzer's runs read a
    /// file and write to /dev/null); `None` is a disconnected stream, which
    /// still exists, as /dev/null.
    pub fn with_files(
        stdin: Option<std::fs::File>,
        stdout: Option<std::fs::File>,
        stderr: Option<std::fs::File>,
    ) -> FdTable {
        let slots = [
            (Stream::Stdin, stdin),
            (Stream::Stdout, stdout),
            (Stream::Stderr, stderr),
        ]
        .into_iter()
        .map(|(stream, file)| {
            let object = match file {
                Some(f) => Object::Stdio {
                    stream,
                    never_waits: f
                        .metadata()
                        .is_ok_and(|m| m.is_file() || FileTypeExt::is_block_device(&m.file_type())),
                    host: OwnedFd::from(f),
                    edges: Edges::default(),
                },
                None => Object::Null { stream },
            };
            Some(Slot {
                object: Arc::new(object),
                cloexec: false,
            })
        })
        .collect();
        FdTable {
            slots,
            limit: sandbox_policy::defaults::OPEN_FILES as usize,
        }
    }

    /// Sets the most descriptors open at once (the policy's `open_files`,
    /// or a lower `RLIMIT_NOFILE` the guest set).
    /// The child's copy at fork: the same open file descriptions (offsets,
    /// status flags and pipe ends are shared, as on Linux), the same
    /// close-on-exec flags, the same limit.
    pub fn fork_copy(&self) -> FdTable {
        FdTable {
            slots: self.slots.clone(),
            limit: self.limit,
        }
    }

    /// execve: closes every close-on-exec descriptor; returns what they
    /// described.
    pub fn close_on_exec(&mut self) -> Vec<Arc<Object>> {
        let mut closed = Vec::new();
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                closed.extend(slot.take().map(|s| s.object));
            }
        }
        closed
    }

    /// Closes every descriptor (the process is gone: its pipe ends close,
    /// so readers see end-of-file and writers EPIPE).
    pub fn close_all(&mut self) {
        self.slots.clear();
    }

    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit as usize;
    }

    /// Every guest fd number is below this.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Every open guest fd number is below this.
    pub fn end(&self) -> u64 {
        self.slots.len() as u64
    }

    fn index(&self, fd: u64) -> Option<usize> {
        // Guest fds are C ints: the upper half of the register is ignored.
        let fd = fd as u32 as i32;
        usize::try_from(fd).ok()
    }

    /// The object behind guest fd `fd` (a shared reference), or EBADF.
    pub fn get(&self, fd: u64) -> Result<Arc<Object>, Errno> {
        self.index(fd)
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .map(|s| Arc::clone(&s.object))
            .ok_or(Errno::BADF)
    }

    /// Whether `insert` would find a free descriptor (checked before a
    /// syscall with side effects, such as `open(O_CREAT)`, is performed).
    pub fn has_room(&self) -> bool {
        self.lowest_free(0).is_some()
    }

    /// The number the next [`FdTable::insert`] from 0 will take.
    pub fn next_free(&self) -> Option<u64> {
        self.lowest_free(0).map(|i| i as u64)
    }

    fn lowest_free(&self, min: usize) -> Option<usize> {
        (min..self.limit).find(|&i| !matches!(self.slots.get(i), Some(Some(_))))
    }

    /// Installs `object` at the lowest free fd `>= min`: EMFILE when every
    /// fd below the limit is taken (EINVAL when `min` is not below it).
    pub fn insert(&mut self, object: Arc<Object>, cloexec: bool, min: usize) -> Result<u64, Errno> {
        if min >= self.limit {
            return Err(Errno::INVAL);
        }
        let i = self.lowest_free(min).ok_or(Errno::MFILE)?;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(Slot { object, cloexec });
        Ok(i as u64)
    }

    /// Installs `object` at exactly `fd` (dup2/dup3), closing what was
    /// there (returned). EBADF when `fd` is not below the limit.
    pub fn place(
        &mut self,
        fd: u64,
        object: Arc<Object>,
        cloexec: bool,
    ) -> Result<Option<Arc<Object>>, Errno> {
        let i = self
            .index(fd)
            .filter(|&i| i < self.limit)
            .ok_or(Errno::BADF)?;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        let old = self.slots[i].replace(Slot { object, cloexec });
        Ok(old.map(|s| s.object))
    }

    /// Closes guest fd `fd` (the host fd closes with its last reference).
    pub fn close(&mut self, fd: u64) -> Result<(), Errno> {
        let i = self.index(fd).ok_or(Errno::BADF)?;
        match self.slots.get_mut(i) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Ok(())
            }
            _ => Err(Errno::BADF),
        }
    }

    pub fn cloexec(&self, fd: u64) -> Result<bool, Errno> {
        self.index(fd)
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .map(|s| s.cloexec)
            .ok_or(Errno::BADF)
    }

    pub fn set_cloexec(&mut self, fd: u64, on: bool) -> Result<(), Errno> {
        let i = self.index(fd).ok_or(Errno::BADF)?;
        match self.slots.get_mut(i) {
            Some(Some(s)) => {
                s.cloexec = on;
                Ok(())
            }
            _ => Err(Errno::BADF),
        }
    }

    /// Descriptors open now.
    #[cfg(test)]
    pub fn open_count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn null() -> Arc<Object> {
        Arc::new(Object::Null {
            stream: Stream::Stdout,
        })
    }

    #[test]
    fn lowest_free_and_limit() {
        let mut t = FdTable::with_stdio(false, false, false).expect("stdio");
        t.set_limit(5);
        assert_eq!(t.open_count(), 3);
        assert_eq!(t.insert(null(), false, 0), Ok(3));
        assert_eq!(t.insert(null(), true, 0), Ok(4));
        assert_eq!(t.insert(null(), false, 0), Err(Errno::MFILE));
        assert!(!t.has_room());
        assert_eq!(t.close(1), Ok(()));
        assert_eq!(t.close(1), Err(Errno::BADF));
        assert_eq!(t.insert(null(), false, 0), Ok(1));
        assert_eq!(t.cloexec(4), Ok(true));
        assert_eq!(t.insert(null(), false, 5), Err(Errno::INVAL));
        assert_eq!(t.place(5, null(), false).err(), Some(Errno::BADF));
        assert!(t.place(4, null(), false).is_ok_and(|old| old.is_some()));
        assert_eq!(t.cloexec(4), Ok(false));
        assert_eq!(t.get(7).err(), Some(Errno::BADF));
        assert_eq!(t.get(u64::MAX).err(), Some(Errno::BADF));
    }
}
