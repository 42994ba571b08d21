//! flock(2) locks between the sandbox's open file descriptions, kept by
//! the runner: whole-file shared and exclusive locks per file (the host's
//! device and inode numbers), held by an open file description, as Linux
//! does (every descriptor dup'ed or inherited from it shares the lock; a
//! second open of the file is another description, and conflicts).
//!
//! Host flock is not used: a lock on a file a read-only rule grants would
//! then reach host processes that lock it too. A holder is kept as a weak
//! reference to its description, so a lock goes when the description's
//! last descriptor closes (or its process ends), with no hook on close:
//! dead holders are dropped whenever the file's locks are looked at.
//!
//! At most [`MAX_FLOCKS`] locks are held at once (ENOLCK beyond). Lives in
//! the Kernel, under the kernel lock.

use super::fds::Object;
use super::file_locks::FileKey;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// The most flock locks the sandbox holds at once.
pub const MAX_FLOCKS: usize = 16384;

/// What taking a lock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The description holds the lock now.
    Held,
    /// Another description's lock is in the way.
    Conflict,
    /// The table is full.
    NoRoom,
}

#[derive(Debug)]
struct Holder {
    description: Weak<Object>,
    exclusive: bool,
}

/// Every flock lock held in the sandbox.
#[derive(Debug, Default)]
pub struct Flocks {
    by_file: HashMap<FileKey, Vec<Holder>>,
}

impl Flocks {
    /// Takes (or converts to) a shared or exclusive lock on `file` for
    /// `description`. A conversion is not atomic, as on Linux: the old
    /// lock is dropped first.
    pub fn lock(&mut self, file: FileKey, description: &Arc<Object>, exclusive: bool) -> Taken {
        self.unlock(file, description);
        let held: usize = self.by_file.values().map(Vec::len).sum();
        let holders = self.by_file.entry(file).or_default();
        let conflict = holders.iter().any(|h| exclusive || h.exclusive);
        if conflict {
            return Taken::Conflict;
        }
        if held >= MAX_FLOCKS {
            return Taken::NoRoom;
        }
        holders.push(Holder {
            description: Arc::downgrade(description),
            exclusive,
        });
        Taken::Held
    }

    /// Drops `description`'s lock on `file` (and every dead holder's).
    pub fn unlock(&mut self, file: FileKey, description: &Arc<Object>) {
        if let Some(holders) = self.by_file.get_mut(&file) {
            holders.retain(|h| match h.description.upgrade() {
                Some(d) => !Arc::ptr_eq(&d, description),
                None => false,
            });
            if holders.is_empty() {
                self.by_file.remove(&file);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description() -> Arc<Object> {
        Arc::new(Object::Null {
            stream: crate::kernel::fds::Stream::Stdin,
        })
    }

    #[test]
    fn shared_locks_share_and_exclusive_ones_exclude() {
        let mut f = Flocks::default();
        let (a, b) = (description(), description());
        let file = (1, 2);
        assert_eq!(f.lock(file, &a, false), Taken::Held);
        assert_eq!(f.lock(file, &b, false), Taken::Held);
        assert_eq!(f.lock(file, &b, true), Taken::Conflict);
        f.unlock(file, &a);
        assert_eq!(f.lock(file, &b, true), Taken::Held);
        assert_eq!(f.lock(file, &a, false), Taken::Conflict);
        assert_eq!(f.lock((1, 3), &a, true), Taken::Held, "another file");
    }

    #[test]
    fn a_closed_description_releases_its_lock() {
        let mut f = Flocks::default();
        let a = description();
        let b = description();
        assert_eq!(f.lock((1, 2), &a, true), Taken::Held);
        drop(a);
        assert_eq!(f.lock((1, 2), &b, true), Taken::Held);
    }
}
