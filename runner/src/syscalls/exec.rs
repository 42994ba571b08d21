//! execve and execveat: the process runs another program.
//!
//! The program must lie under a `[[files]]` rule with `-exec` access
//! (`"read-exec"`, `"read-write-exec"`: docs/policy.md) and have an
//! execute bit; elsewhere EACCES, and a path no rule shows is ENOENT. A
//! `#!` script runs its interpreter (itself under such a rule) with the
//! script's path, as Linux does. A dynamically linked program's
//! interpreter is loaded beside it (`loader::interpreter`), under the same
//! rules; when the guest cannot run it the error is the lookup's (ENOENT,
//! EACCES, as natively when the loader is missing), with a report naming
//! the path and the policy lines that would show it.
//!
//! Everything that can fail is done before the old program is touched:
//! the file is read, parsed, and laid out in a new address space; only
//! then does the process switch to it (the old one is released), close
//! its close-on-exec descriptors, reset handled signals to their default,
//! and drop its POSIX timers. The run loop then starts the thread at the
//! new entry point with fresh registers (`Stop::Exec`).

use super::common::{base_dir, read_path};
use super::{Args, Ctx, ExecStart, Stop, SyscallResult};
use crate::abi::constants::{ARG_MAX_BYTES, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use crate::abi::Errno;
use crate::guest::address_space::MapError;
use crate::kernel::limits::comm_of;
use crate::loader::interpreter;
use crate::loader::script::{script_line, MAX_SCRIPT_DEPTH};
use crate::loader::start::{self, StartError, StartSpec};
use crate::tunnel::GuestPtr;
use crate::vfs::path;

/// Syscall numbers, for the once-per-number reports.
const NR_EXECVEAT: u64 = 322;
/// Report keys of refusals that are not about one syscall number.
const REPORT_INTERPRETER: u64 = u64::MAX - 10;
const REPORT_MONITOR: u64 = u64::MAX - 12;

pub fn execve(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    exec(ctx, AT_FDCWD as u64, a[0], a[1], a[2], 0)
}

pub fn execveat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    exec(ctx, a[0], a[1], a[2], a[3], a[4])
}

fn exec(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path_ptr: u64,
    argv: u64,
    envp: u64,
    flags: u64,
) -> SyscallResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::INVAL.into());
    }
    let raw_path = read_path(ctx, path_ptr)?;
    if raw_path.is_empty() {
        if flags & AT_EMPTY_PATH != 0 && ctx.kernel.reports.first(NR_EXECVEAT) {
            crate::say!(
                "runner: execveat of a descriptor (AT_EMPTY_PATH, fexecve) is not supported; returned ENOENT"
            );
        }
        return Err(Errno::NOENT.into());
    }
    if ctx.kernel.exec.monitor {
        if ctx.kernel.reports.first(REPORT_MONITOR) {
            crate::say!(
                "runner: execve refused: the in-VM monitor runs one program; run with --monitor off; returned ENOSYS"
            );
        }
        return Err(Errno::NOSYS.into());
    }
    let mut args = read_strings(ctx, argv)?;
    let env = read_strings(ctx, envp)?;
    let total: u64 = args
        .iter()
        .chain(env.iter())
        .map(|s| s.len() as u64 + 1)
        .sum();
    if total > ARG_MAX_BYTES {
        return Err(Errno::TOOBIG.into());
    }
    let mut file = raw_path.clone();
    let mut bytes = read_program(ctx, dirfd, &file, flags & AT_SYMLINK_NOFOLLOW != 0)?;
    for depth in 0.. {
        let Some((interp, arg)) = script_line(&bytes) else {
            break;
        };
        if depth >= MAX_SCRIPT_DEPTH {
            return Err(Errno::LOOP.into());
        }
        // argv becomes: interpreter, its one optional argument, the
        // script's path, then the original arguments after argv[0].
        let mut next = vec![interp.clone()];
        next.extend(arg);
        next.push(file.clone());
        next.extend(args.into_iter().skip(1));
        args = next;
        bytes = read_program(ctx, AT_FDCWD as u64, &interp, false)?;
        file = interp;
    }
    let name = String::from_utf8_lossy(&file).into_owned();
    let limit = ctx.kernel.exec.memory_limit;
    let Ok(image) = crate::loader::elf::load(&name, &bytes, limit) else {
        return Err(Errno::NOEXEC.into());
    };
    let image = match interpreter::attach(image, &ctx.process.vfs, limit) {
        Ok(image) => image,
        Err(e) => {
            if ctx.kernel.reports.first(REPORT_INTERPRETER) {
                let errno = e.errno();
                let hint = e
                    .policy_hint()
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                crate::say!(
                    "runner: execve of {name}: {e}{hint}; returned {}",
                    crate::syscalls::table::errno_name(errno)
                );
            }
            return Err(e.errno().into());
        }
    };
    drop(bytes);
    // The program checks out: the other threads end first (the run loop
    // ends them and runs this call again), as in Linux's de_thread. A
    // failure before this point leaves them running, as on Linux.
    if ctx.process.threads.live() > 1 {
        return Err(Stop::ExecAlone);
    }
    let info = ctx.kernel.exec;
    let (uid, gid) = (ctx.process.identity.uid, ctx.process.identity.gid);
    let spec = StartSpec {
        argv: &args,
        envp: &env,
        cpu: info.cpu,
        vdso: info.vdso,
        memory_limit: info.memory_limit,
        uid,
        gid,
        execfn: &raw_path,
    };
    let (mm, mem) = ctx.memory();
    let mut fresh = mm.new_empty(mem).map_err(map_errno)?;
    let laid = if info.vdso {
        crate::guest::vdso::map_written(mem, &mut fresh).map_err(|_| StartError::Write(0))
    } else {
        Ok(())
    }
    .and_then(|()| start::lay_out(mem, &mut fresh, &image, &spec));
    let rsp = match laid {
        Ok(rsp) => rsp,
        Err(e) => {
            if let Err(r) = fresh.release(mem) {
                return Err(lost(r));
            }
            return Err(match e {
                StartError::Map(m) => map_errno(m),
                StartError::Write(_) => Errno::NOMEM,
            }
            .into());
        }
    };
    // /proc/self/exe names the program run (the interpreter of a script,
    // found from the cwd) by an absolute path, as on Linux.
    let base = if file.first() == Some(&b'/') {
        std::path::PathBuf::from("/")
    } else {
        base_dir(
            ctx,
            if file == raw_path {
                dirfd
            } else {
                AT_FDCWD as u64
            },
        )
        .unwrap_or_else(|_| std::path::PathBuf::from("/"))
    };
    let exe = path::normalize(&base, &file)
        .map(|g| g.path.into_os_string().into_encoded_bytes())
        .unwrap_or_else(|_| file.clone());
    // The old program's shared file mappings reach their files first.
    let _ = ctx.write_back_files(0, crate::guest::layout::USER_END, true);
    // The point of no return: the old program is gone from here (or, for
    // a vfork child, goes back to the parent that lent it).
    let (mm, _) = ctx.memory();
    let old = std::mem::replace(mm, fresh);
    let pid = ctx.process.identity.pid;
    let lender = ctx
        .kernel
        .procs
        .get_mut(pid)
        .and_then(|e| e.borrowed_from.take());
    let give_back = match lender {
        Some(parent) => Some((parent, old)),
        None => {
            let (_, mem) = ctx.memory();
            old.release(mem).map_err(lost)?;
            None
        }
    };
    let p = &mut *ctx.process;
    p.exe = exe;
    p.cmdline = args
        .iter()
        .flat_map(|a| a.iter().copied().chain([0]))
        .collect();
    // Closing a queue's descriptor ends the process's registration on it
    // (Linux's flush); queue descriptors are close-on-exec.
    for obj in p.fds.close_on_exec() {
        super::posix_mq::closed(&obj, pid);
    }
    p.signal_actions.reset_for_exec();
    p.timers = Default::default();
    p.timers_changed += 1;
    if let Some(e) = ctx.kernel.procs.get_mut(pid) {
        e.execed = true;
    }
    let t = &mut *ctx.thread;
    t.comm = comm_of(&file);
    t.signals.altstack = None;
    t.clear_child_tid = 0;
    t.robust_list = 0;
    Err(Stop::Exec(Box::new(ExecStart {
        entry: image.start_address(),
        rsp,
        give_back,
    })))
}

/// The runner could not release an address space's frames (its memory
/// calls failed): the process cannot go on safely, it is killed.
fn lost(e: MapError) -> Stop {
    Stop::Kill(crate::kernel::death::Death::Signal {
        signal: crate::abi::constants::SIGKILL,
        cause: format!("execve: the runner could not release the old program's memory ({e})"),
        rip: 0,
        addr: None,
    })
}

fn map_errno(e: MapError) -> Errno {
    match e {
        MapError::NoMemory => Errno::NOMEM,
        _ => Errno::FAULT,
    }
}

/// An argv or envp array: pointers to strings up to a NULL pointer.
fn read_strings(ctx: &mut Ctx<'_>, list: u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if list == 0 {
        return Ok(out);
    }
    let mut total = 0u64;
    for i in 0u64.. {
        let at = GuestPtr::new(list).checked_add(i * 8).ok_or(Errno::FAULT)?;
        let mut word = [0u8; 8];
        ctx.tunnel().read(at, &mut word).map_err(|_| Errno::FAULT)?;
        let ptr = u64::from_le_bytes(word);
        if ptr == 0 {
            break;
        }
        let left = ARG_MAX_BYTES.saturating_sub(total) as usize;
        let s = match ctx.tunnel().read_cstring(GuestPtr::new(ptr), left) {
            Ok(s) => s,
            Err(crate::tunnel::TunnelError::TooLong(_)) => return Err(Errno::TOOBIG),
            Err(crate::tunnel::TunnelError::Fault(_)) => return Err(Errno::FAULT),
        };
        total += s.len() as u64 + 1;
        out.push(s);
    }
    Ok(out)
}

/// Reads the program at `raw` (relative to `dirfd`) for running it
/// (`loader::interpreter::read_runnable`).
fn read_program(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    raw: &[u8],
    nofollow: bool,
) -> Result<Vec<u8>, Errno> {
    let base = if raw.first() == Some(&b'/') {
        std::path::PathBuf::from("/")
    } else {
        base_dir(ctx, dirfd)?
    };
    let g = path::normalize(&base, raw).map_err(|e| match e {
        path::PathError::Empty => Errno::NOENT,
        path::PathError::TooLong => Errno::NAMETOOLONG,
    })?;
    let limit = ctx.kernel.exec.memory_limit;
    interpreter::read_runnable(&ctx.process.vfs, &g.path, nofollow, limit)
}
