//! System V IPC objects private to the sandbox: message queues and
//! semaphore sets. Keys and ids name only the sandbox's own objects (the
//! host's IPC namespace is never reached), every object lives in runner
//! memory, and their number and size are bounded (below), so a guest
//! cannot grow the runner without limit:
//!
//! - at most [`MAX_QUEUES`] queues, each of at most [`MSGMNB`] bytes of
//!   text in at most [`MSGMNB`] messages (Linux's own rule: empty messages
//!   fill a queue too), a few hundred KiB of runner memory per queue;
//! - at most [`MAX_SEM_SETS`] sets of at most [`SEMMSL`] semaphores;
//! - at most [`MAX_SEGMENTS`] shared memory segments, each a host memfd
//!   no larger than the memory limit, whose pages are the guest's shared
//!   frames while attached (written back to the memfd, and charged to
//!   `bytes_written`, as any shared file mapping).
//!
//! Shared by every process of the run (`Kernel::ipc`), under the kernel
//! lock. Ids are `index + SEQ * sequence`, as Linux makes them, so a
//! removed object's id is not reused at once.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// Linux's MSGMAX: the largest message.
pub const MSGMAX: u64 = 8192;
/// Linux's MSGMNB: a queue's default (and largest) size in bytes.
pub const MSGMNB: u64 = 16384;
/// Message queues a sandbox may hold.
pub const MAX_QUEUES: usize = 16;
/// Semaphores in one set (Linux's SEMMSL is 32000; 256 is plenty for a
/// sandbox and bounds the runner's memory).
pub const SEMMSL: u64 = 256;
/// Semaphore sets a sandbox may hold.
pub const MAX_SEM_SETS: usize = 32;
/// Operations in one semop (Linux's SEMOPM).
pub const SEMOPM: u64 = 500;
/// The largest semaphore value (Linux's SEMVMX).
pub const SEMVMX: i64 = 32767;
/// Shared memory segments a sandbox may hold.
pub const MAX_SEGMENTS: usize = 32;
/// Ids step by this between objects of the same slot (Linux's
/// IPCMNI).
pub const SEQ: i32 = 32768;

/// Owner, creator and mode of an object (`struct ipc64_perm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The low 9 bits.
    pub mode: u32,
    pub seq: u16,
}

/// One message queue.
#[derive(Debug, Clone)]
pub struct Queue {
    pub perm: Perm,
    /// (type, text), oldest first.
    pub messages: VecDeque<(i64, Vec<u8>)>,
    /// Bytes of text queued.
    pub cbytes: u64,
    /// The most bytes it holds.
    pub qbytes: u64,
    pub lspid: u32,
    pub lrpid: u32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
}

impl Queue {
    /// Whether a message of `len` bytes fits now (Linux's
    /// msg_fits_inqueue: the bytes, and one more message, within qbytes).
    pub fn fits(&self, len: u64) -> bool {
        self.cbytes + len <= self.qbytes && (self.messages.len() as u64) < self.qbytes
    }
}

/// One semaphore.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sem {
    pub val: i64,
    /// The last process to change it.
    pub pid: u32,
}

/// One semaphore set.
#[derive(Debug, Clone)]
pub struct SemSet {
    pub perm: Perm,
    pub sems: Vec<Sem>,
    pub otime: i64,
    pub ctime: i64,
}

/// One shared memory segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub perm: Perm,
    /// Its size as asked for (its memfd is that, rounded up to pages).
    pub size: u64,
    /// Its memory: a host memfd, mapped MAP_SHARED where attached.
    pub file: std::sync::Arc<super::fds::Object>,
    /// Held once by the segment and once by each attachment (in every
    /// process: a fork's child copies its parent's), so the count is
    /// exact without a hook at each fork and exit.
    pub token: std::sync::Arc<()>,
    /// IPC_RMID was asked: it goes with its last attachment.
    pub removed: bool,
    pub cpid: u32,
    pub lpid: u32,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
}

impl Segment {
    /// How many attachments it has.
    pub fn nattch(&self) -> u64 {
        std::sync::Arc::strong_count(&self.token) as u64 - 1
    }
}

/// A segment attached in a process (`Process::shm_attached`, by address).
#[derive(Debug, Clone)]
pub struct Attached {
    pub id: i32,
    /// The mapping's length (the segment's, rounded up to pages).
    pub len: u64,
    pub token: std::sync::Arc<()>,
}

/// What kind of object a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Queue,
    Sems,
    Shm,
}

/// What every System V object has: its permissions (whose `seq` makes
/// its id with its slot).
pub trait IpcObject {
    fn perm(&self) -> &Perm;
    fn perm_mut(&mut self) -> &mut Perm;
}

macro_rules! ipc_object {
    ($($t:ty),*) => {$(
        impl IpcObject for $t {
            fn perm(&self) -> &Perm {
                &self.perm
            }
            fn perm_mut(&mut self) -> &mut Perm {
                &mut self.perm
            }
        }
    )*};
}
ipc_object!(Queue, SemSet, Segment);

/// A table of one kind of object.
#[derive(Debug, Clone)]
pub struct Table<T> {
    /// By slot: the object and its sequence number.
    slots: BTreeMap<i32, T>,
    seq: HashMap<i32, u16>,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table {
            slots: BTreeMap::new(),
            seq: HashMap::new(),
        }
    }
}

impl<T: IpcObject> Table<T> {
    /// The object `id` names, if it is alive.
    pub fn get(&self, id: i32) -> Option<&T> {
        if id < 0 {
            return None;
        }
        let o = self.slots.get(&(id % SEQ))?;
        (i32::from(o.perm().seq) == id / SEQ).then_some(o)
    }

    pub fn get_mut(&mut self, id: i32) -> Option<&mut T> {
        if id < 0 {
            return None;
        }
        let o = self.slots.get_mut(&(id % SEQ))?;
        (i32::from(o.perm().seq) == id / SEQ).then_some(o)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The object in `slot`, whatever its sequence number (MSG_STAT).
    pub fn slot(&self, slot: i32) -> Option<&T> {
        self.slots.get(&slot)
    }

    /// What a `*_STAT` command names: with `by_slot` (MSG_STAT,
    /// SEM_STAT) `n` is a slot, else an id; the object and its id.
    pub fn stat_target(&self, n: i32, by_slot: bool) -> Option<(i32, &T)> {
        if by_slot {
            let o = self.slot(n)?;
            Some((n + SEQ * i32::from(o.perm().seq), o))
        } else {
            self.get(n).map(|o| (n, o))
        }
    }

    /// The highest slot in use (IPC_INFO's answer).
    pub fn highest_slot(&self) -> Option<i32> {
        self.slots.keys().next_back().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The lowest free slot and the sequence number its next object gets.
    fn free_slot(&mut self) -> (i32, u16) {
        let slot = (0..).find(|s| !self.slots.contains_key(s)).unwrap_or(0);
        let seq = self.seq.get(&slot).copied().unwrap_or(0);
        (slot, seq)
    }

    /// Puts `make(seq)` in a free slot; returns its id.
    fn insert(&mut self, make: impl FnOnce(u16) -> T) -> i32 {
        let (slot, seq) = self.free_slot();
        self.slots.insert(slot, make(seq));
        slot + SEQ * i32::from(seq)
    }

    /// Removes the object `id` names; the slot's next object gets the next
    /// sequence number.
    fn remove(&mut self, id: i32) -> Option<T> {
        let slot = id % SEQ;
        let o = self.slots.remove(&slot)?;
        let next = ((id / SEQ + 1) % i32::from(u16::MAX)) as u16;
        self.seq.insert(slot, next);
        Some(o)
    }
}

/// Every IPC object of the sandbox.
#[derive(Debug, Default)]
pub struct Ipc {
    pub queues: Table<Queue>,
    pub sems: Table<SemSet>,
    pub segments: Table<Segment>,
    /// Non-private keys, by kind: the id they name.
    keys: HashMap<(Kind, i32), i32>,
    /// SEM_UNDO adjustments: by process, set and semaphore.
    pub undo: HashMap<(u64, i32, u16), i64>,
}

/// IPC_PRIVATE: a new object no key names.
pub const IPC_PRIVATE: i32 = 0;

/// How a `*get` call finds or makes its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// It exists: its id.
    Existing(i32),
    /// None: make one.
    Make,
}

impl Ipc {
    /// The object of `kind` that `key` names, as a `*get` with `flags`
    /// (IPC_CREAT, IPC_EXCL) finds it: EEXIST, ENOENT as Linux.
    pub fn lookup(&self, kind: Kind, key: i32, flags: u64) -> Result<Found, crate::abi::Errno> {
        const IPC_CREAT: u64 = 0o1000;
        const IPC_EXCL: u64 = 0o2000;
        if key == IPC_PRIVATE {
            return Ok(Found::Make);
        }
        match self.keys.get(&(kind, key)) {
            Some(&id) if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 => {
                let _ = id;
                Err(crate::abi::Errno::EXIST)
            }
            Some(&id) => Ok(Found::Existing(id)),
            None if flags & IPC_CREAT != 0 => Ok(Found::Make),
            None => Err(crate::abi::Errno::NOENT),
        }
    }

    /// A new queue; None when the sandbox has [`MAX_QUEUES`].
    pub fn new_queue(&mut self, perm: Perm, now: i64) -> Option<i32> {
        if self.queues.len() >= MAX_QUEUES {
            return None;
        }
        let id = self.queues.insert(|seq| Queue {
            perm: Perm { seq, ..perm },
            messages: VecDeque::new(),
            cbytes: 0,
            qbytes: MSGMNB,
            lspid: 0,
            lrpid: 0,
            stime: 0,
            rtime: 0,
            ctime: now,
        });
        if perm.key != IPC_PRIVATE {
            self.keys.insert((Kind::Queue, perm.key), id);
        }
        Some(id)
    }

    /// A new set of `n` semaphores; None when the sandbox has
    /// [`MAX_SEM_SETS`].
    pub fn new_sems(&mut self, perm: Perm, n: usize, now: i64) -> Option<i32> {
        if self.sems.len() >= MAX_SEM_SETS {
            return None;
        }
        let id = self.sems.insert(|seq| SemSet {
            perm: Perm { seq, ..perm },
            sems: vec![Sem::default(); n],
            otime: 0,
            ctime: now,
        });
        if perm.key != IPC_PRIVATE {
            self.keys.insert((Kind::Sems, perm.key), id);
        }
        Some(id)
    }

    /// A new segment; None when the sandbox has [`MAX_SEGMENTS`] (removed
    /// ones still attached count).
    pub fn new_segment(&mut self, make: impl FnOnce(u16) -> Segment) -> Option<i32> {
        self.purge_segments();
        if self.segments.len() >= MAX_SEGMENTS {
            return None;
        }
        let id = self.segments.insert(make);
        let key = self.segments.get(id).map_or(IPC_PRIVATE, |s| s.perm.key);
        if key != IPC_PRIVATE {
            self.keys.insert((Kind::Shm, key), id);
        }
        Some(id)
    }

    /// IPC_RMID of segment `id`: its key names nothing from now on; it
    /// goes once no process has it attached.
    pub fn remove_segment(&mut self, id: i32) {
        if let Some(s) = self.segments.get_mut(id) {
            let key = s.perm.key;
            s.removed = true;
            s.perm.key = IPC_PRIVATE;
            if key != IPC_PRIVATE {
                self.keys.remove(&(Kind::Shm, key));
            }
        }
        self.purge_segments();
    }

    /// Drops the removed segments no process has attached any more.
    pub fn purge_segments(&mut self) {
        let gone: Vec<i32> = (0..MAX_SEGMENTS as i32)
            .filter_map(|slot| {
                let s = self.segments.slot(slot)?;
                (s.removed && s.nattch() == 0).then(|| slot + SEQ * i32::from(s.perm.seq))
            })
            .collect();
        for id in gone {
            self.segments.remove(id);
        }
    }

    /// Removes queue `id` (IPC_RMID).
    pub fn remove_queue(&mut self, id: i32) -> Option<Queue> {
        let q = self.queues.remove(id)?;
        self.keys.remove(&(Kind::Queue, q.perm.key));
        Some(q)
    }

    /// Removes semaphore set `id` (IPC_RMID), and every undo for it.
    pub fn remove_sems(&mut self, id: i32) -> Option<SemSet> {
        let s = self.sems.remove(id)?;
        self.keys.remove(&(Kind::Sems, s.perm.key));
        self.undo.retain(|&(_, set, _), _| set != id);
        Some(s)
    }

    /// Process `pid` ended: its SEM_UNDO adjustments are applied (each
    /// value kept within 0..=SEMVMX, as Linux does).
    pub fn process_exited(&mut self, pid: u64) {
        let mine: Vec<((u64, i32, u16), i64)> = self
            .undo
            .iter()
            .filter(|((p, _, _), _)| *p == pid)
            .map(|(k, v)| (*k, *v))
            .collect();
        for ((p, set, num), adj) in mine {
            self.undo.remove(&(p, set, num));
            if let Some(s) = self.sems.get_mut(set) {
                if let Some(sem) = s.sems.get_mut(usize::from(num)) {
                    sem.val = (sem.val + adj).clamp(0, SEMVMX);
                    sem.pid = pid as u32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(key: i32) -> Perm {
        Perm {
            key,
            uid: 1000,
            gid: 1000,
            cuid: 1000,
            cgid: 1000,
            mode: 0o600,
            seq: 0,
        }
    }

    #[test]
    fn keys_ids_and_removal() {
        let mut ipc = Ipc::default();
        assert_eq!(
            ipc.lookup(Kind::Queue, 42, 0),
            Err(crate::abi::Errno::NOENT)
        );
        assert_eq!(ipc.lookup(Kind::Queue, 42, 0o1000), Ok(Found::Make));
        let a = ipc.new_queue(perm(42), 0).unwrap();
        assert_eq!(a, 0);
        assert_eq!(ipc.lookup(Kind::Queue, 42, 0), Ok(Found::Existing(a)));
        assert_eq!(
            ipc.lookup(Kind::Queue, 42, 0o3000),
            Err(crate::abi::Errno::EXIST)
        );
        assert_eq!(
            ipc.lookup(Kind::Sems, 42, 0),
            Err(crate::abi::Errno::NOENT),
            "kinds apart"
        );
        ipc.remove_queue(a).unwrap();
        assert_eq!(
            ipc.lookup(Kind::Queue, 42, 0),
            Err(crate::abi::Errno::NOENT)
        );
        let b = ipc.new_queue(perm(IPC_PRIVATE), 0).unwrap();
        assert_eq!(b, SEQ, "the slot is reused with the next sequence number");
        assert!(ipc.queues.get(a).is_none(), "the old id is dead");
        for _ in 1..MAX_QUEUES {
            assert!(ipc.new_queue(perm(IPC_PRIVATE), 0).is_some());
        }
        assert!(ipc.new_queue(perm(IPC_PRIVATE), 0).is_none(), "bounded");
    }

    #[test]
    fn empty_messages_fill_a_queue_too() {
        let mut ipc = Ipc::default();
        let id = ipc.new_queue(perm(IPC_PRIVATE), 0).unwrap();
        let q = ipc.queues.get_mut(id).unwrap();
        let mut n = 0;
        while q.fits(0) {
            q.messages.push_back((1, Vec::new()));
            n += 1;
        }
        assert!(n > 0 && n <= MSGMNB, "{n}");
    }

    #[test]
    fn undo_is_applied_within_bounds_at_exit() {
        let mut ipc = Ipc::default();
        let id = ipc.new_sems(perm(IPC_PRIVATE), 2, 0).unwrap();
        ipc.undo.insert((7, id, 0), -5);
        ipc.undo.insert((7, id, 1), 3);
        ipc.sems.get_mut(id).unwrap().sems[0].val = 2;
        ipc.process_exited(7);
        let s = ipc.sems.get(id).unwrap();
        assert_eq!((s.sems[0].val, s.sems[1].val), (0, 3));
        assert!(ipc.undo.is_empty());
    }
}
