//! A run: the stages of `runner exec` (`stages.rs`: prepare -> boot ->
//! lock down -> run -> report), and what they are made of: building the VM
//! (`boot.rs`), the engine chosen once per machine (`engine.rs`: the
//! syscall path, `syscall_path.rs`, and the monitor, measured by
//! `monitor_probe.rs`), the threads (`threads.rs`, with the pool of host
//! threads in `pool.rs`) and processes (`processes.rs`), the run loop
//! (`run_loop.rs`) under its deadline (`deadline.rs`), and the statistics
//! (`stats.rs`); `recycle.rs` resets a VM for the next guest (the
//! fuzzer). `selftest.rs` drives
//! the same loop after a lock-down to prove the self-sandbox from inside.

pub mod ahead;
pub mod audited;
pub mod boot;
pub mod deadline;
pub mod engine;
pub mod file_faults;
pub mod fpu_state;
pub mod frame;
pub mod job_control;
pub mod monitor_probe;
pub mod options;
pub mod pool;
pub mod private_trees;
pub mod processes;
pub mod recycle;
pub mod ring_calls;
pub mod ring_loop;
pub mod run_loop;
pub mod selftest;
pub mod signal_delivery;
pub mod stages;
pub mod stats;
pub mod syscall_path;
pub mod thread_exit;
pub mod threads;
pub mod timer_firing;
pub mod tlb;
pub mod traced;

pub use options::{ExecOptions, HugePages};
pub use stages::{exec, run_guest, Outside, Prebuilt, RunFailure, Served};
