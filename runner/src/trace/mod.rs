//! `runner exec --trace[=FILE]`: one line per guest syscall, as strace
//! writes them, with who made it, its decoded arguments, its result and
//! how long it took; the signals delivered to handlers; how each process
//! ended. `--trace-format json` writes one object per line instead.
//!
//! ```text
//! [2 2] openat(AT_FDCWD, "/data/x", O_RDONLY|O_CLOEXEC) = 3 <0.000012>
//! [2 2] write(1, "hi\n", 3) = 3 <0.000031>
//! [2 2] mkdir("/x", 0755) = -1 EPERM (Operation not permitted) (policy) <0.000004>
//! [2 2] --- SIGALRM {si_signo=SIGALRM, si_code=SI_KERNEL} ---
//! [2 2] +++ exited with 0 +++
//! ```
//!
//! A call's arguments are read from guest memory through the tunnel when
//! it is made (paths, the bytes a write sends) and when it returns (the
//! bytes a read got, a pipe's descriptors); what the tunnel refuses shows
//! as its address. The table of how each call's arguments are shown is
//! `signatures.rs`. Tracing sees every call the runner answers: `--trace`
//! turns the in-VM monitor off and makes every call exit (no syscall
//! ring), so that none is answered out of its sight. Off, it costs one
//! branch per syscall.
//!
//! Shared by every thread of the run (`Kernel::trace`); each line is one
//! write. A line that cannot be written (stderr a full pipe for
//! `say::WAIT`, a file past its size limit) is dropped and counted; the
//! run's end says how many.

pub mod render;
pub mod signatures;

use crate::tunnel::{GuestPtr, Tunnel};
use signatures::Arg;
use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `--trace-format`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum TraceFormat {
    /// strace's lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

enum Sink {
    Stderr,
    File(std::fs::File),
}

/// Where the trace goes, and how.
pub struct Tracer {
    sink: Sink,
    format: TraceFormat,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A call being made: what its line shows so far.
#[derive(Debug)]
pub struct Pending {
    pid: u64,
    tid: u64,
    name: Cow<'static, str>,
    args: Args,
    kinds: Option<&'static [Arg]>,
    /// Each argument as shown, where it is known when the call is made.
    shown: Vec<Option<String>>,
    start: Instant,
    /// The policy refused it (`[syscalls]`).
    policy: bool,
}

impl Pending {
    /// The call's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy's `[syscalls]` refused this call.
    pub fn refused_by_policy(&mut self) {
        self.policy = true;
    }
}

/// A call's six argument registers (rdi, rsi, rdx, r10, r8, r9).
pub type Args = [u64; 6];

/// The most bytes of a path read for a line.
const PATH_BYTES: usize = 4096;

impl Tracer {
    /// A tracer writing to `path` (created, or truncated), or to stderr
    /// when `path` is `-`. Made before the lock-down.
    pub fn open(path: &Path, format: TraceFormat) -> std::io::Result<Tracer> {
        let sink = if path == Path::new("-") {
            Sink::Stderr
        } else {
            Sink::File(std::fs::File::create(path)?)
        };
        Ok(Tracer {
            sink,
            format,
            dropped: AtomicU64::new(0),
        })
    }

    /// Lines that could not be written.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn write(&self, mut line: String) {
        line.push('\n');
        let ok = match &self.sink {
            Sink::Stderr => crate::say::write_within(std::io::stderr(), line.as_bytes()),
            Sink::File(f) => (&*f).write_all(line.as_bytes()).is_ok(),
        };
        if !ok {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Call `nr` with `args` by thread `tid` of process `pid`: its
    /// arguments as they are before it runs.
    pub fn begin(&self, pid: u64, tid: u64, nr: u64, args: &Args, tunnel: &Tunnel<'_>) -> Pending {
        let name = render::syscall_name(nr);
        let kinds = signatures::of(&name);
        let mut shown: Vec<Option<String>> = match kinds {
            Some(kinds) => kinds
                .iter()
                .enumerate()
                .map(|(i, &k)| before(k, args, i, tunnel))
                .collect(),
            None => args.iter().map(|v| Some(format!("{v:#x}"))).collect(),
        };
        // As strace: open's mode only when it creates.
        let flags = match name.as_ref() {
            "open" => Some(args[1]),
            "openat" => Some(args[2]),
            _ => None,
        };
        if flags.is_some_and(|f| f & (libc::O_CREAT | libc::O_TMPFILE) as u64 == 0) {
            shown.pop();
        }
        Pending {
            pid,
            tid,
            name,
            args: *args,
            kinds,
            shown,
            start: Instant::now(),
            policy: false,
        }
    }

    /// The call of `p` returned `value` (RAX).
    pub fn finish(&self, p: Pending, value: u64, tunnel: &Tunnel<'_>) {
        let mut shown = p.shown;
        if let Some(kinds) = p.kinds {
            // (`shown` may be shorter: open's mode is left out.)
            for (slot, (i, k)) in shown.iter_mut().zip(kinds.iter().enumerate()) {
                if slot.is_none() {
                    *slot = Some(after(*k, &p.args, i, value, tunnel));
                }
            }
        }
        let args: Vec<String> = shown.into_iter().flatten().collect();
        let seconds = p.start.elapsed().as_secs_f64();
        let hex = matches!(p.name.as_ref(), "mmap" | "brk" | "mremap");
        let line = match self.format {
            TraceFormat::Text => format!(
                "[{} {}] {}({}) = {}{} <{seconds:.6}>",
                p.pid,
                p.tid,
                p.name,
                args.join(", "),
                render::result(value, hex),
                if p.policy { " (policy)" } else { "" },
            ),
            TraceFormat::Json => {
                let signed = value as i64;
                let errno = (-4095..0)
                    .contains(&signed)
                    .then(|| render::errno_name((-signed) as i32));
                serde_json::json!({
                    "pid": p.pid,
                    "tid": p.tid,
                    "syscall": p.name,
                    "args": args,
                    "result": if errno.is_some() { -1 } else { signed },
                    "errno": errno,
                    "policy": p.policy,
                    "seconds": seconds,
                })
                .to_string()
            }
        };
        self.write(line);
    }

    /// The call of `p` did not return: `why` (strace's `?` forms, e.g.
    /// "ERESTARTSYS (To be restarted if SA_RESTART is set)", or "" for a
    /// call that never returns).
    pub fn unfinished(&self, p: Pending, why: &str) {
        let args: Vec<String> = p
            .shown
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.unwrap_or_else(|| format!("{:#x}", p.args[i])))
            .collect();
        let line = match self.format {
            TraceFormat::Text => {
                let tail = if why.is_empty() {
                    String::new()
                } else {
                    format!(" {why}")
                };
                format!(
                    "[{} {}] {}({}) = ?{tail}",
                    p.pid,
                    p.tid,
                    p.name,
                    args.join(", ")
                )
            }
            TraceFormat::Json => serde_json::json!({
                "pid": p.pid,
                "tid": p.tid,
                "syscall": p.name,
                "args": args,
                "result": null,
                "unfinished": why,
            })
            .to_string(),
        };
        self.write(line);
    }

    /// A signal delivered to a handler of thread `tid`.
    pub fn signal(&self, pid: u64, tid: u64, sig: u64, code: i32, addr: Option<u64>) {
        let name = render::signal(sig);
        let code_name = si_code(sig, code);
        let line = match self.format {
            TraceFormat::Text => {
                let at = addr
                    .map(|a| format!(", si_addr={a:#x}"))
                    .unwrap_or_default();
                format!("[{pid} {tid}] --- {name} {{si_signo={name}, si_code={code_name}{at}}} ---")
            }
            TraceFormat::Json => serde_json::json!({
                "pid": pid, "tid": tid, "event": "signal", "signal": name,
                "code": code_name, "addr": addr,
            })
            .to_string(),
        };
        self.write(line);
    }

    /// Process `pid` ended: exited with `status`, or killed (`how`: the
    /// death line's words, e.g. "SIGSEGV (page fault ...) at rip 0x...").
    pub fn ended(&self, pid: u64, tid: u64, end: Ending<'_>) {
        let line = match (self.format, end) {
            (TraceFormat::Text, Ending::Exited(s)) => {
                format!("[{pid} {tid}] +++ exited with {s} +++")
            }
            (TraceFormat::Text, Ending::Killed(how)) => {
                format!("[{pid} {tid}] +++ killed by {how} +++")
            }
            (TraceFormat::Json, Ending::Exited(s)) => serde_json::json!({
                "pid": pid, "tid": tid, "event": "exited", "status": s,
            })
            .to_string(),
            (TraceFormat::Json, Ending::Killed(how)) => serde_json::json!({
                "pid": pid, "tid": tid, "event": "killed", "how": how,
            })
            .to_string(),
        };
        self.write(line);
    }
}

/// How a process ended, for [`Tracer::ended`].
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    Exited(i32),
    Killed(&'a str),
}

/// A signal's si_code as strace names it.
fn si_code(sig: u64, code: i32) -> String {
    match code {
        0 => "SI_USER".into(),
        0x80 => "SI_KERNEL".into(),
        -1 => "SI_QUEUE".into(),
        -2 => "SI_TIMER".into(),
        -6 => "SI_TKILL".into(),
        1..=3 if sig == libc::SIGCHLD as u64 => {
            ["", "CLD_EXITED", "CLD_KILLED", "CLD_DUMPED"][code as usize].into()
        }
        1 if sig == libc::SIGSEGV as u64 => "SEGV_MAPERR".into(),
        2 if sig == libc::SIGSEGV as u64 => "SEGV_ACCERR".into(),
        c => c.to_string(),
    }
}

/// Argument `i` of kind `k` as it is before the call; None when it is
/// shown after (what the call writes).
fn before(k: Arg, args: &Args, i: usize, tunnel: &Tunnel<'_>) -> Option<String> {
    let v = args[i];
    match k {
        Arg::OutBuf | Arg::FdPair => None,
        Arg::Path => Some(string_at(tunnel, v).unwrap_or_else(|| render::scalar(Arg::Ptr, v))),
        Arg::InBuf(len) => {
            let n = args[len].min(render::STRING_BYTES as u64 + 1) as usize;
            Some(bytes_at(tunnel, v, n, args[len] as usize))
        }
        Arg::Argv => Some(argv_at(tunnel, v)),
        _ => Some(render::scalar(k, v)),
    }
}

/// Argument `i` of kind `k` after the call returned `ret`.
fn after(k: Arg, args: &Args, i: usize, ret: u64, tunnel: &Tunnel<'_>) -> String {
    let v = args[i];
    let failed = (ret as i64) < 0;
    match k {
        Arg::OutBuf if !failed => {
            let n = ret.min(render::STRING_BYTES as u64 + 1) as usize;
            bytes_at(tunnel, v, n, ret as usize)
        }
        Arg::FdPair if !failed => {
            let mut b = [0u8; 8];
            match tunnel.read(GuestPtr::new(v), &mut b) {
                Ok(()) => format!(
                    "[{}, {}]",
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                    i32::from_le_bytes([b[4], b[5], b[6], b[7]])
                ),
                Err(_) => render::scalar(Arg::Ptr, v),
            }
        }
        _ => render::scalar(Arg::Ptr, v),
    }
}

fn string_at(tunnel: &Tunnel<'_>, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let s = tunnel.read_cstring(GuestPtr::new(addr), PATH_BYTES).ok()?;
    Some(render::quoted(&s, false))
}

/// `n` bytes at `addr` (of `total` the call moves), quoted.
fn bytes_at(tunnel: &Tunnel<'_>, addr: u64, n: usize, total: usize) -> String {
    let mut b = vec![0u8; n];
    match tunnel.read(GuestPtr::new(addr), &mut b) {
        Ok(()) => render::quoted(&b, total > render::STRING_BYTES),
        Err(_) => render::scalar(Arg::Ptr, addr),
    }
}

/// A NULL-terminated array of strings: `["ls", "-l"]`.
fn argv_at(tunnel: &Tunnel<'_>, addr: u64) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    let mut items = Vec::new();
    for i in 0..render::ARGV_ITEMS as u64 {
        let Ok(p) = tunnel.read_u64(GuestPtr::new(addr.wrapping_add(i * 8))) else {
            return render::scalar(Arg::Ptr, addr);
        };
        if p == 0 {
            return format!("[{}]", items.join(", "));
        }
        items.push(string_at(tunnel, p).unwrap_or_else(|| format!("{p:#x}")));
    }
    format!("[{}, ...]", items.join(", "))
}
