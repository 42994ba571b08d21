//! The `--stats FILE` JSON (see shared/design.md for the required keys).

use serde::Serialize;
use std::collections::BTreeMap;

/// Counters of one run.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub exit_status: i32,
    pub wall_ns: u64,
    /// Every return of KVM_RUN to the runner (each is a VM exit to user space).
    pub exits: u64,
    /// Exits by what caused them: "syscall", "exception", "interrupted",
    /// "user_port_io", or KVM's reason for anything unexpected.
    pub exits_by_reason: BTreeMap<String, u64>,
    /// vCPUs the run used: one per host thread that ran guest threads of
    /// any of its processes, so at most the most threads alive at once
    /// (within `limits.threads` for a run of one process; 256 at most).
    pub vcpus: u64,
    /// Processes forked during the run (fork, vfork, process clones).
    pub forks: u64,
    /// Every vCPU ioctl the runner issued, KVM_RUN and setup included, on
    /// all the run's vCPUs (as are `vcpu_ioctls_other` and `guest_ns`).
    pub vcpu_ioctls: u64,
    /// The part of `vcpu_ioctls` that is not KVM_RUN (setup, and state the
    /// cache could not carry through the run page). With sync_regs this stays
    /// a small constant, so `vcpu_ioctls - vcpu_ioctls_other == exits`.
    pub vcpu_ioctls_other: u64,
    /// Syscalls by name (unknown ones as their Linux name or `nr_N`).
    pub syscalls: BTreeMap<String, u64>,
    /// Syscalls handled inside the VM without an exit (by the monitor).
    /// They are included in `syscalls` too.
    pub syscalls_in_vm: u64,
    /// `syscalls_in_vm` by name.
    pub syscalls_in_vm_by_name: BTreeMap<String, u64>,
    /// Whether the run used the in-VM monitor: "on" or "off".
    pub monitor: String,
    /// Whether the guest got the vDSO, whose clock calls never exit and so
    /// are not counted in `syscalls`: "on" or "off".
    pub vdso: String,
    /// Buffered writes the runner could not deliver to their descriptor.
    pub monitor_flush_errors: u64,
    /// Syscalls refused by the policy.
    pub denied: u64,
    /// Most guest memory in use at once: user pages plus page tables.
    pub peak_guest_memory_bytes: u64,
    /// 2 MiB guest pages: "on" when the run could map them (`--huge-pages
    /// on` and no monitor), with how many were mapped, how many were split
    /// into 4 KiB pages, and how often the guest moved to a new page-table
    /// root because one was split or removed.
    pub huge_pages: String,
    pub huge_pages_mapped: u64,
    pub huge_pages_split: u64,
    pub page_table_root_switches: u64,
    /// Wall time spent inside KVM_RUN, summed over the vCPUs (up to
    /// `vcpus` times `wall_ns`).
    pub guest_ns: u64,
    /// Where `wall_ns` went, by phase of `runner exec`: "prepare" (policy,
    /// program, files), "build_vm" (VM, memory, page tables, vCPU),
    /// "lock_down", "run" (first to last guest instruction, and the exits
    /// between). Process start and the VM's teardown at exit lie outside
    /// `wall_ns`; `bench/bench.py` reports them as the rest of a cold start.
    pub phases_ns: BTreeMap<String, u64>,
    /// Whether the run used a VM built before it (a `runner serve` worker's,
    /// when the run's memory limit fits it) instead of building its own.
    pub vm_prebuilt: bool,
    /// The platform and syscall path the run used.
    pub platform: String,
    pub syscall_path: String,
    /// `--syscalls`: "exit" (every syscall traps) or "ring" (patched sites
    /// post their calls in shared memory).
    pub syscalls_mode: String,
    /// Syscalls the ring served without an exit (included in `syscalls`).
    pub ring_calls: u64,
    /// Ring requests the runner sent back to be made by trap (a call that
    /// had to wait, a signal to deliver, a call the ring does not serve).
    pub ring_fallbacks: u64,
    /// Syscall sites patched to use the ring.
    pub ring_sites: u64,
    /// Of those, the sites whose `syscall` moved into ring code with the
    /// instructions after it (no `mov $nr,%eax` before it).
    pub ring_sites_moved: u64,
    /// Calls that trapped at a patched site: the stub fell back (the
    /// runner answered "by trap", or its answer was late and the guest
    /// withdrew the request).
    pub ring_trapped_at_sites: u64,
    /// When the first exit reached the runner (for the monitor probe, which
    /// times what follows it).
    #[serde(skip)]
    pub first_exit: Option<std::time::Instant>,
}

impl Stats {
    /// Adds the counters of one of the run's vCPUs, once it is done.
    pub fn add_vcpu(&mut self, c: thinvisor_kmod::VcpuCounters) {
        self.vcpus += 1;
        self.vcpu_ioctls += c.ioctls;
        self.vcpu_ioctls_other += c.ioctls - c.runs;
        self.guest_ns += c.in_guest.as_nanos() as u64;
    }

    pub fn count_exit(&mut self, reason: &str) {
        if self.first_exit.is_none() {
            self.first_exit = Some(std::time::Instant::now());
        }
        self.exits += 1;
        *self.exits_by_reason.entry(reason.to_string()).or_default() += 1;
    }

    /// Records that phase `name` ended now; it began where the previous
    /// phase ended (`*mark`), which moves to now.
    pub fn end_phase(&mut self, name: &str, mark: &mut std::time::Instant) {
        let now = std::time::Instant::now();
        self.phases_ns
            .insert(name.to_string(), (now - *mark).as_nanos() as u64);
        *mark = now;
    }

    pub fn count_syscall(&mut self, name: &str) {
        if let Some(n) = self.syscalls.get_mut(name) {
            *n += 1;
        } else {
            self.syscalls.insert(name.to_string(), 1);
        }
    }

    /// Writes the JSON to `file` (opened before lock-down).
    pub fn write(&self, mut file: std::fs::File) -> std::io::Result<()> {
        use std::io::Write;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        file.write_all((json + "\n").as_bytes())
    }
}
