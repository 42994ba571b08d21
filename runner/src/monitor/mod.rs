//! The runner's side of the in-VM monitor (asm/monitor.S, docs/monitor.md):
//! installing it in a guest (its pages, its page-table root M, the gates),
//! configuring it from the policy, keeping its copy of the runner's state in
//! step at every exit, writing out its buffered output, and reading its
//! counters for `--stats`.
//!
//! The monitor's data page is written only here and by the monitor itself;
//! the untrusted program cannot reach it. Everything the runner reads back
//! (the break, the output records, counters) is still validated, so a
//! monitor bug cannot make the runner act outside the guest's own limits.

pub mod probe;

use crate::guest::address_space::AddressSpace;
use crate::guest::clock::ClockParams;
use crate::guest::layout::*;
use crate::guest::monitor_image as mi;
use crate::guest::page_table::{PageTableError, NO_EXECUTE, PRESENT, WRITABLE};
use crate::kernel::budget::WriteBudget;
use crate::kernel::fds::{FdTable, Object};
use crate::syscalls::process::{self, IDENTITY};
use sandbox_policy::{OnDeny, SyscallRules};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

/// `runner exec --monitor`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum MonitorMode {
    /// Always use the in-VM monitor.
    On,
    /// Never: every syscall exits to the runner.
    Off,
    /// Use it where a measured probe finds it faster than an exit.
    Auto,
}

/// How the guest enters the monitor (chosen at boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorBoot {
    /// SYSCALL arrives as a #PF frame (kvm_pvm): the #PF vector is a gate.
    pub pf_path: bool,
    /// Testing only: point the entry past the gate's marker instruction, so
    /// the dispatcher must refuse the entry (`--monitor-test-skip-marker`).
    pub skip_marker: bool,
}

/// Heap pages kept mapped above the break, for brk without an exit.
pub const BRK_HEADROOM: u64 = 256 << 10;

/// Syscall numbers the monitor can answer, with the action it takes.
const HANDLED: &[(u64, u64)] = &[
    (1, mi::ACTION_WRITE),
    (12, mi::ACTION_BRK),
    (63, mi::ACTION_UNAME),
    (228, mi::ACTION_CLOCK),
];

const NR_MAX: usize = mi::MON_NR_MAX as usize;
const RANGES_MAX: usize = mi::MON_RANGES_MAX as usize;

/// The layout the monitor was assembled with (build.rs keeps copies of
/// these constants) and its sizes, checked when the runner is compiled.
const _: () = {
    use crate::guest::entry_code as ec;
    assert!(mi::GATE_START == GATE_VA);
    assert!(mi::MONITOR_START == MONITOR_CODE_VA);
    assert!(mi::MONITOR_DATA == MONITOR_DATA_VA);
    assert!(mi::MONITOR_DATA_END <= MONITOR_DATA_VA + MONITOR_DATA_PAGES * PAGE_SIZE);
    assert!(mi::MONITOR_END <= MONITOR_CODE_VA + MONITOR_CODE_PAGES * PAGE_SIZE);
    assert!(mi::GATE_END <= GATE_VA + PAGE_SIZE);
    // The monitor region and the kernel window are in PML4 slot 511, the
    // region alone in PDPT entry 511, a guard page below the stack.
    assert!((MONITOR_VA >> 39) & 0x1ff == 511);
    assert!((KERNEL_BASE >> 39) & 0x1ff == 511);
    assert!((KERNEL_BASE >> 30) & 0x1ff == 510);
    assert!(MONITOR_STACK_VA > MONITOR_DATA_VA + MONITOR_DATA_PAGES * PAGE_SIZE);
    // Monitor frames lie below the frame allocator's first page: never
    // handed out to the program.
    assert!(MONITOR_STACK_PA + MONITOR_STACK_PAGES * PAGE_SIZE <= FIRST_FREE_PA);
    assert!(MONITOR_DATA_PA + MONITOR_DATA_PAGES * PAGE_SIZE <= MONITOR_STACK_PA);
    assert!(mi::MON_UTS_LEN as usize == process::UTSNAME_LEN);
    assert!(mi::BUILT_WITH_MONITOR_ROOT_PA == MONITOR_ROOT_PA);
    assert!(mi::BUILT_WITH_USER_ROOT_PA == PML4_PA);
    assert!(mi::BUILT_WITH_GATE_MARK == GATE_MARK_VA);
    assert!(mi::BUILT_WITH_GATE_RAX == GATE_RAX_VA);
    assert!(mi::BUILT_WITH_FRAME_VA == IST_STACK_TOP_VA - 48);
    assert!(mi::BUILT_WITH_USER_CS == USER_CS as u64);
    assert!(mi::BUILT_WITH_USER_DS == USER_DS as u64);
    assert!(mi::BUILT_WITH_MONITOR_STACK_TOP == MONITOR_STACK_TOP_VA);
    assert!(mi::BUILT_WITH_VECTOR_14 == ec::VECTOR_ENTRY[14]);
    assert!(mi::BUILT_WITH_SYSCALL_ENTRY == ec::SYSCALL_ENTRY);
};

/// Guest-physical address of a monitor data symbol.
const fn data_pa(va: u64) -> u64 {
    MONITOR_DATA_PA + (va - MONITOR_DATA_VA)
}

/// What installing or driving the monitor can fail on (the runner's fault:
/// status 125).
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Kvm(#[from] KmodError),
    #[error("monitor page tables: {0}")]
    Tables(#[from] PageTableError),
    #[error("monitor: {0}")]
    Internal(String),
}

/// Writes all of `bytes` to a host descriptor (retrying short writes).
fn write_all(fd: &rustix::fd::OwnedFd, mut bytes: &[u8]) -> Result<(), rustix::io::Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(rustix::io::Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The in-VM monitor of one guest.
#[derive(Debug)]
pub struct Monitor {
    /// The mapping generation the range tables were last written for.
    ranges_for: Option<u64>,
    /// The syscall rules the action table was built from.
    rules: SyscallRules,
    /// Descriptors (bit N = fd N) whose writes the monitor buffers now.
    write_fds: u64,
    /// Host write errors while flushing buffered output (reported in stats).
    pub flush_errors: u64,
}

/// The monitor's counters at the end of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Syscalls answered in the VM.
    pub in_vm: u64,
    /// Of those, refused by the policy.
    pub denied: u64,
    /// Answered in the VM, by number.
    pub by_nr: Vec<(u64, u64)>,
}

/// The action table for a policy: which numbers the monitor answers, and
/// how. A syscall with argument rules, a kill on deny, and anything the
/// monitor has no handler for go to the runner.
pub fn actions(rules: &SyscallRules, write_fds: u64) -> Vec<u8> {
    let mut table = vec![mi::ACTION_RUNNER as u8; NR_MAX];
    for (nr, slot) in table.iter_mut().enumerate() {
        let nr = nr as u64;
        let n = nr as u32;
        let action = if !rules.is_allowed(n) {
            match rules.on_deny {
                OnDeny::Errno(_) => mi::ACTION_DENY,
                OnDeny::Kill => mi::ACTION_RUNNER,
            }
        } else if rules.args.iter().any(|r| r.nr == n) {
            mi::ACTION_RUNNER
        } else if IDENTITY.iter().any(|&(i, _)| i == nr) {
            mi::ACTION_CONST
        } else if let Some(&(_, a)) = HANDLED.iter().find(|&&(h, _)| h == nr) {
            if a == mi::ACTION_WRITE && write_fds == 0 {
                mi::ACTION_RUNNER
            } else {
                a
            }
        } else {
            mi::ACTION_RUNNER
        };
        *slot = action as u8;
    }
    table
}

/// Keeps at most `RANGES_MAX` ranges (the largest), sorted by address. A
/// buffer outside them is not refused: the monitor lets the runner decide.
fn table_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    if ranges.len() > RANGES_MAX {
        ranges.sort_by_key(|&(s, e)| std::cmp::Reverse(e - s));
        ranges.truncate(RANGES_MAX);
        ranges.sort_unstable();
    }
    ranges
}

/// Maps one supervisor page of the monitor region in M.
fn map_monitor_page(
    mem: &mut GuestMemory,
    index: u64,
    pa: u64,
    flags: u64,
) -> Result<(), KmodError> {
    mem.write_u64(MONITOR_PT_PA + index * 8, pa | flags)
}

impl Monitor {
    /// Installs the monitor in a guest under construction, after the
    /// supervisor area (kernel window) is built and before any user
    /// mapping: writes the gate page, code and data, builds M (user half
    /// shared with U, NX; slot 511 shares U's kernel window and adds the
    /// monitor region), maps the gate page in the kernel window, and
    /// attaches M as the mirror of the program's page tables.
    pub fn install(
        mem: &mut GuestMemory,
        aspace: &mut AddressSpace,
        boot: MonitorBoot,
    ) -> Result<Monitor, MonitorError> {
        mem.write(GATE_PA, mi::GATE_IMAGE)?;
        mem.write(MONITOR_CODE_PA, mi::CODE_IMAGE)?;
        mem.zero(MONITOR_DATA_PA, MONITOR_DATA_PAGES * PAGE_SIZE)?;
        mem.write(MONITOR_DATA_PA, mi::DATA_IMAGE)?;
        // The one entry gate this platform uses; the other's marker is refused.
        let gate = if boot.pf_path {
            mi::GATE_ID_PF
        } else {
            mi::GATE_ID_SYSCALL
        };
        mem.write_u64(data_pa(mi::MON_GATE_ID), gate)?;
        mem.zero(MONITOR_STACK_PA, MONITOR_STACK_PAGES * PAGE_SIZE)?;
        // The gate page: supervisor-only, read+execute, in the kernel window
        // (so in U and, through the shared window, in M).
        let tables = aspace.tables;
        tables.map(mem, &mut aspace.frames, GATE_VA, GATE_PA, PRESENT)?;

        for pa in [
            MONITOR_ROOT_PA,
            MONITOR_PDPT_PA,
            MONITOR_PD_PA,
            MONITOR_PT_PA,
        ] {
            mem.zero(pa, PAGE_SIZE)?;
        }
        // Slot 511: U's kernel-window PDPT entries, plus the monitor region
        // in the last GiB, which U's PDPT leaves empty.
        let u511 = mem.read_u64(PML4_PA + 511 * 8)?;
        if u511 & PRESENT == 0 {
            return Err(MonitorError::Internal(
                "the kernel window is not built".into(),
            ));
        }
        let u_pdpt = u511 & 0x000f_ffff_ffff_f000;
        for i in 0..512 {
            let e = mem.read_u64(u_pdpt + i * 8)?;
            mem.write_u64(MONITOR_PDPT_PA + i * 8, e)?;
        }
        let region = (MONITOR_VA >> 30) & 0x1ff;
        if mem.read_u64(u_pdpt + region * 8)? & PRESENT != 0 {
            return Err(MonitorError::Internal(
                "the monitor region is mapped in the program's tables".into(),
            ));
        }
        let table = PRESENT | WRITABLE; // supervisor-only at every level
        mem.write_u64(MONITOR_PDPT_PA + region * 8, MONITOR_PD_PA | table)?;
        mem.write_u64(MONITOR_PD_PA, MONITOR_PT_PA | table)?;
        mem.write_u64(MONITOR_ROOT_PA + 511 * 8, MONITOR_PDPT_PA | table)?;
        let data = PRESENT | WRITABLE | NO_EXECUTE;
        let first = |va: u64| (va - MONITOR_VA) / PAGE_SIZE;
        for i in 0..MONITOR_CODE_PAGES {
            map_monitor_page(
                mem,
                first(MONITOR_CODE_VA) + i,
                MONITOR_CODE_PA + i * PAGE_SIZE,
                PRESENT,
            )?;
        }
        for i in 0..MONITOR_DATA_PAGES {
            map_monitor_page(
                mem,
                first(MONITOR_DATA_VA) + i,
                MONITOR_DATA_PA + i * PAGE_SIZE,
                data,
            )?;
        }
        for i in 0..MONITOR_STACK_PAGES {
            map_monitor_page(
                mem,
                first(MONITOR_STACK_VA) + i,
                MONITOR_STACK_PA + i * PAGE_SIZE,
                data,
            )?;
        }
        aspace.tables.mirror = Some(MONITOR_ROOT_PA);
        aspace.tables.sync_mirror(mem)?;
        aspace.brk_headroom = BRK_HEADROOM;
        Ok(Monitor {
            ranges_for: None,
            rules: SyscallRules::default(),
            write_fds: 0,
            flush_errors: 0,
        })
    }

    /// The address LSTAR holds with the monitor (the syscall gate).
    pub fn lstar(boot: MonitorBoot) -> u64 {
        if boot.skip_marker && !boot.pf_path {
            mi::GATE_SYSCALL_AFTER_MARKER
        } else {
            mi::GATE_SYSCALL
        }
    }

    /// The IDT entry of vector 14 with the monitor: its #PF gate on the
    /// #PF-frame path (kvm_pvm), else the runner's stub.
    pub fn pf_vector(boot: MonitorBoot, stub: u64) -> u64 {
        match (boot.pf_path, boot.skip_marker) {
            (true, false) => mi::GATE_PF,
            (true, true) => mi::GATE_PF_AFTER_MARKER,
            (false, _) => stub,
        }
    }

    /// Writes the guest clock's lines (guest/clock.rs, the same the vDSO
    /// reads) for CLOCK_REALTIME and CLOCK_MONOTONIC in the VM:
    /// `base + ((rdtsc - tsc_base) * mult) >> 32`.
    pub fn set_clock(mem: &mut GuestMemory, clock: &ClockParams) -> Result<(), MonitorError> {
        mem.write_u64(data_pa(mi::MON_TSC_BASE), clock.tsc_base)?;
        mem.write_u64(data_pa(mi::MON_TSC_MULT), clock.mult)?;
        for id in 0..2 {
            let offset = clock.offsets[id].ok_or_else(|| {
                MonitorError::Internal(format!("the guest clock does not serve clock {id}"))
            })?;
            mem.write_u64(
                data_pa(mi::MON_NS_BASE) + id as u64 * 8,
                clock.mono_base.wrapping_add(offset),
            )?;
        }
        Ok(())
    }

    /// Writes the policy's decisions and the constants: the action table,
    /// the errno of refusals, identity values, uname, the buffered
    /// descriptors; then the state that changes (`before_resume`).
    pub fn configure(
        &mut self,
        mem: &mut GuestMemory,
        aspace: &AddressSpace,
        rules: &SyscallRules,
        fds: &mut FdTable,
        budget: &WriteBudget,
    ) -> Result<(), MonitorError> {
        // Buffer only standard streams connected to the runner's own (a
        // disconnected one, a file or a pipe behind fd 1/2 goes to the runner).
        let mut write_fds = 0u64;
        for fd in [1u64, 2] {
            if let Ok(obj) = fds.get(fd) {
                if matches!(&*obj, Object::Stdio { stream, .. } if stream.writable()) {
                    write_fds |= 1 << fd;
                }
            }
        }
        self.rules = rules.clone();
        self.write_fds = write_fds;
        self.apply_budget(mem, budget)?;
        mem.write(data_pa(mi::MON_ACTIONS), &actions(rules, self.write_fds))?;
        let deny = match rules.on_deny {
            OnDeny::Errno(e) => (-i64::from(e)) as u64,
            OnDeny::Kill => 0,
        };
        mem.write_u64(data_pa(mi::MON_DENY_RESULT), deny)?;
        for &(nr, value) in IDENTITY {
            mem.write_u64(data_pa(mi::MON_CONST) + nr * 8, value)?;
        }
        mem.write(data_pa(mi::MON_UNAME), &process::utsname())?;
        mem.write_u64(data_pa(mi::MON_WRITE_FDS), self.write_fds)?;
        let (start, _, _) = aspace.heap();
        mem.write_u64(data_pa(mi::MON_BRK_START), start)?;
        self.before_resume(mem, aspace, budget)
    }

    /// Before the guest runs again: the runner's break and heap end, and the
    /// range tables when the mappings changed since they were written.
    pub fn before_resume(
        &mut self,
        mem: &mut GuestMemory,
        aspace: &AddressSpace,
        budget: &WriteBudget,
    ) -> Result<(), MonitorError> {
        if self.write_fds != 0 && self.apply_budget(mem, budget)? {
            mem.write(
                data_pa(mi::MON_ACTIONS),
                &actions(&self.rules, self.write_fds),
            )?;
            mem.write_u64(data_pa(mi::MON_WRITE_FDS), self.write_fds)?;
        }
        let (_, brk, heap_end) = aspace.heap();
        mem.write_u64(data_pa(mi::MON_BRK), brk)?;
        mem.write_u64(data_pa(mi::MON_HEAP_END), heap_end)?;
        if self.ranges_for != Some(aspace.generation) {
            for (table, write) in [(mi::MON_RD_RANGES, false), (mi::MON_WR_RANGES, true)] {
                let ranges = table_ranges(aspace.accessible_ranges(write));
                // Count 0 first: a half-written table is never in use (the
                // guest is stopped anyway; this keeps the invariant local).
                mem.write_u64(data_pa(table), 0)?;
                for (i, &(s, e)) in ranges.iter().enumerate() {
                    let at = data_pa(table) + 8 + i as u64 * 16;
                    mem.write_u64(at, s)?;
                    mem.write_u64(at + 8, e)?;
                }
                mem.write_u64(data_pa(table), ranges.len() as u64)?;
            }
            self.ranges_for = Some(aspace.generation);
        }
        Ok(())
    }

    /// The policy's `bytes_written` must hold for buffered writes too: the
    /// monitor buffers only while a whole buffer still fits the budget, so a
    /// flush can never overrun it; below that, writes go to the runner,
    /// which cuts the last one short as without the monitor. Returns true
    /// when buffering was just turned off.
    fn apply_budget(
        &mut self,
        _mem: &mut GuestMemory,
        budget: &WriteBudget,
    ) -> Result<bool, MonitorError> {
        let left = budget.limit.saturating_sub(budget.used);
        if self.write_fds != 0 && left < mi::MON_BUF_SIZE {
            self.write_fds = 0;
            return Ok(true);
        }
        Ok(false)
    }

    /// After every exit, before the runner handles it: write out the
    /// buffered output (so it precedes whatever the runner does next) and
    /// take the break the monitor may have moved.
    pub fn after_exit(
        &mut self,
        mem: &mut GuestMemory,
        aspace: &mut AddressSpace,
        fds: &mut FdTable,
        budget: &mut WriteBudget,
    ) -> Result<(), MonitorError> {
        self.flush(mem, fds, budget)?;
        let brk = mem.read_u64(data_pa(mi::MON_BRK))?;
        if !aspace.set_brk_from_monitor(brk) {
            return Err(MonitorError::Internal(format!(
                "the monitor's break {brk:#x} is outside the heap"
            )));
        }
        Ok(())
    }

    /// Writes the buffered records to their descriptors and empties the
    /// buffer. A malformed record ends the flush (and is an error).
    fn flush(
        &mut self,
        mem: &mut GuestMemory,
        fds: &mut FdTable,
        budget: &mut WriteBudget,
    ) -> Result<(), MonitorError> {
        let used = mem.read_u64(data_pa(mi::MON_BUF_USED))?;
        if used == 0 {
            return Ok(());
        }
        if used > mi::MON_BUF_SIZE {
            return Err(MonitorError::Internal(format!(
                "output buffer claims {used} bytes"
            )));
        }
        let buf = mem.slice(data_pa(mi::MON_BUF), used)?.to_vec();
        mem.write_u64(data_pa(mi::MON_BUF_USED), 0)?;
        let mut at = 0usize;
        while at < buf.len() {
            let header = buf
                .get(at..at + 8)
                .ok_or_else(|| MonitorError::Internal("truncated output record".into()))?;
            let fd = u64::from(u32::from_le_bytes([
                header[0], header[1], header[2], header[3],
            ]));
            let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let bytes = buf.get(at + 8..at + 8 + len).ok_or_else(|| {
                MonitorError::Internal("output record overruns the buffer".into())
            })?;
            budget.used = budget.used.saturating_add(bytes.len() as u64);
            match fds.get(fd).as_deref() {
                Ok(Object::Stdio { stream, host }) if stream.writable() => {
                    if write_all(host, bytes).is_err() {
                        self.flush_errors += 1;
                    }
                }
                _ => self.flush_errors += 1,
            }
            at += (8 + len).div_ceil(8) * 8;
        }
        Ok(())
    }

    /// The monitor's counters.
    pub fn totals(&self, mem: &GuestMemory) -> Result<Totals, MonitorError> {
        let mut by_nr = Vec::new();
        for nr in 0..mi::MON_NR_MAX {
            let n = mem.read_u64(data_pa(mi::MON_COUNT) + nr * 8)?;
            if n > 0 {
                by_nr.push((nr, n));
            }
        }
        Ok(Totals {
            in_vm: mem.read_u64(data_pa(mi::MON_IN_VM))?,
            denied: mem.read_u64(data_pa(mi::MON_DENIED))?,
            by_nr,
        })
    }

    /// The program's return address saved by the monitor at its last entry
    /// (for the report of a refused entry).
    pub fn saved_rcx(mem: &GuestMemory) -> Result<u64, MonitorError> {
        Ok(mem.read_u64(data_pa(mi::SV_RCX))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::table;

    #[test]
    fn actions_follow_the_policy() {
        let rules = SyscallRules::default();
        let t = actions(&rules, 0b110);
        assert_eq!(u64::from(t[39]), mi::ACTION_CONST);
        assert_eq!(u64::from(t[1]), mi::ACTION_WRITE);
        assert_eq!(u64::from(t[228]), mi::ACTION_CLOCK);
        assert_eq!(u64::from(t[0]), mi::ACTION_RUNNER, "read");
        assert_eq!(u64::from(t[231]), mi::ACTION_RUNNER, "exit_group");
        // No buffered descriptor: write goes to the runner.
        assert_eq!(u64::from(actions(&rules, 0)[1]), mi::ACTION_RUNNER);
        // Denied with an errno: in the VM; with kill: the runner kills.
        let mut deny = SyscallRules::default();
        deny.deny.insert(39);
        assert_eq!(u64::from(actions(&deny, 0)[39]), mi::ACTION_DENY);
        deny.on_deny = OnDeny::Kill;
        assert_eq!(u64::from(actions(&deny, 0)[39]), mi::ACTION_RUNNER);
        // An allow list refuses everything else, except exit/exit_group.
        let allow = SyscallRules {
            allow: Some([1u32].into_iter().collect()),
            ..SyscallRules::default()
        };
        let t = actions(&allow, 0b10);
        assert_eq!(u64::from(t[39]), mi::ACTION_DENY);
        assert_eq!(u64::from(t[1]), mi::ACTION_WRITE);
        assert_eq!(u64::from(t[231]), mi::ACTION_RUNNER);
        // Argument rules are the runner's to check.
        let args = SyscallRules {
            args: vec![sandbox_policy::ArgRule {
                nr: 1,
                arg: 2,
                values: None,
                max: Some(8),
                mask: None,
            }],
            ..SyscallRules::default()
        };
        assert_eq!(u64::from(actions(&args, 0b110)[1]), mi::ACTION_RUNNER);
    }

    #[test]
    fn every_answer_matches_the_runners_table() {
        for &(nr, _) in IDENTITY {
            assert!(table::lookup(nr).is_some(), "{nr} answered in the VM only");
        }
        for &(nr, _) in HANDLED {
            assert!(table::lookup(nr).is_some(), "{nr} answered in the VM only");
        }
    }

    #[test]
    fn flush_checks_every_record() {
        let mut mem = GuestMemory::new(FIRST_FREE_PA as usize).expect("mem");
        let mut fds = FdTable::default(); // no descriptors: every write fails
        let mut m = Monitor {
            ranges_for: None,
            rules: SyscallRules::default(),
            write_fds: 0b110,
            flush_errors: 0,
        };
        let buf = data_pa(mi::MON_BUF);
        let used = data_pa(mi::MON_BUF_USED);
        // Two records (fd 1, 3 bytes; fd 2, 9 bytes), padded to 8.
        mem.write(
            buf,
            &[1, 0, 0, 0, 3, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0, 0],
        )
        .expect("w");
        mem.write(buf + 16, &[2, 0, 0, 0, 9, 0, 0, 0]).expect("w");
        mem.write_u64(used, 16 + 8 + 16).expect("w");
        m.flush(&mut mem, &mut fds, &mut WriteBudget::default())
            .expect("well formed");
        assert_eq!(m.flush_errors, 2, "both records reached the fd lookup");
        assert_eq!(mem.read_u64(used).expect("r"), 0, "buffer emptied");
        // A record running past the used bytes is refused.
        mem.write(buf, &[1, 0, 0, 0, 200, 0, 0, 0]).expect("w");
        mem.write_u64(used, 16).expect("w");
        assert!(m
            .flush(&mut mem, &mut fds, &mut WriteBudget::default())
            .is_err());
        // So is a buffer larger than the monitor's.
        mem.write_u64(used, mi::MON_BUF_SIZE + 8).expect("w");
        assert!(m
            .flush(&mut mem, &mut fds, &mut WriteBudget::default())
            .is_err());
    }

    #[test]
    fn range_tables_keep_the_largest() {
        let many: Vec<(u64, u64)> = (0..40u64)
            .map(|i| (i * 0x10000, i * 0x10000 + 0x1000 * (i + 1)))
            .collect();
        let kept = table_ranges(many);
        assert_eq!(kept.len(), RANGES_MAX);
        assert!(kept.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(kept[0].0, 24 * 0x10000);
    }
}
