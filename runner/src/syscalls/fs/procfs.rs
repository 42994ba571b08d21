//! A minimal `/proc`, synthesized by the runner: what C libraries,
//! Python and Go read at start-up, describing the sandbox and nothing of
//! the host beyond what the policy already shows.
//!
//! | path | what |
//! | --- | --- |
//! | `/proc` | lists `self`, the caller's pid and the files below |
//! | `/proc/self` | a link to the caller's pid |
//! | `/proc/PID` (the caller's own pid only) | `exe`, `fd`, `maps`, `status`, `cmdline`, `comm` |
//! | `/proc/PID/exe` | a link to the program's path, as it was started |
//! | `/proc/PID/fd/N` | a link per descriptor: the guest path of a file or directory, `/dev/null`, `pipe:[N]`, `socket:[N]`, `anon_inode:[...]` (`anon_inode:inotify`); opening one opens the same object |
//! | `/proc/PID/maps` | the process's mappings (no file names: `[heap]`, `[stack]`, `[vvar]`, `[vdso]`) |
//! | `/proc/PID/status` | name, umask, state, pids, ids, thread count, memory use |
//! | `/proc/PID/mounts`, `/proc/mounts` | one line per `[[files]]` rule (its guest path, `rw` or `ro`) and `/proc`: what `df` and `findmnt` look for; no host device or path |
//! | `/proc/cpuinfo` | one entry per CPU the sandbox shows (`limits.cpus`) |
//! | `/proc/meminfo` | the policy's memory limit and what is in use |
//! | `/proc/stat` | per-CPU lines of zeros, boot time, processes |
//!
//! A file's content is made at open (as Linux's seq files are) in a
//! host memfd, so read, lseek, fstat and mmap work as on any file. Other
//! pids, and anything else under `/proc`, do not exist (ENOENT). The
//! synthesized `/proc` wins over a `[[files]]` rule for `/proc`.

use crate::abi::constants::{DT_CHR, DT_DIR, DT_LNK, DT_REG};
use crate::abi::layouts::StatInfo;
use crate::abi::Errno;
use crate::guest::layout::{stack_size, STACK_TOP, VDSO_END, VDSO_VA, VVAR_VA};
use crate::kernel::fds::{FileObj, Object, VirtualDirObj};
use crate::syscalls::Ctx;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// What a `/proc` path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir(Vec<(OsString, u8)>),
    Link(Vec<u8>),
    File(FileKind),
    /// `/proc/PID/fd/N`: the descriptor's object.
    Fd(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Maps,
    Status,
    Cmdline,
    Comm,
    CpuInfo,
    MemInfo,
    Stat,
    Mounts,
}

const PID_FILES: [(&str, u8); 7] = [
    ("mounts", DT_REG),
    ("exe", DT_LNK),
    ("fd", DT_DIR),
    ("maps", DT_REG),
    ("status", DT_REG),
    ("cmdline", DT_REG),
    ("comm", DT_REG),
];

/// Whether `path` is `/proc` or below it.
pub fn covers(path: &Path) -> bool {
    path.starts_with("/proc")
}

/// `/` and `/dev` exist for every guest, whatever the policy shows: they
/// hold `/proc` and the devices.
pub fn always_there(path: &Path) -> bool {
    path == Path::new("/") || path == Path::new("/dev")
}

/// What a synthesized directory lists besides the rules' paths: `proc`
/// and `dev` in `/`, the devices in `/dev`.
pub fn extra_entries(path: &Path) -> Vec<(OsString, u8)> {
    if path == Path::new("/") {
        vec![("dev".into(), DT_DIR), ("proc".into(), DT_DIR)]
    } else if path == Path::new("/dev") {
        let mut v: Vec<(OsString, u8)> = vec![("null".into(), DT_CHR)];
        v.extend(
            crate::kernel::fds::Device::ALL
                .iter()
                .filter_map(|(p, _, _)| Path::new(p).file_name())
                .map(|n| (n.to_os_string(), DT_CHR)),
        );
        v
    } else {
        Vec::new()
    }
}

/// The node at `path` (a normalized guest path under `/proc`), a final
/// link followed when `follow`. ENOENT for what does not exist.
pub fn lookup(ctx: &Ctx<'_>, path: &Path, follow: bool) -> Result<Node, Errno> {
    let pid = ctx.process.identity.pid;
    let rest: Vec<String> = path
        .strip_prefix("/proc")
        .map_err(|_| Errno::NOENT)?
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let parts: Vec<&str> = rest.iter().map(String::as_str).collect();
    let own = |p: &str| p == "self" || p == pid.to_string();
    let node = match parts.as_slice() {
        [] => {
            let mut entries = dots();
            entries.push(("self".into(), DT_LNK));
            entries.push((pid.to_string().into(), DT_DIR));
            for f in ["cpuinfo", "meminfo", "mounts", "stat"] {
                entries.push((f.into(), DT_REG));
            }
            Node::Dir(entries)
        }
        ["self"] if !follow => Node::Link(pid.to_string().into_bytes()),
        ["cpuinfo"] => Node::File(FileKind::CpuInfo),
        ["meminfo"] => Node::File(FileKind::MemInfo),
        ["stat"] => Node::File(FileKind::Stat),
        ["mounts"] => Node::File(FileKind::Mounts),
        [p, "mounts"] if own(p) => Node::File(FileKind::Mounts),
        [p] if own(p) => {
            let mut entries = dots();
            entries.extend(PID_FILES.iter().map(|&(n, t)| (OsString::from(n), t)));
            Node::Dir(entries)
        }
        [p, "exe"] if own(p) => {
            if follow {
                // The program lies outside the guest's view (the command
                // line's) or in it: either way no object to open here.
                return Err(Errno::NOENT);
            }
            Node::Link(ctx.process.exe.clone())
        }
        [p, "fd"] if own(p) => {
            let mut entries = dots();
            let fds = &ctx.process.fds;
            // The listing is made at open: it shows the descriptor the
            // open itself is about to take, as Linux's (made at getdents)
            // does.
            let opening = fds.next_free();
            for fd in 0..fds.end().max(opening.map_or(0, |n| n + 1)) {
                if fds.get(fd).is_ok() || Some(fd) == opening {
                    entries.push((fd.to_string().into(), DT_LNK));
                }
            }
            Node::Dir(entries)
        }
        [p, "fd", n] if own(p) => {
            let fd: u64 = n.parse().map_err(|_| Errno::NOENT)?;
            let obj = ctx.process.fds.get(fd).map_err(|_| Errno::NOENT)?;
            if follow {
                Node::Fd(fd)
            } else {
                Node::Link(link_text(&obj))
            }
        }
        [p, "maps"] if own(p) => Node::File(FileKind::Maps),
        [p, "status"] if own(p) => Node::File(FileKind::Status),
        [p, "cmdline"] if own(p) => Node::File(FileKind::Cmdline),
        [p, "comm"] if own(p) => Node::File(FileKind::Comm),
        _ => return Err(Errno::NOENT),
    };
    // `/proc/self/...` followed: the same as `/proc/PID/...`.
    Ok(node)
}

fn dots() -> Vec<(OsString, u8)> {
    vec![(".".into(), DT_DIR), ("..".into(), DT_DIR)]
}

/// What `/proc/self/fd/N` shows for an object.
fn link_text(obj: &Object) -> Vec<u8> {
    let text = match obj {
        Object::File(f) => return f.guest_path.as_os_str().as_encoded_bytes().to_vec(),
        Object::Dir(d) => return d.guest_path.as_os_str().as_encoded_bytes().to_vec(),
        Object::VirtualDir(v) => return v.guest_path.as_os_str().as_encoded_bytes().to_vec(),
        Object::Null { .. } => "/dev/null".to_string(),
        Object::Device { minor, .. } => match minor {
            5 => "/dev/zero",
            7 => "/dev/full",
            8 => "/dev/random",
            _ => "/dev/urandom",
        }
        .to_string(),
        Object::Stdio { .. } => "pipe:[1]".to_string(),
        Object::Pipe(p) => format!("pipe:[{}]", p.id()),
        Object::Socket(_) => "socket:[1]".to_string(),
        Object::EventFd(_) => "anon_inode:[eventfd]".to_string(),
        Object::Epoll(_) => "anon_inode:[eventpoll]".to_string(),
        Object::TimerFd(_) => "anon_inode:[timerfd]".to_string(),
        Object::SignalFd(_) => "anon_inode:[signalfd]".to_string(),
        Object::PidFd(_) => "anon_inode:[pidfd]".to_string(),
        // As Linux names it: no brackets.
        Object::Inotify(_) => "anon_inode:inotify".to_string(),
        // Its path on the queues' file system, as Linux shows it.
        Object::MsgQueue(m) => {
            let mut t = b"/".to_vec();
            t.extend_from_slice(&m.queue.name);
            if !m.queue.linked() {
                t.extend_from_slice(b" (deleted)");
            }
            return t;
        }
    };
    text.into_bytes()
}

/// The stat of a node: directories and links as procfs shows them
/// (owned by the guest, times 0), files of size 0.
pub fn stat(ctx: &Ctx<'_>, path: &Path, node: &Node) -> StatInfo {
    let ino = crate::vfs::virtual_ino(path);
    let (uid, gid) = (
        ctx.process.identity.uid as u32,
        ctx.process.identity.gid as u32,
    );
    match node {
        Node::Dir(_) => StatInfo {
            uid,
            gid,
            ..StatInfo::virtual_dir(ino)
        },
        Node::Link(text) => StatInfo {
            ino,
            nlink: 1,
            mode: 0o120_777,
            size: text.len() as i64,
            uid,
            gid,
            blksize: 1024,
            ..StatInfo::default()
        },
        Node::File(_) | Node::Fd(_) => StatInfo {
            ino,
            nlink: 1,
            mode: 0o100_444,
            uid,
            gid,
            blksize: 1024,
            ..StatInfo::default()
        },
    }
}

/// Opens a node for reading: a directory listing, a file made now, or
/// the object behind `/proc/self/fd/N`.
pub fn open(ctx: &mut Ctx<'_>, path: &Path, node: Node) -> Result<Arc<Object>, Errno> {
    match node {
        Node::Dir(entries) => Ok(Arc::new(Object::VirtualDir(VirtualDirObj {
            guest_path: path.to_path_buf(),
            entries,
            pos: AtomicUsize::new(0),
        }))),
        Node::Fd(fd) => ctx.process.fds.get(fd),
        Node::Link(_) => Err(Errno::LOOP),
        Node::File(kind) => {
            let text = content(ctx, kind);
            let fd = rustix::fs::memfd_create("proc", rustix::fs::MemfdFlags::CLOEXEC)?;
            let mut done = 0;
            while done < text.len() {
                done += rustix::io::write(&fd, &text[done..])?;
            }
            rustix::fs::seek(&fd, rustix::fs::SeekFrom::Start(0))?;
            Ok(Arc::new(Object::File(FileObj {
                fd,
                readable: true,
                writable: false,
                exec: false,
                in_writable_tree: false,
                // Read-only: nothing is ever charged for it.
                memfd: false,
                guest_path: PathBuf::from(path),
            })))
        }
    }
}

/// A file's content, made at open.
fn content(ctx: &mut Ctx<'_>, kind: FileKind) -> Vec<u8> {
    let mut o = String::new();
    let p = &*ctx.process;
    let id = &p.identity;
    let cpus = ctx.kernel.cpus.max(1);
    let limit = p.limits.memory_limit;
    let used = p.mm.user_bytes();
    match kind {
        FileKind::Cmdline => return p.cmdline.clone(),
        FileKind::Comm => {
            let comm = &ctx.thread.comm;
            let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
            let mut v = comm[..end].to_vec();
            v.push(b'\n');
            return v;
        }
        FileKind::Maps => {
            let (heap_start, _, heap_end) = p.mm.heap();
            let stack_low = STACK_TOP - stack_size(limit);
            for (start, end, prot, shared) in p.mm.regions() {
                let name = if start >= heap_start && end <= heap_end && heap_end > heap_start {
                    "[heap]"
                } else if start >= stack_low && end <= STACK_TOP {
                    "[stack]"
                } else if start == VVAR_VA {
                    "[vvar]"
                } else if start >= VDSO_VA && end <= VDSO_END {
                    "[vdso]"
                } else {
                    ""
                };
                let _ = writeln!(
                    o,
                    "{start:08x}-{end:08x} {}{}{}{} 00000000 00:00 0{}{name}",
                    if prot.read { 'r' } else { '-' },
                    if prot.write { 'w' } else { '-' },
                    if prot.exec { 'x' } else { '-' },
                    if shared { 's' } else { 'p' },
                    if name.is_empty() {
                        ""
                    } else {
                        "                          "
                    },
                );
            }
        }
        FileKind::Status => {
            let comm = &ctx.thread.comm;
            let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
            let _ = writeln!(o, "Name:\t{}", String::from_utf8_lossy(&comm[..end]));
            let _ = writeln!(o, "Umask:\t{:04o}", p.umask);
            let _ = writeln!(o, "State:\tR (running)");
            let _ = writeln!(
                o,
                "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}",
                id.pid, id.pid, id.ppid
            );
            let _ = writeln!(o, "TracerPid:\t0");
            let _ = writeln!(
                o,
                "Uid:\t{0}\t{0}\t{0}\t{0}\nGid:\t{1}\t{1}\t{1}\t{1}",
                id.uid, id.gid
            );
            let _ = writeln!(o, "FDSize:\t{}", p.fds.end().next_multiple_of(64).max(64));
            let _ = writeln!(o, "VmPeak:\t{:8} kB", p.mm.peak_bytes() / 1024);
            let _ = writeln!(
                o,
                "VmSize:\t{:8} kB\nVmRSS:\t{:8} kB",
                used / 1024,
                used / 1024
            );
            let _ = writeln!(o, "Threads:\t{}", p.threads.live());
            let _ = writeln!(o, "Cpus_allowed_list:\t0-{}", cpus - 1);
        }
        FileKind::CpuInfo => {
            for n in 0..cpus {
                let _ = writeln!(
                    o,
                    "processor\t: {n}\nvendor_id\t: thinvisor\nmodel name\t: thinvisor vCPU\ncpu MHz\t\t: 0.000\ncpu cores\t: {cpus}\nflags\t\t: fpu sse sse2 lm\n"
                );
            }
        }
        FileKind::MemInfo => {
            let kb = |b: u64| b / 1024;
            let _ = writeln!(o, "MemTotal:       {:8} kB", kb(limit));
            let _ = writeln!(o, "MemFree:        {:8} kB", kb(limit.saturating_sub(used)));
            let _ = writeln!(o, "MemAvailable:   {:8} kB", kb(limit.saturating_sub(used)));
            let _ = writeln!(
                o,
                "Buffers:               0 kB\nCached:                0 kB"
            );
            let _ = writeln!(
                o,
                "SwapTotal:             0 kB\nSwapFree:              0 kB"
            );
        }
        FileKind::Mounts => {
            // As /proc/mounts: source, mount point, type, options. A
            // rule's tree is a mount of its own; its host path stays
            // the runner's.
            for r in p.vfs.roots() {
                let opts = match r.access {
                    sandbox_policy::FileAccess::ReadWrite => "rw",
                    sandbox_policy::FileAccess::Read => "ro",
                };
                let dir = r.guest_path.to_string_lossy().replace(' ', "\\040");
                let _ = writeln!(o, "thinvisor {dir} thinvisor {opts} 0 0");
            }
            let _ = writeln!(o, "proc /proc proc rw 0 0");
        }
        FileKind::Stat => {
            let _ = writeln!(o, "cpu  0 0 0 0 0 0 0 0 0 0");
            for n in 0..cpus {
                let _ = writeln!(o, "cpu{n} 0 0 0 0 0 0 0 0 0 0");
            }
            // The sandbox booted when the run started.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let boot = now.saturating_sub(ctx.kernel.clock.start.elapsed().as_secs());
            let _ = writeln!(
                o,
                "ctxt 0\nbtime {boot}\nprocesses {}",
                ctx.kernel.procs.len()
            );
            let _ = writeln!(o, "procs_running 1\nprocs_blocked 0");
        }
    }
    o.into_bytes()
}
