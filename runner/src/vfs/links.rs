//! Symbolic links followed in the guest's namespace.
//!
//! The host resolves a path below a rule's root with `RESOLVE_BENEATH`, so a
//! link whose target is absolute or climbs above the root fails there
//! (`EXDEV`), as does every link below a root resolved with
//! `RESOLVE_NO_SYMLINKS` (`ELOOP`). Real systems are full of such links
//! (`/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...`), so when
//! the host refuses, the runner follows the links itself, one component at
//! a time, as the guest's kernel would: the target is read
//! (`readlinkat`), taken relative to the link's guest directory (or to the
//! guest's `/` when absolute), normalized lexically, and the rules decide
//! the new path afresh. A link can therefore only lead to what the policy
//! shows at its target's guest path, with that path's access: it never
//! reaches a host object outside the rules, nor the host location of a
//! protected subtree through a writable tree.
//!
//! Cost: one `openat2(O_PATH)` per lookup (the host's check); the walk, a
//! `readlinkat` per component, only when it refuses.

use super::path::{self, GuestPath};
use super::{cloexec_path, Node, RootKind, Vfs};
use crate::abi::Errno;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// Links followed in one lookup before `ELOOP` (Linux's MAXSYMLINKS).
pub const MAX_LINKS: usize = 40;

impl Vfs {
    /// `p` with every link the host would not follow beneath its rule
    /// followed in the guest's namespace: in every component but the last,
    /// and in the last too when `last`. A path the host resolves itself,
    /// or that does not exist, comes back unchanged (the open that follows
    /// reports what it finds).
    pub fn follow_links(&self, p: &Path, last: bool) -> Result<PathBuf, Errno> {
        self.follow(p, last, false)
    }

    /// `p` with every link followed in the guest's namespace, the last
    /// component's too, also where the host would follow it itself: the
    /// path of what it names, for a call that must not let the host
    /// follow a link (linkat with AT_SYMLINK_FOLLOW).
    pub fn follow_every_link(&self, p: &Path) -> Result<PathBuf, Errno> {
        self.follow(p, true, true)
    }

    fn follow(&self, p: &Path, last: bool, always: bool) -> Result<PathBuf, Errno> {
        let mut path = p.to_path_buf();
        let mut links = 0;
        while let Some(next) = self.follow_one(&path, last, always)? {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::LOOP);
            }
            path = next;
        }
        Ok(path)
    }

    /// The path after the first link of `p` the host refuses to follow
    /// (any link at all when `always`), or None when there is none.
    fn follow_one(&self, p: &Path, last: bool, always: bool) -> Result<Option<PathBuf>, Errno> {
        let Ok(Node::Real(real)) = self.resolve_lexical(p) else {
            return Ok(None);
        };
        let RootKind::Dir(root) = &real.root.kind else {
            return Ok(None);
        };
        let names: Vec<&OsStr> = real
            .rest
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        let walked = if last {
            names.len()
        } else {
            names.len().saturating_sub(1)
        };
        if walked == 0 {
            return Ok(None);
        }
        let checked: PathBuf = names[..walked].iter().collect();
        let refused = always
            || match super::beneath::openat2(
                root,
                &checked,
                cloexec_path(),
                Mode::empty(),
                real.root.resolve,
            ) {
                Ok(_) => false,
                Err(e) => e == Errno::XDEV || e == Errno::LOOP,
            };
        if !refused {
            return Ok(None);
        }
        // The walk: each component opened without following links, so the
        // first link met is the one read.
        let strict =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        for (i, name) in names[..walked].iter().enumerate() {
            let dir: PathBuf = names[..i].iter().collect();
            let parent = if dir.as_os_str().is_empty() {
                super::beneath::openat2(root, Path::new("."), cloexec_path(), Mode::empty(), strict)
            } else {
                super::beneath::openat2(
                    root,
                    &dir,
                    cloexec_path() | OFlags::DIRECTORY,
                    Mode::empty(),
                    strict,
                )
            };
            let Ok(parent) = parent else {
                return Ok(None);
            };
            if super::on_procfs(&parent) {
                // Magic links: the host's refusal (ELOOP) stands.
                return Ok(None);
            }
            let target = match rustix::fs::readlinkat(&parent, *name, Vec::new()) {
                Ok(t) => t.into_bytes(),
                // Not a link (EINVAL) or gone: go on, or let the open say.
                Err(Errno::INVAL) => continue,
                Err(_) => return Ok(None),
            };
            let link_dir = real.root.guest_path.join(&dir);
            let base = if target.first() == Some(&b'/') {
                PathBuf::from("/")
            } else {
                link_dir
            };
            let GuestPath { path: mut next, .. } =
                path::normalize(&base, &target).map_err(|e| match e {
                    path::PathError::Empty => Errno::NOENT,
                    path::PathError::TooLong => Errno::NAMETOOLONG,
                })?;
            for rest in &names[i + 1..] {
                next.push(rest);
            }
            return Ok(Some(next));
        }
        Ok(None)
    }
}
