//! The sandbox's AF_UNIX names: a table private to the run, as
//! kernel/sysv_ipc.rs keeps System V keys private. Nothing here ever
//! reaches the host: an abstract name is never bound in the host's
//! abstract namespace, and a path name is never a host socket file (no
//! node is made on the host; `ls` does not show it). A guest's `connect`
//! looks only here, so it reaches the sandbox's own listeners, never a
//! host program's socket, abstract or not.
//!
//! - An abstract name (`sun_path` starting with NUL) lives while its
//!   socket does: its entry is a weak reference, forgotten once the
//!   socket has closed.
//! - A path name is keyed by the guest path as resolved (absolute,
//!   normalized through the cwd and the guest's directory links). It
//!   stays after its socket closes, as the socket file would on Linux
//!   (connect is then ECONNREFUSED, bind EADDRINUSE) until the guest
//!   unlinks the path (syscalls/fs/dirs.rs). Each took one of
//!   `limits.created_entries`, which bounds the table.
//!
//! Locks: the table is kernel state, touched under the kernel lock only.

use super::unix_sockets::UnixSocket;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

/// What a name is, as the table keys it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameKey {
    /// The bytes after the leading NUL.
    Abstract(Vec<u8>),
    /// The resolved guest path.
    Path(PathBuf),
}

/// A bound name: its key and the `struct sockaddr_un` getsockname and
/// recvfrom report (as the guest wrote it, with Linux's length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixName {
    pub key: NameKey,
    pub sockaddr: Vec<u8>,
}

/// The names bound in the sandbox.
#[derive(Debug, Default)]
pub struct UnixNames {
    names: HashMap<NameKey, Weak<UnixSocket>>,
}

impl UnixNames {
    /// Binds `key` to `socket`: EADDRINUSE when the name is taken (an
    /// abstract name whose socket is open, any path name not unlinked).
    pub fn bind(
        &mut self,
        key: NameKey,
        socket: &Arc<UnixSocket>,
    ) -> Result<(), crate::abi::Errno> {
        // Abstract names of closed sockets are forgotten.
        self.names
            .retain(|k, w| matches!(k, NameKey::Path(_)) || w.strong_count() > 0);
        if self.names.contains_key(&key) {
            return Err(crate::abi::Errno::ADDRINUSE);
        }
        self.names.insert(key, Arc::downgrade(socket));
        Ok(())
    }

    /// The open socket bound to `key`, if any.
    pub fn find(&self, key: &NameKey) -> Option<Arc<UnixSocket>> {
        self.names.get(key).and_then(Weak::upgrade)
    }

    /// Whether the guest path `path` is a bound name (its "socket file").
    pub fn has_path(&self, path: &Path) -> bool {
        self.names.contains_key(&NameKey::Path(path.to_path_buf()))
    }

    /// unlink of a path name: forgets it (the socket bound to it stays
    /// open, unreachable, as on Linux). Whether it was there.
    pub fn unlink_path(&mut self, path: &Path) -> bool {
        self.names
            .remove(&NameKey::Path(path.to_path_buf()))
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::unix_sockets::UnixState;

    fn socket() -> Arc<UnixSocket> {
        UnixSocket::new(1, Arc::default(), Arc::default(), UnixState::default())
    }

    #[test]
    fn abstract_names_end_with_their_socket_path_names_with_unlink() {
        let mut names = UnixNames::default();
        let (a, b) = (socket(), socket());
        let abs = NameKey::Abstract(b"x".to_vec());
        let path = PathBuf::from("/w/s");
        assert_eq!(names.bind(abs.clone(), &a), Ok(()));
        assert_eq!(
            names.bind(abs.clone(), &b),
            Err(crate::abi::Errno::ADDRINUSE)
        );
        assert_eq!(names.bind(NameKey::Path(path.clone()), &a), Ok(()));
        drop(a);
        // The abstract name is free again; the path stays until unlinked.
        assert_eq!(names.bind(abs.clone(), &b), Ok(()));
        assert!(names.find(&NameKey::Path(path.clone())).is_none());
        assert_eq!(
            names.bind(NameKey::Path(path.clone()), &b),
            Err(crate::abi::Errno::ADDRINUSE)
        );
        assert!(names.unlink_path(&path));
        assert!(!names.has_path(&path));
        assert_eq!(names.bind(NameKey::Path(path), &b), Ok(()));
    }
}
