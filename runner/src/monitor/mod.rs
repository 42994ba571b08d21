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
//!
//! The files: `install.rs` (its pages, M, the gates, the entry addresses),
//! `configure.rs` (the action table from the policy, the clock, the state
//! written before every resume), `exits.rs` (the work at every exit:
//! buffered output, the break; the counters read at the end).

mod configure;
mod exits;
mod install;

pub use configure::actions;

use crate::guest::layout::{MONITOR_DATA_PA, MONITOR_DATA_VA};
use crate::guest::page_table::PageTableError;
use thinvisor_kmod::KmodError;

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

/// The in-VM monitor of one guest.
#[derive(Debug)]
pub struct Monitor {
    /// The mapping generation the range tables were last written for.
    ranges_for: Option<u64>,
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
