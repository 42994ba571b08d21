//! Configuring the monitor: the action table a policy gives (which
//! syscalls it answers, and how), the clock, the constants, and the state
//! written before every resume (break, heap end, range tables, the write
//! budget).

use super::{data_pa, Monitor, MonitorError};
use crate::guest::address_space::AddressSpace;
use crate::guest::clock::ClockParams;
use crate::guest::monitor_image as mi;
use crate::kernel::budget::WriteBudget;
use crate::kernel::fds::{FdTable, Object};
use crate::kernel::Kernel;
use crate::syscalls::process::{self, IDENTITY};
use crate::tunnel::{accessible_ranges, Access};
use sandbox_policy::{OnDeny, SyscallRules};
use thinvisor_kmod::GuestMemory;

/// Syscall numbers the monitor can answer, with the action it takes.
const HANDLED: &[(u64, u64)] = &[
    (1, mi::ACTION_WRITE),
    (12, mi::ACTION_BRK),
    (63, mi::ACTION_UNAME),
    (228, mi::ACTION_CLOCK),
];

const NR_MAX: usize = mi::MON_NR_MAX as usize;
const RANGES_MAX: usize = mi::MON_RANGES_MAX as usize;

/// The action table for a policy: which numbers the monitor answers, and
/// how. A syscall with argument rules or an errno of its own, a kill on
/// deny, and anything the monitor has no handler for go to the runner.
pub fn actions(rules: &SyscallRules, write_fds: u64) -> Vec<u8> {
    let mut table = vec![mi::ACTION_RUNNER as u8; NR_MAX];
    for (nr, slot) in table.iter_mut().enumerate() {
        let nr = nr as u64;
        let n = nr as u32;
        let action = if rules.errno.contains_key(&n) {
            mi::ACTION_RUNNER
        } else if !rules.is_allowed(n) {
            match rules.on_deny {
                OnDeny::Errno(_) => mi::ACTION_DENY,
                OnDeny::Kill => mi::ACTION_RUNNER,
            }
        } else if rules.args.iter().any(|r| r.nr == n) {
            mi::ACTION_RUNNER
        } else if IDENTITY.contains(&nr) {
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

impl Monitor {
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
    /// descriptors (the rules, the tunnel table and the budget are the
    /// kernel's, read again before every resume);
    /// then the state that changes (`before_resume`).
    pub fn configure(
        &mut self,
        mem: &mut GuestMemory,
        aspace: &AddressSpace,
        kernel: &Kernel,
        fds: &mut FdTable,
        identity: &crate::kernel::process::Identity,
    ) -> Result<(), MonitorError> {
        let rules = &kernel.rules;
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
        self.ranges_for = None;
        self.write_fds = write_fds;
        self.apply_budget(mem, &kernel.budget)?;
        mem.write(data_pa(mi::MON_ACTIONS), &actions(rules, self.write_fds))?;
        let deny = match rules.on_deny {
            OnDeny::Errno(e) => (-i64::from(e)) as u64,
            OnDeny::Kill => 0,
        };
        mem.write_u64(data_pa(mi::MON_DENY_RESULT), deny)?;
        for (nr, value) in process::identity_answers(identity) {
            mem.write_u64(data_pa(mi::MON_CONST) + nr * 8, value)?;
        }
        mem.write(data_pa(mi::MON_UNAME), &process::utsname())?;
        mem.write_u64(data_pa(mi::MON_WRITE_FDS), self.write_fds)?;
        let (start, _, _) = aspace.heap();
        mem.write_u64(data_pa(mi::MON_BRK_START), start)?;
        self.before_resume(mem, aspace, kernel)
    }

    /// Before the guest runs again: the runner's break and heap end, and the
    /// range tables when the mappings changed since they were written.
    pub fn before_resume(
        &mut self,
        mem: &mut GuestMemory,
        aspace: &AddressSpace,
        kernel: &Kernel,
    ) -> Result<(), MonitorError> {
        if self.write_fds != 0 && self.apply_budget(mem, &kernel.budget)? {
            mem.write(
                data_pa(mi::MON_ACTIONS),
                &actions(&kernel.rules, self.write_fds),
            )?;
            mem.write_u64(data_pa(mi::MON_WRITE_FDS), self.write_fds)?;
        }
        let (_, brk, heap_end) = aspace.heap();
        mem.write_u64(data_pa(mi::MON_BRK), brk)?;
        mem.write_u64(data_pa(mi::MON_HEAP_END), heap_end)?;
        if self.ranges_for != Some(aspace.generation) {
            for (table, access) in [
                (mi::MON_RD_RANGES, Access::Read),
                (mi::MON_WR_RANGES, Access::Write),
            ] {
                let ranges = table_ranges(accessible_ranges(aspace, &kernel.tunnel_ranges, access));
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
        for &nr in IDENTITY {
            assert!(table::handler(nr).is_some(), "{nr} answered in the VM only");
        }
        for &(nr, _) in HANDLED {
            assert!(table::handler(nr).is_some(), "{nr} answered in the VM only");
        }
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
