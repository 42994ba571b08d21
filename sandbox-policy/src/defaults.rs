//! The safe defaults: what a policy means when a key is absent.
//!
//! Every value here is documented in `docs/policy.md` ("Defaults"); change
//! both together. The reasons are part of the contract with users: a policy
//! that says nothing must still be bounded in memory, time, descriptors and
//! output, and must grant nothing beyond the standard streams.

use std::time::Duration;

/// `limits.memory`: 256 MiB. Enough for typical command-line tools and
/// interpreters, small enough that a few concurrent sandboxes cannot exhaust
/// a developer machine.
pub const MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// `limits.wall_time`: 60 s. An untrusted program must not be able to run
/// forever; a minute covers tests and batch tools. `--timeout` overrides it.
pub const WALL_TIME: Duration = Duration::from_secs(60);

/// `limits.cpu_time`: unlimited. `wall_time` already bounds CPU use, so a
/// separate CPU budget is only needed when the user asks for one.
pub const CPU_TIME: Option<Duration> = None;

/// `limits.open_files`: 64 descriptors, counting stdin/stdout/stderr. Enough
/// for ordinary programs; small enough to bound host resources per guest.
pub const OPEN_FILES: u32 = 64;

/// `limits.threads`: 64 live threads, the first one included. Go's runtime
/// and thread pools start a handful per core; each thread is a vCPU and a
/// host thread of the runner, so the number bounds host resources.
pub const THREADS: u32 = 64;

/// `limits.processes`: 64 live guest processes, the first one included and
/// zombies counted until they are reaped. Shell pipelines and build tools
/// need a few dozen; the bound turns a fork bomb into EAGAIN. Every process
/// has at least one thread, so `limits.threads` bounds them too.
pub const PROCESSES: u32 = 64;

/// `limits.cpus`: every host CPU the runner may use (its affinity). A
/// program's threads share them with the host's other work as the host
/// scheduler decides; a policy narrows them when sandboxes must not
/// compete for all of the host.
pub const CPUS: Option<u32> = None;

/// `limits.bytes_written`: 1 GiB in total to files, stdout and stderr. Stops
/// a runaway guest from filling the host disk or a log.
pub const BYTES_WRITTEN: u64 = 1024 * 1024 * 1024;

/// `limits.created_entries`: 10000 files and directories. Enough to unpack
/// or build a sizeable source tree; bounds the inodes and directory blocks
/// (at most about 40 MB of metadata) a run can leave on the host's disk,
/// which `bytes_written` does not count.
pub const CREATED_ENTRIES: u32 = 10_000;

/// `stdio.stdin`, `stdio.stdout`, `stdio.stderr`: connected. A sandboxed
/// program is still expected to talk to its caller through its streams.
pub const STDIO_CONNECTED: bool = true;

/// `stdio.terminal`: off. A guest that may set the caller's terminal's
/// modes could leave it without echo, or in raw mode, after the run; only
/// a terminal made for the sandbox (the OCI runtime's `terminal: true`)
/// or one its user lends on purpose should be handed over.
pub const STDIO_TERMINAL: bool = false;

/// `identity.uid` and `identity.gid`: 1000, an ordinary user's. The
/// guest's identity is only what it is told (getuid, the owner of the
/// files it may write); no privilege follows from it, whatever it is.
pub const GUEST_ID: u32 = 1000;

/// `env.inherit`: false. The host environment can hold secrets (tokens,
/// paths, user names); the guest gets only what `env.vars` lists.
pub const ENV_INHERIT: bool = false;

/// `syscalls.on_deny`: EPERM (1), the conventional "operation not
/// permitted" answer, which well-behaved programs handle gracefully.
pub const ON_DENY_ERRNO: i32 = 1;

// Validation bounds (not defaults, but kept with them as data).

/// Guest memory is handed out in pages; `limits.memory` must be a multiple.
pub const PAGE_SIZE: u64 = 4096;

/// `limits.memory` lower bound: 1 MiB. Below this no x86-64 Linux program
/// can load (stack, ELF image and page tables need some room).
pub const MIN_MEMORY_BYTES: u64 = 1024 * 1024;

/// `limits.open_files` lower bound: the three standard descriptors always
/// exist in the guest (disabled ones behave like /dev/null).
pub const MIN_OPEN_FILES: u32 = 3;

/// `limits.open_files` upper bound: Linux's default `fs.nr_open`.
pub const MAX_OPEN_FILES: u32 = 1_048_576;

/// `limits.threads` bounds: at least the first thread; at most one per
/// vCPU the runner lays out (its `MAX_VCPUS`).
pub const MIN_THREADS: u32 = 1;
pub const MAX_THREADS: u32 = 256;

/// `limits.processes` bounds: at least the first program; at most one per
/// vCPU a VM may have.
pub const MIN_PROCESSES: u32 = 1;
pub const MAX_PROCESSES: u32 = 256;

/// `limits.created_entries` bounds: 0 (nothing may be created) to ten
/// million.
pub const MAX_CREATED_ENTRIES: u32 = 10_000_000;

/// `limits.cpus` bounds: at least one CPU; at most Linux's CPU_SETSIZE.
pub const MIN_CPUS: u32 = 1;
pub const MAX_CPUS: u32 = 1024;

/// `tunnel` ranges end at or below this address: the end of the canonical
/// lower (user) half of the x86-64 address space.
pub const USER_ADDRESS_END: u64 = 0x0000_8000_0000_0000;
