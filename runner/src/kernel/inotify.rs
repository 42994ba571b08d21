//! The guest's inotify instances: each is a host inotify instance the
//! runner holds (nonblocking, close-on-exec), whose watch descriptors and
//! events the guest sees as they are (syscalls/inotify.rs).
//!
//! Host inotify instances and watches are the host user's
//! (`fs.inotify.max_user_instances`, often 128, and
//! `fs.inotify.max_user_watches`), shared with every other program the
//! user runs, so a sandbox holds at most [`MAX_INSTANCES`] instances and
//! [`MAX_WATCHES`] watches at once ([`InotifyBudget`]). Past them the guest
//! gets what Linux answers at its own limits: EMFILE and ENOSPC. Each
//! instance's event queue is the host's, bounded by
//! `fs.inotify.max_queued_events` (then IN_Q_OVERFLOW).
//!
//! A watch counts from the inotify_add_watch that made it until the
//! guest removes it (inotify_rm_watch), reads its IN_IGNORED event (the
//! watched object went away, or a one-shot watch fired), or closes the
//! instance. A watch whose object the host already dropped but whose
//! IN_IGNORED the guest has not read yet still counts (the runner cannot
//! see it go), except that a new watch on an object with the same device
//! and inode numbers takes its place: the host gives an object one watch
//! per instance, so a new one there means the old one is gone.
//!
//! Locks: the watch table's mutex is a leaf, taken under the kernel lock.

use super::events::Edges;
use rustix::fd::OwnedFd;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The most inotify instances a sandbox holds at once.
pub const MAX_INSTANCES: u64 = 8;
/// The most inotify watches a sandbox holds at once (all its instances
/// together).
pub const MAX_WATCHES: u64 = 4096;

/// What the sandbox's instances hold.
#[derive(Debug, Default)]
struct Counts {
    instances: AtomicU64,
    watches: AtomicU64,
}

/// The sandbox's inotify instances and watches.
#[derive(Debug, Default)]
pub struct InotifyBudget {
    counts: Arc<Counts>,
}

/// One instance's place in the budget, given back (with its watches')
/// when the instance closes.
#[derive(Debug)]
pub struct InstanceCharge(Arc<Counts>);

impl Drop for InstanceCharge {
    fn drop(&mut self) {
        self.0.instances.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InotifyBudget {
    /// A place for a new instance, or None when [`MAX_INSTANCES`] are open.
    pub fn take_instance(&self) -> Option<InstanceCharge> {
        self.counts
            .instances
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_INSTANCES).then_some(n + 1)
            })
            .ok()
            .map(|_| InstanceCharge(self.counts.clone()))
    }

    /// Instances open now.
    pub fn instances(&self) -> u64 {
        self.counts.instances.load(Ordering::SeqCst)
    }

    /// Watches held now (all instances).
    pub fn watches(&self) -> u64 {
        self.counts.watches.load(Ordering::SeqCst)
    }
}

/// The object a watch is on: its host device and inode numbers.
pub type WatchedKey = (u64, u64);

/// A guest inotify instance.
#[derive(Debug)]
pub struct Inotify {
    /// The host instance (O_NONBLOCK | O_CLOEXEC): the guest's blocking
    /// is the runner's (`nonblocking`).
    pub fd: OwnedFd,
    nonblocking: AtomicBool,
    /// Reads that found it empty (syscalls/edges.rs).
    pub edges: Edges,
    /// Its identity for fstat (st_ino).
    pub id: u64,
    /// The watches it holds, by watch descriptor (see the module's notes).
    watches: Mutex<BTreeMap<i32, WatchedKey>>,
    charge: InstanceCharge,
}

impl Inotify {
    pub fn new(fd: OwnedFd, nonblocking: bool, id: u64, charge: InstanceCharge) -> Inotify {
        Inotify {
            fd,
            nonblocking: AtomicBool::new(nonblocking),
            edges: Edges::default(),
            id,
            watches: Mutex::new(BTreeMap::new()),
            charge,
        }
    }

    pub fn nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::SeqCst)
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.nonblocking.store(on, Ordering::SeqCst);
    }

    fn counts(&self) -> &Counts {
        &self.charge.0
    }

    /// Whether a watch on `key` fits in the budget: there is room for one
    /// more, or the instance already has a watch there (the host updates
    /// it, or it is gone and the new one takes its place).
    pub fn has_room_for(&self, key: WatchedKey) -> bool {
        self.counts().watches.load(Ordering::SeqCst) < MAX_WATCHES
            || super::lock(&self.watches).values().any(|k| *k == key)
    }

    /// The host answered watch descriptor `wd` for an object `key`: an
    /// update of a watch it holds, or a new one (which replaces any it
    /// held on the same object: those are gone).
    pub fn added(&self, wd: i32, key: WatchedKey) {
        let mut w = super::lock(&self.watches);
        if w.get(&wd) == Some(&key) {
            return;
        }
        let before = w.len();
        w.retain(|_, k| *k != key);
        w.remove(&wd);
        let gone = (before - w.len()) as u64;
        w.insert(wd, key);
        let c = self.counts();
        c.watches.fetch_add(1, Ordering::SeqCst);
        c.watches.fetch_sub(gone, Ordering::SeqCst);
    }

    /// Whether the instance holds watch `wd` (as far as the runner knows).
    pub fn holds(&self, wd: i32) -> bool {
        super::lock(&self.watches).contains_key(&wd)
    }

    /// Watch `wd` is gone (removed, or its IN_IGNORED read).
    pub fn forget(&self, wd: i32) {
        if super::lock(&self.watches).remove(&wd).is_some() {
            self.counts().watches.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let held = super::lock(&self.watches).len() as u64;
        self.counts().watches.fetch_sub(held, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(budget: &InotifyBudget) -> Inotify {
        let charge = budget.take_instance().expect("room");
        let fd = rustix::io::dup(std::io::stdin()).expect("dup");
        Inotify::new(fd, false, 1, charge)
    }

    #[test]
    fn instances_are_capped_and_closing_gives_back() {
        let b = InotifyBudget::default();
        let held: Vec<_> = (0..MAX_INSTANCES).map(|_| instance(&b)).collect();
        assert_eq!(b.instances(), MAX_INSTANCES);
        assert!(b.take_instance().is_none());
        drop(held);
        assert_eq!(b.instances(), 0);
        assert!(b.take_instance().is_some());
    }

    #[test]
    fn watches_count_until_removed_ignored_or_closed() {
        let b = InotifyBudget::default();
        let one = instance(&b);
        let two = instance(&b);
        for i in 0..MAX_WATCHES - 1 {
            assert!(one.has_room_for((1, i)));
            one.added(i as i32 + 1, (1, i));
        }
        // An update of a watch held is no new watch.
        one.added(1, (1, 0));
        assert_eq!(b.watches(), MAX_WATCHES - 1);
        two.added(1, (2, 0));
        assert_eq!(b.watches(), MAX_WATCHES);
        assert!(!one.has_room_for((3, 0)));
        assert!(!two.has_room_for((1, 5)), "another instance's object");
        // The same object again: the host updates the watch, or the old
        // one is gone and the new one replaces it.
        assert!(one.has_room_for((1, 5)));
        one.added(9000, (1, 5));
        assert_eq!(b.watches(), MAX_WATCHES);
        assert!(!one.holds(6));
        one.forget(1);
        one.forget(1);
        assert_eq!(b.watches(), MAX_WATCHES - 1);
        drop(one);
        assert_eq!(b.watches(), 1);
        drop(two);
        assert_eq!((b.watches(), b.instances()), (0, 0));
    }
}
