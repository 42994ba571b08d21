//! The kernel objects of the emulated Linux, after gVisor's Sentry:
//!
//! - [`Kernel`]: what the whole sandbox shares: the policy's syscall rules,
//!   network peers and tunnel ranges, the write budget, the run's clock,
//!   the report-once bookkeeping;
//! - [`Process`]: one thread group: its address space, descriptor table,
//!   file-system view and cwd, signal dispositions, identity and limits;
//! - [`Thread`]: one task: its vCPU, signal mask and pending set, tid,
//!   `clear_child_tid`, robust list, TLS bases and name.
//!
//! The VM itself (its memory slot, entry point, monitor, clock) is the
//! machine under them all (`run::boot::Machine`).
//!
//! A syscall handler gets a `syscalls::Ctx`, the calling thread's view,
//! and reaches its process and the kernel from it; nothing is global.
//!
//! # Locks
//!
//! Today there is one process with one thread and the objects are plain
//! structs owned by the run. The plan for several threads (which field
//! sits behind which lock, the lock order, and why no lock is held across
//! a wait) is written once, in `docs/architecture.md`, "The lock plan".

pub mod budget;
pub mod death;
pub mod events;
pub mod fds;
pub mod fifos;
pub mod file_locks;
pub mod file_maps;
pub mod flocks;
pub mod futex;
pub mod inotify;
pub mod limits;
pub mod parker;
pub mod pidfd;
pub mod pipe_buffer;
pub mod posix_mq;
pub mod process;
pub mod process_table;
pub mod shared_file_pages;
pub mod signal_state;
pub mod socket_pairs;
pub mod sysv_ipc;
pub mod terminal;
pub mod thread;
pub mod thread_group;
pub mod timers;
pub mod unix_names;
pub mod unix_sockets;

pub use process::Process;

/// Locks `m`. A poisoned lock (a thread panicked holding it) is taken as
/// it is: a panic in the runner ends the run anyway, with its own status.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
pub use thread::Thread;

use crate::guest::address_space::AddressSpace;
use budget::WriteBudget;
use limits::RunClock;
use sandbox_policy::{NetRules, Policy, SyscallRules, TunnelRanges};
use std::collections::BTreeSet;
use thinvisor_kmod::Vcpu;

/// What every process and thread of the sandbox shares.
#[derive(Debug)]
pub struct Kernel {
    /// The policy's `[syscalls]` rules, checked before every syscall.
    pub rules: SyscallRules,
    /// The policy's network peers.
    pub net: NetRules,
    /// The policy's `[[tunnel]]` table: the guest ranges syscall buffers
    /// may lie in, and for what (empty: anywhere the page tables allow).
    /// Every guest pointer goes through it (`syscalls::Ctx::tunnel`), as do
    /// the in-VM monitor's range tables.
    pub tunnel_ranges: TunnelRanges,
    /// The policy's bytes_written limit and what has been written so far.
    pub budget: WriteBudget,
    /// `limits.created_entries`: what may still be created in writable trees.
    pub created: budget::CreateBudget,
    /// What the sandbox's pipes may hold together (runner memory).
    pub pipes: std::sync::Arc<pipe_buffer::PipeBudget>,
    /// How many AF_UNIX socketpair ends may be alive (host kernel memory).
    pub socket_pairs: socket_pairs::SocketPairBudget,
    /// How many inotify instances and watches the sandbox holds (host
    /// kernel objects counted against the host user's limits).
    pub inotify: inotify::InotifyBudget,
    /// When the run started and when its wall-clock limit passes.
    pub clock: RunClock,
    /// Refused and unsupported syscalls already reported.
    pub reports: Reports,
    /// The CPUs the sandbox shows (sched_getaffinity, getcpu): the host
    /// CPUs the runner may use, at most the policy's `limits.threads`.
    pub cpus: u64,
    /// The futex wait queues (kernel/futex.rs).
    pub futexes: futex::Futexes,
    /// The named pipes open in the sandbox (kernel/fifos.rs).
    pub fifos: fifos::Fifos,
    /// The sandbox's AF_UNIX names (kernel/unix_names.rs).
    pub unix_names: unix_names::UnixNames,
    /// The descriptors passed over AF_UNIX sockets and not yet received
    /// (kernel/unix_sockets.rs).
    pub unix_in_flight: unix_sockets::InFlight,
    /// Threads waiting for another thread's next syscall (`Wait::Retry`):
    /// woken, and forgotten, after every syscall.
    pub retry_waiters: Vec<std::sync::Arc<parker::Parker>>,
    /// Every process: pids, parents, groups, zombies.
    pub procs: process_table::ProcessTable,
    /// What execve needs to start a program as boot did.
    pub exec: ExecInfo,
    /// fcntl's record locks, by file and process.
    pub file_locks: file_locks::FileLocks,
    /// flock(2) locks between open file descriptions (kernel/flocks.rs).
    pub flocks: flocks::Flocks,
    /// The frames of files' pages that MAP_SHARED mappings show.
    pub shared_pages: shared_file_pages::SharedFilePages,
    /// The guest's supplementary groups (the policy's `identity.groups`;
    /// every process has them: setgroups cannot change them).
    pub groups: Vec<u32>,
    /// Signals come from outside the sandbox (`--forward-signals`): a host
    /// thread of the run posts them, so no call may wait on the host with
    /// the kernel lock held, not even the only thread's.
    pub signals_from_outside: bool,
    /// `--as-init`: a signal from outside that the first program neither
    /// handles nor ignores is discarded (run/processes.rs).
    pub first_is_init: bool,
    /// How the guest's syscalls reach the runner (`--syscalls`; ring only
    /// without the in-VM monitor).
    pub syscall_mode: crate::ring::SyscallMode,
    /// With the ring: when each thread takes it (`SyscallMode::ring_start`).
    pub ring_start: crate::ring::RingStart,
    /// The terminal the policy lends the guest (`stdio.terminal`), if any.
    pub terminal: Option<terminal::Terminal>,
    /// `--trace`: where each syscall's line goes.
    pub trace: Option<std::sync::Arc<crate::trace::Tracer>>,
    /// `--verdict`: what the audit saw so far (crate::audit).
    pub audit: Option<Box<crate::audit::Audit>>,
    /// `--learn-record`: what the run used (crate::audit::uses).
    pub uses: Option<Box<crate::audit::uses::Uses>>,
    /// The sandbox's System V message queues and semaphore sets.
    pub ipc: sysv_ipc::Ipc,
    /// The sandbox's POSIX message queues, by name.
    pub mqueues: posix_mq::Namespace,
}

/// What execve needs to lay out a new program the way boot laid out the
/// first (run/boot.rs): the same auxiliary vector and stack size.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecInfo {
    /// What the aux vector says of the CPU (AT_HWCAP, AT_MINSIGSTKSZ).
    pub cpu: crate::loader::start::CpuAuxv,
    /// The vDSO is mapped (and named in the aux vector).
    pub vdso: bool,
    /// The policy's memory limit (the initial stack's size follows it).
    pub memory_limit: u64,
    /// The in-VM monitor runs (it serves one program: no execve).
    pub monitor: bool,
}

/// A process table for a kernel that has not been given its first
/// process yet (`Objects::of` replaces it).
fn placeholder_table() -> process_table::ProcessTable {
    process_table::ProcessTable::new(
        process::GUEST_PID,
        process::GUEST_PPID,
        std::sync::Arc::new(thread_group::ThreadGroup::new(
            1,
            std::sync::Arc::new(parker::Parker::default()),
        )),
        sandbox_policy::defaults::PROCESSES,
    )
}

/// The host CPUs this process may run on (its affinity mask), at least 1.
fn host_cpus() -> u64 {
    rustix::thread::sched_getaffinity(None).map_or(1, |set| u64::from(set.count().max(1)))
}

/// The most different syscalls one run reports (a guest sweeping syscall
/// numbers would otherwise write a line per number to the operator's
/// stderr and grow the set without bound).
pub const MAX_REPORTS: usize = 64;

/// Refused and unsupported syscalls are reported once per number, for the
/// first [`MAX_REPORTS`] numbers; then one line says the rest are not.
#[derive(Debug)]
pub struct Reports {
    /// Whether they are reported on stderr at all (the fuzzer, which makes
    /// thousands of them, turns this off).
    pub enabled: bool,
    reported: BTreeSet<u64>,
    /// The cap was reached (and said so).
    capped: bool,
}

impl Reports {
    /// Whether syscall `nr`'s report is due now (its first time, reports
    /// are on, and fewer than [`MAX_REPORTS`] numbers were reported).
    pub fn first(&mut self, nr: u64) -> bool {
        if !self.enabled || self.reported.contains(&nr) {
            return false;
        }
        if self.reported.len() >= MAX_REPORTS {
            if !self.capped {
                self.capped = true;
                crate::say!(
                    "runner: more than {MAX_REPORTS} different syscalls were refused or unsupported; the others are not reported"
                );
            }
            return false;
        }
        self.reported.insert(nr)
    }
}

impl Default for Reports {
    fn default() -> Reports {
        Reports {
            enabled: true,
            reported: BTreeSet::new(),
            capped: false,
        }
    }
}

impl Kernel {
    /// Whether the policy lets the guest reach `addr` over `protocol`
    /// (`listen`: serve on it), noted for `runner learn` either way.
    pub fn allows_peer(
        &mut self,
        protocol: sandbox_policy::Protocol,
        addr: std::net::SocketAddr,
        listen: bool,
    ) -> bool {
        let allowed = if listen {
            self.net.allows_bind(protocol, addr)
        } else {
            self.net.allows(protocol, addr)
        };
        // Port 0 (any port) is nothing a rule can name: not learned.
        // Nor is an unspecified address to reach (a policy refuses it).
        let nameable = addr.port() != 0 && (listen || !addr.ip().is_unspecified());
        if let Some(uses) = self.uses.as_mut().filter(|_| nameable) {
            let peer = crate::audit::uses::Peer {
                protocol: match protocol {
                    sandbox_policy::Protocol::Tcp => "tcp",
                    sandbox_policy::Protocol::Udp => "udp",
                }
                .to_string(),
                address: addr.to_string(),
                listen,
            };
            uses.peer(peer, allowed);
        }
        allowed
    }

    /// No network, no rules, the default budget and clock.
    pub fn new() -> Kernel {
        Kernel {
            rules: SyscallRules::default(),
            net: NetRules::default(),
            tunnel_ranges: TunnelRanges::default(),
            budget: WriteBudget::default(),
            created: budget::CreateBudget::default(),
            pipes: Default::default(),
            socket_pairs: socket_pairs::SocketPairBudget::for_memory(
                sandbox_policy::defaults::MEMORY_BYTES,
            ),
            inotify: Default::default(),
            clock: RunClock::default(),
            reports: Reports::default(),
            cpus: 1,
            futexes: futex::Futexes::default(),
            fifos: fifos::Fifos::default(),
            unix_names: Default::default(),
            unix_in_flight: Default::default(),
            retry_waiters: Vec::new(),
            procs: placeholder_table(),
            exec: ExecInfo::default(),
            file_locks: Default::default(),
            flocks: Default::default(),
            shared_pages: Default::default(),
            groups: Vec::new(),
            signals_from_outside: false,
            first_is_init: false,
            syscall_mode: Default::default(),
            ring_start: Default::default(),
            terminal: None,
            trace: None,
            audit: None,
            uses: None,
            ipc: Default::default(),
            mqueues: Default::default(),
        }
    }

    /// The kernel of a run under `policy` that started at `start`.
    pub fn for_policy(policy: &Policy, start: std::time::Instant) -> Kernel {
        Kernel {
            rules: policy.syscalls.clone(),
            net: policy.network.clone(),
            tunnel_ranges: policy.tunnel.clone(),
            budget: WriteBudget {
                used: 0,
                limit: policy.limits.bytes_written,
            },
            created: budget::CreateBudget {
                used: 0,
                limit: policy.limits.created_entries,
            },
            pipes: std::sync::Arc::new(pipe_buffer::PipeBudget::for_memory(
                policy.limits.memory_bytes,
            )),
            socket_pairs: socket_pairs::SocketPairBudget::for_memory(policy.limits.memory_bytes),
            inotify: Default::default(),
            clock: RunClock::new(start, policy.limits.wall_time),
            reports: Reports::default(),
            cpus: host_cpus().min(u64::from(policy.limits.threads)).max(1),
            futexes: futex::Futexes::default(),
            fifos: fifos::Fifos::default(),
            unix_names: Default::default(),
            unix_in_flight: Default::default(),
            retry_waiters: Vec::new(),
            procs: process_table::ProcessTable::new(
                process::GUEST_PID,
                process::GUEST_PPID,
                std::sync::Arc::new(thread_group::ThreadGroup::new(
                    1,
                    std::sync::Arc::new(parker::Parker::default()),
                )),
                policy.limits.processes,
            ),
            exec: ExecInfo {
                cpu: crate::loader::start::CpuAuxv::default(),
                vdso: false,
                memory_limit: policy.limits.memory_bytes,
                monitor: false,
            },
            file_locks: Default::default(),
            flocks: Default::default(),
            shared_pages: Default::default(),
            groups: policy.identity.groups.clone(),
            signals_from_outside: false,
            first_is_init: false,
            syscall_mode: Default::default(),
            ring_start: Default::default(),
            terminal: policy
                .stdio
                .terminal
                .then(|| terminal::Terminal::for_first(process::GUEST_PID)),
            trace: None,
            audit: None,
            uses: None,
            ipc: Default::default(),
            mqueues: Default::default(),
        }
    }
}

impl Default for Kernel {
    fn default() -> Kernel {
        Kernel::new()
    }
}

/// The kernel with its one process and that process's one thread: what a
/// run holds until threads and processes arrive (then the kernel holds its
/// processes and each process its threads).
#[derive(Debug)]
pub struct Objects {
    pub kernel: Kernel,
    pub process: Process,
    pub thread: Thread,
}

impl Objects {
    /// A booted guest's first process (in `mm`) and thread (on `vcpu`):
    /// no files, no network, the default limits.
    pub fn new(fds: fds::FdTable, mm: AddressSpace, vcpu: Vcpu) -> Objects {
        Objects::of(Kernel::new(), Process::new(fds, mm), vcpu, b"program")
    }

    /// The first thread of `process`, on `vcpu`, running `program`.
    fn of(mut kernel: Kernel, process: Process, vcpu: Vcpu, program: &[u8]) -> Objects {
        let cr3 = process.mm.tables.root;
        kernel.procs = process_table::ProcessTable::new(
            process.identity.pid,
            process.identity.ppid,
            process.threads.clone(),
            kernel.procs.max() as u32,
        );
        let thread = match process.threads.member(process::GUEST_PID) {
            Some(leader) => Thread::main(vcpu, program, &leader, cr3, process.threads.clone()),
            None => Thread::main(
                vcpu,
                program,
                &thread_group::Member {
                    tid: process::GUEST_PID,
                    cpu: Default::default(),
                    parker: Default::default(),
                    inbox: Default::default(),
                    interrupter: None,
                    zapped: Default::default(),
                },
                cr3,
                process.threads.clone(),
            ),
        };
        Objects {
            kernel,
            process,
            thread,
        }
    }

    /// A run of `program` under `policy` that started at `start`, with
    /// the files `Vfs::prepare` opened, in the booted guest's address space
    /// `mm` and on its vCPU.
    pub fn for_run(
        fds: fds::FdTable,
        vfs: crate::vfs::Vfs,
        policy: &Policy,
        program: &[u8],
        start: std::time::Instant,
        mm: AddressSpace,
        vcpu: Vcpu,
    ) -> Objects {
        Objects::of(
            Kernel::for_policy(policy, start),
            Process::for_policy(fds, vfs, policy, mm),
            vcpu,
            program,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync>() {}
    fn movable<T: Send>() {}

    /// What the lock plan (docs/architecture.md) needs from the types:
    /// open file descriptions can be shared between host threads (dup'ed
    /// descriptors used by different threads), the kernel is shared by
    /// all, and a process can move behind its locks. A `Thread` cannot
    /// move: its vCPU (`thinvisor_kmod::Vcpu`, deliberately not `Send`) is
    /// interrupted by signalling the host thread that created it, so each
    /// guest thread's `Thread` is made on, and stays on, its own host thread.
    #[test]
    fn kernel_objects_can_cross_host_threads() {
        shareable::<fds::Object>();
        shareable::<pipe_buffer::PipeEnd>();
        shareable::<Kernel>();
        movable::<Process>();
    }

    /// A guest sweeping syscall numbers gets MAX_REPORTS reports, then
    /// none: the set stops growing.
    #[test]
    fn reports_stop_at_the_cap() {
        let mut r = Reports::default();
        let due = (1000..1000 + 10 * MAX_REPORTS as u64)
            .filter(|&nr| r.first(nr))
            .count();
        assert_eq!(due, MAX_REPORTS);
        assert_eq!(r.reported.len(), MAX_REPORTS);
        assert!(r.capped);
        assert!(!r.first(1000), "once per number");
    }
}
