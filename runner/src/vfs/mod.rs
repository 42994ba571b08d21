//! The guest's view of the host file system: exactly the policy's
//! `[[files]]` rules, nothing else.
//!
//! * [`Vfs::prepare`] opens the host location of every rule **once**, before
//!   the run loop starts (a directory as an `O_PATH` directory fd; a single
//!   file as an `O_PATH` fd plus its parent directory). After that the
//!   runner never names a `[[files]]` host path again: every host access for
//!   the guest is relative to one of these fds, and the self-sandbox
//!   (Landlock) grants its rights on these same fds ([`Vfs::roots`]), so
//!   what is granted is exactly what was opened, even if a host path is
//!   swapped after preparation.
//! * A guest path is normalized lexically (`path.rs`) against the guest cwd,
//!   then the most specific rule decides it (`FileRules::rule_for`). The
//!   rest of the path below the rule is opened with
//!   `openat2(root, rest, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
//!   (`beneath.rs`: tried again when a host rename races a `..`), so a
//!   symlink whose target is absolute or climbs above the rule's root, and
//!   every `/proc` magic link, fails. `EXDEV` (escape) becomes `EACCES`;
//!   `ELOOP` (magic link, symlink loop, `O_NOFOLLOW`) stays `ELOOP`.
//! * A rule naming a single file maps exactly that path (`RESOLVE_NO_SYMLINKS`
//!   on its name); a path below it is `ENOTDIR`.
//! * A read-write rule with a read rule nested below it resolves without
//!   following any symlink (`RESOLVE_NO_SYMLINKS`), so a link cannot reach
//!   the protected subtree through the writable one.
//! * A symlink the host will not follow beneath its root (an absolute
//!   target, `..` above the root, any link under `RESOLVE_NO_SYMLINKS`) is
//!   followed by the runner in the guest's namespace (`links.rs`): its
//!   target is a guest path, decided by the rules afresh.
//! * Paths outside every rule do not exist (`ENOENT`), except the ancestors
//!   of rule paths: they are synthesized read-only directories listing the
//!   next component towards each rule (so `ls /` and `stat /srv` work).

mod beneath;
mod links;
pub mod path;

use crate::abi::constants::{DT_DIR, DT_REG, DT_UNKNOWN};
use crate::abi::Errno;
use path::GuestPath;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use sandbox_policy::{FileAccess, FileRules};
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A rule whose host location could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("files[{index}] ({guest}): cannot open host path {host}: {source}")]
pub struct PrepareError {
    pub index: usize,
    pub guest: String,
    pub host: String,
    #[source]
    pub source: std::io::Error,
}

/// How a rule's host location is held.
#[derive(Debug)]
enum RootKind {
    /// A directory tree: `O_PATH | O_DIRECTORY` fd of its root.
    Dir(OwnedFd),
    /// One file: an `O_PATH` fd of the file itself (for the self-sandbox)
    /// and of its parent directory, through which it is opened by `name`.
    File {
        file: OwnedFd,
        parent: OwnedFd,
        name: OsString,
        d_type: u8,
    },
}

/// One prepared `[[files]]` rule.
#[derive(Debug)]
pub struct Root {
    pub guest_path: PathBuf,
    /// The canonical host path (symlinks in the policy's `host_path` resolved
    /// once, at preparation).
    pub host_path: PathBuf,
    pub access: FileAccess,
    /// Programs below it may be run with `execve` (the rule's `-exec`).
    pub exec: bool,
    /// A private tree (made for the run, removed at its end): the guest
    /// may make symbolic links in it, which outlive nothing.
    pub private: bool,
    kind: RootKind,
    resolve: ResolveFlags,
    /// Paths below this (read-write) root whose host location is a `"read"`
    /// rule's under another guest path: read-only here too.
    protected: Vec<PathBuf>,
}

/// A prepared root as the self-sandbox sees it: Landlock grants the rights
/// `access` allows beneath `fd` (file rights only when `!is_dir`).
#[derive(Debug, Clone, Copy)]
pub struct PreparedRoot<'a> {
    pub guest_path: &'a Path,
    /// The canonical host path, for messages only: the root is reached
    /// through `fd`, never by this name again.
    pub host_path: &'a Path,
    pub access: FileAccess,
    pub is_dir: bool,
    /// A private tree (the guest may make symbolic links in it).
    pub private: bool,
    /// An `O_PATH` fd of the directory or file itself.
    pub fd: BorrowedFd<'a>,
}

/// The guest's file namespace and cwd.
#[derive(Debug, Clone)]
pub struct Vfs {
    /// The policy's `[[files]]`, which decide each guest path. Shared by
    /// every process of the sandbox (fork clones the `Vfs`: the rules and
    /// their opened roots are the sandbox's, the cwd is the process's).
    rules: Arc<FileRules>,
    /// `roots[i]` is the rule `rules.as_slice()[i]`, opened.
    roots: Arc<Vec<Root>>,
    cwd: PathBuf,
}

impl Default for Vfs {
    fn default() -> Self {
        Vfs::empty()
    }
}

/// What a normalized guest path names.
#[derive(Debug)]
pub enum Node<'a> {
    /// Inside a rule: a host object below that rule's root.
    Real(Real<'a>),
    /// An ancestor of one or more rule paths, outside every rule: a
    /// synthesized read-only directory.
    Virtual(PathBuf),
}

/// A guest path inside a rule.
#[derive(Debug, Clone)]
pub struct Real<'a> {
    pub root: &'a Root,
    /// Index of the rule in the policy's `[[files]]`.
    pub index: usize,
    /// The path below the rule's root (empty for the root itself).
    pub rest: PathBuf,
    /// The whole guest path.
    pub guest: PathBuf,
}

/// A located object: an `O_PATH` fd of a host object, or a synthesized
/// directory.
#[derive(Debug)]
pub enum Located<'a> {
    Host(OwnedFd, Real<'a>),
    Virtual(PathBuf),
}

/// A parent directory for `*at` calls on a final component.
#[derive(Debug)]
pub enum ParentFd<'a> {
    Root(BorrowedFd<'a>),
    Opened(OwnedFd),
}

impl AsFd for ParentFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ParentFd::Root(fd) => *fd,
            ParentFd::Opened(fd) => fd.as_fd(),
        }
    }
}

fn cloexec_path() -> OFlags {
    OFlags::PATH | OFlags::CLOEXEC
}

/// Maps a host error of a beneath-resolution: escaping the root (`EXDEV`)
/// is a refusal, `EACCES`.
fn escape(e: Errno) -> Errno {
    if e == Errno::XDEV {
        Errno::ACCESS
    } else {
        e
    }
}

impl Vfs {
    /// No files at all (the default policy).
    pub fn empty() -> Vfs {
        Vfs {
            rules: Arc::default(),
            roots: Arc::default(),
            cwd: PathBuf::from("/"),
        }
    }

    /// Opens the host location of every `[[files]]` rule. Called once,
    /// before the run loop (and before the runner's self-sandbox).
    pub fn prepare(files: &FileRules) -> Result<Vfs, PrepareError> {
        let mut roots = Vec::with_capacity(files.len());
        for (index, rule) in files.iter().enumerate() {
            let err = |source: std::io::Error| PrepareError {
                index,
                guest: rule.guest_path.display().to_string(),
                host: rule.host_path.display().to_string(),
                source,
            };
            let host = std::fs::canonicalize(&rule.host_path).map_err(err)?;
            let meta = std::fs::metadata(&host).map_err(err)?;
            let kind = if meta.is_dir() {
                let fd = rustix::fs::open(&host, cloexec_path() | OFlags::DIRECTORY, Mode::empty())
                    .map_err(|e| err(e.into()))?;
                RootKind::Dir(fd)
            } else {
                let (Some(parent), Some(name)) = (host.parent(), host.file_name()) else {
                    return Err(err(std::io::Error::from(std::io::ErrorKind::InvalidInput)));
                };
                let parent =
                    rustix::fs::open(parent, cloexec_path() | OFlags::DIRECTORY, Mode::empty())
                        .map_err(|e| err(e.into()))?;
                let file = rustix::fs::openat(
                    &parent,
                    name,
                    cloexec_path() | OFlags::NOFOLLOW,
                    Mode::empty(),
                )
                .map_err(|e| err(e.into()))?;
                RootKind::File {
                    file,
                    parent,
                    name: name.to_os_string(),
                    d_type: if meta.is_file() { DT_REG } else { DT_UNKNOWN },
                }
            };
            let mut resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            let protects_below =
                rule.access == FileAccess::ReadWrite && files.read_rule_below(&rule.guest_path);
            if protects_below || matches!(kind, RootKind::File { .. }) {
                resolve |= ResolveFlags::NO_SYMLINKS;
            }
            roots.push(Root {
                guest_path: rule.guest_path.clone(),
                host_path: host,
                access: rule.access,
                exec: rule.exec,
                private: rule.private,
                kind,
                resolve,
                protected: Vec::new(),
            });
        }
        // A "read" rule whose host location lies strictly inside a
        // read-write tree stays read-only when reached through that tree
        // under another guest path; links are not followed in such a tree.
        let read_hosts: Vec<PathBuf> = roots
            .iter()
            .filter(|r| r.access == FileAccess::Read)
            .map(|r| r.host_path.clone())
            .collect();
        for root in roots
            .iter_mut()
            .filter(|r| r.access == FileAccess::ReadWrite)
        {
            if !matches!(root.kind, RootKind::Dir(_)) {
                continue;
            }
            for h in &read_hosts {
                if let Ok(rel) = h.strip_prefix(&root.host_path) {
                    if !rel.as_os_str().is_empty() {
                        root.protected.push(rel.to_path_buf());
                        root.resolve |= ResolveFlags::NO_SYMLINKS;
                    }
                }
            }
        }
        Ok(Vfs {
            rules: Arc::new(files.clone()),
            roots: Arc::new(roots),
            cwd: PathBuf::from("/"),
        })
    }

    /// Every prepared root, in the policy's order: what the runner's
    /// self-sandbox (Landlock) grants.
    pub fn roots(&self) -> impl Iterator<Item = PreparedRoot<'_>> {
        self.roots.iter().map(|r| {
            let (fd, is_dir) = match &r.kind {
                RootKind::Dir(fd) => (fd.as_fd(), true),
                RootKind::File { file, .. } => (file.as_fd(), false),
            };
            PreparedRoot {
                guest_path: &r.guest_path,
                host_path: &r.host_path,
                access: r.access,
                is_dir,
                private: r.private,
                fd,
            }
        })
    }

    /// The guest's current directory (absolute, normalized).
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    pub fn set_cwd(&mut self, p: PathBuf) {
        self.cwd = p;
    }

    /// Decides a normalized guest path, its directories' links followed in
    /// the guest's namespace (a final link is the object itself: lstat,
    /// readlink, unlink, `O_NOFOLLOW`).
    pub fn resolve(&self, p: &Path) -> Result<Node<'_>, Errno> {
        let p = self.follow_links(p, false)?;
        self.resolve_lexical(&p)
    }

    /// [`Vfs::resolve`], a final link followed too (open, stat, execve).
    pub fn resolve_following(&self, p: &Path) -> Result<Node<'_>, Errno> {
        let p = self.follow_links(p, true)?;
        self.resolve_lexical(&p)
    }

    /// Decides a normalized guest path as written (no host call).
    fn resolve_lexical(&self, p: &Path) -> Result<Node<'_>, Errno> {
        if let Some((index, rule)) = self.rules.indexed_rule_for(p) {
            let root = self.roots.get(index).ok_or(Errno::NOENT)?;
            let rest = p
                .strip_prefix(&rule.guest_path)
                .map_err(|_| Errno::NOENT)?
                .to_path_buf();
            return Ok(Node::Real(Real {
                root,
                index,
                rest,
                guest: p.to_path_buf(),
            }));
        }
        if self.is_strict_ancestor(p) {
            return Ok(Node::Virtual(p.to_path_buf()));
        }
        Err(Errno::NOENT)
    }

    /// Whether `p` lies strictly above some rule's path.
    pub fn is_strict_ancestor(&self, p: &Path) -> bool {
        self.roots
            .iter()
            .any(|r| r.guest_path != p && r.guest_path.starts_with(p))
    }

    /// Whether `p` is a rule's path or lies above one: such a path cannot
    /// be removed, renamed or replaced (like a mount point: `EBUSY`).
    pub fn holds_a_root(&self, p: &Path) -> bool {
        self.roots.iter().any(|r| r.guest_path.starts_with(p))
    }

    /// The direct children of `p` on the way to rule paths below it: name
    /// and `d_type`. Sorted, without duplicates.
    pub fn children(&self, p: &Path) -> Vec<(OsString, u8)> {
        let mut out: Vec<(OsString, u8)> = Vec::new();
        for r in self.roots.iter() {
            let Ok(rest) = r.guest_path.strip_prefix(p) else {
                continue;
            };
            let mut comps = rest.components();
            let Some(Component::Normal(first)) = comps.next() else {
                continue;
            };
            let d_type = if comps.next().is_some() {
                DT_DIR
            } else {
                match &r.kind {
                    RootKind::Dir(_) => DT_DIR,
                    RootKind::File { d_type, .. } => *d_type,
                }
            };
            if !out.iter().any(|(n, _)| n == first) {
                out.push((first.to_os_string(), d_type));
            }
        }
        out.sort();
        out
    }

    /// Finds a host object (as an `O_PATH` fd) or a synthesized directory.
    /// `follow`: follow a symlink in the last component. A path that does
    /// not exist on the host but lies above a rule path is synthesized.
    pub fn locate(&self, g: &GuestPath, follow: bool) -> Result<Located<'_>, Errno> {
        let node = if follow {
            self.resolve_following(&g.path)?
        } else {
            self.resolve(&g.path)?
        };
        match node {
            Node::Virtual(p) => Ok(Located::Virtual(p)),
            Node::Real(real) => {
                let mut flags = cloexec_path();
                if !follow {
                    flags |= OFlags::NOFOLLOW;
                }
                if g.must_be_dir {
                    flags |= OFlags::DIRECTORY;
                }
                match real.open(flags, Mode::empty()) {
                    Ok(fd) => Ok(Located::Host(fd, real)),
                    Err(e)
                        if (e == Errno::NOENT || e == Errno::NOTDIR)
                            && self.is_strict_ancestor(&g.path) =>
                    {
                        Ok(Located::Virtual(g.path.clone()))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

impl Real<'_> {
    /// Whether the rule allows modification here.
    pub fn writable(&self) -> bool {
        self.root.access == FileAccess::ReadWrite
            && !self.root.protected.iter().any(|p| self.rest.starts_with(p))
    }

    /// Whether removing or renaming this path would move a protected
    /// subtree (see `Root::protected`): such paths are `EBUSY`.
    pub fn holds_protected(&self) -> bool {
        self.root
            .protected
            .iter()
            .any(|p| p.starts_with(&self.rest))
    }

    /// Opens the object with `openat2` beneath the rule's root. Only
    /// regular files, directories and links are ever opened for I/O: a
    /// device node, a named pipe or a socket file in a granted tree is
    /// EACCES (as on a `nodev` mount; `open_path` looks first, so the host
    /// object is never opened). A tree may be a whole system image, device
    /// nodes included, and a runner run as root could otherwise read a
    /// disk through one; a named pipe's open would block the runner.
    ///
    /// The object opened is looked at again (a guest's rename may have
    /// put a named pipe there since): it is opened O_NONBLOCK, so that
    /// even then the runner never waits on it, and anything but a file or
    /// a directory is closed again, EACCES.
    pub fn open(&self, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
        match self.open_file(flags, mode)? {
            Opened::Fd(fd, _) => Ok(fd),
            Opened::NamedPipe(..) => Err(Errno::ACCESS),
        }
    }

    /// As [`Real::open`], but a named pipe is answered with its identity
    /// (for the runner's own pipe: kernel/fifos.rs), never opened.
    pub fn open_file(&self, flags: OFlags, mode: Mode) -> Result<Opened, Errno> {
        if flags.contains(OFlags::PATH) {
            return self.open_path(flags, mode).map(|fd| Opened::Fd(fd, false));
        }
        if let Some(found) = self.special(flags)? {
            return found_special(found);
        }
        let fd = self.open_path(flags | OFlags::NONBLOCK, mode)?;
        let st = rustix::fs::fstat(&fd)?;
        if special_kind(st.st_mode) {
            return found_special((st.st_mode, st.st_dev, st.st_ino));
        }
        if !flags.contains(OFlags::NONBLOCK) {
            // F_SETFL sets these status flags; the others stay as opened.
            let settable = OFlags::APPEND | OFlags::DIRECT;
            rustix::fs::fcntl_setfl(&fd, flags & settable)?;
        }
        let is_dir = st.st_mode & 0o170000 == 0o040000;
        Ok(Opened::Fd(fd, is_dir))
    }

    /// What is at the path when it is no file, directory or link: a
    /// device node, a named pipe or a socket file, with its (mode,
    /// device, inode); None for anything else or nothing (O_CREAT makes
    /// it: the open says). `flags`' O_NOFOLLOW and O_DIRECTORY apply.
    pub fn special(&self, flags: OFlags) -> Result<Option<(u32, u64, u64)>, Errno> {
        let look =
            OFlags::PATH | OFlags::CLOEXEC | (flags & (OFlags::NOFOLLOW | OFlags::DIRECTORY));
        let Ok(fd) = self.open_path(look, Mode::empty()) else {
            return Ok(None);
        };
        let st = rustix::fs::fstat(&fd)?;
        Ok(special_kind(st.st_mode).then_some((st.st_mode, st.st_dev, st.st_ino)))
    }

    /// `openat2` beneath the rule's root, as asked.
    fn open_path(&self, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
        match &self.root.kind {
            RootKind::Dir(root) => {
                let rest: &Path = if self.rest.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    &self.rest
                };
                beneath::openat2(root, rest, flags, mode, self.root.resolve).map_err(escape)
            }
            RootKind::File { parent, name, .. } => {
                if !self.rest.as_os_str().is_empty() {
                    return Err(Errno::NOTDIR);
                }
                beneath::openat2(parent, Path::new(name), flags, mode, self.root.resolve)
                    .map_err(escape)
            }
        }
    }

    /// The parent directory (opened beneath the root) and the final name,
    /// for `mkdirat`, `unlinkat`, `renameat2`, `readlinkat`. The rule's own
    /// path has no parent inside the rule: `EBUSY`.
    pub fn parent(&self) -> Result<(ParentFd<'_>, &OsStr), Errno> {
        let RootKind::Dir(root) = &self.root.kind else {
            return Err(if self.rest.as_os_str().is_empty() {
                Errno::BUSY
            } else {
                Errno::NOTDIR
            });
        };
        let name = self.rest.file_name().ok_or(Errno::BUSY)?;
        match self.rest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                let fd = beneath::openat2(
                    root,
                    dir,
                    cloexec_path() | OFlags::DIRECTORY,
                    Mode::empty(),
                    self.root.resolve,
                )
                .map_err(escape)?;
                Ok((ParentFd::Opened(fd), name))
            }
            _ => Ok((ParentFd::Root(root.as_fd()), name)),
        }
    }

    /// The directory holding the object, relative to the root (for checking
    /// where a symlink's target leads).
    pub fn rest_dir(&self) -> &Path {
        self.rest.parent().unwrap_or(Path::new(""))
    }
}

/// What opening a path in a tree gives.
#[derive(Debug)]
pub enum Opened {
    /// A file or directory (true), as the open's own fstat found it (an
    /// O_PATH open is not looked at: false).
    Fd(OwnedFd, bool),
    /// A named pipe: the host's (device, inode) of the node.
    NamedPipe(u64, u64),
}

/// A device node or socket file is EACCES (never opened); a named pipe is
/// named.
fn found_special((mode, dev, ino): (u32, u64, u64)) -> Result<Opened, Errno> {
    if mode & 0o170000 == 0o010000 {
        Ok(Opened::NamedPipe(dev, ino))
    } else {
        Err(Errno::ACCESS)
    }
}

/// S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK: what is never opened on the host.
fn special_kind(mode: u32) -> bool {
    matches!(mode & 0o170000, 0o020000 | 0o060000 | 0o010000 | 0o140000)
}

/// Whether `fd` lies on a proc file system, whose links are magic (they
/// name host objects): never followed nor shown.
pub fn on_procfs(fd: &OwnedFd) -> bool {
    /// PROC_SUPER_MAGIC.
    const PROC: i64 = 0x9fa0;
    rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type == PROC)
}

/// A stable synthetic inode number for a synthesized directory.
pub fn virtual_ino(p: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    // FNV-1a, never 0.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in p.as_os_str().as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox_policy::Policy;

    fn policy(text: &str) -> Policy {
        Policy::from_str_named(text, "t.toml").expect("policy")
    }

    #[test]
    fn resolution_and_virtual_ancestors() {
        let dir = std::env::temp_dir().join(format!("thinvisor-vfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data/sub")).expect("mkdir");
        std::fs::write(dir.join("file.txt"), b"x").expect("write");
        let p = policy(&format!(
            "[[files]]\npath = \"/srv/data\"\nhost_path = \"{d}/data\"\naccess = \"read\"\n\
             [[files]]\npath = \"/etc/one\"\nhost_path = \"{d}/file.txt\"\naccess = \"read\"\n",
            d = dir.display()
        ));
        let vfs = Vfs::prepare(&p.files).expect("prepare");
        assert!(matches!(vfs.resolve(Path::new("/")), Ok(Node::Virtual(_))));
        assert!(matches!(
            vfs.resolve(Path::new("/srv")),
            Ok(Node::Virtual(_))
        ));
        assert_eq!(vfs.resolve(Path::new("/usr")).err(), Some(Errno::NOENT));
        match vfs.resolve(Path::new("/srv/data/sub/x")) {
            Ok(Node::Real(r)) => {
                assert_eq!(r.rest, Path::new("sub/x"));
                assert_eq!(r.index, 0);
            }
            other => panic!("{other:?}"),
        }
        let names: Vec<_> = vfs
            .children(Path::new("/"))
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(names, vec![OsString::from("etc"), OsString::from("srv")]);
        assert_eq!(
            vfs.children(Path::new("/etc")),
            vec![(OsString::from("one"), DT_REG)]
        );
        assert!(vfs.holds_a_root(Path::new("/srv")));
        assert!(vfs.holds_a_root(Path::new("/srv/data")));
        assert!(!vfs.holds_a_root(Path::new("/srv/data/sub")));
        let g = path::normalize(Path::new("/"), b"/etc/one/x").expect("path");
        assert_eq!(vfs.locate(&g, true).err(), Some(Errno::NOTDIR));
        assert_eq!(vfs.roots().count(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_host_path_is_an_error() {
        let p = policy(
            "[[files]]\npath = \"/x\"\nhost_path = \"/nonexistent/thinvisor\"\naccess = \"read\"\n",
        );
        let e = Vfs::prepare(&p.files).expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("files[0] (/x): cannot open host path /nonexistent/thinvisor:"),
            "{e}"
        );
    }
}
