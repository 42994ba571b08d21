//! POSIX message queues private to the sandbox (syscalls/posix_mq.rs):
//! names ("/name" to libc, "name" to the kernel) form the sandbox's own
//! namespace, never the host's /dev/mqueue, and every queue lives in
//! runner memory. A queue exists while its name is linked or a descriptor
//! refers to it, as on Linux.
//!
//! Bounded as Linux bounds an unprivileged user, whatever the guest's uid
//! (the sandbox grants no CAP_SYS_RESOURCE): at most [`QUEUES_MAX`]
//! queues (ENOSPC), each of at most [`MSG_MAX`] messages of at most
//! [`MSGSIZE_MAX`] bytes (EINVAL past them), and every queue's worst case
//! ([`charge`]: its messages' text and Linux's per-message overhead)
//! counted together against RLIMIT_MSGQUEUE (EMFILE past it), whose hard
//! value is Linux's default 819200 bytes and which the guest may only
//! lower. So the queues hold at most about 800 KiB of text, plus a few
//! hundred bytes of bookkeeping each.
//!
//! Locks: each queue's own mutex, a leaf, taken under the kernel lock by
//! the handlers. Nobody waits while holding one.

use super::events::{Edges, Side};
use crate::abi::constants::{
    O_ACCMODE, O_CREAT, O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
};
use crate::abi::Errno;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// /proc/sys/fs/mqueue/msg_max (and msg_default): the most messages a
/// queue may hold.
pub const MSG_MAX: u64 = 10;
/// /proc/sys/fs/mqueue/msgsize_max (and msgsize_default): the largest
/// message.
pub const MSGSIZE_MAX: u64 = 8192;
/// /proc/sys/fs/mqueue/queues_max: queues alive at once (unlinked ones
/// still open count).
pub const QUEUES_MAX: usize = 256;
/// Priorities are below this (Linux's MQ_PRIO_MAX).
pub const MQ_PRIO_MAX: u64 = 32768;
/// The longest name.
pub const NAME_MAX: usize = 255;
/// RLIMIT_MSGQUEUE's default (Linux's MQ_BYTES_MAX): the sandbox's hard
/// value.
pub const BYTES_MAX: u64 = 819_200;
/// A queue's size as fstat shows it (Linux's FILENT_SIZE).
pub const FILE_SIZE: u64 = 80;
/// What Linux counts for each message slot besides its text: a `struct
/// msg_msg`, and a priority tree node for each of the first
/// [`MQ_PRIO_MAX`] slots (48 bytes each on x86-64).
const MSG_OVERHEAD: u64 = 48;
const NODE_OVERHEAD: u64 = 48;

/// What a queue of `maxmsg` messages of `msgsize` bytes counts against
/// RLIMIT_MSGQUEUE, as Linux's mqueue_get_inode counts it (None on
/// overflow: EOVERFLOW).
pub fn charge(maxmsg: u64, msgsize: u64) -> Option<u64> {
    let text = maxmsg.checked_mul(msgsize)?;
    let tree = maxmsg * MSG_OVERHEAD + maxmsg.min(MQ_PRIO_MAX) * NODE_OVERHEAD;
    text.checked_add(tree)
}

/// Whether `name` (as the kernel gets it: libc took its leading slash
/// off) may name a queue: ENOENT when empty, EACCES with a slash or for
/// "." and "..", ENAMETOOLONG past [`NAME_MAX`], as Linux's lookup.
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() {
        return Err(Errno::NOENT);
    }
    if name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Errno::ACCESS);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::NAMETOOLONG);
    }
    Ok(())
}

/// How the registered process is told that a message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: nothing (the registration only takes the place).
    Nothing,
    /// SIGEV_SIGNAL: `signo` (0: none) with `value`.
    Signal { signo: u32, value: u64 },
}

/// A registration (mq_notify): whom and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub owner: u64,
    pub how: Notify,
}

/// A receiver waiting in mq_timedreceive (its thread holds it while the
/// call waits: `Thread::mq_receiver`). A sender hands it its message
/// directly, as Linux's pipelined_send: the message never sits in the
/// queue, and no notification is due for it.
#[derive(Debug)]
pub struct Receiver {
    /// The queue it waits on (`MessageQueue::id`).
    pub queue: u64,
    slot: Mutex<Option<(u32, Vec<u8>)>>,
}

impl Receiver {
    /// A receiver about to wait on queue `queue`.
    pub fn new(queue: u64) -> Receiver {
        Receiver {
            queue,
            slot: Mutex::new(None),
        }
    }

    /// The message a sender handed over, if one did.
    pub fn take(&self) -> Option<(u32, Vec<u8>)> {
        super::lock(&self.slot).take()
    }
}

#[derive(Debug, Default)]
struct State {
    /// (priority, text), highest priority first, oldest first within one.
    messages: VecDeque<(u32, Vec<u8>)>,
    /// Bytes of text queued.
    qsize: u64,
    notify: Option<Registration>,
    /// Receivers waiting, oldest first (dead ones are skipped).
    receivers: VecDeque<Weak<Receiver>>,
    /// Its name still names it.
    linked: bool,
}

/// What the sandbox's queues use together: how many are alive and what
/// they count against RLIMIT_MSGQUEUE (Linux's per-user mq_bytes: the
/// sandbox is one user). A queue gives its share back when it is freed.
#[derive(Debug, Default)]
pub struct Usage {
    queues: AtomicU64,
    bytes: AtomicU64,
}

impl Usage {
    /// (queues, bytes) now.
    pub fn now(&self) -> (u64, u64) {
        (
            self.queues.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }
}

/// Who made a queue, and with which mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    /// The permission bits (the mode asked for, less the umask).
    pub mode: u32,
}

/// One queue.
#[derive(Debug)]
pub struct MessageQueue {
    /// Its identity (st_ino), and the key of its receivers.
    pub id: u64,
    /// Its name, without the slash.
    pub name: Vec<u8>,
    pub owner: Owner,
    pub maxmsg: u64,
    pub msgsize: u64,
    /// When it was made (its times, for fstat).
    pub created: (i64, u64),
    /// Every send is a read-side edge, every receive a write-side one.
    pub edges: Edges,
    charge: u64,
    usage: Arc<Usage>,
    state: Mutex<State>,
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        self.usage.queues.fetch_sub(1, Ordering::SeqCst);
        self.usage.bytes.fetch_sub(self.charge, Ordering::SeqCst);
    }
}

/// Where a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Into the queue; the registration that is due, if any (the queue was
    /// empty and no receiver waited: it is taken, a notification is
    /// one-shot).
    Queued(Option<Registration>),
    /// Straight to a waiting receiver.
    Handed,
    /// Nowhere: the queue is full.
    Full,
}

impl MessageQueue {
    /// Messages queued now.
    pub fn curmsgs(&self) -> u64 {
        super::lock(&self.state).messages.len() as u64
    }

    /// Bytes of text queued now.
    pub fn qsize(&self) -> u64 {
        super::lock(&self.state).qsize
    }

    /// Whether its name still names it (fstat's st_nlink).
    pub fn linked(&self) -> bool {
        super::lock(&self.state).linked
    }

    /// (readable, writable) for poll: a message queued; room for one.
    pub fn readiness(&self) -> (bool, bool) {
        let n = self.curmsgs();
        (n > 0, n < self.maxmsg)
    }

    /// Sends `text` at `prio`: to the oldest waiting receiver if there is
    /// one, else into the queue if it has room.
    pub fn send(&self, prio: u32, text: Vec<u8>) -> Sent {
        let mut s = super::lock(&self.state);
        if s.messages.len() as u64 >= self.maxmsg {
            return Sent::Full;
        }
        while let Some(w) = s.receivers.pop_front() {
            if let Some(r) = w.upgrade() {
                *super::lock(&r.slot) = Some((prio, text));
                return Sent::Handed;
            }
        }
        s.qsize += text.len() as u64;
        let at = s
            .messages
            .iter()
            .position(|(p, _)| *p < prio)
            .unwrap_or(s.messages.len());
        s.messages.insert(at, (prio, text));
        self.edges.edge(Side::Read);
        let due = if s.messages.len() == 1 {
            s.notify.take()
        } else {
            None
        };
        Sent::Queued(due)
    }

    /// Takes the message of the highest priority (the oldest of it).
    pub fn receive(&self) -> Option<(u32, Vec<u8>)> {
        let mut s = super::lock(&self.state);
        let m = s.messages.pop_front()?;
        s.qsize -= m.1.len() as u64;
        self.edges.edge(Side::Write);
        Some(m)
    }

    /// Registers `r` as a receiver waiting (after those already waiting).
    pub fn wait_to_receive(&self, r: &Arc<Receiver>) {
        let mut s = super::lock(&self.state);
        s.receivers.retain(|w| w.strong_count() > 0);
        s.receivers.push_back(Arc::downgrade(r));
    }

    /// The registration, if any.
    pub fn registration(&self) -> Option<Registration> {
        super::lock(&self.state).notify
    }

    /// mq_notify with a sigevent: EBUSY if a process is registered
    /// already (even the caller).
    pub fn register(&self, r: Registration) -> Result<(), Errno> {
        let mut s = super::lock(&self.state);
        if s.notify.is_some() {
            return Err(Errno::BUSY);
        }
        s.notify = Some(r);
        Ok(())
    }

    /// Removes `pid`'s registration (mq_notify(NULL), and any close of a
    /// descriptor of the queue by that process, as Linux's flush); another
    /// process's stays.
    pub fn unregister(&self, pid: u64) {
        let mut s = super::lock(&self.state);
        if s.notify.is_some_and(|r| r.owner == pid) {
            s.notify = None;
        }
    }

    /// The line a read of its descriptor shows (Linux's
    /// mqueue_read_file), with the registered process's pid as is.
    pub fn status_line(&self) -> String {
        let s = super::lock(&self.state);
        let (notify, signo, pid) = match s.notify {
            None => (0, 0, 0),
            Some(Registration {
                owner,
                how: Notify::Nothing,
            }) => (SIGEV_NONE, 0, owner),
            Some(Registration {
                owner,
                how: Notify::Signal { signo, .. },
            }) => (SIGEV_SIGNAL, signo, owner),
        };
        format!(
            "QSIZE:{:<10} NOTIFY:{notify:<5} SIGNO:{signo:<5} NOTIFY_PID:{pid:<6}\n",
            s.qsize
        )
    }
}

/// sigev_notify values.
pub const SIGEV_SIGNAL: u32 = 0;
pub const SIGEV_NONE: u32 = 1;
pub const SIGEV_THREAD: u32 = 2;

/// An open queue (an open file description: dup and fork share it, with
/// its status flags).
#[derive(Debug)]
pub struct MqDesc {
    pub queue: Arc<MessageQueue>,
    /// The status flags: mq_open's flags less O_CREAT, O_EXCL, O_NOCTTY
    /// and O_TRUNC (its access mode and O_NONBLOCK among them), as
    /// F_GETFL shows them.
    flags: AtomicU32,
    /// Where a read of the status line is.
    pub pos: AtomicU64,
}

impl MqDesc {
    pub fn new(queue: Arc<MessageQueue>, oflag: u32) -> MqDesc {
        /// O_NOCTTY.
        const O_NOCTTY: u32 = 0o400;
        const DROPPED: u32 = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC;
        MqDesc {
            queue,
            flags: AtomicU32::new(oflag & !DROPPED),
            pos: AtomicU64::new(0),
        }
    }

    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::SeqCst)
    }

    /// F_SETFL: the bits of `mask` become those of `flags`.
    pub fn set_flags(&self, mask: u32, flags: u32) {
        let cur = self.flags();
        self.flags
            .store((cur & !mask) | (flags & mask), Ordering::SeqCst);
    }

    pub fn nonblocking(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.set_flags(O_NONBLOCK, if on { O_NONBLOCK } else { 0 });
    }

    /// Opened for reading (O_RDONLY, O_RDWR; an access mode of 3 is
    /// neither, as on Linux).
    pub fn readable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_RDONLY | O_RDWR)
    }

    /// Opened for writing (O_WRONLY, O_RDWR).
    pub fn writable(&self) -> bool {
        matches!(self.flags() & O_ACCMODE, O_WRONLY | O_RDWR)
    }
}

/// What mq_open asks of a new queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewQueue {
    /// mq_maxmsg and mq_msgsize (None: the defaults).
    pub attr: Option<(i64, i64)>,
    pub owner: Owner,
    /// The creating process's RLIMIT_MSGQUEUE (soft).
    pub rlimit: u64,
    /// Its identity (st_ino).
    pub id: u64,
    pub now: (i64, u64),
}

/// The sandbox's queue names.
#[derive(Debug, Default)]
pub struct Namespace {
    names: BTreeMap<Vec<u8>, Arc<MessageQueue>>,
    /// Every queue made, alive or not (pruned as queues are made): how an
    /// exiting process's registrations are found.
    made: Vec<Weak<MessageQueue>>,
    usage: Arc<Usage>,
}

impl Namespace {
    /// The queue `name` names.
    pub fn get(&self, name: &[u8]) -> Option<Arc<MessageQueue>> {
        self.names.get(name).cloned()
    }

    /// What the queues use now.
    pub fn usage(&self) -> (u64, u64) {
        self.usage.now()
    }

    /// Makes queue `name` (which names none): ENOSPC past [`QUEUES_MAX`],
    /// EINVAL for sizes out of 1..=[`MSG_MAX`] and 1..=[`MSGSIZE_MAX`],
    /// EMFILE past the RLIMIT_MSGQUEUE, in Linux's order.
    pub fn create(&mut self, name: &[u8], q: NewQueue) -> Result<Arc<MessageQueue>, Errno> {
        if self.usage.queues.load(Ordering::SeqCst) >= QUEUES_MAX as u64 {
            return Err(Errno::NOSPC);
        }
        let (maxmsg, msgsize) = q.attr.unwrap_or((MSG_MAX as i64, MSGSIZE_MAX as i64));
        if maxmsg <= 0 || msgsize <= 0 {
            return Err(Errno::INVAL);
        }
        let (maxmsg, msgsize) = (maxmsg as u64, msgsize as u64);
        if maxmsg > MSG_MAX || msgsize > MSGSIZE_MAX {
            return Err(Errno::INVAL);
        }
        let charge = charge(maxmsg, msgsize).ok_or(Errno::OVERFLOW)?;
        let used = self.usage.bytes.load(Ordering::SeqCst);
        if used.checked_add(charge).is_none_or(|n| n > q.rlimit) {
            return Err(Errno::MFILE);
        }
        self.usage.queues.fetch_add(1, Ordering::SeqCst);
        self.usage.bytes.fetch_add(charge, Ordering::SeqCst);
        let queue = Arc::new(MessageQueue {
            id: q.id,
            name: name.to_vec(),
            owner: q.owner,
            maxmsg,
            msgsize,
            created: q.now,
            edges: Edges::default(),
            charge,
            usage: self.usage.clone(),
            state: Mutex::new(State {
                linked: true,
                ..State::default()
            }),
        });
        self.made.retain(|w| w.strong_count() > 0);
        self.made.push(Arc::downgrade(&queue));
        self.names.insert(name.to_vec(), queue.clone());
        Ok(queue)
    }

    /// Unlinks `name`: the queue goes once no descriptor refers to it.
    pub fn unlink(&mut self, name: &[u8]) -> Result<(), Errno> {
        let q = self.names.remove(name).ok_or(Errno::NOENT)?;
        super::lock(&q.state).linked = false;
        Ok(())
    }

    /// Process `pid` ended: its registrations go (Linux removes them as
    /// it closes the process's descriptors).
    pub fn process_exited(&mut self, pid: u64) {
        for q in self.made.iter().filter_map(Weak::upgrade) {
            q.unregister(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_queue(attr: Option<(i64, i64)>, rlimit: u64) -> NewQueue {
        NewQueue {
            attr,
            owner: Owner {
                uid: 1000,
                gid: 1000,
                mode: 0o600,
            },
            rlimit,
            id: 1,
            now: (0, 0),
        }
    }

    #[test]
    fn names_as_linux_looks_them_up() {
        assert_eq!(check_name(b""), Err(Errno::NOENT));
        assert_eq!(check_name(b"a/b"), Err(Errno::ACCESS));
        assert_eq!(check_name(b"."), Err(Errno::ACCESS));
        assert_eq!(check_name(b".."), Err(Errno::ACCESS));
        assert_eq!(check_name(b".x"), Ok(()));
        assert_eq!(check_name(&[b'a'; 255]), Ok(()));
        assert_eq!(check_name(&[b'a'; 256]), Err(Errno::NAMETOOLONG));
    }

    #[test]
    fn priorities_highest_first_fifo_within() {
        let mut ns = Namespace::default();
        let q = ns.create(b"q", new_queue(None, BYTES_MAX)).unwrap();
        assert_eq!(q.send(1, b"a".to_vec()), Sent::Queued(None));
        assert_eq!(q.send(5, b"b".to_vec()), Sent::Queued(None));
        assert_eq!(q.send(1, b"c".to_vec()), Sent::Queued(None));
        assert_eq!(q.send(5, b"d".to_vec()), Sent::Queued(None));
        assert_eq!((q.curmsgs(), q.qsize()), (4, 4));
        let order: Vec<u8> = std::iter::from_fn(|| q.receive()).map(|m| m.1[0]).collect();
        assert_eq!(order, b"bdac");
        assert_eq!((q.curmsgs(), q.qsize()), (0, 0));
    }

    #[test]
    fn a_full_queue_and_a_waiting_receiver() {
        let mut ns = Namespace::default();
        let q = ns.create(b"q", new_queue(Some((2, 4)), BYTES_MAX)).unwrap();
        let r = Arc::new(Receiver::new(q.id));
        q.wait_to_receive(&r);
        q.register(Registration {
            owner: 7,
            how: Notify::Nothing,
        })
        .unwrap();
        assert_eq!(q.send(3, b"x".to_vec()), Sent::Handed);
        assert_eq!(r.take(), Some((3, b"x".to_vec())));
        assert_eq!(q.curmsgs(), 0, "handed, not queued");
        assert!(q.registration().is_some(), "not notified");
        drop(r);
        let due = q.send(0, b"y".to_vec());
        assert!(matches!(due, Sent::Queued(Some(r)) if r.owner == 7));
        assert_eq!(q.registration(), None, "one-shot");
        assert_eq!(q.send(0, b"z".to_vec()), Sent::Queued(None));
        assert_eq!(q.send(0, b"w".to_vec()), Sent::Full);
    }

    #[test]
    fn limits_and_the_charge_go_with_the_last_reference() {
        let mut ns = Namespace::default();
        assert_eq!(charge(10, 8192), Some(82_880));
        assert_eq!(
            ns.create(b"a", new_queue(Some((11, 1)), BYTES_MAX)).err(),
            Some(Errno::INVAL)
        );
        assert_eq!(
            ns.create(b"a", new_queue(Some((1, 8193)), BYTES_MAX)).err(),
            Some(Errno::INVAL)
        );
        assert_eq!(
            ns.create(b"a", new_queue(Some((0, 1)), BYTES_MAX)).err(),
            Some(Errno::INVAL)
        );
        let mut held = Vec::new();
        for i in 0..9 {
            held.push(ns.create(&[b'a' + i], new_queue(None, BYTES_MAX)).unwrap());
        }
        assert_eq!(
            ns.create(b"z", new_queue(None, BYTES_MAX)).err(),
            Some(Errno::MFILE),
            "819200 bytes hold 9 default queues"
        );
        assert_eq!(ns.usage(), (9, 9 * 82_880));
        ns.unlink(b"a").unwrap();
        assert_eq!(ns.usage().0, 9, "open: still alive");
        assert!(!held[0].linked());
        held.remove(0);
        assert_eq!(ns.usage(), (8, 8 * 82_880), "the last reference freed it");
        assert_eq!(ns.unlink(b"a"), Err(Errno::NOENT));
        for name in [b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i"] {
            ns.unlink(name).unwrap();
        }
        drop(held);
        assert_eq!(ns.usage(), (0, 0));
        for i in 0..QUEUES_MAX {
            let name = format!("n{i}");
            ns.create(name.as_bytes(), new_queue(Some((1, 1)), BYTES_MAX))
                .unwrap();
        }
        assert_eq!(
            ns.create(b"x", new_queue(Some((1, 1)), BYTES_MAX)).err(),
            Some(Errno::NOSPC)
        );
    }

    #[test]
    fn registrations_and_the_status_line() {
        let mut ns = Namespace::default();
        let q = ns.create(b"q", new_queue(None, BYTES_MAX)).unwrap();
        let line = q.status_line();
        assert_eq!(
            line,
            "QSIZE:0          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"
        );
        assert_eq!(line.len(), 60);
        let reg = Registration {
            owner: 2,
            how: Notify::Signal {
                signo: 10,
                value: 5,
            },
        };
        q.register(reg).unwrap();
        assert_eq!(q.register(reg), Err(Errno::BUSY));
        q.unregister(3);
        assert!(q.registration().is_some(), "another process's stays");
        ns.process_exited(2);
        assert_eq!(q.registration(), None);
    }
}
