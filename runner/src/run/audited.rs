//! Where the run loop tells `--verdict`'s audit (crate::audit) what the
//! guest did: a program loaded, a syscall entered, refused or failed, a
//! fault taken, code written, the run's end; and where the verdict is
//! written. Each is one branch when the audit is off.

use super::frame::Frame;
use super::run_loop::RunError;
use super::threads::State;
use crate::audit::calls::{self, CallSeen, Quoted};
use crate::audit::faults::{self, FaultSeen};
use crate::audit::places::Places;
use crate::audit::{scan, uses, Audit, Finding, Reason};
use crate::guest::layout::{stack_size, STACK_TOP};
use crate::kernel::death::Death;
use crate::kernel::{Kernel, Process, Thread};
use crate::syscalls::Args;
use crate::tunnel::{GuestPtr, Tunnel};
use thinvisor_kmod::Vcpu;

fn places(process: &Process) -> Places<'_> {
    Places {
        mm: &process.mm,
        stack_low: STACK_TOP - stack_size(process.limits.memory_limit),
    }
}

/// A program was loaded into `process` (at boot, or by execve): its code
/// is scanned, and its writable code pages fault on their first write.
pub fn loaded(
    machine: &mut super::boot::Machine,
    kernel: &mut Kernel,
    process: &mut Process,
) -> Result<(), RunError> {
    let Some(audit) = kernel.audit.as_mut() else {
        return Ok(());
    };
    let mem = machine.vm.memory_mut(machine.slot)?;
    for f in scan::scan(&places(process), mem, process.identity.pid) {
        audit.add(f);
    }
    process
        .mm
        .watch_code_writes(mem)
        .map_err(|e| RunError::Internal(format!("cannot watch the program's code: {e}")))?;
    Ok(())
}

/// Thread `t` entered call `nr` at `site` with its stack at `rsp` and its
/// saved flags `flags`.
pub fn entering(
    st: &mut State<'_>,
    t: &Thread,
    nr: u64,
    args: &Args,
    site: u64,
    rsp: u64,
    flags: u64,
) {
    let Some(audit) = st.kernel.audit.as_mut() else {
        return;
    };
    let name = crate::syscalls::table::name_of(nr);
    let c = CallSeen {
        pid: t.pid,
        name: &name,
        args: *args,
        site,
    };
    for f in calls::entering(&places(st.process), &c, rsp, flags) {
        audit.add(f);
    }
}

/// The policy's `[syscalls]` refused call `nr` of thread `t` at `site`.
pub fn refused(st: &mut State<'_>, t: &Thread, nr: u64, site: u64) {
    let Some(audit) = st.kernel.audit.as_mut() else {
        return;
    };
    let name = crate::syscalls::table::name_of(nr);
    let p = places(st.process);
    audit.add(
        Finding::new(
            Reason::RefusedSyscall,
            t.pid,
            format!("{name} denied by the policy's [syscalls]"),
        )
        .at(site, p.describe(site)),
    );
}

/// Call `nr` of thread `t`, made at `site`, returned `value`: a failure
/// for the audit, a success for what the run used (`runner learn`).
pub fn returned(
    st: &mut State<'_>,
    t: &Thread,
    nr: u64,
    args: &Args,
    value: u64,
    site: u64,
) -> Result<(), RunError> {
    if st.kernel.audit.is_none() && st.kernel.uses.is_none() {
        return Ok(());
    }
    let errno = (value as i64).wrapping_neg();
    let name = crate::syscalls::table::name_of(nr);
    if !(1..4096).contains(&errno) {
        if st.kernel.uses.is_some() {
            record_uses(st, &name, args)?;
        }
        return Ok(());
    }
    if st.kernel.audit.is_none() {
        return Ok(());
    }
    let quoted = quote(st, &name, args)?;
    let c = CallSeen {
        pid: t.pid,
        name: &name,
        args: *args,
        site,
    };
    let found = calls::failed(&places(st.process), &c, errno as i32, &quoted);
    if let (Some(f), Some(audit)) = (found, st.kernel.audit.as_mut()) {
        audit.add(f);
    }
    Ok(())
}

/// For `runner learn`: the program an execve or execveat (`nr`) names,
/// read before the call (its success replaces the memory it is in).
pub fn exec_target(st: &mut State<'_>, nr: u64, args: &Args) -> Result<Option<String>, RunError> {
    const EXECVE: u64 = 59;
    const EXECVEAT: u64 = 322;
    if st.kernel.uses.is_none() {
        return Ok(None);
    }
    match nr {
        EXECVE => guest_path(st, args[0], None),
        EXECVEAT => guest_path(st, args[1], Some(args[0])),
        _ => Ok(None),
    }
}

/// For `runner learn`: the execve that named `path` succeeded.
pub fn execed(st: &mut State<'_>, path: Option<String>) {
    if let (Some(p), Some(u)) = (path, st.kernel.uses.as_mut()) {
        u.file(&p, "execve", uses::How::Exec);
    }
}

/// Calls whose path argument the trace's table does not show: (name,
/// the path's argument, its directory descriptor's).
const MORE_PATHS: &[(&str, usize, Option<usize>)] = &[
    ("link", 0, None),
    ("linkat", 1, Some(0)),
    ("symlink", 1, None),
    ("symlinkat", 2, Some(1)),
    ("mknod", 0, None),
    ("mknodat", 1, Some(0)),
    ("chown", 0, None),
    ("lchown", 0, None),
    ("fchownat", 1, Some(0)),
    ("utimensat", 1, Some(0)),
    ("utimes", 0, None),
    ("utime", 0, None),
    ("futimesat", 1, Some(0)),
    ("setxattr", 0, None),
    ("lsetxattr", 0, None),
    ("fchmodat2", 1, Some(0)),
    ("statfs", 0, None),
    ("truncate", 0, None),
];

/// Notes the paths call `name`, which succeeded, used.
fn record_uses(st: &mut State<'_>, name: &str, args: &Args) -> Result<(), RunError> {
    use crate::trace::signatures::Arg;
    // A file mapped executable (a library's code) needs an -exec rule.
    const PROT_EXEC: u64 = 4;
    const MAP_ANONYMOUS: u64 = 0x20;
    if name == "mmap" && args[2] & PROT_EXEC != 0 && args[3] & MAP_ANONYMOUS == 0 {
        let path = st
            .process
            .fds
            .get(args[4])
            .ok()
            .and_then(|o| o.file_path().map(|p| p.to_string_lossy().into_owned()));
        if let (Some(p), Some(u)) = (path, st.kernel.uses.as_mut()) {
            u.file(&p, "mmap(PROT_EXEC)", uses::How::Exec);
        }
        return Ok(());
    }
    // chdir: the cwd it made (a relative path named the old one).
    if matches!(name, "chdir" | "fchdir") {
        let cwd = st.process.vfs.cwd().to_string_lossy().into_owned();
        if let Some(u) = st.kernel.uses.as_mut() {
            u.file(&cwd, name, uses::How::Read);
        }
        return Ok(());
    }
    let kinds = crate::trace::signatures::of(name).unwrap_or(&[]);
    let dirfd = |i: usize| (i > 0 && kinds.get(i - 1) == Some(&Arg::DirFd)).then(|| i - 1);
    let (first, first_dirfd) = match kinds.iter().position(|k| *k == Arg::Path) {
        Some(i) => (i, dirfd(i)),
        None => match MORE_PATHS.iter().find(|(n, _, _)| *n == name) {
            Some(&(_, i, d)) => (i, d),
            None => return Ok(()),
        },
    };
    let flags = kinds
        .iter()
        .position(|k| *k == Arg::OpenFlags)
        .map_or(0, |i| args[i]);
    let Some(how) = uses::how(name, flags) else {
        return Ok(());
    };
    let mut paths = vec![(first, first_dirfd, how)];
    if let Some((i, d)) = uses::second_path(name) {
        // symlink's first argument is the link's text, not a path it uses.
        if matches!(name, "symlink" | "symlinkat") {
            paths.clear();
        }
        paths.push((i, d, uses::How::Entry));
    }
    for (i, d, how) in paths {
        if let Some(p) = guest_path(st, args[i], d.map(|d| args[d]))? {
            if let Some(u) = st.kernel.uses.as_mut() {
                u.file(&p, name, how);
            }
        }
    }
    Ok(())
}

/// The absolute guest path of the string at `ptr`, relative to the
/// directory descriptor `dirfd` (None or AT_FDCWD: the cwd); None when it
/// cannot be read or named.
fn guest_path(
    st: &mut State<'_>,
    ptr: u64,
    dirfd: Option<u64>,
) -> Result<Option<String>, RunError> {
    const AT_FDCWD: i32 = -100;
    let raw = {
        let mem = st.machine.vm.memory_mut(st.machine.slot)?;
        let tunnel = Tunnel::new(&mut st.process.mm, mem, &st.kernel.tunnel_ranges);
        match tunnel.read_cstring(GuestPtr::new(ptr), 4096) {
            Ok(b) => b,
            Err(_) => return Ok(None),
        }
    };
    let base = match dirfd {
        Some(fd) if fd as i32 != AT_FDCWD && raw.first() != Some(&b'/') => {
            match st
                .process
                .fds
                .get(fd)
                .ok()
                .and_then(|o| o.dir_path().cloned())
            {
                Some(p) => p,
                None => return Ok(None),
            }
        }
        _ => st.process.vfs.cwd().to_path_buf(),
    };
    Ok(crate::vfs::path::normalize(&base, &raw)
        .ok()
        .map(|g| g.path.to_string_lossy().into_owned()))
}

/// The path and the socket address call `name` names, read through the
/// tunnel (what it refuses stays unquoted).
fn quote(st: &mut State<'_>, name: &str, args: &Args) -> Result<Quoted, RunError> {
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    let tunnel = Tunnel::new(&mut st.process.mm, mem, &st.kernel.tunnel_ranges);
    let kinds = crate::trace::signatures::of(name).unwrap_or(&[]);
    let path = kinds
        .iter()
        .zip(args)
        .find(|(k, _)| **k == crate::trace::signatures::Arg::Path)
        .and_then(|(_, &p)| tunnel.read_cstring(GuestPtr::new(p), 4096).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let peer = calls::sockaddr_arg(name).and_then(|(a, l)| {
        let len = args[l].min(128) as usize;
        let mut b = vec![0u8; len];
        (len >= 2 && tunnel.read(GuestPtr::new(args[a]), &mut b).is_ok())
            .then(|| calls::sockaddr_text(&b))
    });
    Ok(Quoted { path, peer })
}

/// Thread `t` took exception `vector` at `frame` (`death` is what it
/// would die of; `handled`: its own handler runs instead). None for
/// `vector`: a fault the runner found on an exit (an `out` the platform
/// let through).
pub fn fault(
    st: &mut State<'_>,
    t: &mut Thread,
    vector: Option<u8>,
    frame: Option<&Frame>,
    death: &Death,
    handled: bool,
) -> Result<(), RunError> {
    if st.kernel.audit.is_none() {
        return Ok(());
    }
    let Death::Signal {
        cause, rip, addr, ..
    } = death
    else {
        return Ok(());
    };
    let gprs = gprs(&mut t.vcpu, frame)?;
    let seen = FaultSeen {
        pid: t.pid,
        vector,
        error_code: frame.map_or(0, |f| f.error_code),
        rip: *rip,
        addr: *addr,
        gprs,
        cause: cause.clone(),
        handled,
    };
    let mem = st.machine.vm.memory(st.machine.slot)?;
    let f = faults::classify(&places(st.process), mem, &seen);
    if let Some(audit) = st.kernel.audit.as_mut() {
        audit.add(f);
    }
    Ok(())
}

fn gprs(vcpu: &mut Vcpu, frame: Option<&Frame>) -> Result<[u64; 16], RunError> {
    let r = vcpu.regs()?;
    let rsp = frame.map_or(r.rsp, |f| f.rsp);
    Ok([
        r.rax, r.rcx, r.rdx, r.rbx, rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ])
}

/// Thread `t` wrote to its code at `addr` (instruction at `rip`): a write
/// fault in a writable and executable mapping, resolved.
pub fn code_written(st: &mut State<'_>, t: &Thread, rip: u64, addr: u64) {
    let Some(audit) = st.kernel.audit.as_mut() else {
        return;
    };
    let p = places(st.process);
    audit.add(
        Finding::new(
            Reason::WriteToCode,
            t.pid,
            format!("write to its code at {addr:#x} ({})", p.describe(addr)),
        )
        .at(rip, p.describe(rip))
        .aimed_at(addr, p.describe(addr)),
    );
}

/// RFLAGS bits no signal frame the kernel wrote can hold: IOPL, NT, VM.
const FORGED_FLAGS: u64 = (3 << 12) | (1 << 14) | (1 << 17);

/// Thread `t`'s rt_sigreturn at `site` restores `rflags` (the runner
/// keeps only the user bits; a frame with more was forged).
pub fn sigreturn(st: &mut State<'_>, t: &Thread, rflags: u64, site: u64) {
    let Some(audit) = st.kernel.audit.as_mut() else {
        return;
    };
    if rflags & FORGED_FLAGS == 0 {
        return;
    }
    let p = places(st.process);
    audit.add(
        Finding::new(
            Reason::ForgedEntry,
            t.pid,
            format!("rt_sigreturn of a forged frame: RFLAGS {rflags:#x} (IOPL, NT or VM set)"),
        )
        .at(site, p.describe(site)),
    );
}

/// Thread `t` is ended by `death`, which no fault or call recorded: a
/// forged return or signal frame, a way around the monitor's gates, an
/// unexpected exit, memory exhausted copying a page.
pub fn ended(st: &mut State<'_>, t: &Thread, death: &Death, reason: Reason) {
    let Some(audit) = st.kernel.audit.as_mut() else {
        return;
    };
    let p = places(st.process);
    let mut f = Finding::new(reason, t.pid, death.to_string());
    if let Some(rip) = death_rip(death) {
        f = f.at(rip, p.describe(rip));
    }
    audit.add(f);
}

fn death_rip(d: &Death) -> Option<u64> {
    match d {
        Death::Signal { rip, .. }
        | Death::TimeLimit { rip, .. }
        | Death::PolicyKill { rip, .. }
        | Death::ClientGone { rip } => Some(*rip),
    }
}

/// The run ended by `death`: the time limit is a finding of its own.
pub fn run_ended(audit: &mut Audit, death: &Death) {
    if let Death::TimeLimit { rip, limit_secs } = death {
        audit.add(Finding::new(
            Reason::Limit,
            crate::kernel::process::GUEST_PID,
            format!("time (limits.wall_time): still running after {limit_secs}s at {rip:#x}"),
        ));
    }
}

/// Writes the verdict to `file` (`path`, for the message) and its line on
/// stderr.
pub fn write_verdict(
    audit: &Audit,
    mut file: std::fs::File,
    path: &std::path::Path,
    program: &str,
    status: i32,
    ending: &str,
) {
    use std::io::Write;
    let v = audit.verdict(program, status, ending);
    let json =
        serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    if let Err(e) = file.write_all((json + "\n").as_bytes()) {
        crate::say!(
            "runner: cannot write the verdict to {}: {e}",
            path.display()
        );
    }
    crate::say!("runner: {} ({})", v.summary(), path.display());
}

/// Writes what the run used to `file` (`path`, for the message).
pub fn write_uses(u: &uses::Uses, mut file: std::fs::File, path: &std::path::Path) {
    use std::io::Write;
    let written = serde_json::to_string_pretty(u)
        .map_err(std::io::Error::other)
        .and_then(|json| file.write_all((json + "\n").as_bytes()));
    if let Err(e) = written {
        crate::say!("runner: cannot write the record to {}: {e}", path.display());
    }
}
