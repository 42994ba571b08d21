//! The x86-64 Linux ABI as the guest sees it, each value declared once:
//! constants (`constants.rs`, by family: files, memory, signals, sockets,
//! process, time, CPU registers), struct layouts and sizes copied through
//! the tunnel (`layouts.rs`) and the one errno type every handler returns
//! ([`Errno`], rustix's: a checked `i32` with Linux's names). Syscall
//! numbers and names are Linux's table in `sandbox_policy::syscall_names`
//! (the policy names syscalls too); what the runner does with each number
//! is `syscalls/table.rs`.

pub mod constants;
pub mod layouts;
pub mod sigframe;
pub mod xstate;

pub use rustix::io::Errno;
