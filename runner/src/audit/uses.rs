//! What a run used, for `runner learn`: the files and directories the
//! program reached and how (read, written, created in, executed), the
//! network peers it asked for (granted or refused), and, from `--stats`,
//! its syscalls and peak memory. `runner exec --learn-record FILE` writes
//! it as JSON at the end of the run; `runner learn` turns it into a
//! policy (crate::learn).
//!
//! One `Uses` per run, in `Kernel::uses`, under the kernel lock.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How one guest path was used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUse {
    /// Opened for reading, listed, looked at (stat, access, readlink).
    pub read: bool,
    /// Opened for writing, truncated, its mode, owner or times changed.
    pub write: bool,
    /// Entries created or removed in it (it is a directory).
    pub create_in: bool,
    /// Run with execve.
    pub exec: bool,
    /// The calls that used it, for the policy's comments.
    pub calls: BTreeSet<String>,
}

/// A network peer the program asked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Peer {
    /// "tcp" or "udp".
    pub protocol: String,
    /// `IPv4:port` or `[IPv6]:port`.
    pub address: String,
    /// A bind to serve on it, not a peer to reach.
    pub listen: bool,
}

/// What a run used.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Uses {
    /// By absolute guest path.
    pub files: BTreeMap<String, FileUse>,
    /// Peers the policy allowed and the program used.
    pub peers: BTreeSet<Peer>,
    /// Peers the policy refused (EACCES): what `runner learn --net` grants
    /// in its next round.
    pub refused_peers: BTreeSet<Peer>,
    /// More paths or peers than [`MAX_ENTRIES`] were used: the rest were
    /// not noted, and no policy can be learned from the run.
    #[serde(default)]
    pub truncated: bool,
}

/// The most paths, and the most peers, noted for a run (runner memory).
pub const MAX_ENTRIES: usize = 20_000;

/// How a call uses its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Read,
    Write,
    /// Creates or removes the entry: the parent directory is written.
    Entry,
    Exec,
}

impl Uses {
    /// Path `path` was used by call `call` as `how`.
    pub fn file(&mut self, path: &str, call: &str, how: How) {
        let (target, how) = match how {
            How::Entry => (parent(path), How::Entry),
            h => (path.to_string(), h),
        };
        if self.files.len() >= MAX_ENTRIES && !self.files.contains_key(&target) {
            self.truncated = true;
            return;
        }
        let u = self.files.entry(target).or_default();
        match how {
            How::Read => u.read = true,
            How::Write => u.write = true,
            How::Entry => u.create_in = true,
            How::Exec => u.exec = true,
        }
        u.calls.insert(call.to_string());
    }

    /// The policy was asked for `peer`, and `allowed` it or not.
    pub fn peer(&mut self, peer: Peer, allowed: bool) {
        if self.peers.len() + self.refused_peers.len() >= MAX_ENTRIES {
            self.truncated = true;
            return;
        }
        if allowed {
            self.peers.insert(peer);
        } else {
            self.refused_peers.insert(peer);
        }
    }
}

/// The directory holding `path` ("/" for a top-level name).
fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// How call `name` with open flags `flags` (where it has them) uses its
/// first path; None for a call whose path the policy needs no rule for.
pub fn how(name: &str, flags: u64) -> Option<How> {
    const O_ACCMODE: u64 = 3;
    const O_CREAT: u64 = 0o100;
    const O_TRUNC: u64 = 0o1000;
    Some(match name {
        "open" | "openat" => {
            if flags & O_CREAT != 0 {
                How::Entry
            } else if flags & O_ACCMODE != 0 || flags & O_TRUNC != 0 {
                How::Write
            } else {
                How::Read
            }
        }
        "creat" | "mkdir" | "mkdirat" | "mknod" | "mknodat" | "unlink" | "unlinkat" | "rmdir"
        | "rename" | "renameat" | "renameat2" | "symlink" | "symlinkat" => How::Entry,
        // The file linked is only named; its new name is an entry
        // (`second_path`).
        "link" | "linkat" => How::Read,
        "truncate" | "chmod" | "fchmodat" | "fchmodat2" | "chown" | "lchown" | "fchownat"
        | "utimensat" | "utimes" | "utime" | "futimesat" | "setxattr" | "lsetxattr"
        | "removexattr" | "lremovexattr" => How::Write,
        "execve" | "execveat" => How::Exec,
        _ => How::Read,
    })
}

/// The second path of a call that names two (rename's and link's
/// destination, symlink's link): its argument index, and the index of
/// the directory descriptor it is relative to, if any.
pub fn second_path(name: &str) -> Option<(usize, Option<usize>)> {
    match name {
        "rename" | "link" | "symlink" => Some((1, None)),
        "renameat" | "renameat2" | "linkat" => Some((3, Some(2))),
        "symlinkat" => Some((2, Some(1))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_writes_the_directory_and_reading_the_file() {
        let mut u = Uses::default();
        u.file("/out/report.txt", "openat", how("openat", 0o1101).unwrap());
        u.file("/data/in.txt", "openat", how("openat", 0).unwrap());
        u.file("/data/in.txt", "newfstatat", how("newfstatat", 0).unwrap());
        u.file("/top", "unlink", How::Entry);
        assert!(u.files["/out"].create_in);
        assert!(!u.files.contains_key("/out/report.txt"));
        let d = &u.files["/data/in.txt"];
        assert!(d.read && !d.write && !d.create_in);
        assert_eq!(d.calls.len(), 2);
        assert!(u.files["/"].create_in);
        assert_eq!(how("openat", 1), Some(How::Write), "O_WRONLY");
        assert_eq!(how("openat", 0o1000), Some(How::Write), "O_TRUNC");
        assert_eq!(how("execve", 0), Some(How::Exec));
    }
}
